// What the benches print: a row of quantiles of a list of durations with the
// load average beside it, and running something with two busy loops beside it.
// (A file of bench/lib/, so `make bench` does not run it as a bench.)

import { readFileSync } from 'node:fs'
import { startBusyLoops } from './procs.js'

/** "loadavg 1.10 0.84 0.70", read now. */
export function loadavgNow(): string {
  return `loadavg ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}`
}

/** "<label>  p50 x ms  p95 y ms ...  max z ms  (n=N)  loadavg ..." for the given quantiles (0.5 = p50). */
export function summarizeMs(label: string, ms: readonly number[], opts: { width: number; quantiles: readonly number[] }): string {
  const s = [...ms].sort((a, b) => a - b)
  const at = (q: number): number => s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? NaN
  const f = (v: number): string => `${v.toFixed(3).padStart(8)} ms`
  const qs = opts.quantiles.map((q) => `p${Math.round(q * 100)} ${f(at(q))}  `).join('')
  return `${label.padEnd(opts.width)} ${qs}max ${f(s.at(-1) ?? NaN)}  (n=${s.length})  ${loadavgNow()}`
}

/** Run fn, with two CPU-bound busy loops beside it when `busy`. */
export async function withBusy<T>(busy: boolean, fn: () => Promise<T>): Promise<T> {
  const loops = startBusyLoops(busy ? 2 : 0)
  try {
    return await fn()
  } finally {
    await loops.stop()
  }
}
