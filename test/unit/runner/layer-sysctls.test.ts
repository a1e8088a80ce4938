// --sysctl must override a host's optional sysctl ("?key"): before, both keys reached the backend and
// the optional one was applied last, while env.json showed the override (a run with
// --sysctl net.ipv4.tcp_syn_linear_timeouts=0 still had linear SYN timeouts on the client).
import t from 'tap'
import { mergeSysctls as layerSysctls } from '../../../src/runner/env.js'
import { hostSysctls } from '../../../src/runner/env.js'

t.test('later layers replace an earlier key, optional or not', async (t) => {
  const scenario = { 'net.ipv4.tcp_syn_retries': '3' }
  const host = { 'net.ipv4.tcp_syn_retries': '2', '?net.ipv4.tcp_syn_linear_timeouts': '2' }
  const cli = { 'net.ipv4.tcp_syn_linear_timeouts': '0' }
  const merged = layerSysctls(scenario, host, cli)
  t.same(merged, { 'net.ipv4.tcp_syn_retries': '2', 'net.ipv4.tcp_syn_linear_timeouts': '0' })
  t.same(layerSysctls({ 'net.ipv4.x': '1' }, { '?net.ipv4.x': '2' }), { '?net.ipv4.x': '2' })
  t.same(layerSysctls(undefined, {}, undefined), {})
  // What env.json then records is what the backend applies.
  const env = hostSysctls({ 'net.ipv4.tcp_syn_linear_timeouts': '4', 'net.ipv4.tcp_syn_retries': '6' }, { name: 'client', isWire: false, sysctls: merged })
  t.equal(env['net.ipv4.tcp_syn_linear_timeouts'], '0')
})
