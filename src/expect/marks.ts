// Moments shared across expectations: an expectation that matches moments
// (packets, events, samples, transitions, an exit) can name them (`mark: syn`),
// and any other expectation can measure its times `since:` that mark: its first
// moment (`syn` or `syn.first`), its last (`syn.last`) or its nth (`syn.3`,
// 1-based). Expectations are evaluated marks-first (evaluationOrder), so a mark
// is known before the expectations that use it, whatever their file order.

import { MARK_REF_RE } from '../scenario/schema.js'

export { declaredMarks, evaluationOrder, referencesOf } from '../scenario/marks.js'

export type MarkPick = 'first' | 'last' | number

export interface MarkRef {
  name: string
  pick: MarkPick
}

/** The moments one mark names: those of the first non-skipped expectation that carries it. */
export interface Mark {
  name: string
  /** Absolute times (seconds since t0), sorted. */
  times: readonly number[]
  /** Index of the expectation that set it. */
  index: number
}

/** What the evaluation knows of the marks so far: set ones, and declared names whose every expectation was skipped. */
export interface MarkTable {
  /** Every mark name some expectation declares. */
  declared: ReadonlySet<string>
  set: Map<string, Mark>
  /** Declared names whose expectations were all skipped (when:): users of them are skipped too. */
  skipped: Map<string, string>
}

export function emptyMarkTable(declared: Iterable<string> = []): MarkTable {
  return { declared: new Set(declared), set: new Map(), skipped: new Map() }
}

/** Parse a reference as a mark reference when its name is a declared mark; undefined otherwise (an event reference). */
export function parseMarkRef(ref: string, declared: ReadonlySet<string>): MarkRef | undefined {
  const m = MARK_REF_RE.exec(ref)
  if (!m || !declared.has(m[1] as string)) return undefined
  const p = m[2]
  return { name: m[1] as string, pick: p === undefined || p === 'first' ? 'first' : p === 'last' ? 'last' : Number(p) }
}

/** The moment a reference picks out of a mark, or why there is none. */
export function pickMoment(mark: Mark, pick: MarkPick): number | string {
  const n = mark.times.length
  if (n === 0) return `the mark ${mark.name} has no moment (expectation #${mark.index + 1} matched nothing)`
  if (pick === 'first') return mark.times[0] as number
  if (pick === 'last') return mark.times[n - 1] as number
  if (pick > n) return `the mark ${mark.name} has ${n} moment${n === 1 ? '' : 's'}, not ${pick}`
  return mark.times[pick - 1] as number
}

export function describeMarkRef(r: MarkRef): string {
  return r.pick === 'first' ? `${r.name} (first)` : r.pick === 'last' ? `${r.name} (last)` : `${r.name} #${r.pick}`
}

/** Record what an evaluated expectation marks. */
export function setMark(table: MarkTable, name: string, index: number, times: readonly number[] | undefined, skipped: string | undefined): void {
  if (table.set.has(name)) return
  if (skipped !== undefined) {
    if (!table.skipped.has(name)) table.skipped.set(name, skipped)
    return
  }
  table.skipped.delete(name)
  table.set.set(name, { name, index, times: [...(times ?? [])].sort((a, b) => a - b) })
}
