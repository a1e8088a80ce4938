// Aggregates over the matching packets or events: `sum`, `min`, `max` of a
// field, each compared with a comparator ("sum: { len: 1152 }": the payload
// bytes of the matching packets; "sum: { n: 30000 }": the bytes read).

import { compileComparator } from '../scenario/comparator.js'
import type { ComparatorValue } from '../scenario/comparator.js'

export const AGGREGATES = ['sum', 'min', 'max'] as const
export type AggregateName = (typeof AGGREGATES)[number]

export type AggregateSpec = Partial<Record<AggregateName, Partial<Record<string, ComparatorValue>> | undefined>>

export interface AggregateResult {
  pass: boolean
  /** "sum len = 1152" for every aggregate asserted, joined. */
  expected: string
  /** "sum len 1152 over 2 packets"; on a failure, the failing one first. */
  measured: string
}

/** Check the aggregates of a spec over `items`, reading each field with `valueOf`; undefined when none is asserted. */
export function checkAggregates<T>(spec: AggregateSpec, items: readonly T[], valueOf: (item: T, field: string) => unknown, noun: string): AggregateResult | undefined {
  const expected: string[] = []
  const good: string[] = []
  const bad: string[] = []
  for (const agg of AGGREGATES) {
    const fields = spec[agg]
    if (fields === undefined) continue
    for (const [field, want] of Object.entries(fields)) {
      if (want === undefined) continue
      const cmp = compileComparator(want)
      expected.push(`${agg} ${field} ${cmp.text}`)
      const nums: number[] = []
      let missing = 0
      for (const it of items) {
        const v = valueOf(it, field)
        const n = typeof v === 'number' ? v : typeof v === 'string' && v.trim() !== '' && !Number.isNaN(Number(v)) ? Number(v) : undefined
        if (n === undefined) missing++
        else nums.push(n)
      }
      const value = aggregate(agg, nums)
      const over = `over ${nums.length} ${noun}${missing ? ` (${missing} without ${field})` : ''}`
      const exact = /^= (-?[\d.]+)$/.exec(cmp.text)
      const delta = value !== undefined && exact && value !== Number(exact[1]) ? ` (${value > Number(exact[1]) ? '+' : ''}${formatNumber(value - Number(exact[1]))})` : ''
      const text = `${agg} ${field} ${value === undefined ? '(no values)' : formatNumber(value)}${delta} ${over}`
      if (value !== undefined && cmp.test(value)) good.push(text)
      else bad.push(text)
    }
  }
  if (expected.length === 0) return undefined
  return { pass: bad.length === 0, expected: expected.join(', '), measured: [...bad, ...good].join(', ') }
}

function aggregate(agg: AggregateName, nums: readonly number[]): number | undefined {
  if (nums.length === 0) return agg === 'sum' ? 0 : undefined
  switch (agg) {
    case 'sum': return nums.reduce((a, b) => a + b, 0)
    case 'min': return Math.min(...nums)
    case 'max': return Math.max(...nums)
  }
}

function formatNumber(n: number): string {
  return Number.isInteger(n) ? String(n) : String(Math.round(n * 1e6) / 1e6)
}
