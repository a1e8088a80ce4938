// The vm backend's figures, with the load average beside each:
//   1. guest boot to ready (QEMU start -> the guest's init answers with its clock set; target <= 3.5 s under TCG),
//   2. vm lab up + down for one two-host scenario on a running guest (target <= 200 ms; the
//      guest's first lab, which also starts its trace reader and ip worker, apart),
//   3. guest clock against the host's: the offset (NTP style, shortest round trip) every 2 s
//      for DRIFT_S seconds after one sync (target: within 1 ms), and how long after a guest
//      timestamp the host receives it (a lower bound on the clock error from the other side:
//      a negative figure would mean the guest's clock is ahead).
// Prints figures, asserts nothing.
//
// Run as root:  npx tsx bench/vm.ts [KERNEL=6.1] [BOOTS=3] [LAB_ROUNDS=10] [DRIFT_S=20]

import { readFileSync } from 'node:fs'
import { bootGuest, createVmBackend, type Guest } from '../src/lab/index.js'
import { resolveKernel } from '../src/kernels/index.js'
import { hostRealtimeUs, measureOffset } from '../src/lab/vm/clock.js'

const KERNEL = process.argv[2] ?? '6.1'
const BOOTS = Number(process.argv[3] ?? 3)
const LAB_ROUNDS = Number(process.argv[4] ?? 10)
const DRIFT_S = Number(process.argv[5] ?? 20)

const load = (): string => `load ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}`
const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN
}
const fmt = (ms: number): string => `${ms.toFixed(0)} ms`

const kernel = resolveKernel(KERNEL)
if (kernel.kind !== 'cached') throw new Error('bench/vm.ts boots a cached kernel, not the host\'s')
console.log(`kernel ${kernel.release} (${kernel.package}), ${load()}`)

// 1. Boot to ready.
const boots: number[] = []
let guest: Guest | undefined
for (let i = 0; i < BOOTS; i++) {
  const g = await bootGuest({ kernel })
  boots.push(g.bootMs)
  console.log(`boot ${i + 1}: ${fmt(g.bootMs)} to ready (${g.accel}, ${g.cpus} CPUs, ${g.memMb} MiB), then ${fmt(g.warmMs)} warming the tools up, clock offset ${g.clock.offsetUs} µs; ${load()}`)
  if (i < BOOTS - 1) await g.shutdown()
  else guest = g
}
console.log(`boot to ready: p50 ${fmt(pct(boots, 50))}, max ${fmt(Math.max(...boots))} (target <= 3500 ms under TCG); ${load()}`)

const g = guest as Guest
try {
  // 2. Lab up + down on the running guest.
  const backend = createVmBackend(g)
  const ups: number[] = []
  const downs: number[] = []
  // Round 0 is the guest's first lab: it also waits for what the backend starts once per guest
  // (the trace reader's ftrace instance, the ip worker); it is printed apart.
  for (let i = 0; i <= LAB_ROUNDS; i++) {
    const t0 = performance.now()
    const lab = await backend.up({ labId: `b${i.toString(16).padStart(7, '0')}`, scenario: 'bench', hosts: [{ name: 'client', sysctls: {}, isWire: false }, { name: 'server', sysctls: {}, isWire: false }] })
    const t1 = performance.now()
    await lab.down()
    const t2 = performance.now()
    if (i === 0) {
      console.log(`first lab on the guest: up ${fmt(t1 - t0)}, down ${fmt(t2 - t1)}; ${load()}`)
      continue
    }
    ups.push(t1 - t0)
    downs.push(t2 - t1)
  }
  const total = ups.map((u, i) => u + (downs[i] ?? 0))
  console.log(`lab up+down (2 hosts, tracing on): p50 ${fmt(pct(total, 50))} (up ${fmt(pct(ups, 50))}, down ${fmt(pct(downs, 50))}), p90 ${fmt(pct(total, 90))}, max ${fmt(Math.max(...total))} over ${LAB_ROUNDS} (target <= 200 ms); ${load()}`)

  // 3. Clock.
  await g.checkClock(true)
  const offsets: number[] = []
  for (let s = 0; s <= DRIFT_S; s += 2) {
    const c = await measureOffset(g.mux)
    offsets.push(c.offsetUs)
    console.log(`  t+${s}s: offset ${c.offsetUs} µs (rtt ${c.rttUs} µs); ${load()}`)
    await new Promise((r) => setTimeout(r, 2000))
  }
  console.log(`guest clock vs host: max |offset| ${Math.max(...offsets.map(Math.abs))} µs over ${DRIFT_S} s after one sync (target <= 1000 µs); ${load()}`)
  const delays: number[] = []
  for (let i = 0; i < 50; i++) {
    const t = await g.mux.readTime()
    delays.push(t.receivedUs - Number(t.realtimeNs / 1000n))
  }
  console.log(`guest timestamp -> host receipt: min ${pct(delays, 0)} µs, p50 ${pct(delays, 50)} µs, p90 ${pct(delays, 90)} µs (host now ${hostRealtimeUs()}); ${load()}`)
} finally {
  await g.shutdown()
}
