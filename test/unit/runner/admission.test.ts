// Admission and fixed costs: the busy-machine note on timing failures, the canary's
// histogram, a host's env sysctls from the run's defaults, the netns lab plan, --jobs.
import t from 'tap'
import { annotateBusyMachine, failedOnStalls, stallsAccountFor } from '../../../src/runner/suite.js'
import { LatenessHistogram, mergeStalls } from '../../../src/runner/canary.js'
import { hostSysctls } from '../../../src/runner/env.js'
import { planLab } from '../../../src/lab/netns/backend.js'
import { BACKEND_NAMES as CLI_BACKENDS, parseJobs } from '../../../src/cli/commands.js'
import { BACKEND_NAMES } from '../../../src/lab/index.js'
import type { ExpectationResult, ScenarioLoad, ScenarioVerdict } from '../../../src/expect/verdict.js'

const result = (over: Partial<ExpectationResult>): ExpectationResult =>
  ({ index: 0, kind: 'packets', status: 'fail', description: 'd', expected: 'e', measured: 'm', deltaMs: 300, toleranceMs: 100, ...over })
const busy: ScenarioLoad = { canaryLateMsP90: 20, canaryLateMsP99: 120, canaryLateMsMax: 180, loadavg: 9.5, running: 12 }
const calm: ScenarioLoad = { canaryLateMsP90: 0.5, canaryLateMsP99: 2, canaryLateMsMax: 8, loadavg: 0.4, running: 1 }

t.test('a timing failure under late timers says so; the status stays fail', async (t) => {
  const rs = [result({}), result({ status: 'pass' }), result({ deltaMs: undefined, toleranceMs: undefined }), result({ toleranceMs: 500 })]
  t.equal(annotateBusyMachine(rs, busy), 1)
  t.match(rs[0]?.reason, /machine too busy: it stalled 180ms .*timers up to 180ms late/)
  t.equal(rs[0]?.status, 'fail')
  t.equal(rs[1]?.reason, undefined, 'a pass is left alone')
  t.equal(rs[2]?.reason, undefined, 'a non-timing failure is left alone')
  t.equal(rs[3]?.reason, undefined, 'lateness within the tolerance is no excuse')
  const quiet = [result({ reason: 'x' })]
  t.equal(annotateBusyMachine(quiet, calm), 0, 'a calm machine: no note')
  t.equal(quiet[0]?.reason, 'x')
})

t.test('stalls account for a timing miss only if they came before it and add up to what it missed by', async (t) => {
  // Missed by 300 ms with 100 ms of tolerance: 200 ms to account for, at 3.0 s.
  const miss = result({ t: 3.0 })
  const at = (stalls: Array<{ t: number; ms: number }>): ScenarioLoad => ({ ...calm, canaryLateMsMax: 150, stalls })
  t.same(stallsAccountFor(miss, at([{ t: 1.0, ms: 101 }, { t: 2.0, ms: 120 }])), { stallMs: 120, stallT: 2.0 }, 'two stalls before it: 221 ms >= 200')
  t.equal(stallsAccountFor(miss, at([{ t: 1.0, ms: 101 }])), undefined, 'one 101 ms stall cannot shift it by 200 ms')
  t.equal(stallsAccountFor(miss, at([{ t: 1.0, ms: 101 }, { t: 3.5, ms: 150 }])), undefined, 'a stall after the moment it points at is no excuse')
  t.equal(stallsAccountFor(result({ t: 3.0, deltaMs: -300 }), at([{ t: 2.9, ms: 210 }])) !== undefined, true, 'early or late, the size counts')
  t.equal(stallsAccountFor(result({ t: 3.0, deltaMs: 80 }), at([{ t: 1, ms: 500 }])), undefined, 'within its tolerance it failed for another reason')
  t.equal(stallsAccountFor(result({ t: 3.0, status: 'pass' }), at([{ t: 1, ms: 500 }])), undefined, 'a pass')
  t.equal(stallsAccountFor(result({ t: 3.0, deltaMs: undefined }), at([{ t: 1, ms: 500 }])), undefined, 'not a timing claim')
  t.same(stallsAccountFor(result({}), at([{ t: 9, ms: 250 }])), { stallMs: 250, stallT: 9 }, 'a result without a moment: any stall of the scenario')
  const rs = [result({ t: 3.0 })]
  t.equal(annotateBusyMachine(rs, at([{ t: 1.25, ms: 230 }])), 1)
  t.match(rs[0]?.reason, /machine too busy: it stalled 230ms at 1\.250s/)
})

t.test('a failed verdict is set aside only when stalls account for every failure in it', async (t) => {
  const load: ScenarioLoad = { ...calm, canaryLateMsMax: 230, stalls: [{ t: 1.25, ms: 230 }] }
  const verdict = (results: ExpectationResult[], over: Partial<ScenarioVerdict> = {}): ScenarioVerdict =>
    ({ name: 's', file: 's.yaml', title: 't', status: 'fail', backend: 'netns', startedAt: '', durationMs: 1, results, ...over })
  const timing = result({ index: 2, t: 3.0, description: 'exit at 2.8s', measured: 'exit at 3.1s' })
  t.same(failedOnStalls(verdict([result({ status: 'pass' }), timing]), load), { failed: ['#3 exit at 2.8s: exit at 3.1s'], stallMs: 230, stallT: 1.25 })
  t.equal(failedOnStalls(verdict([timing, result({ index: 3, deltaMs: undefined, toleranceMs: undefined })]), load), undefined, 'one failure the stall does not explain: a real failure')
  t.equal(failedOnStalls(verdict([timing, result({ index: 3, status: 'error', deltaMs: undefined })]), load), undefined, 'an expectation that could not be judged')
  t.equal(failedOnStalls(verdict([timing], { status: 'error', error: { code: 'E', message: 'm', exitCode: 1 } }), load), undefined, 'a scenario that could not run')
  t.equal(failedOnStalls(verdict([timing], { timedOut: true }), load), undefined, 'timed out')
  t.equal(failedOnStalls(verdict([timing]), { ...load, stalls: [] }), undefined, 'no stall')
  t.equal(failedOnStalls(verdict([timing]), { ...load, stalls: undefined }), undefined, 'no stall probe: lateness alone never sets an attempt aside')
})

t.test('stalls seen by several CPUs\' probes at once are one stall', async (t) => {
  // A paused machine: both probes wake 100 ms late at about the same time; then one CPU alone stalls.
  t.same(mergeStalls([{ endMs: 1100, ms: 100 }, { endMs: 5030, ms: 20 }, { endMs: 1102, ms: 101 }]), [{ endMs: 1102, ms: 102 }, { endMs: 5030, ms: 20 }])
  t.same(mergeStalls([{ endMs: 200, ms: 50 }, { endMs: 100, ms: 50 }]), [{ endMs: 100, ms: 50 }, { endMs: 200, ms: 50 }], 'apart: two, in time order')
  t.same(mergeStalls([]), [])
})

t.test('lateness histogram quantiles', async (t) => {
  const h = new LatenessHistogram()
  for (let i = 0; i < 99; i++) h.add(0.5)
  h.add(200)
  const s = h.stats()
  t.ok(s.p90 >= 0.5 && s.p90 < 0.6, `p90 ${s.p90}`)
  t.ok(s.p99 < 1, `p99 ${s.p99}`)
  t.equal(s.max, 200)
  t.equal(s.samples, 100)
  t.equal(new LatenessHistogram().stats().p99, 0)
})

t.test('host sysctls: defaults, the spec over them, optional keys only where they exist, the wire forwards', async (t) => {
  const defaults = { 'net.ipv4.tcp_syn_retries': '6', 'net.ipv4.ip_forward': '0', 'net.ipv4.tcp_rmem': '4096 131072 6291456' }
  const h = hostSysctls(defaults, { name: 'c', isWire: false, sysctls: { 'net.ipv4.tcp_syn_retries': '2', '?net.ipv4.tcp_nope': '1', '?net.ipv4.tcp_rmem': '4096\t8192  16384' } })
  t.same(h, { 'net.ipv4.tcp_syn_retries': '2', 'net.ipv4.ip_forward': '0', 'net.ipv4.tcp_rmem': '4096 8192 16384' })
  t.equal(hostSysctls(defaults, { name: 'w', isWire: true, sysctls: {} })['net.ipv4.ip_forward'], '1')
})

t.test('netns lab plan: one batch of namespaces and links, one per namespace of addresses', async (t) => {
  const names = new Map([['client', 'tcplab-x-client'], ['server', 'tcplab-x-server']])
  const two = planLab({ labId: 'x', scenario: 's', hosts: [{ name: 'client', sysctls: {}, isWire: false }, { name: 'server', sysctls: {}, isWire: false }] }, '198.18.7', names)
  t.same(two.create, ['netns add tcplab-x-client', 'netns add tcplab-x-server', 'link add eth0 netns tcplab-x-client type veth peer name eth0 netns tcplab-x-server'])
  t.same(two.configure.get('tcplab-x-server'), ['link set lo up', 'addr add 198.18.7.2/24 dev eth0', 'link set eth0 up'])
  const wnames = new Map([...names, ['wire', 'tcplab-x-wire']])
  const wire = planLab({ labId: 'x', scenario: 's', hosts: [{ name: 'client', sysctls: {}, isWire: false }, { name: 'wire', sysctls: {}, isWire: true }, { name: 'server', sysctls: {}, isWire: false }] }, '198.18.7', wnames)
  t.equal(wire.create.length, 5)
  t.match(wire.configure.get('tcplab-x-client')?.join('\n'), /route add 198\.18\.7\.0\/24 via 198\.18\.7\.126/)
  const three = new Map([...names, ['other', 'tcplab-x-other']])
  const sw = planLab({ labId: 'x', scenario: 's', hosts: [...three.keys()].map((n) => ({ name: n, sysctls: {}, isWire: false })) }, '198.18.7', three, 'tcplab-x-sw')
  t.ok(sw.create.includes('netns add tcplab-x-sw'))
  t.same(sw.configure.get('tcplab-x-sw')?.[0], 'link add br0 type bridge')
})

t.test('--jobs: auto by default, N >= 1, nothing else; the CLI knows every backend', async (t) => {
  t.equal(parseJobs(undefined), 'auto')
  t.equal(parseJobs('auto'), 'auto')
  t.equal(parseJobs('8'), 8)
  t.throws(() => parseJobs('0'))
  t.throws(() => parseJobs('many'))
  t.same([...CLI_BACKENDS], [...BACKEND_NAMES])
})
