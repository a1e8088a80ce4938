// Times of matched records checked against a list of expected times (`at:`)
// or of expected gaps between them (`gaps:`), each with its own tolerance
// max(floor, percent x the interval since the previous asserted time).

import { formatMs } from '../util/duration.js'
import { fmtT, toleranceFor, type ToleranceRule } from './context.js'
import type { Outcome } from './outcome.js'

/** Keeps what a timing result reports: the first failing item's delta and tolerance, else the item closest to its limit. */
class WorstItem {
  deltaMs = 0
  toleranceMs = 0
  failedAt: number | undefined

  /** Judge item i (after a failure, later items are not judged). */
  add(i: number, deltaMs: number, toleranceMs: number): void {
    if (this.failedAt !== undefined) return
    if (Math.abs(deltaMs) > toleranceMs) {
      this.failedAt = i
      this.deltaMs = deltaMs
      this.toleranceMs = toleranceMs
    } else if (Math.abs(deltaMs) / toleranceMs >= Math.abs(this.deltaMs) / (this.toleranceMs || Infinity)) {
      this.deltaMs = deltaMs
      this.toleranceMs = toleranceMs
    }
  }
}

/**
 * Check matched times (absolute seconds) against expected offsets (ms after refT).
 * Like packetdrill, each time is judged relative to the previous *measured* one:
 * item i is expected at measured(i-1) + (at[i] - at[i-1]) (the first at refT + at[0]),
 * with tolerance max(floor, percent x (at[i] - at[i-1])). So timer rounding that
 * adds a few ms per retransmission does not accumulate into a failure.
 */
export function checkTimes(timesT: number[], atMs: number[], refT: number, rule: ToleranceRule, what: string): Omit<Outcome, 'expected'> {
  const rel = timesT.map((t) => (t - refT) * 1000)
  const list = rel.map((ms) => fmtT(ms / 1000)).join(', ') || 'none'
  if (rel.length !== atMs.length) {
    return { pass: false, measured: `${rel.length} ${what} (expected ${atMs.length}) at ${list}`, t: timesT[0] }
  }
  const worst = new WorstItem()
  let prevAt = 0
  let prevMeasured = 0
  const deltas: string[] = []
  rel.forEach((ms, i) => {
    const at = atMs[i] as number
    const interval = at - prevAt
    const d = ms - (prevMeasured + interval)
    prevAt = at
    prevMeasured = ms
    deltas.push(`${fmtT(ms / 1000)} (${d >= 0 ? '+' : ''}${formatMs(d)})`)
    worst.add(i, d, toleranceFor(rule, interval))
  })
  const bad = worst.failedAt
  return {
    pass: bad === undefined,
    measured: `${what} at ${deltas.join(', ')}${bad !== undefined ? `; #${bad + 1} is outside its tolerance` : ''}`,
    deltaMs: round(worst.deltaMs),
    toleranceMs: round(worst.toleranceMs),
    t: timesT[bad ?? 0],
  }
}

/** Check the gaps between consecutive matched times against expected gaps (ms). */
export function checkGaps(timesT: number[], gapsMs: number[], rule: ToleranceRule, what: string): Omit<Outcome, 'expected'> {
  const gaps = timesT.slice(1).map((t, i) => (t - (timesT[i] as number)) * 1000)
  const list = gaps.map((g) => formatMs(g)).join(', ') || 'none'
  if (gaps.length !== gapsMs.length) {
    return { pass: false, measured: `${timesT.length} ${what} (expected ${gapsMs.length + 1}); gaps ${list}`, t: timesT[0] }
  }
  const worst = new WorstItem()
  gaps.forEach((g, i) => {
    const want = gapsMs[i] as number
    worst.add(i, g - want, toleranceFor(rule, want))
  })
  const bad = worst.failedAt
  return {
    pass: bad === undefined,
    measured: `gaps ${list}${bad !== undefined ? `; gap #${bad + 1} is outside its tolerance` : ''}`,
    deltaMs: round(worst.deltaMs),
    toleranceMs: round(worst.toleranceMs),
    t: timesT[(bad ?? 0) + 1],
  }
}

function round(ms: number): number {
  return Math.round(ms * 1000) / 1000
}
