// A sysctl key's file under /proc/sys, as sysctl(8) maps it (the vm backend
// writes the files itself, from inside the host's namespace).
import t from 'tap'
import { sysctlPath } from '../../../../src/lab/vm/backend.js'

t.test('dots separate levels; a slash in a key stands for a dot in a name', async (t) => {
  t.equal(sysctlPath('net.ipv4.tcp_syn_retries'), '/proc/sys/net/ipv4/tcp_syn_retries')
  t.equal(sysctlPath('net.ipv4.conf.eth0/10.rp_filter'), '/proc/sys/net/ipv4/conf/eth0.10/rp_filter')
})

t.test('the guest init configures every line a lab plan gives a namespace; other forms go to ip', async (t) => {
  const { CONFIGURE_LINE } = await import('../../../../src/lab/vm/mux.js')
  const { planLab } = await import('../../../../src/lab/netns/backend.js')
  const host = (name: string, isWire = false): { name: string; sysctls: Record<string, string>; isWire: boolean } => ({ name, sysctls: {}, isWire })
  const layouts = [
    [host('a'), host('b')],
    [host('a'), host('w', true), host('b')],
    [host('a'), host('b'), host('c')],
  ]
  for (const hosts of layouts) {
    const names = new Map(hosts.map((h) => [h.name, `tcplab-x-${h.name}`]))
    const sw = hosts.length === 3 && !hosts.some((h) => h.isWire) ? 'tcplab-x-sw' : undefined
    const plan = planLab({ labId: 'x', scenario: 's', hosts }, '198.18.7', names, sw)
    const lines = [...plan.configure.values()].flat()
    t.same(lines.filter((l) => !CONFIGURE_LINE.test(l)), [], `${hosts.map((h) => h.name).join('+')}: every line`)
  }
  for (const other of ['addr add 2001:db8::1/64 dev eth0', 'link set eth0 mtu 9000', 'route add default via 198.18.7.1', 'link set eth0 up; reboot']) t.notOk(CONFIGURE_LINE.test(other), other)
})
