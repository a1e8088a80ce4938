import { readFileSync } from 'node:fs'
import { bootGuest } from '../src/lab/index.js'
import { resolveKernel } from '../src/kernels/index.js'
const load = (): string => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')
const g = await bootGuest({ kernel: resolveKernel(process.argv[2] ?? '6.1') as never })
console.log('boot', g.bootMs, g.warmMs, load())
const t = async (name: string, f: () => Promise<unknown>, n = 5) => {
  const xs: number[] = []
  for (let i = 0; i < n; i++) { const t0 = performance.now(); await f(); xs.push(performance.now() - t0) }
  xs.sort((a, b) => a - b)
  console.log(name.padEnd(40), xs.map((x) => x.toFixed(0)).join(' '), 'load', load())
}
try {
  await t('readTime', () => g.mux.readTime())
  await t('checkClock', () => g.checkClock(true))
  await t('exec true', () => g.mux.exec(['true']))
  await t('exec sh -c true', () => g.mux.exec(['sh', '-c', 'true']))
  await t('exec ip -V', () => g.mux.exec(['ip', '-V']))
  await t('ip netns add/del x', () => g.mux.exec(['sh', '-c', 'ip netns add tx && ip netns del tx']))
  await t('ip -batch add/del 2ns', () => g.mux.exec(['ip', '-batch', '-'], { input: 'netns add ta\nnetns add tb\nnetns del ta\nnetns del tb\n' }))
  await t('ip -batch 2ns+veth+del', () => g.mux.exec(['ip', '-batch', '-'], { input: 'netns add ta\nnetns add tb\nlink add eth0 netns ta type veth peer name eth0 netns tb\nnetns del ta\nnetns del tb\n' }))
  await t('ip netns pids', () => g.mux.exec(['ip', 'netns', 'pids', 'nonexist'], { reject: false }))
  await t('ip netns exec ta true', () => g.mux.exec(['sh', '-c', 'ip netns add ta; ip netns exec ta true; ip netns del ta']))
  await t('trace mkdir/rmdir', () => g.mux.exec(['sh', '-c', 'd=/sys/kernel/tracing/instances/tx; mkdir $d && echo mono > $d/trace_clock && echo 256 > $d/buffer_size_kb && echo 1 > $d/events/sock/inet_sock_set_state/enable && echo 1 > $d/events/tcp/tcp_retransmit_skb/enable; echo 0 > $d/events/sock/inet_sock_set_state/enable; echo 0 > $d/events/tcp/tcp_retransmit_skb/enable; rmdir $d']))
  await t('trace mkdir only', async () => { await g.mux.exec(['sh', '-c', 'mkdir /sys/kernel/tracing/instances/ty']); await g.mux.exec(['rmdir', '/sys/kernel/tracing/instances/ty']) })
} finally { await g.shutdown() }
