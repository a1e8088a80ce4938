// Trends over ss samples: whether a field increases (never goes down and ends
// higher), decreases (never goes up and ends lower) or stays constant over
// the samples of one socket, e.g. rcv_space, skmem.rb, cwnd, backoff.

import { fmtT } from './context.js'

export type TrendName = 'increases' | 'decreases' | 'constant'

export interface TrendPoint {
  t: number
  value: unknown
}

export interface TrendResult {
  pass: boolean
  /** "backoff 1×5 → 2×10 → 3×17 → 4×23" and, on a failure, where it went wrong. */
  text: string
  /** The sample a failure points at. */
  t?: number | undefined
}

/** Judge one socket's series of a field against a trend (points in time order; samples without the field are left out). */
export function checkTrend(field: string, trend: TrendName, points: readonly TrendPoint[]): TrendResult {
  const nums = points.filter((p): p is { t: number; value: number } => typeof p.value === 'number')
  const runs = describeRuns(field, nums)
  if (nums.length < 2) return { pass: false, text: `${field}: ${nums.length} sample${nums.length === 1 ? '' : 's'} with a value (a trend needs 2)${nums.length ? ` (${runs})` : ''}`, t: nums[0]?.t }
  for (let i = 1; i < nums.length; i++) {
    const a = nums[i - 1] as TrendPoint & { value: number }
    const b = nums[i] as TrendPoint & { value: number }
    const wrong = trend === 'increases' ? b.value < a.value : trend === 'decreases' ? b.value > a.value : b.value !== a.value
    if (wrong) return { pass: false, text: `${field} went from ${a.value} to ${b.value} at ${fmtT(b.t)} (${runs})`, t: b.t }
  }
  const first = (nums[0] as { value: number }).value
  const last = (nums[nums.length - 1] as { value: number }).value
  if (trend === 'increases' && last <= first) return { pass: false, text: `${field} never rose: ${first} throughout (${runs})`, t: nums[0]?.t }
  if (trend === 'decreases' && last >= first) return { pass: false, text: `${field} never fell: ${first} throughout (${runs})`, t: nums[0]?.t }
  return { pass: true, text: runs, t: nums[0]?.t }
}

/** "backoff 1×5 → 2×10 → 3×17" (consecutive equal values as one run; long series shortened). */
function describeRuns(field: string, nums: ReadonlyArray<{ value: number }>): string {
  const runs: Array<[number, number]> = []
  for (const p of nums) {
    const last = runs[runs.length - 1]
    if (last && last[0] === p.value) last[1]++
    else runs.push([p.value, 1])
  }
  const items = runs.map(([v, n]) => `${v}×${n}`)
  const shown = items.length > 10 ? [...items.slice(0, 5), '...', ...items.slice(-4)] : items
  return `${field} ${shown.join(' → ')}`
}
