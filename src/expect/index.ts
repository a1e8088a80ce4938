// Evaluate every expectation of a scenario over its timeline.

import { EXPECT_KINDS, type ExpectKind, type Expectation, type ExpectationOf } from '../scenario/schema.js'
import type { SourcePos } from '../util/errors.js'
import { kernelSatisfies, type EvalContext } from './context.js'
import { evaluateCounter, evaluateEvent, evaluateProcess } from './events.js'
import type { Outcome } from './outcome.js'
import { declaredMarks, emptyMarkTable, evaluationOrder, parseMarkRef, referencesOf, setMark } from './marks.js'
import { evaluatePackets } from './packets.js'
import { sysctlGuardReason } from './guards.js'
import { evaluateSs, evaluateStates } from './ss.js'
import type { ExpectationResult } from './verdict.js'

export type { EvalContext, ToleranceRule } from './context.js'
export { DEFAULT_TOLERANCE } from './context.js'
export * from './verdict.js'

/** One evaluator per expectation kind; the compiler checks every kind has one. */
const EVALUATORS: { [K in ExpectKind]: (e: ExpectationOf<K>, ctx: EvalContext) => Outcome } = {
  ss: evaluateSs,
  states: evaluateStates,
  packets: evaluatePackets,
  process: evaluateProcess,
  event: evaluateEvent,
  counter: evaluateCounter,
}

/** The kind and body of an expectation (the schema guarantees exactly one). */
export function kindOf(e: Expectation): { kind: ExpectKind; body: ExpectationOf<ExpectKind> } {
  for (const kind of EXPECT_KINDS) {
    const body = e[kind]
    if (body !== undefined) return { kind, body }
  }
  throw new Error('expectation without a kind')
}

/** Evaluate one expectation. */
export function evaluateExpectation(e: Expectation, index: number, ctx: EvalContext, pos?: SourcePos): ExpectationResult {
  const { kind, body } = kindOf(e)
  const base = { index, kind, line: pos?.line, col: pos?.col }
  const when = body.when
  const skip = (when && skipReason(when, hostOfBody(body, ctx), ctx)) || skippedMarkReason(body, ctx)
  const description = body.description ?? ''
  if (skip) return { ...base, status: 'skip', description, expected: '', measured: '', reason: skip }
  const reach = socketReach(body, ctx)
  if (reach?.never) {
    return { ...base, status: 'error', description: description || reach.never, expected: '', measured: reach.text, reached: reach.text, reason: reach.never }
  }
  const evaluate = EVALUATORS[kind] as (e: ExpectationOf<ExpectKind>, ctx: EvalContext) => Outcome
  let o: Outcome
  try {
    o = evaluate(body, ctx)
  } catch (err: unknown) {
    o = { pass: false, expected: '', measured: '', reason: `cannot evaluate: ${(err as Error).message}` }
  }
  return {
    ...base,
    status: o.pass ? 'pass' : 'fail',
    description: description || o.expected,
    expected: o.expected,
    measured: o.measured,
    deltaMs: o.deltaMs,
    toleranceMs: o.toleranceMs,
    t: o.t,
    reached: reach?.text,
    reason: o.datedBy !== undefined && o.reason === undefined ? `dated by ${o.datedBy}` : o.reason,
    ...('mark' in body && typeof body.mark === 'string' ? { mark: { name: body.mark, t: [...(o.moments ?? [])] } } : {}),
  }
}

/**
 * What an expectation's named socket reached in the whole run: its ss rows and
 * packets on its host. A socket of the scenario's that nothing ever reached
 * makes the expectation an error: an absence claim must not rest on nothing.
 */
export function socketReach(body: ExpectationOf<ExpectKind>, ctx: EvalContext): { text: string; never?: string | undefined } | undefined {
  const sel = 'socket' in body ? body.socket : undefined
  const name = typeof sel === 'string' ? sel : sel && typeof sel === 'object' && 'listener' in sel && typeof sel.listener === 'string' ? sel.listener : undefined
  if (name === undefined) return undefined
  const viaListener = typeof sel !== 'string'
  const known = ctx.sockets?.get(name)
  const host = ('on' in body && typeof body.on === 'string' ? body.on : undefined) ?? known?.host
  let rows = 0
  let pkts = 0
  let own = 0
  for (const r of ctx.records) {
    if ((r.kind !== 'ss' && r.kind !== 'pkt') || (host !== undefined && r.host !== host)) continue
    if (r.socket === name) own++
    const hit = viaListener ? r.listener === name : r.socket === name
    if (!hit) continue
    if (r.kind === 'ss') rows++
    else pkts++
  }
  const what = viaListener ? `connections of listener ${name}` : `socket ${name}`
  const text = `${what}${host ? ` on ${host}` : ''}: ${rows} ss row${rows === 1 ? '' : 's'}, ${pkts} packet${pkts === 1 ? '' : 's'}`
  // Only names the scenario gave are judged: an unknown name is the loader's business.
  // A listener's pending connections may rightly be none; the listener itself must have been seen.
  if (own === 0 && known !== undefined) {
    return { text, never: `socket ${name} was never seen on ${host ?? known.host}: no ss row, no packet` }
  }
  return { text }
}

/**
 * Evaluate all expectations, marks first: an expectation that measures its
 * times since a mark is evaluated after the expectations that set it (the
 * loader rejects cycles); results come back in file order.
 */
export function evaluateAll(list: readonly Expectation[], ctx: EvalContext, pos: readonly SourcePos[] = []): ExpectationResult[] {
  const bodies = list.map((e) => kindOf(e).body as unknown as Record<string, unknown>)
  const marks = emptyMarkTable(declaredMarks(bodies).keys())
  const withMarks: EvalContext = { ...ctx, marks }
  const results = new Array<ExpectationResult>(list.length)
  for (const i of evaluationOrder(bodies).order) {
    const r = evaluateExpectation(list[i] as Expectation, i, withMarks, pos[i])
    results[i] = r
    const name = bodies[i]?.mark
    if (typeof name === 'string') setMark(marks, name, i, r.mark?.t, r.status === 'skip' ? `expectation #${i + 1}, which sets it, was skipped: ${r.reason ?? ''}` : undefined)
  }
  return results
}

/** The host an expectation is about: its `on:`, else the host of its named socket. */
function hostOfBody(body: ExpectationOf<ExpectKind>, ctx: EvalContext): string | undefined {
  if ('on' in body && typeof body.on === 'string') return body.on
  const sel = 'socket' in body ? body.socket : undefined
  const name = typeof sel === 'string' ? sel : undefined
  return name !== undefined ? ctx.sockets?.get(name)?.host : undefined
}

/** An expectation measured since a mark whose every setter was skipped is skipped too (it has nothing to measure from). */
function skippedMarkReason(body: ExpectationOf<ExpectKind>, ctx: EvalContext): string | undefined {
  const marks = ctx.marks
  if (!marks) return undefined
  for (const ref of referencesOf(body as unknown as Record<string, unknown>)) {
    const m = parseMarkRef(ref, marks.declared)
    if (m && !marks.set.has(m.name) && marks.skipped.has(m.name)) return `measured since the mark ${m.name}: ${marks.skipped.get(m.name) ?? ''}`
  }
  return undefined
}

function skipReason(when: NonNullable<ExpectationOf<'ss'>['when']>, host: string | undefined, ctx: EvalContext): string | undefined {
  if (when.kernel && !kernelSatisfies(ctx.kernel, when.kernel)) return `needs kernel ${when.kernel}, this is ${ctx.kernel}`
  for (const g of when.sysctl === undefined ? [] : Array.isArray(when.sysctl) ? when.sysctl : [when.sysctl]) {
    const why = sysctlGuardReason(g, false, host, ctx)
    if (why) return why
  }
  for (const g of when.noSysctl === undefined ? [] : Array.isArray(when.noSysctl) ? when.noSysctl : [when.noSysctl]) {
    const why = sysctlGuardReason(g, true, host, ctx)
    if (why) return why
  }
  return undefined
}
