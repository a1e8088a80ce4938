// What of the socket samples a live mark still needs (src/expect/live-marks.ts).
//
// Live marks are evaluated by the end-of-run evaluators over the records held
// so far. Held whole, the samples would grow by a sample per host every 10 ms
// and each evaluation would cost more than the last. Yet the evaluators a step
// can wait for read little of them:
//   - a `states` sequence reads, per socket (host + 4-tuple), the first row of
//     each stretch of samples in one state (a transition), the first row of
//     the window, the last row (lastSeen: a later sample without it is
//     CLOSED), the sample before each transition (its prevT) and the first
//     sample after each stretch (the one that no longer shows it);
//   - an `ss` expectation looking for a sample (quantifier eventually) reads
//     the rows of its window that match its predicates (its moments), and
//     only its first N count when steps wait for NAME.N at most.
// So after each evaluation only the samples that carry those are kept, each
// whole (every row it had, so a sample kept amid a stretch for another
// socket never reads as one the socket was missing from): the sample of the
// first and of the last row of each stretch, the one before the first and
// the first after the last, the sample of the first row at or after each
// window's start and the one before it, those of the first N rows of each
// stretch an ss setter matches in its window, and the latest of each host.
// A stretch is broken by a change of state and by a sample that misses the
// socket, so a 4-tuple that goes and comes back (a new socket, maybe a new
// name) starts a new one. Names from ss rows (`sockets:`) start at the first
// row of a tuple in a state their selector takes: the first of a stretch.
// Evaluated over what is kept, the evaluators give the moments they give over
// every record:
// test/unit/expect/live-samples.test.ts checks it on every recorded run.
//
// What is held then grows with the transitions, not with the samples: an
// evaluation costs about the same in the tenth minute as in the first.

import type { SsRecord, TimelineRecord } from '../recorder/records.js'

/** What one ss or states setter reads, its window resolved (seconds since t0). */
export interface SampleNeed {
  kind: 'ss' | 'states'
  /** The host it reads; undefined: every host. */
  on: string | undefined
  from: number
  to: number
  /** ss: whether a row is one of its moments (its predicates hold). */
  matches?: ((r: SsRecord) => boolean) | undefined
  /** ss: only its first moments count (the steps and since: use NAME.N up to this N); undefined: all. */
  firstMatches?: number | undefined
}

interface Stretch {
  state: string
  /** Index in the host's samples of the sample of its last row. */
  lastSample: number
  /** Index in `records` of its last row. */
  last: number
  /** Per states need: whether the row at or after its window's start was seen. */
  windowSeen: boolean[]
  /** Per ss need: the rows it matched in this stretch so far. */
  matched: number[]
}

/** The records to keep: everything but the ss rows and samples the needs can do without. */
export function compactSamples(records: readonly TimelineRecord[], needs: readonly SampleNeed[]): TimelineRecord[] {
  // Each host's samples, in time order: their indices in records.
  const samples = new Map<string, number[]>()
  for (const [i, r] of records.entries()) {
    if (r.kind !== 'sample') continue
    const list = samples.get(r.host)
    if (list) list.push(i)
    else samples.set(r.host, [i])
  }
  const keep = new Uint8Array(records.length)
  const keepSample = (host: string, n: number): void => {
    const i = samples.get(host)?.[n]
    if (i !== undefined) keep[i] = 1
  }
  for (const list of samples.values()) keep[list[list.length - 1] as number] = 1
  const states = needs.filter((n) => n.kind === 'states')
  const ss = needs.filter((n) => n.kind === 'ss')
  const stretches = new Map<string, Stretch>()
  // Each row's sample (its index in records; -1 before the host's first), and the host's
  // sample the rows so far belong to (rows are sorted by t, as their samples).
  const sampleOf = new Int32Array(records.length).fill(-1)
  const cursor = new Map<string, number>()
  for (const [i, r] of records.entries()) {
    if (r.kind !== 'ss') continue
    const list = samples.get(r.host) ?? []
    let n = cursor.get(r.host) ?? -1
    while (n + 1 < list.length && (records[list[n + 1] as number] as TimelineRecord).t <= r.t) n++
    cursor.set(r.host, n)
    sampleOf[i] = n >= 0 ? (list[n] as number) : -1
    const key = `${r.host} ${r.local} ${r.peer}`
    const prev = stretches.get(key)
    if (prev && prev.state === r.state && prev.lastSample === n - 1) {
      prev.lastSample = n
      prev.last = i
    } else {
      // A new stretch: the sample before it (its prevT), its own; the previous one's last sample and the first without it.
      if (prev) {
        keepSample(r.host, prev.lastSample)
        keepSample(r.host, prev.lastSample + 1)
      }
      keepSample(r.host, n - 1)
      keepSample(r.host, n)
      stretches.set(key, { state: r.state, lastSample: n, last: i, windowSeen: states.map(() => false), matched: ss.map(() => 0) })
    }
    const s = stretches.get(key) as Stretch
    for (const [k, need] of states.entries()) {
      if (s.windowSeen[k] === true || r.t < need.from || (need.on !== undefined && need.on !== r.host)) continue
      // The first row of the window (a transition if the window starts amid a stretch).
      s.windowSeen[k] = true
      keepSample(r.host, n - 1)
      keepSample(r.host, n)
    }
    for (const [k, need] of ss.entries()) {
      if (r.t < need.from || r.t > need.to || (need.on !== undefined && need.on !== r.host) || need.matches?.(r) !== true) continue
      // Its selector picks whole stretches (a socket by name or endpoints): its first N moments are among the first N rows of each.
      const seen = s.matched[k] ?? 0
      if (seen < (need.firstMatches ?? Infinity)) keepSample(r.host, n)
      s.matched[k] = seen + 1
    }
  }
  for (const s of stretches.values()) {
    const host = (records[s.last] as SsRecord).host
    keepSample(host, s.lastSample)
    keepSample(host, s.lastSample + 1)
  }
  // A sample kept is kept whole: every socket it showed is still shown, so a sample kept
  // amid a stretch (for another socket) never reads as one the socket was missing from.
  return records.filter((r, i) => (r.kind === 'ss' ? sampleOf[i] === -1 || keep[sampleOf[i] as number] === 1 : r.kind !== 'sample' || keep[i] === 1))
}
