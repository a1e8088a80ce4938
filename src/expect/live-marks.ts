// Marks evaluated as the run goes, for steps that wait for them (`after: zw`,
// `after: reads.3`). A step's mark is set by event or process expectations
// (the loader refuses the others: src/scenario/marks.ts stepMarkOf), whose
// moments are agent events: each time an event of a name the mark is measured
// on arrives, its setters are evaluated over the events so far, exactly as at
// the end of the run (same evaluators, same `since:` and windows, same
// `when:` guards), and a moment that is now known is reported once, with its
// own time. The runner turns that into a `trigger` for the waiting agents,
// which fire the step at that time plus its delay, on their clocks.

import type { Expectation } from '../scenario/schema.js'
import type { StepMark } from '../scenario/marks.js'
import type { EventRecord, TimelineRecord } from '../recorder/records.js'
import type { EvalContext } from './context.js'
import { evaluateExpectation, kindOf } from './index.js'
import { declaredMarks, emptyMarkTable, evaluationOrder, pickMoment, setMark } from './marks.js'

/** What live evaluation needs of the run besides its records. */
export type LiveMarkContext = Pick<EvalContext, 'hosts' | 'tolerance' | 'kernel' | 'hasSysctl' | 'sysctlValues'>

export interface ReachedMark {
  /** The gate ref ("mark:zw.first"). */
  ref: string
  /** Seconds since t0. */
  t: number
}

export class LiveMarks {
  private readonly events: EventRecord[] = []
  private readonly pending: Map<string, StepMark>
  private readonly watched = new Set<string>()
  private readonly setters: number[]
  private readonly declared: string[]

  constructor(
    private readonly expect: readonly Expectation[],
    marks: Iterable<StepMark>,
    private readonly ctx: LiveMarkContext,
  ) {
    this.pending = new Map([...marks].map((m) => [m.gateRef, m]))
    const setters = new Set<number>()
    for (const m of this.pending.values()) {
      for (const n of m.names) this.watched.add(n)
      for (const i of m.setters) setters.add(i)
    }
    // Every setter of every mark involved, in the evaluation order (marks before their users).
    const bodies = expect.map((e) => kindOf(e).body as unknown as Record<string, unknown>)
    this.declared = [...declaredMarks(bodies).keys()]
    this.setters = evaluationOrder(bodies).order.filter((i) => setters.has(i))
  }

  /** Marks still waited for. */
  get waiting(): number {
    return this.pending.size
  }

  /** Feed one timeline record; returns the marks' moments that became known with it. */
  add(rec: TimelineRecord): ReachedMark[] {
    if (rec.kind !== 'event' || this.pending.size === 0 || !this.watched.has(rec.source)) return []
    // Sorted by time: events of different hosts may come slightly out of order.
    let i = this.events.length
    while (i > 0 && (this.events[i - 1] as EventRecord).t > rec.t) i--
    this.events.splice(i, 0, rec)
    return this.evaluate()
  }

  private evaluate(): ReachedMark[] {
    const table = emptyMarkTable(this.declared)
    const ctx: EvalContext = { ...this.ctx, records: this.events, endT: Number.POSITIVE_INFINITY, marks: table }
    for (const i of this.setters) {
      const e = this.expect[i] as Expectation
      const body = kindOf(e).body as { mark?: string }
      if (typeof body.mark !== 'string') continue
      const r = evaluateExpectation(e, i, ctx)
      setMark(table, body.mark, i, r.mark?.t, r.status === 'skip' ? (r.reason ?? 'skipped') : undefined)
    }
    const out: ReachedMark[] = []
    for (const [ref, m] of this.pending) {
      const mark = table.set.get(m.name)
      if (!mark) continue
      const t = pickMoment(mark, m.pick)
      if (typeof t === 'string') continue
      out.push({ ref, t })
      this.pending.delete(ref)
    }
    return out
  }
}
