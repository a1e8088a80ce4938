// evaluateAll / evaluateExpectation: `when:` skips, descriptions, source
// positions, an evaluator that throws, and re-evaluating each recorded run's own
// scenario against its verdict.json.

import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { evaluateAll, kindOf, statusOf, type ExpectationResult } from '../../../src/expect/index.js'
import { parseScenario } from '../../../src/scenario/loader.js'
import { Expectation } from '../../../src/scenario/schema.js'
import { ScenarioError } from '../../../src/util/errors.js'
import { FIXTURE_NAMES, TIMELINES, contextOf, evaluate, loadFixture } from './timeline-fixture.js'

const syn = loadFixture('seed-syn-drop-timeout')

t.test('when: kernel and sysctl constraints skip with the reason, without evaluating', async (t) => {
  const ctx = contextOf(syn) // kernel 6.18.44-fc-v445, has net.ipv4.tcp_syn_linear_timeouts
  // A counter expectation that would fail (5 SYNs were dropped, not 3).
  const body = { on: 'server', name: 'drop-syn', packets: 3 }
  const run = (when: unknown): ExpectationResult => evaluate(ctx, { counter: { ...body, when } })

  t.equal(run(undefined).status, 'fail', 'without when: it is evaluated (and fails)')
  t.equal(run({ kernel: '>=6.5' }).status, 'fail', 'kernel matches: evaluated')
  const oldKernel = run({ kernel: '<6.5' })
  t.equal(oldKernel.status, 'skip')
  t.equal(oldKernel.reason, 'needs kernel <6.5, this is 6.18.44-fc-v445')
  t.equal(oldKernel.measured, '', 'a skipped expectation measures nothing')
  t.equal(run({ sysctl: 'net.ipv4.tcp_syn_linear_timeouts' }).status, 'fail', 'sysctl present: evaluated')
  const noSuch = run({ sysctl: 'net.ipv4.tcp_rto_nonexistent' })
  t.equal(noSuch.status, 'skip')
  t.equal(noSuch.reason, 'needs sysctl net.ipv4.tcp_rto_nonexistent, which this kernel lacks')
  const without = run({ noSysctl: 'net.ipv4.tcp_syn_linear_timeouts' })
  t.equal(without.status, 'skip')
  t.equal(without.reason, 'applies to kernels without net.ipv4.tcp_syn_linear_timeouts')
  t.equal(run({ noSysctl: 'net.ipv4.tcp_rto_nonexistent' }).status, 'fail', 'noSysctl of a missing key: evaluated')
  t.equal(run({ kernel: '>=6.5', sysctl: 'net.ipv4.tcp_syn_linear_timeouts' }).status, 'fail', 'all constraints hold: evaluated')
  t.equal(run({ kernel: '>=6.5', sysctl: 'net.ipv4.tcp_rto_nonexistent' }).status, 'skip', 'one constraint fails: skipped')

  // The same file on an older kernel (the seeds ran 4.18): the other branch is evaluated.
  const rhel8 = contextOf(syn, { kernel: '4.18.0-553.el8_10.x86_64', hasSysctl: (k) => k !== 'net.ipv4.tcp_syn_linear_timeouts' })
  const expo = evaluate(rhel8, { counter: { ...body, when: { noSysctl: 'net.ipv4.tcp_syn_linear_timeouts' } } })
  t.equal(expo.status, 'fail', 'evaluated there (and fails on this recording)')
  t.equal(evaluate(rhel8, { counter: { ...body, when: { kernel: '>=6.5' } } }).reason, 'needs kernel >=6.5, this is 4.18.0-553.el8_10.x86_64')

  for (const kind of ['ss', 'states', 'packets', 'process', 'event'] as const) {
    const bodies = {
      ss: { socket: 'x', match: { state: 'ESTAB' } },
      states: { socket: 'x', sequence: ['ESTAB'] },
      packets: { on: 'client', count: 99 },
      process: { name: 'x', exit: 0 },
      event: { socket: 'x', type: 'error' },
    }
    const r = evaluate(ctx, { [kind]: { ...bodies[kind], when: { kernel: '<4' } } })
    t.equal(r.status, 'skip', `${kind} honours when:`)
  }
})

t.test('evaluateAll: index, kind, description, position; an evaluator that throws fails with the reason', async (t) => {
  const ctx = contextOf(syn)
  const list = [
    { packets: { on: 'client', dir: 'out', flags: 'S', count: 5 } },
    { counter: { on: 'server', name: 'drop-syn', packets: 5, description: 'the rule dropped all five SYNs' } },
    { process: { name: 'cli', stderr: '/(unclosed/' } },
    { counter: { on: 'server', name: 'drop-syn', packets: 5, when: { kernel: '<5' } } },
  ].map((e) => Expectation.parse(e))
  const pos = [{ file: 'x.yaml', line: 10, col: 5 }, { file: 'x.yaml', line: 20, col: 5 }]
  const results = evaluateAll(list, ctx, pos)
  t.same(results.map((r) => [r.index, r.kind, r.status, r.line, r.col]), [
    [0, 'packets', 'pass', 10, 5],
    [1, 'counter', 'pass', 20, 5],
    [2, 'process', 'fail', undefined, undefined],
    [3, 'counter', 'skip', undefined, undefined],
  ])
  t.equal(results[0]?.description, '[S] out on client, count = 5 during the whole run', 'the expected text when there is no description')
  t.equal(results[1]?.description, 'the rule dropped all five SYNs')
  t.match(results[2]?.reason, /^cannot evaluate: Invalid regular expression/, 'a failed expectation is data, never an exception')
  t.equal(statusOf(results), 'fail')
  t.equal(statusOf(results.filter((r) => r.status !== 'fail')), 'pass')
  t.equal(statusOf([results[3] as ExpectationResult]), 'skip', 'all skipped')
  t.equal(statusOf([]), 'pass')

  t.same(kindOf(list[1] as Expectation).kind, 'counter')
})

t.test('each recorded run, re-evaluated from its scenario.yaml, gives its verdict.json', async (t) => {
  for (const name of FIXTURE_NAMES) {
    const fx = loadFixture(name)
    const file = join(TIMELINES, name, 'scenario.yaml')
    const loaded = parseScenario(readFileSync(file, 'utf8'), file)
    t.equal(loaded.scenario.tolerance, undefined, `${name}: the seeds use the default tolerance`)
    const results = evaluateAll(loaded.scenario.expect, contextOf(fx), loaded.expectPos)
    // Status, position and the time each result points at; the wording of expected/measured
    // may improve after the recording (e.g. "0us" became "0s"), so it is not compared here.
    const pick = (r: ExpectationResult) => ({ index: r.index, kind: r.kind, status: r.status, t: r.t, line: r.line, col: r.col, reason: r.reason })
    t.same(results.map(pick), fx.verdict.results.map(pick), name)
    t.equal(statusOf(results), fx.verdict.status, `${name}: ${fx.verdict.status}`)
  }
})

t.test('the loader rejects what the evaluators could only fail on', async (t) => {
  // The recorded seed-recvq-stalled-reader scenario with one more expectation appended.
  const file = join(TIMELINES, 'seed-recvq-stalled-reader', 'scenario.yaml')
  const base = readFileSync(file, 'utf8').trimEnd()
  const withExpect = (yaml: string): unknown => {
    try {
      parseScenario(`${base}\n  ${yaml}\n`, file)
      return undefined
    } catch (e: unknown) {
      return e
    }
  }
  t.equal(withExpect('- process: { name: srv, stdout: "/^12345$/" }'), undefined, 'a good regex loads')
  const cases: Array<[string, RegExp]> = [
    ['- process: { name: srv, stdout: "/(unclosed/" }', /expect\[4\]\.process\.stdout: bad regular expression \/\(unclosed\//],
    ['- event: { type: exited }', /expect\[4\]\.event: expected socket: NAME or source: NAME/],
    ['- process: { name: srv, exit: 0, at: [1s] }', /expect\[4\]\.process\.at: a list of times applies to packets and event expectations/],
    ['- ss: { on: server, match: { recvQ: 6 }, at: [1s, 2s] }', /expect\[4\]\.ss\.at: a list of times/],
  ]
  for (const [yaml, want] of cases) {
    const e = withExpect(yaml)
    t.ok(e instanceof ScenarioError, yaml)
    t.match((e as Error).message, want)
  }
})
