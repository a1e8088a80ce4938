// Admission and fixed costs: the busy-machine note on timing failures, the canary's
// histogram, a host's env sysctls from the run's defaults, the netns lab plan, --jobs.
import t from 'tap'
import { annotateBusyMachine } from '../../../src/runner/suite.js'
import { LatenessHistogram } from '../../../src/runner/canary.js'
import { hostSysctls } from '../../../src/runner/env.js'
import { planLab } from '../../../src/lab/netns/backend.js'
import { BACKEND_NAMES as CLI_BACKENDS, parseJobs } from '../../../src/cli/commands.js'
import { BACKEND_NAMES } from '../../../src/lab/index.js'
import type { ExpectationResult, ScenarioLoad } from '../../../src/expect/verdict.js'

const result = (over: Partial<ExpectationResult>): ExpectationResult =>
  ({ index: 0, kind: 'packets', status: 'fail', description: 'd', expected: 'e', measured: 'm', deltaMs: 300, toleranceMs: 100, ...over })
const busy: ScenarioLoad = { canaryLateMsP90: 20, canaryLateMsP99: 120, canaryLateMsMax: 180, loadavg: 9.5, running: 12 }
const calm: ScenarioLoad = { canaryLateMsP90: 0.5, canaryLateMsP99: 2, canaryLateMsMax: 8, loadavg: 0.4, running: 1 }

t.test('a timing failure under late timers says so; the status stays fail', async (t) => {
  const rs = [result({}), result({ status: 'pass' }), result({ deltaMs: undefined, toleranceMs: undefined }), result({ toleranceMs: 500 })]
  t.equal(annotateBusyMachine(rs, busy), 1)
  t.match(rs[0]?.reason, /machine too busy: timers up to 180ms late/)
  t.equal(rs[0]?.status, 'fail')
  t.equal(rs[1]?.reason, undefined, 'a pass is left alone')
  t.equal(rs[2]?.reason, undefined, 'a non-timing failure is left alone')
  t.equal(rs[3]?.reason, undefined, 'lateness within the tolerance is no excuse')
  const quiet = [result({ reason: 'x' })]
  t.equal(annotateBusyMachine(quiet, calm), 0, 'a calm machine: no note')
  t.equal(quiet[0]?.reason, 'x')
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
