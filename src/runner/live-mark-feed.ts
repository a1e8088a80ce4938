// Feeds the marks that steps wait for (src/expect/live-marks.ts) as the run
// goes: the timeline's records (agent events, the agents' socket samples) and
// the captures' packets (live-packets.ts) are held as they come, and the marks
// are evaluated once per turn of the event loop, after the last record of the
// turn. That is what makes ss and states marks sound: a sample arrives as one
// batch of records (a `sample` record and its rows, timeline.addAll), and an
// evaluation between them would see sockets as gone.
//
// Each evaluation re-reads the records held: the samples are compacted after
// each one to what the setters still read (src/expect/live-samples.ts), so
// that stays small, but packets and events are held whole. After an
// evaluation that took d ms the next waits until 3 d have passed (the runner
// spends at most about a quarter of its time there, as in live-packets.ts):
// records pile up into bigger batches instead of the runner falling behind.
// A mark's moment is its record's own time whenever it is evaluated; a late
// evaluation only makes the step fire late (its action record's lateMs says
// by how much). bench/live-ss-marks.ts measures it.

import type { LiveMarks, ReachedMark } from '../expect/live-marks.js'
import type { TimelineRecord } from '../recorder/records.js'

/** After an evaluation that took d ms, the next waits BACKOFF_FACTOR * d. */
const BACKOFF_FACTOR = 3

export interface LiveMarkFeedStats {
  evaluations: number
  /** Time spent evaluating, ms: in all, and the longest one. */
  totalMs: number
  maxMs: number
  /** Records held by the marks at the last evaluation. */
  held: number
}

export class LiveMarkFeed {
  private scheduled: { timer: ReturnType<typeof setTimeout> } | { immediate: ReturnType<typeof setImmediate> } | undefined
  /** performance.now() before which no evaluation starts. */
  private notBeforeMs = 0
  private stopped = false
  readonly stats: LiveMarkFeedStats = { evaluations: 0, totalMs: 0, maxMs: 0, held: 0 }

  constructor(
    private readonly live: Pick<LiveMarks, 'hold' | 'evaluate' | 'held' | 'waiting'>,
    private readonly onReached: (reached: ReachedMark[]) => void,
  ) {}

  /** Records as they come (one timeline record, a chunk of packets): held now, evaluated at the end of the turn. */
  push(recs: readonly TimelineRecord[]): void {
    if (this.stopped || this.live.waiting === 0) return
    if (this.live.hold(recs)) this.schedule()
  }

  /** No evaluation after this. */
  stop(): void {
    this.stopped = true
    this.cancel()
  }

  private schedule(): void {
    if (this.scheduled !== undefined) return
    const waitMs = this.notBeforeMs - performance.now()
    if (waitMs > 0) {
      const timer = setTimeout(() => this.flush(), waitMs)
      timer.unref()
      this.scheduled = { timer }
    } else this.scheduled = { immediate: setImmediate(() => this.flush()) }
  }

  private cancel(): void {
    const s = this.scheduled
    this.scheduled = undefined
    if (s === undefined) return
    if ('timer' in s) clearTimeout(s.timer)
    else clearImmediate(s.immediate)
  }

  private flush(): void {
    this.scheduled = undefined
    if (this.stopped) return
    const started = performance.now()
    const reached = this.live.evaluate()
    const tookMs = performance.now() - started
    this.stats.evaluations++
    this.stats.totalMs += tookMs
    this.stats.maxMs = Math.max(this.stats.maxMs, tookMs)
    this.stats.held = this.live.held
    this.notBeforeMs = performance.now() + BACKOFF_FACTOR * tookMs
    if (reached.length > 0) this.onReached(reached)
  }
}
