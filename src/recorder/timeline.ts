// The in-memory timeline of one scenario run: every source appends records;
// steps wait on endpoint events (`after: cli.connected`).

import { createWriteStream } from 'node:fs'
import { once } from 'node:events'
import type { EventRecord, TimelineRecord } from './records.js'
import { TimeoutError, InterruptedError } from '../util/errors.js'

type Waiter = { source: string; type: string; resolve(t: number): void }

export class Timeline {
  private t0: number
  private readonly recs: TimelineRecord[] = []
  private waiters: Waiter[] = []
  private readonly listeners = new Set<(rec: TimelineRecord) => void>()

  constructor(t0Us: number) {
    this.t0 = t0Us
  }

  /** t0: microseconds since the epoch (CLOCK_REALTIME). */
  get t0Us(): number {
    return this.t0
  }

  /** Move t0 (set-up done before the real start): records already added are re-stamped. */
  rebase(t0Us: number): void {
    const shift = (t0Us - this.t0) / 1e6
    for (const r of this.recs) r.t = Math.round((r.t - shift) * 1e6) / 1e6
    this.t0 = t0Us
  }

  /** Append a record; wakes steps waiting for this event. */
  add(rec: TimelineRecord): void {
    this.recs.push(rec)
    if (rec.kind === 'event') this.wake(rec)
    for (const fn of this.listeners) fn(rec)
  }

  /** Call fn with every record added from now on (it may add records itself). Returns the unsubscribe. */
  onAdd(fn: (rec: TimelineRecord) => void): () => void {
    this.listeners.add(fn)
    return () => this.listeners.delete(fn)
  }

  addAll(recs: readonly TimelineRecord[]): void {
    for (const r of recs) this.add(r)
  }

  /** All records sorted by time (stable). */
  sorted(): TimelineRecord[] {
    return this.recs.map((r, i) => [r, i] as const).sort((a, b) => a[0].t - b[0].t || a[1] - b[1]).map(([r]) => r)
  }

  get records(): readonly TimelineRecord[] {
    return this.recs
  }

  /** Time of the first event NAME.TYPE, if it happened. */
  findEvent(ref: string): number | undefined {
    const { source, type } = splitRef(ref)
    return this.recs.find((r) => r.kind === 'event' && r.source === source && r.type === type)?.t
  }

  /** Wait for the event NAME.TYPE (returns its time at once if it already happened). */
  waitForEvent(ref: string, timeoutMs: number, signal?: AbortSignal): Promise<number> {
    const seen = this.findEvent(ref)
    if (seen !== undefined) return Promise.resolve(seen)
    if (signal?.aborted) return Promise.reject(new InterruptedError())
    const { source, type } = splitRef(ref)
    return new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => {
        cleanup()
        reject(new TimeoutError(`waited ${timeoutMs / 1000}s for ${ref}, which did not happen`, {
          hint: `check that ${source} really produces "${type}" (see records.jsonl), or raise the step's timeout`,
        }))
      }, timeoutMs)
      const onAbort = (): void => {
        cleanup()
        reject(new InterruptedError())
      }
      const waiter: Waiter = {
        source,
        type,
        resolve: (t) => {
          cleanup()
          resolve(t)
        },
      }
      const cleanup = (): void => {
        clearTimeout(timer)
        signal?.removeEventListener('abort', onAbort)
        this.waiters = this.waiters.filter((w) => w !== waiter)
      }
      signal?.addEventListener('abort', onAbort, { once: true })
      this.waiters.push(waiter)
    })
  }

  /** Write records.jsonl, sorted by time. */
  async writeJsonl(file: string): Promise<void> {
    const out = createWriteStream(file)
    for (const r of this.sorted()) {
      if (!out.write(`${JSON.stringify(r)}\n`)) await once(out, 'drain')
    }
    out.end()
    await once(out, 'finish')
  }

  private wake(ev: EventRecord): void {
    for (const w of [...this.waiters]) if (w.source === ev.source && w.type === ev.type) w.resolve(ev.t)
  }
}

function splitRef(ref: string): { source: string; type: string } {
  const dot = ref.lastIndexOf('.')
  return { source: ref.slice(0, dot), type: ref.slice(dot + 1) }
}

/** Read records.jsonl back (reports, diff). */
export function parseJsonl(text: string): TimelineRecord[] {
  return text.split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as TimelineRecord)
}
