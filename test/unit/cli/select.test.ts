// Choosing scenarios on the command line: files and directories, names and
// name globs (looked up in scenarios/), --tag, --grep; "slow" left out of the
// default set only. And a scenario's timeout: its signal aborts when the time
// runs out (not before), and the verdict says so with file:line.

import t from 'tap'
import { compileGlob, isNamePattern, selectScenarios } from '../../../src/cli/select.js'
import { startScenarioTimeout, markTimedOut } from '../../../src/runner/timeout.js'
import { parseScenario } from '../../../src/scenario/loader.js'
import { exitCodeOf } from '../../../src/util/errors.js'
import type { ScenarioVerdict } from '../../../src/expect/verdict.js'

const names = async (o: Parameters<typeof selectScenarios>[0]): Promise<string[]> => (await selectScenarios(o)).map((l) => l.scenario.name).sort()

t.test('globs', async (t) => {
  t.ok(compileGlob('syn-*').test('syn-drop'))
  t.notOk(compileGlob('syn-*').test('seed-syn-drop'), 'anchored')
  t.ok(compileGlob('errno-shut-?[dr]').test('errno-shut-rd'))
  t.ok(compileGlob('[!s]*').test('close-wait'))
  t.notOk(compileGlob('[!s]*').test('syn-drop'))
  t.ok(isNamePattern('syn-*'))
  t.notOk(isNamePattern('scenarios/seed'), 'an existing path is a path')
})

t.test('names, globs, --tag, --grep', async (t) => {
  t.same(await names({ positionals: ['errno-*'] }), ['errno-closed-fd', 'errno-shut-rd', 'errno-shut-wr'])
  t.same(await names({ positionals: ['errno-shut-rd', 'scenarios/seed/close-wait.yaml'] }), ['errno-shut-rd', 'seed-close-wait'], 'a name and a file')
  t.same(await names({ positionals: ['errno-*'], grep: 'shut-(rd|wr)' }), ['errno-shut-rd', 'errno-shut-wr'])
  t.same(await names({ positionals: ['errno-*'], grep: 'EBADF' }), ['errno-closed-fd'], '--grep matches titles too')
  const tagged = await selectScenarios({ positionals: ['scenarios/errno', 'scenarios/seed'], tags: ['handshake'] })
  t.ok(tagged.length > 0 && tagged.every((l) => l.scenario.tags.includes('handshake')), '--tag keeps the tagged ones')
  t.ok((await names({ positionals: ['scenarios/errno'] })).length > tagged.filter((l) => l.file.startsWith('scenarios/errno')).length, '... and only them')
  const all = await names({ positionals: [] })
  t.notOk(all.some((n) => n.endsWith('-slow')), 'the default set leaves out slow ones')
  t.ok((await names({ positionals: ['*-slow'] })).length >= 5, 'named, slow ones run')
  t.ok((await names({ positionals: [], includeSlow: true })).some((n) => n.endsWith('-slow')), 'list shows them')
  const e = await selectScenarios({ positionals: ['no-such-*'] }).then(() => undefined, (x: unknown) => x)
  t.equal(exitCodeOf(e), 2, 'a name that matches nothing: exit 2')
  t.match((e as Error).message, /no scenario named "no-such-\*"/)
  const bad = await selectScenarios({ positionals: [], grep: '(' }).then(() => undefined, (x: unknown) => x)
  t.equal(exitCodeOf(bad), 2, 'a bad --grep: exit 2')
})

const SRC = 'name: x\ntitle: t\nexplain: e\nhosts: { a: {}, b: {} }\nduration: 10s\ntimeout: 150ms\nsteps: [{ at: 0s, a: { run: { name: p, cmd: [sleep, 1] } } }]\nexpect: [{ process: { name: p, exit: 0 } }]\n'

t.test('timeout: aborts when it runs out, not before; the run\'s own abort passes through', async (t) => {
  const loaded = parseScenario(SRC, 'x.yaml')
  t.equal(loaded.scenario.timeout, 150)
  const to = startScenarioTimeout(loaded)
  await new Promise((r) => setTimeout(r, 50))
  t.notOk(to.signal.aborted, 'not before')
  await new Promise((r) => setTimeout(r, 250))
  t.ok(to.signal.aborted, 'after')
  t.ok(to.expired())
  to.clear()
  const parent = new AbortController()
  const to2 = startScenarioTimeout(parseScenario(SRC.replace('timeout: 150ms\n', ''), 'x.yaml'), parent.signal)
  parent.abort()
  t.ok(to2.signal.aborted, 'Ctrl-C aborts it')
  t.notOk(to2.expired(), 'and is not a timeout')
  to2.clear()
  const v = markTimedOut({ name: 'x', file: 'x.yaml', title: 't', status: 'pass', backend: 'netns', startedAt: '', durationMs: 160, results: [] } as ScenarioVerdict, loaded)
  t.equal(v.status, 'error')
  t.equal(v.timedOut, true)
  t.equal(v.error?.code, 'E_TIMEOUT')
  t.equal(v.error?.exitCode, 1)
  t.match(v.error?.message, /x timed out: still running after 150ms \(timeout: 150ms at x\.yaml:6:1\)/)
})
