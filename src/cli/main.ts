#!/usr/bin/env node
// tcplab command line: a thin client of the library. Only this layer catches
// errors to print them and choose the exit code:
// 0 all held, 1 an expectation failed, 2 bad input or usage, 3 environment, 130 interrupted.

import { parseArgs, type ParseArgsConfig } from 'node:util'
import { TcplabError, UsageError, exitCodeOf } from '../util/errors.js'
import { COMMANDS, type CommandContext } from './commands.js'

const HELP = `tcplab: reproducible TCP failure scenarios on real kernels

usage:
  tcplab run [PATH...] [--backend netns|docker] [--jobs auto|N] [--results DIR]
                       [--reporter pretty|tap|json|junit] [--tag T] [--tolerance MS]
                       [--sysctl KEY=VALUE] [--agent-priority fifo|nice|normal]
                       [--kernel 6.1,6.12,host [--vm-memory MB] [--vm-cpus N]]
  tcplab list [PATH...] [--json] [--tag T]
  tcplab validate [PATH...]
  tcplab explain NAME
  tcplab report DIR                 regenerate report.html / index.html of a results directory
  tcplab diff DIR_A DIR_B [--json]  compare two runs (kernels, sysctls); exit 1 on regression
  tcplab gc [--backend netns|docker|vm|all]
  tcplab doctor

With no PATH, run uses scenarios/ and leaves out scenarios tagged "slow".
--jobs auto (the default) starts scenarios while the machine keeps time (a
timer canary), at most 4 per core; --jobs N runs N at a time regardless.
Exit codes: 0 every expectation held, 1 some failed, 2 bad input or usage,
3 the machine lacks something, 130 interrupted.
`

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv
  if (name === undefined || name === '-h' || name === '--help' || name === 'help') {
    process.stdout.write(HELP)
    return name === undefined ? 2 : 0
  }
  if (name === '--version' || name === '-V') {
    const { tcplabVersion } = await import('../runner/env.js')
    process.stdout.write(`${tcplabVersion()}\n`)
    return 0
  }
  const cmd = COMMANDS[name]
  if (!cmd) throw new UsageError(`unknown command "${name}"\n\n${HELP}`)
  let parsed
  try {
    parsed = parseArgs({ args: rest, options: cmd.options as ParseArgsConfig['options'], allowPositionals: true, strict: true })
  } catch (e: unknown) {
    throw new UsageError(`${name}: ${(e as Error).message}`, { hint: `tcplab --help` })
  }
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
        .then(() => import('../lab/emergency.js'))
        .then((m) => m.removeOwnLabsSync())
        .finally(() => process.exit(130))
    }
  }
  process.on('SIGINT', onSigint)
  process.on('SIGTERM', onSigint)
  const ctx: CommandContext = {
    values: parsed.values as Record<string, string | boolean | string[] | undefined>,
    positionals: parsed.positionals,
    signal: controller.signal,
    out: process.stdout,
    err: process.stderr,
  }
  try {
    const code = await cmd.run(ctx)
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
