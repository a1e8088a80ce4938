// ss expectations that look across rows and samples rather than at one row:
// the number of sockets matching a selector in each sample (`sockets: 1`,
// "exactly one CLOSE-WAIT row"), and trends of a field over each socket's
// samples (`trend: { rcv_space: increases }`).

import { compileComparator } from '../scenario/comparator.js'
import type { ExpectationOf } from '../scenario/schema.js'
import type { SsRecord } from '../recorder/records.js'
import { fmtT, inWindow, type EvalContext, type Window } from './context.js'
import type { Outcome } from './outcome.js'
import { checkTrend } from './trends.js'

export interface SsRows {
  /** Rows of the selected sockets in the window. */
  samples: readonly SsRecord[]
  /** Whether a row satisfies `match`. */
  isMatch(r: SsRecord): boolean
  /** The value of an ss field in a row. */
  fieldOf(r: SsRecord, key: string): unknown
  /** "on server CLOSE-WAIT: state = ..." — what the rows are, for `expected`. */
  selectorText: string
  quantifier: 'always' | 'eventually' | 'never'
}

/** Judge `sockets:` and `trend:` of an ss expectation. */
export function judgeSsAggregates(e: ExpectationOf<'ss'>, ctx: EvalContext, w: Window, rows: SsRows): Outcome {
  const parts: string[] = []
  const count = e.sockets !== undefined ? compileComparator(e.sockets) : undefined
  if (count) parts.push(`sockets ${count.text} ${rows.quantifier}`)
  const trends = Object.entries(e.trend ?? {})
  if (trends.length) parts.push(trends.map(([k, v]) => `${k} ${v}`).join(', '))
  const expected = `${rows.selectorText}: ${parts.join('; ')} ${w.text}`
  const measured: string[] = []
  let failT: number | undefined
  let pass = true
  if (count) {
    // Every sample of the host(s) in the window counts, also those where no row matched.
    const counts = new Map<string, { t: number; host: string; n: number }>()
    for (const r of ctx.records) {
      if (r.kind !== 'sample' || !inWindow(r.t, w) || (e.on !== undefined && r.host !== e.on)) continue
      counts.set(`${r.host}@${r.t}`, { t: r.t, host: r.host, n: 0 })
    }
    for (const r of rows.samples) {
      if (!rows.isMatch(r)) continue
      const k = `${r.host}@${r.t}`
      const c = counts.get(k) ?? { t: r.t, host: r.host, n: 0 }
      c.n++
      counts.set(k, c)
    }
    const list = [...counts.values()].sort((a, b) => a.t - b.t)
    const dist = new Map<number, number>()
    for (const c of list) dist.set(c.n, (dist.get(c.n) ?? 0) + 1)
    const seen = [...dist.entries()].sort((a, b) => a[0] - b[0]).map(([n, k]) => `${n} socket${n === 1 ? '' : 's'} in ${k}`).join(', ')
    const good = list.filter((c) => count.test(c.n))
    const bad = list.find((c) => !count.test(c.n))
    let ok: boolean
    let at: { t: number; n: number } | undefined
    if (list.length === 0) ok = rows.quantifier === 'never'
    else if (rows.quantifier === 'always') { ok = bad === undefined; at = bad }
    else if (rows.quantifier === 'never') { ok = good.length === 0; at = good[0] }
    else { ok = good.length > 0; at = good[0] }
    const where = at && !ok ? `; ${rows.quantifier === 'never' ? 'first match' : 'first mismatch'} at ${fmtT(at.t)}: ${at.n} socket${at.n === 1 ? '' : 's'}` : ''
    measured.push(list.length === 0 ? 'no samples in the window' : `${good.length} of ${list.length} samples matched (${seen})${where}`)
    if (!ok) { pass = false; failT ??= at?.t ?? list[0]?.t ?? w.from }
  }
  if (trends.length) {
    const bySocket = new Map<string, SsRecord[]>()
    for (const r of rows.samples) {
      if (!rows.isMatch(r)) continue
      const k = `${r.host} ${r.local} ${r.peer}`
      bySocket.set(k, [...(bySocket.get(k) ?? []), r])
    }
    if (bySocket.size === 0) {
      pass = false
      measured.push('no samples of the socket in the window')
      failT ??= w.from
    }
    for (const [field, trend] of trends) {
      for (const [key, recs] of bySocket) {
        const res = checkTrend(field, trend, recs.map((r) => ({ t: r.t, value: rows.fieldOf(r, field) })))
        measured.push(bySocket.size > 1 ? `${key}: ${res.text}` : res.text)
        if (!res.pass) { pass = false; failT ??= res.t }
      }
    }
  }
  return { pass, expected, measured: measured.join('; '), t: failT ?? rows.samples[0]?.t }
}
