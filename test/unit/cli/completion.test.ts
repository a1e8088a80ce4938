// The shell completion scripts, generated from the command definitions, run
// in the real shells: bash's completion function is called with COMP_WORDS as
// bash sets them when Tab is pressed; fish answers `complete -C` (what it would
// offer); zsh checks the script's syntax and that it registers _tcplab.
// Scenario names and tags come from `tcplab __complete`, so a `tcplab` on PATH
// runs the built CLI in a directory with one scenario of our own.

import t from 'tap'
import { spawnSync } from 'node:child_process'
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { COMMANDS } from '../../../src/cli/registry.js'
import { renderCompletion } from '../../../src/cli/completion.js'
import type { OptionDef } from '../../../src/cli/command.js'

const CLI = path.resolve('dist/cli/main.js')
const work = mkdtempSync(path.join(tmpdir(), 'tcplab-completion-'))
t.teardown(() => rmSync(work, { recursive: true, force: true }))
const bin = path.join(work, 'bin')
mkdirSync(bin)
writeFileSync(path.join(bin, 'tcplab'), `#!/bin/sh\nexec ${JSON.stringify(process.execPath)} ${JSON.stringify(CLI)} "$@"\n`)
chmodSync(path.join(bin, 'tcplab'), 0o755)
// The directory the "user" completes in: its scenarios/ has one scenario with tags of its own.
const cwd = path.join(work, 'project')
mkdirSync(path.join(cwd, 'scenarios'), { recursive: true })
writeFileSync(path.join(cwd, 'scenarios', 'mine.yaml'), 'name: my-own-scenario\ntitle: t\ntags: [zebra, yak]\nexplain: x\nhosts: { a: {} }\nsteps: [{ wait: 1s }]\nexpect: []\n')
writeFileSync(path.join(cwd, 'results-a'), '')
const env = { ...process.env, PATH: `${bin}:${process.env.PATH ?? ''}` }
const has = (shell: string): boolean => spawnSync(shell, ['-c', 'exit 0']).status === 0

/** What bash's completion function offers for the words typed so far (the last one being completed). */
function bashComplete(script: string, words: string[]): string[] {
  const file = path.join(work, 'tcplab.bash')
  writeFileSync(file, script)
  const arr = words.map((w) => `'${w.replace(/'/g, `'\\''`)}'`).join(' ')
  const r = spawnSync('bash', ['-c', `source ${file}; COMP_WORDS=(${arr}); COMP_CWORD=${words.length - 1}; _tcplab; printf '%s\\n' "\${COMPREPLY[@]}"`], { cwd, env, encoding: 'utf8' })
  if (r.status !== 0) throw new Error(`bash: ${r.stderr}`)
  return r.stdout.split('\n').filter(Boolean).sort()
}

t.test('bash: commands, options, choices, scenario names and tags', { skip: !existsSync(CLI) && 'run make build first' }, async (t) => {
  const script = renderCompletion('bash', COMMANDS)
  writeFileSync(path.join(work, 'tcplab.bash'), script)
  const reg = spawnSync('bash', ['-c', `source ${path.join(work, 'tcplab.bash')}; complete -p tcplab`], { encoding: 'utf8' })
  t.equal(reg.stdout.trim(), 'complete -F _tcplab tcplab', 'registers the completion function')
  t.same(bashComplete(script, ['tcplab', '']), [...COMMANDS.filter((c) => !c.hidden).map((c) => c.name), '--help', '--version'].sort(), 'every visible command')
  t.same(bashComplete(script, ['tcplab', 'co']), ['completion'])
  t.same(bashComplete(script, ['tcplab', 'run', '--backend', '']), ['docker', 'netns', 'vm'], 'the choices of --backend')
  t.same(bashComplete(script, ['tcplab', 'run', '-r', 'j']), ['json', 'jsonl', 'junit'], 'the short option takes the same values')
  t.same(bashComplete(script, ['tcplab', 'run', '--tag', '']), ['yak', 'zebra'], 'tags of the scenarios in ./scenarios')
  t.same(bashComplete(script, ['tcplab', 'explain', 'my']), ['my-own-scenario'], 'scenario names')
  t.same(bashComplete(script, ['tcplab', 'run', 'resu']), ['results-a'], 'and files')
  t.same(bashComplete(script, ['tcplab', 'completion', '']), ['bash', 'fish', 'zsh'])
  const runOpts = bashComplete(script, ['tcplab', 'run', '--'])
  for (const name of Object.keys(COMMANDS.find((c) => c.name === 'run')?.options ?? {})) t.ok(runOpts.includes(`--${name}`), `run --${name}`)
  t.same(bashComplete(script, ['tcplab', 'diff', '--']), ['--help', '--json', '--percent', '--tolerance', '--verbose'], 'diff\'s options, not run\'s')
})

t.test('fish: complete -C gives the same answers', { skip: (!has('fish') && 'fish is not installed') || (!existsSync(CLI) && 'run make build first') }, async (t) => {
  const file = path.join(work, 'tcplab.fish')
  writeFileSync(file, renderCompletion('fish', COMMANDS))
  t.equal(spawnSync('fish', ['--no-execute', file]).status, 0, 'the script parses')
  const complete = (line: string): string[] => {
    const r = spawnSync('fish', ['--no-config', '-c', `source ${file}; complete -C '${line}'`], { cwd, env, encoding: 'utf8' })
    return r.stdout.split('\n').filter(Boolean).map((l) => l.split('\t')[0] ?? '').sort()
  }
  t.ok(complete('tcplab ').includes('run'), 'commands')
  t.same(complete('tcplab run --backend '), ['docker', 'netns', 'vm'])
  t.same(complete('tcplab run --tag '), ['yak', 'zebra'])
  t.ok(complete('tcplab explain ').includes('my-own-scenario'), 'scenario names')
  t.ok(complete('tcplab run --re').includes('--repeat'), 'long options')
})

t.test('zsh: the script parses and registers _tcplab with compinit', { skip: !has('zsh') && 'zsh is not installed' }, async (t) => {
  const file = path.join(work, '_tcplab')
  writeFileSync(file, renderCompletion('zsh', COMMANDS))
  const syntax = spawnSync('zsh', ['-n', file], { encoding: 'utf8' })
  t.equal(syntax.status, 0, `zsh -n: ${syntax.stderr}`)
  const r = spawnSync('zsh', ['-f', '-c', `autoload -U compinit && compinit -u -D && source ${file} && print -r -- $_comps[tcplab]`], { encoding: 'utf8', env: { ...env, HOME: work } })
  t.equal(r.stdout.trim(), '_tcplab', `compdef registered _tcplab ${r.stderr}`)
})

t.test('every shell script names every command and every option (generated from the same definitions)', async (t) => {
  for (const shell of ['bash', 'zsh', 'fish'] as const) {
    const script = renderCompletion(shell, COMMANDS)
    for (const cmd of COMMANDS) {
      if (cmd.hidden) {
        t.notMatch(script, new RegExp(`\\b${cmd.name}\\)`), `${shell}: hidden ${cmd.name} not offered`)
        continue
      }
      t.match(script, cmd.name, `${shell}: ${cmd.name}`)
      for (const [name, o] of Object.entries(cmd.options as Record<string, OptionDef>)) {
        t.match(script, shell === 'fish' ? `-l ${name}` : `--${name}`, `${shell}: ${cmd.name} --${name}`)
        for (const c of o.choices ?? []) t.match(script, c, `${shell}: ${cmd.name} --${name} ${c}`)
      }
    }
  }
})
