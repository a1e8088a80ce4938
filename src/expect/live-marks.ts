// Marks evaluated as the run goes, for steps that wait for them (`after: zw`,
// `after: reads.3`). A step's mark is set by event, process, packets, ss or
// states expectations (the loader refuses what only the end of the run can
// tell: src/scenario/marks.ts stepMarkOf). Event and process moments are agent
// events; packets come from the captures as tcpdump writes them
// (src/recorder/capture.ts onPackets), each with its own capture time; ss rows
// and `sample` records come from the agents' socket samples as they are taken
// (src/runner/agents.ts), and `ss-destroy` events date a socket's end. When
// records the mark depends on have arrived (an event of a name it is measured
// on, packets of a host a packets setter reads, samples of a host an ss or
// states setter reads), its setters are evaluated over the records so far,
// exactly as at the end of the run (same evaluators, same `since:` and
// windows, same `when:` guards, packets and rows named after their sockets by
// the same rule), and a moment that is now known is reported once, with its
// own time. The runner turns that into a `trigger` for the waiting agents,
// which fire the step at that time plus its delay, on their clocks.
//
// Samples are many (one per host every 10 ms): after each evaluation what is
// held of them is cut down to what the setters read (live-samples.ts), with
// the same moments. A mark that reads the samples of several hosts is
// reported only once each of them has been sampled past its moment (the
// agents do not wait for each other).
//
// hold() keeps records and evaluate() evaluates: the runner evaluates once per
// turn of its event loop (src/runner/live-mark-feed.ts), never between the
// records of one sample (a sample whose rows have not all arrived would show
// sockets as gone). add() and addAll() do both, for callers that feed whole
// samples.

import type { Expectation } from '../scenario/schema.js'
import type { StepMark } from '../scenario/marks.js'
import type { SsRecord, TimelineRecord } from '../recorder/records.js'
import type { EvalContext } from './context.js'
import { evaluateExpectation, kindOf } from './index.js'
import { declaredMarks, emptyMarkTable, evaluationOrder, pickMoment, referencesOf, setMark } from './marks.js'
import { ANY_HOST } from '../scenario/marks.js'
import { MARK_REF_RE } from '../scenario/schema.js'
import { compileComparator } from '../scenario/comparator.js'
import { resolveWindow } from './context.js'
import { ssField } from './ss.js'
import { compactSamples, type SampleNeed } from './live-samples.js'

/** What live evaluation needs of the run besides its records. */
export type LiveMarkContext = Pick<EvalContext, 'hosts' | 'tolerance' | 'kernel' | 'hasSysctl' | 'sysctlValues'> & {
  /**
   * Names the sockets of ss rows and packets as the end of the run does (the
   * runner's nameSockets), for packets, ss and states setters that select by `socket:`;
   * `fromSs`: the scenario names sockets from ss rows (`sockets:`), so those
   * rows are kept for it. Without it packets keep the names they came with.
   */
  nameSockets?: { name(records: TimelineRecord[]): TimelineRecord[]; fromSs: boolean } | undefined
}

export interface ReachedMark {
  /** The gate ref ("mark:zw.first"). */
  ref: string
  /** Seconds since t0. */
  t: number
}

export class LiveMarks {
  /** The records kept, in time order: those the marks depend on. */
  private readonly records: TimelineRecord[] = []
  private readonly pending: Map<string, StepMark>
  private readonly watched = new Set<string>()
  private readonly packetHosts = new Set<string>()
  private readonly sampleHosts = new Set<string>()
  /** Packets and rows are named after their sockets: every event (the names' bindings) is kept, and ss rows for `sockets:` names. */
  private readonly naming: boolean
  /** A record that may change a mark was held since the last evaluation. */
  private dirty = false
  private readonly setters: number[]
  private readonly declared: string[]
  /** Per host, the time of its latest sample held: no sample of that host from before it is still to come. */
  private readonly sampledTo = new Map<string, number>()
  /** The ss and states setters involved, for compaction (live-samples.ts); undefined: the samples are kept whole. */
  private readonly sampleSetters: Array<{ index: number; kind: 'ss' | 'states'; matches?: ((r: SsRecord) => boolean) | undefined }> | undefined

  constructor(
    private readonly expect: readonly Expectation[],
    marks: Iterable<StepMark>,
    private readonly ctx: LiveMarkContext,
  ) {
    this.pending = new Map([...marks].map((m) => [m.gateRef, m]))
    const setters = new Set<number>()
    let namedSockets = false
    for (const m of this.pending.values()) {
      for (const n of m.names) this.watched.add(n)
      for (const h of m.packetHosts) this.packetHosts.add(h)
      for (const h of m.sampleHosts) this.sampleHosts.add(h)
      if (m.namedSockets) namedSockets = true
      for (const i of m.setters) setters.add(i)
    }
    this.naming = namedSockets && ctx.nameSockets !== undefined
    // Every setter of every mark involved, in the evaluation order (marks before their users).
    const bodies = expect.map((e) => kindOf(e).body as unknown as Record<string, unknown>)
    this.declared = [...declaredMarks(bodies).keys()]
    this.setters = evaluationOrder(bodies).order.filter((i) => setters.has(i))
    this.sampleSetters = sampleSettersOf(this.setters, expect, bodies)
  }

  /** Marks still waited for. */
  get waiting(): number {
    return this.pending.size
  }

  /** Whether some mark waited for is set by packets (the runner then parses the captures as they come). */
  get wantsPackets(): boolean {
    return this.packetHosts.size > 0
  }

  /** Whether some mark waited for is set by ss rows or states (the runner then feeds it the samples). */
  get wantsSamples(): boolean {
    return this.sampleHosts.size > 0
  }

  /** Feed one timeline record; returns the marks' moments that became known with it. */
  add(rec: TimelineRecord): ReachedMark[] {
    return this.addAll([rec])
  }

  /** Feed several records (the packets of one chunk of a capture, the records of one sample): evaluated once, after the last. */
  addAll(recs: readonly TimelineRecord[]): ReachedMark[] {
    return this.hold(recs) ? this.evaluate() : []
  }

  /** Keep the records the marks depend on, without evaluating; true when some may change a mark (evaluate() then). */
  hold(recs: readonly TimelineRecord[]): boolean {
    let relevant = false
    for (const r of recs) if (this.keep(r)) relevant = true
    if (relevant) this.dirty = true
    return relevant
  }

  /** Records kept so far. */
  get held(): number {
    return this.records.length
  }

  private readsSamples(host: string): boolean {
    return this.sampleHosts.has(host) || this.sampleHosts.has(ANY_HOST)
  }

  /** Keep a record the marks depend on; true when it may change one. */
  private keep(rec: TimelineRecord): boolean {
    if (this.pending.size === 0) return false
    let relevant: boolean
    let context = false
    if (rec.kind === 'event') {
      relevant = this.watched.has(rec.source)
      // A socket's end, exactly: states date CLOSED by it.
      context = rec.type === 'ss-destroy' && this.readsSamples(rec.host)
    } else if (rec.kind === 'pkt') relevant = this.packetHosts.has(rec.host)
    else if (rec.kind === 'ss' || rec.kind === 'sample') relevant = this.readsSamples(rec.host)
    else relevant = false
    // Names from ss rows (`sockets:`): every host's rows, and its samples (to compact its rows by).
    const kept = relevant || context || (this.naming && (rec.kind === 'event' || ((rec.kind === 'ss' || rec.kind === 'sample') && this.ctx.nameSockets?.fromSs === true)))
    if (!kept) return false
    if (rec.kind === 'sample' && rec.t > (this.sampledTo.get(rec.host) ?? -Infinity)) this.sampledTo.set(rec.host, rec.t)
    // Sorted by time: records of different hosts and sources may come slightly out of order.
    let i = this.records.length
    while (i > 0 && (this.records[i - 1] as TimelineRecord).t > rec.t) i--
    this.records.splice(i, 0, rec)
    return relevant
  }

  /** Evaluate the setters over the records held; the moments that became known since the last time. */
  evaluate(): ReachedMark[] {
    if (!this.dirty || this.pending.size === 0) return []
    this.dirty = false
    const table = emptyMarkTable(this.declared)
    // A fresh array each time: evaluators cache what they derive per records array (packet states).
    const records = this.naming && this.ctx.nameSockets ? this.ctx.nameSockets.name([...this.records]) : [...this.records]
    const ctx: EvalContext = { ...this.ctx, records, endT: Number.POSITIVE_INFINITY, marks: table }
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
      if (typeof t === 'string' || !this.sampledPast(m, t)) continue
      out.push({ ref, t })
      this.pending.delete(ref)
    }
    this.compact(ctx)
    return out
  }

  /**
   * Whether every host whose samples the mark reads has been sampled at or
   * after t: each agent sends its samples in order, but hosts do not wait for
   * each other, so an earlier moment may still come from a host that lags.
   */
  private sampledPast(m: StepMark, t: number): boolean {
    if (m.sampleHosts.size === 0) return true
    const hosts = m.sampleHosts.has(ANY_HOST) ? [...this.ctx.hosts.keys()] : [...m.sampleHosts]
    return hosts.every((h) => (this.sampledTo.get(h) ?? -Infinity) >= t)
  }

  /** Drop the ss rows and samples no setter can need any more (live-samples.ts), once their windows are known. */
  private compact(ctx: EvalContext): void {
    if (this.sampleSetters === undefined || this.sampleSetters.length === 0 || this.pending.size === 0) return
    // The setters of the marks still waited for, and how many moments of each mark they use.
    const involved = new Set<number>()
    const uses = new Map<string, number>()
    const use = (name: string, n: number): void => {
      uses.set(name, Math.max(uses.get(name) ?? 0, n))
    }
    for (const m of this.pending.values()) {
      for (const i of m.setters) involved.add(i)
      use(m.name, m.pick === 'first' ? 1 : m.pick)
    }
    for (const i of involved) {
      for (const ref of referencesOf(kindOf(this.expect[i] as Expectation).body as unknown as Record<string, unknown>)) {
        const r = MARK_REF_RE.exec(ref)
        if (r) use(r[1] as string, r[2] === undefined || r[2] === 'first' ? 1 : r[2] === 'last' ? Infinity : Number(r[2]))
      }
    }
    const needs: SampleNeed[] = []
    for (const s of this.sampleSetters) {
      if (!involved.has(s.index)) continue
      const body = kindOf(this.expect[s.index] as Expectation).body as Parameters<typeof resolveWindow>[0] & { on?: string; mark?: string }
      const w = resolveWindow(body, ctx)
      // A window that starts at a moment still to come: every row may be its first.
      if (typeof w === 'string') return
      needs.push({ kind: s.kind, on: body.on, from: w.from, to: w.to, matches: s.matches, firstMatches: uses.get(body.mark ?? '') ?? Infinity })
    }
    const kept = compactSamples(this.records, needs)
    if (kept.length === this.records.length) return
    this.records.length = 0
    this.records.push(...kept)
  }
}

/**
 * The ss and states setters among `setters`, with what an ss one matches; undefined when
 * the samples must be kept whole: an ss predicate on the socket's name, or a window
 * measured since a mark of samples (whose moment may still move earlier while another
 * host lags). Names from ss rows (`sockets:`) need no more than what is kept: a name
 * starts at the first row of its tuple in a state its selector takes, the first row of a
 * stretch.
 */
function sampleSettersOf(setters: readonly number[], expect: readonly Expectation[], bodies: ReadonlyArray<Record<string, unknown>>): Array<{ index: number; kind: 'ss' | 'states'; matches?: ((r: SsRecord) => boolean) | undefined }> | undefined {
  const out: Array<{ index: number; kind: 'ss' | 'states'; matches?: ((r: SsRecord) => boolean) | undefined }> = []
  const sampleMarks = new Set<string>()
  for (const [i, e] of expect.entries()) {
    const kind = kindOf(e).kind
    const mark = bodies[i]?.mark
    if ((kind === 'ss' || kind === 'states') && typeof mark === 'string') sampleMarks.add(mark)
  }
  for (const i of setters) {
    const { kind, body } = kindOf(expect[i] as Expectation)
    if (kind !== 'ss' && kind !== 'states') continue
    const since = (bodies[i] as { since?: unknown }).since
    if (typeof since === 'string' && sampleMarks.has(MARK_REF_RE.exec(since)?.[1] ?? '')) return undefined
    if (kind === 'states') {
      out.push({ index: i, kind })
      continue
    }
    const match = (body as { match?: Record<string, unknown> }).match ?? {}
    if ('socket' in match) return undefined
    const preds = Object.entries(match).map(([k, v]) => [k, compileComparator(v as Parameters<typeof compileComparator>[0])] as const)
    out.push({ index: i, kind, matches: (r) => preds.every(([k, c]) => c.test(ssField(r, k))) })
  }
  return out
}
