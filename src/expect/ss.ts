// ss expectations (a field predicate over socket samples, with a quantifier)
// and the socket selection that state sequences (states.ts) share.

import type { ExpectationOf } from '../scenario/schema.js'
import { compileComparator, type ParsedComparator } from '../scenario/comparator.js'
import type { SsRecord } from '../recorder/records.js'
import { fmtT, inWindow, matchesEndpoint, resolveEndpoint, resolveWindow, splitHostPort, ssRecords, WILDCARD_ADDRS, type EvalContext } from './context.js'
import type { Outcome } from './outcome.js'
import { judgeSsAggregates } from './ss-aggregates.js'

type Selector = ExpectationOf<'ss'>['socket']

export { evaluateStates } from './states.js'

/** The value of field `key` in one ss sample ("state", "recvQ", "timer", "timer.expiresMs", "skmem.r", "rto", ...). */
export function ssField(r: SsRecord, key: string): unknown {
  switch (key) {
    case 'state': return r.state
    case 'recvQ': return r.recvQ
    case 'sendQ': return r.sendQ
    case 'local': return r.local
    case 'peer': return r.peer
    case 'socket': return r.socket
    case 'timer': return r.timer?.name ?? 'none'
    // A timer without a time is due (ss prints "timer:(persist,,0)"): 0 left. Records written
    // before the parsers said so carry no value there.
    case 'timer.expiresMs': return r.timer ? (r.timer.expiresMs ?? 0) : undefined
    case 'timer.retrans': return r.timer?.retrans
  }
  if (key.startsWith('skmem.')) return r.skmem?.[key.slice(6) as keyof NonNullable<SsRecord['skmem']>]
  return r.info[key]
}

/** Samples of the selected sockets (by name, or host + local/peer endpoint + state). */
export function selectSockets(ctx: EvalContext, on: string | undefined, sel: Selector): SsRecord[] {
  let recs = ssRecords(ctx)
  if (on !== undefined) recs = recs.filter((r) => r.host === on)
  if (typeof sel === 'string') return recs.filter((r) => r.socket === sel)
  if (sel === undefined) return recs
  const local = sel.local !== undefined ? resolveEndpoint(sel.local, ctx) : undefined
  const peer = sel.peer !== undefined ? resolveEndpoint(sel.peer, ctx) : undefined
  const states = sel.state === undefined ? undefined : Array.isArray(sel.state) ? sel.state : [sel.state]
  return recs.filter((r) => {
    if (sel.listener !== undefined && r.listener !== sel.listener) return false
    if (states && !states.includes(r.state)) return false
    if (local) {
      const { addr, port } = splitHostPort(r.local)
      // A listener bound to any address (*, 0.0.0.0, ::) listens on the host's addresses too.
      if (!matchesEndpoint(addr, port, local) && !(local.addrs && WILDCARD_ADDRS.has(addr) && matchesEndpoint(addr, port, { port: local.port }))) return false
    }
    if (peer) {
      const { addr, port } = splitHostPort(r.peer)
      if (!matchesEndpoint(addr, port, peer)) return false
    }
    return true
  })
}

/** "server :8000 ESTAB" — how a selector reads in a report. */
export function describeSelector(on: string | undefined, sel: Selector): string {
  if (typeof sel === 'string') return `socket ${sel}`
  const parts = [on ? `on ${on}` : '']
  if (sel?.listener !== undefined) parts.push(`connections pending on ${sel.listener}`)
  if (sel?.local !== undefined) parts.push(`local ${String(sel.local)}`)
  if (sel?.peer !== undefined) parts.push(`peer ${String(sel.peer)}`)
  if (sel?.state !== undefined) parts.push(Array.isArray(sel.state) ? sel.state.join('|') : sel.state)
  return parts.filter(Boolean).join(' ') || 'any socket'
}

/** Evaluate an `ss:` expectation. */
export function evaluateSs(e: ExpectationOf<'ss'>, ctx: EvalContext): Outcome {
  const w = resolveWindow(e, ctx)
  const quantifier = e.quantifier ?? (e.during || e.before !== undefined || e.after !== undefined ? 'always' : 'eventually')
  const preds: Array<[string, ParsedComparator]> = Object.entries(e.match ?? {}).map(([k, v]) => [k, compileComparator(v)])
  const predText = preds.map(([k, c]) => `${k} ${c.text}`).join(', ')
  const expected = `${describeSelector(e.on, e.socket)}: ${predText} ${quantifier}${typeof w === 'string' ? '' : ` ${w.text}`}`
  if (typeof w === 'string') return { pass: false, expected, measured: w, reason: w }
  const samples = selectSockets(ctx, e.on, e.socket).filter((r) => inWindow(r.t, w))
  const ok = (r: SsRecord): boolean => preds.every(([k, c]) => c.test(ssField(r, k)))
  if (e.sockets !== undefined || e.trend !== undefined) {
    const selectorText = `${describeSelector(e.on, e.socket)}${predText ? ` with ${predText}` : ''}`
    return judgeSsAggregates(e, ctx, w, { samples, isMatch: ok, fieldOf: ssField, selectorText, quantifier })
  }
  const matching = samples.filter(ok)
  const seen = summarizeValues(samples, preds.map(([k]) => k))
  const countText = `${matching.length} of ${samples.length} samples matched`
  if (samples.length === 0) {
    const measured = 'no samples of the socket in the window'
    return { pass: quantifier === 'never', expected, measured, t: w.from }
  }
  if (quantifier === 'always') {
    const bad = samples.find((r) => !ok(r))
    return bad
      ? { pass: false, expected, measured: `${countText}; first mismatch at ${fmtT(bad.t)}: ${preds.map(([k]) => `${k}=${fmtValue(ssField(bad, k))}`).join(', ')} (seen: ${seen})`, t: bad.t }
      : { pass: true, expected, measured: `${countText} (seen: ${seen})`, t: samples[0]?.t, moments: matching.map((r) => r.t) }
  }
  if (quantifier === 'never') {
    const bad = matching[0]
    return bad
      ? { pass: false, expected, measured: `${countText}; first at ${fmtT(bad.t)} (seen: ${seen})`, t: bad.t }
      : { pass: true, expected, measured: `${countText} (seen: ${seen})`, t: samples[0]?.t }
  }
  const first = matching[0]
  return first
    ? { pass: true, expected, measured: `first at ${fmtT(first.t)}; ${countText} (seen: ${seen})`, t: first.t, moments: matching.map((r) => r.t) }
    : { pass: false, expected, measured: `${countText} (seen: ${seen})`, t: samples[0]?.t }
}

/** "recvQ: 0×12, 6×3" — the distribution of each asserted field. */
function summarizeValues(samples: SsRecord[], keys: string[]): string {
  return keys
    .map((k) => {
      const counts = new Map<string, number>()
      for (const r of samples) {
        const v = fmtValue(ssField(r, k))
        counts.set(v, (counts.get(v) ?? 0) + 1)
      }
      const items = [...counts.entries()].slice(0, 8).map(([v, n]) => `${v}×${n}`)
      return `${k}: ${items.join(', ')}${counts.size > 8 ? ', ...' : ''}`
    })
    .join('; ')
}

function fmtValue(v: unknown): string {
  return v === undefined ? '(none)' : String(v)
}
