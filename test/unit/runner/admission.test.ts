// Admission and fixed costs: the busy-machine note on timing failures, the canary's
// histogram, a host's env sysctls from the run's defaults, the netns lab plan, --jobs.
import t from 'tap'
import { annotateBusyMachine, failedOnStalls, stallsAccountFor } from '../../../src/runner/busy-machine.js'
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

t.test('a stall accounts for a timing miss only if the machine stood still when it was due, for at least what it missed by', async (t) => {
  // 300 ms late with 100 ms of tolerance, seen at 3.0 s: due at 2.7 s, 200 ms to account for.
  const miss = result({ t: 3.0 })
  const at = (stalls: Array<{ t: number; ms: number }>): ScenarioLoad => ({ ...calm, canaryLateMsMax: 150, stalls })
  t.same(stallsAccountFor(miss, at([{ t: 1.0, ms: 20 }, { t: 2.6, ms: 350 }])), { stallMs: 350, stallT: 2.6 }, 'stood still from 2.6 s to 2.95 s: covers 2.7 s and 200 ms past it')
  t.equal(stallsAccountFor(miss, at([{ t: 2.6, ms: 250 }])), undefined, 'over by 2.85 s: only 150 ms past when it was due')
  t.equal(stallsAccountFor(miss, at([{ t: 1.0, ms: 500 }, { t: 2.0, ms: 500 }])), undefined, 'long stalls, but before it was due: no excuse (they do not add up)')
  t.equal(stallsAccountFor(miss, at([{ t: 2.75, ms: 400 }])), undefined, 'a stall that began after it was due')
  t.same(stallsAccountFor(result({ t: 3.0, deltaMs: -300 }), at([{ t: 2.5, ms: 210 }])), { stallMs: 210, stallT: 2.5 }, 'early: a stall as long as the excess before it (it delayed the anchor)')
  t.equal(stallsAccountFor(result({ t: 3.0, deltaMs: -300 }), at([{ t: 3.5, ms: 400 }])), undefined, 'early: not a stall after it')
  t.equal(stallsAccountFor(result({ t: 3.0, deltaMs: 80 }), at([{ t: 2.9, ms: 500 }])), undefined, 'within its tolerance it failed for another reason')
  t.equal(stallsAccountFor(result({ t: 3.0, status: 'pass' }), at([{ t: 2.6, ms: 500 }])), undefined, 'a pass')
  t.same(stallsAccountFor(result({}), at([{ t: 9, ms: 250 }])), { stallMs: 250, stallT: 9 }, 'a result without a moment: a stall as long as the excess')
  t.equal(stallsAccountFor(result({}), at([{ t: 9, ms: 150 }, { t: 10, ms: 150 }])), undefined, 'a result without a moment: stalls do not add up')
  const rs = [result({ t: 3.0 })]
  t.equal(annotateBusyMachine(rs, at([{ t: 2.65, ms: 330 }])), 1)
  t.match(rs[0]?.reason, /machine too busy: it stalled 330ms at 2\.650s/)
})

t.test('a failure that is not a timing claim: a stall accounts for it when it broke while the machine stood still or as it came back', async (t) => {
  // Two reads due 50 ms apart, taken as one at the end of a 98 ms stall (docker parity, nodelay-ack-loss).
  const order = (brokeT: number): ExpectationResult => result({ kind: 'event', deltaMs: undefined, toleranceMs: undefined, t: brokeT })
  const at = (stalls: Array<{ t: number; ms: number }>): ScenarioLoad => ({ ...calm, stalls })
  const stall = [{ t: 0.965, ms: 98 }]
  t.same(stallsAccountFor(order(1.0634), at(stall)), { stallMs: 98, stallT: 0.965 }, 'broke as it came back (1.063 s)')
  t.same(stallsAccountFor(order(1.0), at(stall)), { stallMs: 98, stallT: 0.965 }, 'broke while it stood still')
  t.equal(stallsAccountFor(order(1.09), at(stall)), undefined, '27 ms after it came back: not the stall\'s doing')
  t.equal(stallsAccountFor(order(0.9), at(stall)), undefined, 'before it')
  t.equal(stallsAccountFor(order(1.0), { ...calm, canaryLateMsMax: 500 }), undefined, 'no stall times (no probe): late timers are no excuse for it')
  t.equal(stallsAccountFor({ ...order(1.0), t: undefined }, at(stall)), undefined, 'no moment')
  t.equal(stallsAccountFor({ ...order(1.0), status: 'pass' }, at(stall)), undefined, 'a pass')
  const rs = [order(1.0634)]
  t.equal(annotateBusyMachine(rs, at(stall)), 1)
  t.match(rs[0]?.reason, /^machine too busy: it stalled 98ms at 0\.965s \(.*\), and this failed at 1\.063s, while it stood still or as it came back$/)
  const v = { status: 'fail', results: [order(1.0634), result({ status: 'pass' })] } as unknown as ScenarioVerdict
  t.match(failedOnStalls(v, at(stall)), { stallMs: 98, stallT: 0.965 }, 'its only failure: the attempt is set aside')
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
