// The sysctls a host gets: the scenario's, the host's, then --sysctl, a key and
// its optional form ("?key") being one sysctl (both used to be applied at once,
// in no set order: --sysctl net.ipv4.tcp_syn_linear_timeouts=0 over a scenario's
// optional 2 left 2 in force while env.json said 0).

import t from 'tap'
import { hostSysctls, mergeSysctls } from '../../../src/runner/env.js'

t.test('a later key replaces an earlier optional one, and the other way round', async (t) => {
  t.same(mergeSysctls({ 'net.ipv4.tcp_syn_retries': '6' }, { '?net.ipv4.tcp_syn_linear_timeouts': '2', 'net.ipv4.tcp_syn_retries': '2' }, { 'net.ipv4.tcp_syn_linear_timeouts': '0' }), {
    'net.ipv4.tcp_syn_retries': '2',
    'net.ipv4.tcp_syn_linear_timeouts': '0',
  })
  t.same(mergeSysctls({ 'net.ipv4.tcp_syn_linear_timeouts': '1' }, { '?net.ipv4.tcp_syn_linear_timeouts': '2' }, undefined), { '?net.ipv4.tcp_syn_linear_timeouts': '2' })
  const spec = { name: 'client', isWire: false, sysctls: mergeSysctls({ '?net.ipv4.tcp_syn_linear_timeouts': '2' }, { 'net.ipv4.tcp_syn_linear_timeouts': '0' }) }
  t.equal(hostSysctls({ 'net.ipv4.tcp_syn_linear_timeouts': '4' }, spec)['net.ipv4.tcp_syn_linear_timeouts'], '0', 'env.json names the value that is applied')
})
