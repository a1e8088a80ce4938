// The CLI side of scaling out, without root: `list --shard` shows what `run
// --shard` would run, and bad --shard / --docker-host values are usage errors
// (exit 2) before anything is loaded or created.
import t from 'tap'
import { Writable } from 'node:stream'
import { COMMANDS, type CommandContext } from '../../../src/cli/commands.js'

function ctx(values: CommandContext['values'], positionals: string[]): CommandContext & { text: () => string } {
  let text = ''
  const out = new Writable({ write: (c: Buffer, _e, cb) => { text += c.toString(); cb() } })
  return { values, positionals, signal: new AbortController().signal, out, err: out, text: () => text }
}

const cmd = (name: string): NonNullable<(typeof COMMANDS)[string]> => {
  const c = COMMANDS[name]
  if (!c) throw new Error(`no command ${name}`)
  return c
}

const FOUR = ['scenarios/errno', 'scenarios/close/naming-orphan-reuse.yaml']

t.test('list --shard I/N: the shards of the selection, in name order, each scenario once', async (t) => {
  const names: string[][] = []
  for (const i of [1, 2, 3]) {
    const c = ctx({ shard: `${i}/3`, json: true }, FOUR)
    t.equal(await cmd('list').run(c), 0)
    names.push((JSON.parse(c.text()) as Array<{ name: string }>).map((r) => r.name))
  }
  t.same(names, [['errno-closed-fd', 'errno-shut-rd'], ['errno-shut-wr'], ['naming-orphan-reuse']])
})

t.test('bad --shard and --docker-host values: exit 2 before anything runs', async (t) => {
  const cases: Array<[CommandContext['values'], RegExp]> = [
    [{ shard: '3/2' }, /--shard 3\/2: INDEX must be between 1 and 2/],
    [{ shard: 'half' }, /--shard expects INDEX\/TOTAL/],
    [{ 'docker-host': ['tcp://h'] }, /tcp:\/\/ needs a port/],
    [{ 'docker-host': ['unix:///a.sock'], backend: 'netns' }, /--docker-host applies to the docker backend, not netns/],
  ]
  for (const [values, message] of cases) {
    await t.rejects(cmd('run').run(ctx(values, FOUR)), { exitCode: 2, message }, JSON.stringify(values))
  }
  await t.rejects(cmd('list').run(ctx({ shard: '0/1' }, FOUR)), { exitCode: 2, message: /INDEX must be between 1 and 1/ })
  await t.rejects(cmd('gc').run(ctx({ 'docker-host': ['unix:///a.sock'], backend: 'netns' }, [])), { exitCode: 2, message: /--docker-host applies to the docker backend/ })
})
