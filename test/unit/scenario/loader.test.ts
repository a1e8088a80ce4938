import t from 'tap'
import { loadScenario, loadScenarios, findScenarioFiles, parseScenario } from '../../../src/scenario/loader.js'
import { ScenarioError } from '../../../src/util/errors.js'

const fixture = (name: string): string => `test/fixtures/scenarios/${name}`

async function issuesOf(file: string): Promise<string[]> {
  try {
    await loadScenario(file)
  } catch (e: unknown) {
    if (e instanceof ScenarioError) return e.message.split('\n')
    throw e
  }
  throw new Error(`${file} loaded without error`)
}

t.test('every scenario in the library loads', async (t) => {
  const files = await findScenarioFiles(['scenarios'])
  t.ok(files.length >= 5, `found ${files.length} scenario files`)
  const loaded = await loadScenarios(files)
  for (const l of loaded) {
    t.match(l.scenario.name, /^[a-z0-9-]+$/)
    t.ok(l.scenario.explain.length > 40, `${l.scenario.name} explains itself`)
    t.equal(l.expectPos.length, l.scenario.expect.length)
  }
})

t.test('a bad duration names file, line, column and path', async (t) => {
  const msgs = await issuesOf(fixture('bad-duration.yaml'))
  t.same(msgs, [`${fixture('bad-duration.yaml')}:6:9 steps[0].at: expected a duration like "200ms" or "2s", got "fast"`])
})

t.test('an unknown host in a step is named, with the hosts that exist', async (t) => {
  const msgs = await issuesOf(fixture('bad-host.yaml'))
  t.equal(msgs.length, 1)
  t.match(msgs[0], /bad-host\.yaml:9:5 steps\[1\]\.sever: unknown host "sever" \(hosts: "client", "server"\)/)
})

t.test('YAML syntax errors carry a position', async (t) => {
  const msgs = await issuesOf(fixture('bad-yaml.yaml'))
  t.match(msgs[0], /bad-yaml\.yaml:\d+:\d+ YAML: /)
})

t.test('references are checked: names used before definition, placeholders, rules, expectation hosts', async (t) => {
  const msgs = await issuesOf(fixture('bad-refs.yaml'))
  const text = msgs.join('\n')
  t.match(text, /:8:12 steps\[1\]\.after: "cli\.started" refers to "cli", which no earlier step defines/)
  t.match(text, /:9:28 steps\[1\]\.client\.write\.to: unknown process "cli"/)
  t.match(text, /steps\[2\]\.client\.run\.cmd\[1\]: unknown host "\{\{srver\}\}" in placeholder/)
  t.match(text, /steps\[3\]\.client\.iptables\.delete: unknown rule "nope"/)
  t.match(text, /expect\[0\]\.ss\.on: unknown host "clinet"/)
  t.match(text, /expect\[1\]\.process\.name: unknown process "nobody"/)
})

t.test('unknown keys, two actions in one step, bad comparators and enums', async (t) => {
  const msgs = await issuesOf(fixture('bad-keys.yaml'))
  const text = msgs.join('\n')
  t.match(text, /:7:58 steps\[0\]\.server\.run\.stdn: unknown key "stdn"/)
  t.match(text, /:9:13 steps\[1\]\.server: expected one action per step, got run and signal \(split them into two steps\)/)
  t.match(text, /expect\[0\]\.ss\.match\.recvQ: expected a comparison like ">0"/)
  t.match(text, /expect\[0\]\.ss\.quantifier: expected one of "always", "eventually", "never", got "sometimes"/)
})

t.test('parsed values: durations in ms, defaults applied, argv as strings', async (t) => {
  const l = parseScenario(
    `name: ok\ntitle: t\nexplain: x\nhosts: { a: {}, b: null }\nduration: 1m30s\nsteps:\n  - at: 250ms\n    a: { run: { name: p, cmd: [nc, -l, 8000] } }\nexpect:\n  - process: { name: p, at: 1.5s }\n`,
    'inline.yaml',
  )
  t.equal(l.scenario.duration, 90_000)
  t.equal(l.scenario.steps[0]?.at, 250)
  t.same(l.scenario.hosts.b, {})
  t.same(l.scenario.tags, [])
  const run = (l.scenario.steps[0] as Record<string, { run?: { cmd: string[]; stdin: boolean } }>).a?.run
  t.same(run?.cmd, ['nc', '-l', '8000'])
  t.equal(run?.stdin, true)
  t.equal(l.scenario.expect[0]?.process?.at, 1500)
})

t.test('duplicate scenario names across files are rejected', async (t) => {
  await t.rejects(loadScenarios([fixture('../../../scenarios/seed/close-wait.yaml'), fixture('../../../scenarios/seed/close-wait.yaml')]), /duplicate scenario name "seed-close-wait"/)
})

t.test('sockets: namings are checked, and NAME.seen is an event steps may wait for', async (t) => {
  const msgs = await issuesOf(fixture('bad-sockets.yaml'))
  const text = msgs.join('\n')
  t.match(text, /sockets\.ghost\.on: unknown host "nowhere"/)
  t.match(text, /sockets\.portless: expected local or peer/)
  t.match(text, /steps\[0\]\.server\.run\.name: process name "lsn" is already used/, 'a step cannot take a sockets: name')
  t.notMatch(text, /steps\[0\]\.after/, 'after: lsn.seen refers to a sockets: name')
  t.match(text, /steps\[1\]\.after: "nobody\.seen" refers to "nobody"/)
  t.match(text, /expect\[1\]\.ss\.socket\.listener: unknown socket "nope"/)
})
