// Times of matched records checked against a list of expected times (`at:`)
// or of expected gaps between them (`gaps:`), each with its own tolerance
// max(floor, percent x the interval since the previous asserted time).

import { formatMs } from '../util/duration.js'
import { fmtT, toleranceFor, type ToleranceRule } from './context.js'
import type { Outcome } from './outcome.js'

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
  let worst = 0
  let worstTol = 0
  let firstBad: number | undefined
  let prevAt = 0
  let prevMeasured = 0
  const deltas: string[] = []
  rel.forEach((ms, i) => {
    const at = atMs[i] as number
    const interval = at - prevAt
    const tol = toleranceFor(rule, interval)
    const d = ms - (prevMeasured + interval)
    prevAt = at
    prevMeasured = ms
    deltas.push(`${fmtT(ms / 1000)} (${d >= 0 ? '+' : ''}${formatMs(d)})`)
    if (firstBad !== undefined) return
    if (Math.abs(d) > tol) {
      // Report the failing item's own delta and tolerance.
      firstBad = i
      worst = d
      worstTol = tol
    } else if (Math.abs(d) / tol >= Math.abs(worst) / (worstTol || Infinity)) {
      // Passing so far: report the item closest to its limit.
      worst = d
      worstTol = tol
    }
  })
  return {
    pass: firstBad === undefined,
    measured: `${what} at ${deltas.join(', ')}${firstBad !== undefined ? `; #${firstBad + 1} is outside its tolerance` : ''}`,
    deltaMs: round(worst),
    toleranceMs: round(worstTol),
    t: timesT[firstBad ?? 0],
  }
}

/** Check the gaps between consecutive matched times against expected gaps (ms). */
export function checkGaps(timesT: number[], gapsMs: number[], rule: ToleranceRule, what: string): Omit<Outcome, 'expected'> {
  const gaps = timesT.slice(1).map((t, i) => (t - (timesT[i] as number)) * 1000)
  const list = gaps.map((g) => formatMs(g)).join(', ') || 'none'
  if (gaps.length !== gapsMs.length) {
    return { pass: false, measured: `${timesT.length} ${what} (expected ${gapsMs.length + 1}); gaps ${list}`, t: timesT[0] }
  }
  let worst = 0
  let worstTol = 0
  let firstBad: number | undefined
  gaps.forEach((g, i) => {
    const want = gapsMs[i] as number
    const tol = toleranceFor(rule, want)
    const d = g - want
    if (firstBad !== undefined) return
    if (Math.abs(d) > tol) {
      firstBad = i
      worst = d
      worstTol = tol
    } else if (Math.abs(d) / tol >= Math.abs(worst) / (worstTol || Infinity)) {
      worst = d
      worstTol = tol
    }
  })
  return {
    pass: firstBad === undefined,
    measured: `gaps ${list}${firstBad !== undefined ? `; gap #${firstBad + 1} is outside its tolerance` : ''}`,
    deltaMs: round(worst),
    toleranceMs: round(worstTol),
    t: timesT[(firstBad ?? 0) + 1],
  }
}

function round(ms: number): number {
  return Math.round(ms * 1000) / 1000
}
