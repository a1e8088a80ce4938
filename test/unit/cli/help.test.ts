// --help for every command, generated from the same definitions that parse
// the arguments: every option the parser accepts is in the help with its
// value, default and allowed values, and every command has an example. The
// built CLI: `tcplab --help` and `tcplab run --help` exit 0 on stdout; a plain
// `tcplab` prints the help on stderr (stdout stays empty) and exits 0; an
// unknown option exits 2 and points at the command's --help.

import t from 'tap'
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { Writable } from 'node:stream'
import path from 'node:path'
import { COMMANDS, findCommand } from '../../../src/cli/registry.js'
import { formatCommandHelp, formatMainHelp } from '../../../src/cli/help.js'
import { invokeCommand } from '../../../src/cli/invoke.js'
import { parseCommandArgs } from '../../../src/cli/parse-args.js'
import { exitCodeOf } from '../../../src/util/errors.js'
import type { OptionDef } from '../../../src/cli/command.js'

const CLI = path.resolve('dist/cli/main.js')

function sink(): { w: Writable; text: () => string } {
  let s = ''
  return { w: new Writable({ write(c: Buffer, _e, cb) { s += c.toString(); cb() } }), text: () => s }
}

t.test('every command: --help lists each option with its value, default and choices, and an example', async (t) => {
  const visible = COMMANDS.filter((c) => !c.hidden)
  t.ok(visible.length >= 9, 'run, list, validate, explain, report, diff, gc, doctor, completion')
  for (const cmd of visible) {
    const out = sink()
    const code = await invokeCommand(cmd, ['--help'], { out: out.w, err: out.w })
    t.equal(code, 0, `${cmd.name} --help exits 0`)
    const help = out.text()
    t.equal(help, formatCommandHelp(cmd), `${cmd.name}: --help prints the generated help`)
    t.match(help, new RegExp(`^usage: tcplab ${cmd.name}\\b`), `${cmd.name}: usage line`)
    t.match(help, /\nexamples:\n {2}# .+\n {2}(sudo )?(source <\()?tcplab /, `${cmd.name}: at least one example`)
    t.ok(cmd.examples.length > 0, `${cmd.name}: examples defined`)
    t.match(help, /-h, --help/, `${cmd.name}: --help itself`)
    for (const [name, o] of Object.entries(cmd.options as Record<string, OptionDef>)) {
      t.match(help, `--${name}`, `${cmd.name}: --${name} is in the help`)
      if (o.short) t.match(help, `-${o.short}, --${name}`, `${cmd.name}: -${o.short} is in the help`)
      const def = o.defaultText ?? (typeof o.default === 'string' ? o.default : undefined)
      if (def !== undefined) t.match(help.replace(/\s+/g, ' '), `default: ${def}`, `${cmd.name}: the default of --${name}`)
      for (const c of o.choices ?? []) t.match(help, c, `${cmd.name}: --${name} value ${c}`)
    }
    for (const p of cmd.positionals ?? []) t.match(help, p.name, `${cmd.name}: argument ${p.name}`)
    // Every example parses with the definition it documents (a renamed option would fail here).
    for (const ex of cmd.examples) {
      const words = ex.command.replace(/^sudo /, '').replace(/^source <\(/, '').replace(/\)$/, '').replace(/\s*>.*$/, '').match(/'[^']*'|\S+/g) ?? []
      t.equal(words[0], 'tcplab', `${cmd.name}: example starts with tcplab`)
      t.equal(words[1], cmd.name, `${cmd.name}: example runs ${cmd.name}`)
      t.doesNotThrow(() => parseCommandArgs(cmd, words.slice(2).map((w) => w.replace(/^'(.*)'$/, '$1'))), `${cmd.name}: example parses: ${ex.command}`)
    }
  }
})

t.test('tcplab --help lists every visible command and no hidden one', async (t) => {
  const help = formatMainHelp(COMMANDS)
  for (const c of COMMANDS) {
    if (c.hidden) t.notMatch(help, c.name, `${c.name} is hidden`)
    else t.match(help, new RegExp(`\\n {2}${c.name} +${c.summary.slice(0, 20).replace(/[()]/g, '.')}`), `${c.name} with its summary`)
  }
})

t.test('the parser: unknown options and values outside the choices are usage errors pointing at --help; defaults are applied', async (t) => {
  const run = findCommand('run')
  if (!run) throw new Error('no run command')
  const e1 = (() => { try { parseCommandArgs(run, ['--bogus']) } catch (e: unknown) { return e } })()
  t.equal(exitCodeOf(e1), 2)
  t.match((e1 as { hint?: string }).hint, 'tcplab run --help')
  const e2 = (() => { try { parseCommandArgs(run, ['--backend', 'qemu']) } catch (e: unknown) { return e } })()
  t.equal(exitCodeOf(e2), 2)
  t.match((e2 as Error).message, /--backend expects netns, docker or vm, got "qemu"/)
  const p = parseCommandArgs(run, ['-t', 'seed', '--tag', 'close'])
  t.same(p.values.tag, ['seed', 'close'])
  t.equal(p.values.backend, undefined, 'no default: netns, or docker with --docker-host (decided when it runs)')
  t.equal(p.values.jobs, 'auto', 'default applied')
  t.equal(p.values.reporter, 'pretty')
  t.equal(p.values.results, undefined, 'a computed default stays undefined')
  t.ok(parseCommandArgs(run, ['x', '--help']).help, '--help after arguments')
  t.notOk(parseCommandArgs(run, ['--', '--help']).help, '--help after -- is an argument')
  const explain = findCommand('explain')
  if (!explain) throw new Error('no explain command')
  t.equal(exitCodeOf((() => { try { parseCommandArgs(explain, []) } catch (e: unknown) { return e } })()), 2, 'a missing required argument')
  t.equal(exitCodeOf((() => { try { parseCommandArgs(explain, ['a', 'b']) } catch (e: unknown) { return e } })()), 2, 'one argument too many')
})

t.test('the built CLI: tcplab --help, tcplab run --help, plain tcplab, tcplab help run', { skip: existsSync(CLI) ? false : 'run make build first' }, async (t) => {
  const cli = (args: string[]): { status: number | null; stdout: string; stderr: string } => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } })
  const main = cli(['--help'])
  t.equal(main.status, 0)
  t.match(main.stdout, /^tcplab: reproducible TCP failure scenarios/)
  t.equal(main.stdout, formatMainHelp(COMMANDS))
  const runHelp = cli(['run', '--help'])
  t.equal(runHelp.status, 0, 'run --help exits 0 (it used to answer "Unknown option")')
  t.match(runHelp.stdout, /--repeat N/)
  t.equal(runHelp.stderr, '')
  const plain = cli([])
  t.equal(plain.status, 0, 'plain tcplab: exit 0')
  t.equal(plain.stdout, '', 'plain tcplab: nothing on stdout')
  t.match(plain.stderr, /usage: tcplab COMMAND/, 'plain tcplab: the help on stderr')
  t.equal(cli(['help', 'diff']).stdout, formatCommandHelp(findCommand('diff') as NonNullable<ReturnType<typeof findCommand>>))
  const bad = cli(['run', '--bogus'])
  t.equal(bad.status, 2)
  t.match(bad.stderr, /Unknown option '--bogus'[\s\S]*hint: tcplab run --help/)
  const unknown = cli(['frobnicate'])
  t.equal(unknown.status, 2)
  t.match(unknown.stderr, /unknown command "frobnicate"/)
})
