#!/usr/bin/env node
// tcplab command line: a thin client of the library. Only this layer catches
// errors to print them and choose the exit code:
// 0 all held, 1 an expectation failed, 2 bad input or usage, 3 environment, 130 interrupted.

import { TcplabError, UsageError, exitCodeOf } from '../util/errors.js'

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv
  // Shell completion asks on every Tab: answered before the rest of the CLI (every command's
  // definition, the scenario loader, zod) is loaded. Anything else about __complete
  // (--help, an unknown word) goes the ordinary way below.
  if (name === '__complete' && rest.length === 1) {
    const { formatCompletionWords } = await import('./complete-words.js')
    const words = await formatCompletionWords(rest[0] as string)
    if (words !== undefined) {
      process.stdout.write(words)
      return 0
    }
  }
  const [{ formatCommandHelp, formatMainHelp }, { parseCommandArgs }, { invokeCommand }, { COMMANDS, findCommand }] = await Promise.all([
    import('./help.js'), import('./parse-args.js'), import('./invoke.js'), import('./registry.js'),
  ])
  // Plain `tcplab`: the help, on stderr (nothing was asked for, so stdout stays empty), and exit 0.
  if (name === undefined) {
    process.stderr.write(formatMainHelp(COMMANDS))
    return 0
  }
  if (name === '-h' || name === '--help') {
    process.stdout.write(formatMainHelp(COMMANDS))
    return 0
  }
  if (name === 'help') {
    const topic = rest[0]
    const cmd = topic === undefined ? undefined : findCommand(topic)
    if (topic !== undefined && !cmd) throw new UsageError(`unknown command "${topic}"`, { hint: 'tcplab --help' })
    process.stdout.write(cmd ? formatCommandHelp(cmd) : formatMainHelp(COMMANDS))
    return 0
  }
  if (name === '--version' || name === '-V') {
    const { tcplabVersion } = await import('../runner/env.js')
    process.stdout.write(`${tcplabVersion()}\n`)
    return 0
  }
  const cmd = findCommand(name)
  if (!cmd) throw new UsageError(`unknown command "${name}"`, { hint: 'tcplab --help lists the commands' })
  // Usage errors and --help before any signal handler: nothing has started yet.
  const parsed = parseCommandArgs(cmd, rest)
  if (parsed.help) return invokeCommand(cmd, rest, { out: process.stdout, err: process.stderr })
  const controller = new AbortController()
  let interrupts = 0
  const onSigint = (): void => {
    interrupts++
    if (interrupts === 1) {
      process.stderr.write('\ntcplab: interrupted; tearing down the labs (Ctrl-C again to kill everything now)\n')
      controller.abort()
    } else {
      process.stderr.write('\ntcplab: killing everything now\n')
      // Loaded now, not at start: proc.js is the instance that started every process (ESM modules are singletons).
      void import('../util/proc.js')
        .then((m) => m.killAllNow())
        .then(() => import('../lab/index.js'))
        .then((m) => m.removeOwnLabsNow())
        .finally(() => process.exit(130))
    }
  }
  process.on('SIGINT', onSigint)
  process.on('SIGTERM', onSigint)
  try {
    const code = await invokeCommand(cmd, rest, { out: process.stdout, err: process.stderr, signal: controller.signal })
    return controller.signal.aborted ? 130 : code
  } finally {
    process.off('SIGINT', onSigint)
    process.off('SIGTERM', onSigint)
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code
  },
  (e: unknown) => {
    if (e instanceof TcplabError) process.stderr.write(`tcplab: ${e.format()}\n`)
    else process.stderr.write(`tcplab: internal error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`)
    process.exitCode = exitCodeOf(e)
  },
)
