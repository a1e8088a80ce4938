// The netns backend's setup batch with a parent namespace (setupBatch): every
// namespace and veth first, then one `netns exec` per namespace that restores the
// two sysctls an own TCP hash changes (hosts only) and runs that namespace's file.
import t from 'tap'
import { planLab, setupBatch, type LabParent } from '../../../src/lab/netns/backend.js'

const parent: LabParent = { path: '/proc/1/fd/9', twBuckets: '131072', synBacklog: '2048' }
const host = (name: string, isWire = false) => ({ name, sysctls: {}, isWire })

t.test('two hosts: namespaces and veth, then each host restores tcp_max_tw_buckets/tcp_max_syn_backlog and configures', async (t) => {
  const names = new Map([['client', 'tcplab-x-client'], ['server', 'tcplab-x-server']])
  const plan = planLab({ labId: 'x', scenario: 's', hosts: [host('client'), host('server')] }, '198.18.7', names)
  const files = new Map([...names.values()].map((ns) => [ns, `/run/tcplab/setup/x/${ns}`]))
  const lines = setupBatch(plan, parent, files, new Set(names.values()))
  t.same(lines.slice(0, 3), plan.create)
  t.equal(lines.length, 5)
  for (const [i, ns] of ['tcplab-x-client', 'tcplab-x-server'].entries()) {
    const l = lines[3 + i] as string
    t.ok(l.startsWith(`netns exec ${ns} sh -c '`), l)
    t.ok(l.endsWith(`' sh 131072 2048 /run/tcplab/setup/x/${ns}`), l)
    // ip's batch parser: one quoted word for the script, nothing it would cut at.
    t.notMatch(l, /#|"\$[^123]/)
    t.equal(l.split("'").length, 3, 'the script is one single-quoted word')
  }
})

t.test('the switch namespace is configured without the sysctls (it holds no sockets)', async (t) => {
  const names = new Map(['a', 'b', 'c'].map((h) => [h, `tcplab-x-${h}`]))
  const plan = planLab({ labId: 'x', scenario: 's', hosts: ['a', 'b', 'c'].map((h) => host(h)) }, '198.18.7', names, 'tcplab-x-sw')
  const files = new Map([...plan.configure.keys()].map((ns) => [ns, `/run/tcplab/setup/x/${ns}`]))
  const lines = setupBatch(plan, parent, files, new Set(names.values()))
  t.ok(lines.includes('netns exec tcplab-x-sw ip -batch /run/tcplab/setup/x/tcplab-x-sw'))
  t.equal(lines.filter((l) => l.includes(' sh -c ')).length, 3)
})

t.test('a setup file path that an ip batch line cannot carry is refused', async (t) => {
  const names = new Map([['client', 'tcplab-x-client'], ['server', 'tcplab-x-server']])
  const plan = planLab({ labId: 'x', scenario: 's', hosts: [host('client'), host('server')] }, '198.18.7', names)
  const files = new Map([...names.values()].map((ns) => [ns, `/tmp/my state/${ns}`]))
  t.throws(() => setupBatch(plan, parent, files, new Set(names.values())), /only letters, digits/)
})
