// The static side of marks (`mark:` on an expectation, `since:` a mark in
// another): which expectations set and use which marks, and the order that
// evaluates every mark before its users. The loader checks it (unknown marks,
// cycles); src/expect/marks.ts resolves the moments at evaluation.

import { MARK_REF_RE } from './schema.js'

/** Where an expectation body refers to moments: its `since`, and the `since` of each states transition. */
export function referencesOf(body: Record<string, unknown>): string[] {
  const refs: string[] = []
  if (typeof body.since === 'string') refs.push(body.since)
  if (Array.isArray(body.sequence)) {
    for (const s of body.sequence) if (s && typeof s === 'object' && typeof (s as { since?: unknown }).since === 'string') refs.push((s as { since: string }).since)
  }
  return refs
}

/** The mark names each expectation declares (body.mark), by index. */
export function declaredMarks(bodies: ReadonlyArray<Record<string, unknown>>): Map<string, number[]> {
  const out = new Map<string, number[]>()
  bodies.forEach((b, i) => {
    if (typeof b.mark === 'string') out.set(b.mark, [...(out.get(b.mark) ?? []), i])
  })
  return out
}

/**
 * Evaluation order: every expectation after those whose marks it uses, else
 * file order. A cycle (a mark measured since a mark that depends on it) is
 * returned as the chain of indices, for the loader's error.
 */
export function evaluationOrder(bodies: ReadonlyArray<Record<string, unknown>>): { order: number[]; cycle?: number[] | undefined } {
  const marks = declaredMarks(bodies)
  const deps = bodies.map((b, i) => {
    const d = new Set<number>()
    for (const ref of referencesOf(b)) {
      const name = MARK_REF_RE.exec(ref)?.[1]
      if (name !== undefined) for (const j of marks.get(name) ?? []) if (j !== i) d.add(j)
    }
    return d
  })
  const order: number[] = []
  const state = new Array<0 | 1 | 2>(bodies.length).fill(0) // 0 new, 1 visiting, 2 done
  let cycle: number[] | undefined
  const visit = (i: number, path: number[]): void => {
    if (state[i] === 2 || cycle) return
    if (state[i] === 1) {
      cycle = [...path.slice(path.indexOf(i)), i]
      return
    }
    state[i] = 1
    for (const j of [...(deps[i] ?? [])].sort((a, b) => a - b)) visit(j, [...path, i])
    state[i] = 2
    order.push(i)
  }
  for (let i = 0; i < bodies.length; i++) visit(i, [])
  return cycle ? { order: bodies.map((_, i) => i), cycle } : { order }
}

