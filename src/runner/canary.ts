// The timing canary: a tiny child process that sleeps 5 ms over and over and
// reports how late each wake-up was. Lateness is what the machine does to every
// timer (the agent's, tcpdump's, the runner's), so the suite admits scenarios
// only while it stays small, and a verdict says how late timers were while it
// ran. A child rather than our own event loop: parsing a pcap in the runner
// must not read as a busy machine. If the child cannot start, the same loop
// runs in-process.
//
// Beside it, the stall probes (agent/stallprobe.c): a 5 ms sleep loop at
// SCHED_FIFO 1 (under the agents' 2), one pinned to each CPU (at most
// MAX_PROBES), a few hundred kB each and started in a millisecond, so that only what
// stops even a real-time task makes them late: the kernel not letting go of a
// CPU, or the hypervisor not running a vCPU (or the whole machine), which
// stops the kernel's timers on it too. Their wake-ups STALL_MS or more late are
// the stalls a verdict lists, overlapping ones merged (a paused machine stalls
// every CPU at once); being busy is not a stall (the canary measures that).
// When the labs keep another machine's clock (a vm guest: Backend.probeMachine),
// the probes run there, one per guest CPU: a guest whose vCPU thread waits for
// a host core stops, and only a probe inside it sees that.
// A probe that cannot run (no SCHED_FIFO, no binary) or stops running is
// dropped; with none left, a verdict's stalls are "not measured" (undefined),
// not "none".

import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { spawnProcess } from '../util/proc.js'
import type { ProbeMachine, Proc, SpawnOptions } from '../lab/types.js'

/** The canary's sleep (ms). */
export const CANARY_INTERVAL_MS = 5
/** How long the last samples are kept for recent(). */
const KEEP_MS = 5000
/** The child writes its samples this often (ms); older than this plus slack, silence itself is lateness. */
const FLUSH_MS = 50

/** A probe's wake-up at least this late (ms) is a stall: the machine did not run even a real-time task for that long. */
export const STALL_MS = 10

/** Stall probes at most (one per CPU). */
const MAX_PROBES = 8

/** A stall: a probe's wake-up came `ms` late, ending at `endMs` (epoch ms). */
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

/** What a span (a scenario) saw: lateness, the stalls in it (undefined: no probe measured them) and where the probes ran. */
export type SpanFigures = LatenessStats & { stalls: Stall[] | undefined; stallsOn: string }

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
const CHILD_SOURCE = `
const iv = ${CANARY_INTERVAL_MS}; let prev = performance.now(); let buf = []
const tick = () => { const now = performance.now(); buf.push((performance.timeOrigin + now).toFixed(1) + ' ' + Math.max(0, now - prev - iv).toFixed(2)); prev = now; setTimeout(tick, iv) }
setTimeout(tick, iv)
setInterval(() => { if (buf.length) { process.stdout.write(buf.join('\\n') + '\\n'); buf = [] } }, ${FLUSH_MS})
process.stdin.on('end', () => process.exit(0)); process.stdin.resume()
`

/** A running canary. */
export class Canary {
  readonly source: 'child' | 'in-process'
  /** Where the stall probes run: "this machine", or the ProbeMachine's label. */
  private probesOn = 'this machine'
  private readonly recent: Array<[atMs: number, lateMs: number]> = []
  private readonly spans = new Set<{ h: LatenessHistogram; stalls: Stall[] }>()
  private lastSampleMs = Date.now()
  private proc: Proc | undefined
  private readonly probes = new Set<Proc>()
  private timer: NodeJS.Timeout | undefined

  private constructor(source: 'child' | 'in-process') {
    this.source = source
  }

  /**
   * Start the canary child (or, failing that, the in-process loop) and the stall probes: one per
   * CPU of `machine` (the labs' machine when it is not this one), else of this machine.
   */
  static async start(machine?: ProbeMachine): Promise<Canary> {
    const onLine = (fn: (at: number, late: number) => void) => (line: string): void => {
      const [at, late] = line.split(' ')
      if (at !== undefined && late !== undefined) fn(Number(at), Number(late))
    }
    let c: Canary
    try {
      c = new Canary('child')
      const proc = spawnProcess([process.execPath, '-e', CHILD_SOURCE], { stdin: true, onStdoutLine: onLine((at, late) => c.add(at, late)) })
      await proc.started
      c.proc = proc
    } catch {
      c = new Canary('in-process')
      c.runInProcess()
    }
    if (machine) c.probesOn = machine.label
    const spawn = machine ? (argv: readonly string[], o: SpawnOptions) => machine.spawn(argv, o) : spawnProcess
    const cpus = machine ? machine.cpus : allowedCpus()
    await Promise.all(cpus.slice(0, MAX_PROBES).map(async (cpu) => {
      try {
        const probe = spawn([stallProbePath(), String(cpu)], { stdin: true, onStdoutLine: onLine((at, late) => c.addProbe(at, late)) })
        await probe.started
        c.probes.add(probe)
        // A probe that exits (no CAP_SYS_NICE: exit 3 at once; killed) measures nothing from then on.
        void probe.exited.then(() => c.probes.delete(probe))
      } catch {
        // No probe on this CPU; with none at all, verdicts list no stalls and nothing is set aside.
      }
    }))
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

  /** Start measuring a span (a scenario); stop() returns its figures and the stalls in it and where they were seen (none known without a probe). */
  measure(): { stop(): SpanFigures } {
    const sp = { h: new LatenessHistogram(), stalls: [] as Stall[] }
    this.spans.add(sp)
    return {
      stop: () => {
        this.spans.delete(sp)
        return { ...sp.h.stats(), stalls: this.probes.size > 0 ? mergeStalls(sp.stalls) : undefined, stallsOn: this.probesOn }
      },
    }
  }

  async stop(): Promise<void> {
    clearTimeout(this.timer)
    await Promise.all([this.proc, ...this.probes].map(async (p) => {
      if (!p) return
      p.endStdin()
      await p.stop({ graceMs: 500 })
    }))
  }
}

/** Stalls that overlap (several CPUs' probes stalled at once) as one, in time order. */
export function mergeStalls(stalls: readonly Stall[]): Stall[] {
  const spans = stalls.map((st) => [st.endMs - st.ms, st.endMs] as [number, number]).sort((a, b) => a[0] - b[0])
  const out: Array<[number, number]> = []
  for (const [from, to] of spans) {
    const last = out[out.length - 1]
    if (last && from <= last[1]) last[1] = Math.max(last[1], to)
    else out.push([from, to])
  }
  return out.map(([from, to]) => ({ endMs: to, ms: to - from }))
}

/** The CPUs this process may run on (Cpus_allowed_list), else 0..n-1 of os.cpus(). */
function allowedCpus(): number[] {
  try {
    const line = /^Cpus_allowed_list:\s*(.+)$/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? ''
    const cpus = line.split(',').flatMap((r) => {
      const [a, b] = r.split('-').map(Number)
      return a === undefined || Number.isNaN(a) ? [] : Array.from({ length: (b ?? a) - a + 1 }, (_, i) => a + i)
    })
    if (cpus.length > 0) return cpus
  } catch {
    // not Linux's /proc
  }
  return [0]
}

/** agent/build/tcplab-stallprobe (the same from src/ under tsx and from dist/). */
function stallProbePath(): string {
  return process.env.TCPLAB_STALLPROBE ?? fileURLToPath(new URL('../../agent/build/tcplab-stallprobe', import.meta.url))
}
