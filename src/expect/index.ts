// Evaluate every expectation of a scenario over its timeline.

import { EXPECT_KINDS, type ExpectKind, type Expectation, type ExpectationOf } from '../scenario/schema.js'
import type { SourcePos } from '../util/errors.js'
import { kernelSatisfies, type EvalContext } from './context.js'
import { evaluateCounter, evaluateEvent, evaluateProcess } from './events.js'
import type { Outcome } from './outcome.js'
import { evaluatePackets } from './packets.js'
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
  const skip = when && skipReason(when, ctx)
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
    reason: o.reason,
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

/** Evaluate all expectations. */
export function evaluateAll(list: readonly Expectation[], ctx: EvalContext, pos: readonly SourcePos[] = []): ExpectationResult[] {
  return list.map((e, i) => evaluateExpectation(e, i, ctx, pos[i]))
}

function skipReason(when: NonNullable<ExpectationOf<'ss'>['when']>, ctx: EvalContext): string | undefined {
  if (when.kernel && !kernelSatisfies(ctx.kernel, when.kernel)) return `needs kernel ${when.kernel}, this is ${ctx.kernel}`
  if (when.sysctl && !ctx.hasSysctl(when.sysctl)) return `needs sysctl ${when.sysctl}, which this kernel lacks`
  if (when.noSysctl && ctx.hasSysctl(when.noSysctl)) return `applies to kernels without ${when.noSysctl}`
  return undefined
}
