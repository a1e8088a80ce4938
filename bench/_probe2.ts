import { readFileSync } from 'node:fs'
import { bootGuest } from '../src/lab/index.js'
import { resolveKernel } from '../src/kernels/index.js'
import { planLab } from '../src/lab/netns/backend.js'
const load = (): string => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')
const g = await bootGuest({ kernel: resolveKernel(process.argv[2] ?? '6.1') as never })
console.log('boot', g.bootMs, g.warmMs, load())
const rows: Record<string, number[]> = {}
const tm = async <T>(name: string, f: () => Promise<T>): Promise<T> => { const t0 = performance.now(); const r = await f(); (rows[name] ??= []).push(performance.now() - t0); return r }
try {
  for (let i = 0; i < 8; i++) {
    const names = new Map([['client', `tcplab-p${i}-client`], ['server', `tcplab-p${i}-server`]])
    const plan = planLab({ labId: `p${i}`, scenario: 's', hosts: [{ name: 'client', sysctls: {}, isWire: false }, { name: 'server', sysctls: {}, isWire: false }] }, '198.18.9', names)
    await tm('checkClock', () => g.checkClock(true))
    await tm('exec true', () => g.mux.exec(['true']))
    await tm('exec true in ns?', async () => undefined)
    await tm('ip -batch create', () => g.mux.exec(['ip', '-batch', '-'], { input: `${plan.create.join('\n')}\n` }))
    await tm('exec true in netns', () => g.mux.exec(['true'], { netns: `tcplab-p${i}-client` }))
    const [[ns1, l1], [ns2, l2]] = [...plan.configure] as [[string, string[]], [string, string[]]]
    await tm('configure lo only', () => g.mux.exec(['ip', 'link', 'set', 'lo', 'up'], { netns: ns1 }))
    await tm('configure ns1 rest', () => g.mux.exec(['ip', '-batch', '-'], { input: `${l1.slice(1).join('\n')}\n`, netns: ns1 }))
    await tm('configure ns2 -n', () => g.mux.exec(['ip', '-n', ns2, '-batch', '-'], { input: `${l2.join('\n')}\n` }))
    await tm('sysctl write', () => g.mux.writeFiles(`tcplab-p${i}-client`, [['/proc/sys/net/ipv4/tcp_syn_retries', '3']]))
    await tm('deleteNetns', () => g.mux.deleteNetns([...names.values()]))
    if (process.env.SLEEP) await new Promise((r) => setTimeout(r, Number(process.env.SLEEP)))
  }
  for (const [k, xs] of Object.entries(rows)) { xs.sort((a, b) => a - b); console.log(k.padEnd(24), 'p50', xs[Math.floor(xs.length / 2)]?.toFixed(0), 'all', xs.map((x) => x.toFixed(0)).join(' ')) }
  console.log(load())
} finally { await g.shutdown() }
