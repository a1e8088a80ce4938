// The timing canary: a tiny child process that sleeps 5 ms over and over and
// reports how late each wake-up was. Lateness is what the machine does to every
// timer (the agent's, tcpdump's, the runner's), so the suite admits scenarios
// only while it stays small, and a verdict says how late timers were while it
// ran. A child rather than our own event loop: parsing a pcap in the runner
// must not read as a busy machine. If the child cannot start, the same loop
// runs in-process.
//
// Beside it, the stall probe: the same loop at SCHED_FIFO 1 (under the agents'
// 2), so that only what stops even a real-time task makes it late: the kernel
// not letting go of a CPU, or the whole machine paused by its hypervisor,
// which stops the kernel's TCP timers too. Its wake-ups STALL_MS or more late
// are the stalls a verdict lists; being busy is not a stall (the canary
// measures that). Without the probe (chrt refused) a verdict lists no stalls.

import { spawnProcess } from '../util/proc.js'
import type { Proc } from '../lab/types.js'

/** The canary's sleep (ms). */
export const CANARY_INTERVAL_MS = 5
/** How long the last samples are kept for recent(). */
const KEEP_MS = 5000
/** The child writes its samples this often (ms); older than this plus slack, silence itself is lateness. */
const FLUSH_MS = 50

/** A wake-up at least this late (ms) is a stall: the machine did not run the canary for that long. */
export const STALL_MS = 10

/** A stall: the canary's wake-up came `ms` late, ending at `endMs` (epoch ms). */
export interface Stall {
  endMs: number
  ms: number
}

/** Lateness figures over some span, in ms. */
export interface LatenessStats {
  p90: number
  p99: number
  max: number
  /** Number of wake-ups measured. */
  samples: number
}

/** A histogram of lateness over a span (a scenario's); log buckets of 5 %, 0.1 ms to minutes. */
export class LatenessHistogram {
  private readonly counts = new Map<number, number>()
  private n = 0
  private maxMs = 0

  add(lateMs: number): void {
    const b = lateMs <= 0.1 ? 0 : Math.ceil(Math.log(lateMs / 0.1) / Math.log(1.05))
    this.counts.set(b, (this.counts.get(b) ?? 0) + 1)
    this.n++
    if (lateMs > this.maxMs) this.maxMs = lateMs
  }

  /** The q-quantile (upper edge of its bucket, at most the max seen). */
  quantile(q: number): number {
    if (this.n === 0) return 0
    const rank = Math.ceil(q * this.n)
    let seen = 0
    for (const b of [...this.counts.keys()].sort((x, y) => x - y)) {
      seen += this.counts.get(b) ?? 0
      if (seen >= rank) return Math.min(this.maxMs, b === 0 ? 0.1 : 0.1 * 1.05 ** b)
    }
    return this.maxMs
  }

  stats(): LatenessStats {
    return { p90: this.quantile(0.9), p99: this.quantile(0.99), max: this.maxMs, samples: this.n }
  }
}

/** The child's program: sleep, measure, write "<epochMs> <lateMs>" lines in batches; exit when stdin closes (we died). */
const childSource = (role: string): string => `
const role = '${role}'
const iv = ${CANARY_INTERVAL_MS}; let prev = performance.now(); let buf = []
const tick = () => { const now = performance.now(); buf.push((performance.timeOrigin + now).toFixed(1) + ' ' + Math.max(0, now - prev - iv).toFixed(2)); prev = now; setTimeout(tick, iv) }
setTimeout(tick, iv)
setInterval(() => { if (buf.length) { process.stdout.write(buf.join('\\n') + '\\n'); buf = [] } }, ${FLUSH_MS})
process.stdin.on('end', () => process.exit(0)); process.stdin.resume()
`

/** A running canary. */
export class Canary {
  readonly source: 'child' | 'in-process'
  private readonly recent: Array<[atMs: number, lateMs: number]> = []
  private readonly spans = new Set<{ h: LatenessHistogram; stalls: Stall[] }>()
  private lastSampleMs = Date.now()
  private proc: Proc | undefined
  private probe: Proc | undefined
  private timer: NodeJS.Timeout | undefined

  private constructor(source: 'child' | 'in-process') {
    this.source = source
  }

  /** Start the canary child (or, failing that, the in-process loop) and the stall probe. */
  static async start(): Promise<Canary> {
    const onLine = (fn: (at: number, late: number) => void) => (line: string): void => {
      const [at, late] = line.split(' ')
      if (at !== undefined && late !== undefined) fn(Number(at), Number(late))
    }
    let c: Canary
    try {
      c = new Canary('child')
      const proc = spawnProcess([process.execPath, '-e', childSource('canary')], { stdin: true, onStdoutLine: onLine((at, late) => c.add(at, late)) })
      await proc.started
      c.proc = proc
    } catch {
      c = new Canary('in-process')
      c.runInProcess()
    }
    try {
      const probe = spawnProcess(['chrt', '-f', '1', process.execPath, '-e', childSource('stall-probe')], { stdin: true, onStdoutLine: onLine((at, late) => c.addProbe(at, late)) })
      await probe.started
      c.probe = probe
    } catch {
      // No stall probe: verdicts list no stalls, and nothing is set aside.
    }
    return c
  }

  private runInProcess(): void {
    let prev = performance.now()
    const tick = (): void => {
      const now = performance.now()
      this.add(Date.now(), Math.max(0, now - prev - CANARY_INTERVAL_MS))
      prev = now
      this.timer = setTimeout(tick, CANARY_INTERVAL_MS)
      this.timer.unref()
    }
    this.timer = setTimeout(tick, CANARY_INTERVAL_MS)
    this.timer.unref()
  }

  /** One wake-up: `lateMs` late, at `atMs` (epoch ms). */
  add(atMs: number, lateMs: number): void {
    this.lastSampleMs = Math.max(this.lastSampleMs, atMs)
    this.recent.push([atMs, lateMs])
    while ((this.recent[0]?.[0] ?? atMs) < atMs - KEEP_MS) this.recent.shift()
    for (const sp of this.spans) sp.h.add(lateMs)
  }

  /** One wake-up of the stall probe. */
  addProbe(atMs: number, lateMs: number): void {
    if (lateMs < STALL_MS) return
    for (const sp of this.spans) sp.stalls.push({ endMs: atMs, ms: lateMs })
  }

  /**
   * Lateness over the last `windowMs`. A canary that has said nothing for longer than it should
   * is late by at least that silence (a starved machine starves the canary too).
   */
  recentStats(windowMs: number, nowMs = Date.now()): LatenessStats {
    const h = new LatenessHistogram()
    for (const [at, late] of this.recent) if (at >= nowMs - windowMs) h.add(late)
    const silentMs = nowMs - this.lastSampleMs - FLUSH_MS - CANARY_INTERVAL_MS
    if (silentMs > 0) h.add(silentMs)
    return h.stats()
  }

  /** Start measuring a span (a scenario); stop() returns its figures and the stalls in it (none known without the probe). */
  measure(): { stop(): LatenessStats & { stalls: Stall[] | undefined } } {
    const sp = { h: new LatenessHistogram(), stalls: [] as Stall[] }
    this.spans.add(sp)
    return {
      stop: () => {
        this.spans.delete(sp)
        return { ...sp.h.stats(), stalls: this.probe ? sp.stalls : undefined }
      },
    }
  }

  async stop(): Promise<void> {
    clearTimeout(this.timer)
    await Promise.all([this.proc, this.probe].map(async (p) => {
      if (!p) return
      p.endStdin()
      await p.stop({ graceMs: 500 })
    }))
  }
}
