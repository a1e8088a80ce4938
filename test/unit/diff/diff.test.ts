import t from 'tap'
import path from 'node:path'
import { Writable } from 'node:stream'
import { readRunResults } from '../../../src/report/results.js'
import { diffRuns, diffMetrics, diffEnv, formatDiffText, extractMetrics, type Metric } from '../../../src/diff/index.js'
import { invokeCommand } from '../../../src/cli/invoke.js'
import { diffCommand } from '../../../src/cli/report-commands.js'
import { exitCodeOf } from '../../../src/util/errors.js'
import { RUN_A, RUN_A2, RUN_LINEAR0, normalise } from '../report/runs.js'

const a = readRunResults(RUN_A)
const a2 = readRunResults(RUN_A2)
const b = readRunResults(RUN_LINEAR0)
const TOL = { floorMs: 100, percent: 10 }

t.test('with and without tcp_syn_linear_timeouts: the SYN schedule difference is found and explained', async (t) => {
  const d = diffRuns(a, b)
  t.equal(d.regressed, true)
  const syn = d.scenarios.find((s) => s.name === 'seed-syn-drop-timeout')
  t.equal(syn?.status, 'regressed')
  t.same(syn?.verdict, { a: 'pass', b: 'fail' })
  const schedule = syn?.metrics.find((m) => m.kind === 'schedule' && m.key.includes('[S] seq 0'))
  t.match(schedule, { severity: 'regression', summary: /^5 → 3 transmissions; #3 1\.024s → 2\.016s after the previous one/ })
  t.same((schedule?.a as number[]).length, 5)
  const env = syn?.env.find((e) => e.key === 'net.ipv4.tcp_syn_linear_timeouts')
  t.match(env, { related: true, summary: 'client: 2 → 0, server: 4 → 0' }, 'the sysctl that explains it')
  t.ok(d.env.some((e) => e.key === 'sysctlOverrides'), 'the --sysctl of the run, once for all')
  t.ok(syn?.expectations.some((e) => e.index === 0 && e.severity === 'regression'))
  // The time from the last SYN to connect()'s ETIMEDOUT is the same 4 s in both: not a difference.
  t.notOk(syn?.metrics.some((m) => m.kind === 'time' && m.key.includes('exited')), 'exit 4 s after the last SYN in both')
  t.equal(d.scenarios.find((s) => s.name === 'seed-sendq-ack-drop')?.status, 'same', 'the other scenario does not depend on it')
  t.matchSnapshot(normalise(formatDiffText(d)), 'text')
})

t.test('the same suite twice with the same settings: nothing to report', async (t) => {
  const d = diffRuns(a, a2)
  t.equal(d.regressed, false)
  t.same(d.scenarios.map((s) => [s.name, s.status, s.metrics.map((m) => m.summary)]), [
    ['seed-syn-drop-timeout', 'same', []],
    ['seed-sendq-ack-drop', 'same', []],
  ])
  t.match(formatDiffText(d), /2 scenario\(s\): 0 regressed, 0 changed, 2 same\n$/)
})

t.test('the command: exit 1 on regression, 0 otherwise, 2 on bad input; --json', async (t) => {
  const run = async (args: string[], values: Record<string, boolean | string> = {}): Promise<{ code: number; out: string }> => {
    let out = ''
    const w = new Writable({ write(c: Buffer, _e, cb) { out += c.toString(); cb() } })
    const flags = Object.entries(values).flatMap(([k, v]) => (v === true ? [`--${k}`] : typeof v === 'string' ? [`--${k}`, v] : []))
    const code = await invokeCommand(diffCommand, [...args, ...flags], { out: w, err: w })
    return { code, out }
  }
  t.equal((await run([RUN_A, RUN_LINEAR0])).code, 1)
  t.equal((await run([RUN_A, RUN_A2])).code, 0)
  // The other way round the verdicts are fixed, but the SYN timing still moved beyond tolerance: that counts too.
  const back = await run([RUN_LINEAR0, RUN_A])
  t.equal(back.code, 1)
  t.match(back.out, /✓ #1 packets fail → pass/)
  const json = await run([RUN_A, RUN_LINEAR0], { json: true })
  const parsed = JSON.parse(json.out) as { regressed: boolean; scenarios: Array<{ name: string; status: string }> }
  t.equal(parsed.regressed, true)
  const e1 = await run(['/nonexistent/a', RUN_A]).then(() => undefined, (e: unknown) => e)
  t.equal(exitCodeOf(e1), 2)
  const e2 = await run([RUN_A]).then(() => undefined, (e: unknown) => e)
  t.equal(exitCodeOf(e2), 2)
  const e3 = await run([RUN_A, RUN_A2], { tolerance: 'soon' }).then(() => undefined, (e: unknown) => e)
  t.equal(exitCodeOf(e3), 2)
})

t.test('two scenario folders can be compared directly', async (t) => {
  const d = diffRuns(readRunResults(path.join(RUN_A, 'seed-syn-drop-timeout')), readRunResults(path.join(RUN_LINEAR0, 'seed-syn-drop-timeout')))
  t.equal(d.scenarios.length, 1)
  t.equal(d.regressed, true)
})

t.test('metrics of a recorded run: stable keys, times judged from what caused them', async (t) => {
  const syn = a.scenarios.find((s) => s.verdict.name === 'seed-syn-drop-timeout')
  const m = extractMetrics(syn?.records ?? [], { hostOrder: ['client', 'server'], endT: 10 })
  const schedule = m.find((x) => x.key === 'pkt client→server:8000 client→server [S] seq 0')
  t.match(schedule, { kind: 'schedule', sinceKind: 'step', topics: ['syn'] })
  t.equal(schedule?.kind === 'schedule' ? schedule.times.length : 0, 5)
  const exit = m.find((x) => x.key === 'event client cli exited')
  t.match(exit, { kind: 'time', value: '1', sinceKind: 'packet' }, 'the exit follows the last SYN, a kernel timing')
  t.match(m.find((x) => x.key === 'counter server drop-syn'), { value: 5 })
  t.match(m.find((x) => x.key === 'event client cli stderr ETIMEDOUT'), { value: 'ETIMEDOUT' })
  t.ok(m.some((x) => x.kind === 'sequence' && x.key === 'states client→server:8000'))
  t.notOk(m.some((x) => x.key.includes(' exited') && x.key.includes('srv')), 'endpoints the runner stopped at the end are teardown, not measured')
})

t.test('tolerances and severities on synthetic metrics', async (t) => {
  const sched = (times: number[], sinceKind: 'step' | 'packet' = 'step'): Metric => ({ kind: 'schedule', key: 'k', what: 'w', times, sinceT: 0, sinceKind, topics: ['data'] })
  t.same(diffMetrics([sched([1, 1.2, 1.6])], [sched([1.05, 1.26, 1.68])], TOL), [], 'within max(100ms, 10%)')
  const moved = diffMetrics([sched([1, 1.2, 1.6])], [sched([1, 1.2, 2.0])], TOL)
  t.match(moved, [{ severity: 'regression', summary: /#3 0\.400s → 0\.800s after the previous one \(\+400\.0ms, tolerance ±100ms\)/ }])
  const firstLate = diffMetrics([sched([1])], [sched([1.5])], TOL)
  t.match(firstLate, [{ severity: 'change' }], 'a first transmission after a step: the machine, not the kernel')
  t.match(diffMetrics([sched([1], 'packet')], [sched([1.5], 'packet')], TOL), [{ severity: 'regression' }], 'after a packet: the kernel')
  t.match(diffMetrics([sched([1, 2])], [], TOL), [{ severity: 'regression', summary: /^only in A: 2 transmission/ }])
  const time = (t: number, value?: string, sinceKind: 'step' | 'packet' = 'packet'): Metric => ({ kind: 'time', key: 'e', what: 'e', t, value, sinceT: 5, sinceKind, topics: ['error'] })
  t.same(diffMetrics([time(9)], [time(9.3)], TOL), [], '300ms on a 4 s interval is within 10%')
  t.match(diffMetrics([time(9)], [time(9.5)], TOL), [{ severity: 'regression' }])
  t.match(diffMetrics([time(9, 'ETIMEDOUT')], [time(9, 'ECONNRESET')], TOL), [{ severity: 'change', summary: 'ETIMEDOUT → ECONNRESET' }])
  const count = (key: string, value: number): Metric => ({ kind: 'count', key, what: key, value, topics: [] })
  t.same(diffMetrics([count('packets h out [.]', 100)], [count('packets h out [.]', 95)], TOL), [], 'bulk packet counts vary a little')
  t.match(diffMetrics([count('counter h r', 5)], [count('counter h r', 3)], TOL), [{ severity: 'change', summary: '5 → 3' }])
  const seq = (items: string[]): Metric => ({ kind: 'sequence', key: 's', what: 's', items, times: items.map((_, i) => i), earliest: items.map((_, i) => i - 0.1), since: items.map(() => ({ t: 0, kind: 'packet' as const })), topics: [] })
  t.match(diffMetrics([seq(['ESTAB', 'CLOSE-WAIT'])], [seq(['ESTAB'])], TOL), [{ severity: 'change', summary: 'ESTAB → CLOSE-WAIT  became  ESTAB' }])
})

t.test('environment differences: kernel always related, sysctls when they govern what changed', async (t) => {
  const changes = diffMetrics(
    [{ kind: 'schedule', key: 'k', what: 'w', times: [1, 2, 4], sinceT: 0, sinceKind: 'step', topics: ['keepalive'] }],
    [{ kind: 'schedule', key: 'k', what: 'w', times: [1, 2], sinceT: 0, sinceKind: 'step', topics: ['keepalive'] }],
    TOL,
  )
  const env = diffEnv(
    { kernel: '6.1', hz: 250, hosts: { c: { sysctls: { 'net.ipv4.tcp_keepalive_probes': '9', 'net.ipv4.tcp_syn_retries': '6', 'net.core.netdev_rss_key': 'aa' } } } },
    { kernel: '6.8', hz: 1000, hosts: { c: { sysctls: { 'net.ipv4.tcp_keepalive_probes': '3', 'net.ipv4.tcp_syn_retries': '2', 'net.core.netdev_rss_key': 'bb' } } } },
    changes,
  )
  t.same(env.map((e) => [e.key, e.related]), [['kernel', true], ['hz', true], ['net.ipv4.tcp_keepalive_probes', true], ['net.ipv4.tcp_syn_retries', false]])
})
