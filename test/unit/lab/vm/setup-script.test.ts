// The vm lab's setup script: the netns backend's plan (planLab) run in the guest
// by one shell, with each host's sysctls; arguments are single-quoted words.
import t from 'tap'
import { execFileSync } from 'node:child_process'
import { planLab } from '../../../../src/lab/netns/backend.js'
import { setupScript } from '../../../../src/lab/vm/backend.js'
import type { HostSpec } from '../../../../src/lab/types.js'

const hosts: HostSpec[] = [
  { name: 'client', sysctls: { 'net.ipv4.tcp_syn_retries': '2', '?net.ipv4.tcp_syn_linear_timeouts': '0' }, isWire: false },
  { name: 'server', sysctls: { 'net.core.somaxconn': "it's" }, isWire: false },
]
const names = new Map([['client', 'tcplab-x-client'], ['server', 'tcplab-x-server']])
const plan = planLab({ labId: 'x', scenario: 's', hosts }, '198.18.7', names)
const script = setupScript(plan.create, plan.configure, hosts, names)

t.test('namespaces and links first, then each namespace, then sysctls (optional keys with -e)', async (t) => {
  const lines = script.split('\n')
  t.equal(lines[0], 'set -e')
  t.match(lines[1], /^printf '%s\\n' 'netns add tcplab-x-client' 'netns add tcplab-x-server' 'link add eth0 netns tcplab-x-client type veth peer name eth0 netns tcplab-x-server' \| ip -batch -$/)
  t.match(lines[2], /\| ip -n 'tcplab-x-client' -batch -$/)
  t.match(lines[2], /'addr add 198\.18\.7\.1\/24 dev eth0'/)
  t.match(lines[4], /^ip netns exec 'tcplab-x-client' sysctl -q -w 'net\.ipv4\.tcp_syn_retries=2' \|\|/)
  t.match(lines[5], /^ip netns exec 'tcplab-x-client' sysctl -e -q -w 'net\.ipv4\.tcp_syn_linear_timeouts=0' \|\|/)
  t.match(lines[6], /sysctl -q -w 'net\.core\.somaxconn=it'\\''s'/)
})

t.test('the script is valid sh and its words come back unchanged', async (t) => {
  execFileSync('sh', ['-n', '-c', script])
  // Replace the commands by echo: what printf and sysctl would receive.
  const out = execFileSync('sh', ['-c', script.replace(/\| ip (-n '[^']*' )?-batch -/g, '').replace(/ip netns exec '[^']*' sysctl -e -q -w/g, 'echo').replace(/ip netns exec '[^']*' sysctl -q -w/g, 'echo')], { encoding: 'utf8' })
  t.match(out, /net\.core\.somaxconn=it's/)
  t.match(out, /^link add eth0 netns tcplab-x-client type veth peer name eth0 netns tcplab-x-server$/m)
})
