// The CLI side of scaling out, without root: `list --shard` shows what `run
// --shard` would run, and bad --shard / --docker-host values are usage errors
// (exit 2) before anything is loaded or created.
import t from 'tap'
import { Writable } from 'node:stream'
import { findCommand } from '../../../src/cli/registry.js'
import { invokeCommand } from '../../../src/cli/invoke.js'

/** Run `tcplab NAME ARGS...` in-process; `text()` is what it printed. */
function cli(name: string, args: string[]): { done: Promise<number>; text: () => string } {
  let text = ''
  const out = new Writable({ write: (c: Buffer, _e, cb) => { text += c.toString(); cb() } })
  const cmd = findCommand(name)
  if (!cmd) throw new Error(`no command ${name}`)
  return { done: invokeCommand(cmd, args, { out, err: out }), text: () => text }
}

const FOUR = ['scenarios/errno', 'scenarios/close/naming-orphan-reuse.yaml']

t.test('list --shard I/N: the shards of the selection, in name order, each scenario once', async (t) => {
  const names: string[][] = []
  for (const i of [1, 2, 3]) {
    const c = cli('list', ['--shard', `${i}/3`, '--json', ...FOUR])
    t.equal(await c.done, 0)
    names.push((JSON.parse(c.text()) as Array<{ name: string }>).map((r) => r.name))
  }
  t.same(names, [['errno-closed-fd', 'errno-shut-rd'], ['errno-shut-wr'], ['naming-orphan-reuse']])
})

t.test('bad --shard and --docker-host values: exit 2 before anything runs', async (t) => {
  const cases: Array<[string[], RegExp]> = [
    [['--shard', '3/2'], /--shard 3\/2: INDEX must be between 1 and 2/],
    [['--shard', 'half'], /--shard expects INDEX\/TOTAL/],
    [['--docker-host', 'tcp://h'], /tcp:\/\/ needs a port/],
    [['--docker-host', 'unix:///a.sock', '--backend', 'netns'], /--docker-host applies to the docker backend, not netns/],
  ]
  for (const [args, message] of cases) {
    await t.rejects(cli('run', [...args, ...FOUR]).done, { exitCode: 2, message }, args.join(' '))
  }
  await t.rejects(cli('list', ['--shard', '0/1', ...FOUR]).done, { exitCode: 2, message: /INDEX must be between 1 and 1/ })
  await t.rejects(cli('gc', ['--docker-host', 'unix:///a.sock', '--backend', 'netns']).done, { exitCode: 2, message: /--docker-host applies to the docker backend/ })
})
