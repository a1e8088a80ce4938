// A sysctl key's file under /proc/sys, as sysctl(8) maps it (the vm backend
// writes the files itself, from inside the host's namespace).
import t from 'tap'
import { sysctlPath } from '../../../../src/lab/vm/backend.js'

t.test('dots separate levels; a slash in a key stands for a dot in a name', async (t) => {
  t.equal(sysctlPath('net.ipv4.tcp_syn_retries'), '/proc/sys/net/ipv4/tcp_syn_retries')
  t.equal(sysctlPath('net.ipv4.conf.eth0/10.rp_filter'), '/proc/sys/net/ipv4/conf/eth0.10/rp_filter')
})
