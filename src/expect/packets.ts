// packets expectations: filter one host's capture (direction, endpoints,
// socket, flags, length) and check the count, the times or the gaps.

import type { ExpectationOf } from '../scenario/schema.js'
import { compileComparator } from '../scenario/comparator.js'
import type { PktRecord } from '../recorder/records.js'
import { fmtT, inWindow, matchesEndpoint, pktRecords, resolveEndpoint, resolveWindow, toleranceFor, toleranceOf, type EvalContext } from './context.js'
import { formatMs } from '../util/duration.js'
import type { Outcome } from './outcome.js'
import { checkGaps, checkTimes } from './timing.js'
import { compilePacketJudge } from './packet-fields.js'

const FLAG_NAMES: Record<string, string> = { FIN: 'F', SYN: 'S', RST: 'R', PSH: 'P', URG: 'U', ECE: 'E', CWR: 'W', ACK: '.' }

/** Normalise "SYN,ACK" / "S." / ".S" to tcpdump's notation: F S R P . U E W, in that order (print-tcp.c). */
export function normalizeFlags(f: string): string {
  // Names ("SYN,ACK", "syn+ack", "RST") when separated or when the whole word is a name; else tcpdump letters.
  const words = f.split(/[,+| ]+/).filter(Boolean)
  const isNames = words.length > 1 || FLAG_NAMES[f.toUpperCase()] !== undefined
  const parts = isNames ? words.map((n) => FLAG_NAMES[n.toUpperCase()] ?? n) : [...f]
  const set = new Set(parts)
  return [...'FSRP.UEW'].filter((c) => set.has(c)).join('')
}

/** Evaluate a `packets:` expectation. */
export function evaluatePackets(e: ExpectationOf<'packets'>, ctx: EvalContext): Outcome {
  const atList = Array.isArray(e.at) ? e.at : undefined
  // With a list of times the window is everything after the reference; the list says when.
  const w = resolveWindow(atList ? { ...e, at: undefined } : e, ctx)
  const flagsWanted = e.flags === undefined ? undefined : (Array.isArray(e.flags) ? e.flags : [e.flags]).map(normalizeFlags)
  const len = e.len !== undefined ? compileComparator(e.len) : undefined
  const from = e.from !== undefined ? resolveEndpoint(e.from, ctx) : undefined
  const to = e.to !== undefined ? resolveEndpoint(e.to, ctx) : undefined
  const fields = compilePacketJudge(e, ctx.records)
  const what = [
    flagsWanted ? flagsWanted.map((f) => `[${f}]`).join('|') : 'packets',
    e.dir && e.dir !== 'any' ? e.dir : '',
    e.from ? `from ${e.from}` : '',
    e.to ? `to ${e.to}` : '',
    e.socket ? (typeof e.socket === 'string' ? `of ${e.socket}` : `of connections pending on ${e.socket.listener}`) : '',
    len ? `len ${len.text}` : '',
    fields.filterText.trim(),
    `on ${e.on}`,
  ].filter(Boolean).join(' ')
  const count = e.count !== undefined ? compileComparator(e.count) : undefined
  const timing = atList
    ? ` at ${atList.map((ms) => formatMs(ms)).join(', ')}`
    : e.gaps ? ` with gaps ${e.gaps.map((ms) => formatMs(ms)).join(', ')}` : ''
  const windowText = typeof w === 'string' ? '' : ` ${w.text}`
  const expected = `${what}${count ? `, count ${count.text}` : ''}${fields.checkText}${timing}${windowText}`
  if (typeof w === 'string') return { pass: false, expected, measured: w, reason: w }

  const matchesFilter = (p: PktRecord): boolean =>
    (e.dir === undefined || e.dir === 'any' || p.dir === e.dir) &&
    (from === undefined || matchesEndpoint(p.src, p.sport, from)) &&
    (to === undefined || matchesEndpoint(p.dst, p.dport, to)) &&
    (e.socket === undefined || (typeof e.socket === 'string' ? p.socket === e.socket : p.listener === e.socket.listener)) &&
    (flagsWanted === undefined || flagsWanted.includes(p.flags)) &&
    (len === undefined || len.test(p.len))
  const base = pktRecords(ctx).filter((p) => p.host === e.on && inWindow(p.t, w) && matchesFilter(p))
  const matched = fields.filter(base)
  const missText = (): string => fields.explainMiss(base, matched)
  const times = matched.map((p) => p.t)
  const rule = toleranceOf(e, ctx)
  const timesText = (): string => times.slice(0, 12).map((t) => fmtT(t - w.refT)).join(', ') + (times.length > 12 ? ', ...' : '')
  if (count && !count.test(matched.length)) {
    return { pass: false, expected, measured: `${matched.length} packets${matched.length ? ` at ${timesText()}` : ''}${missText()}`, t: times[0] ?? w.from, moments: times }
  }
  if (!count && matched.length === 0 && base.length > 0 && typeof e.at !== 'number') return { pass: false, expected, measured: `no matching packets${missText()}`, t: w.from }
  const judged = fields.judge(matched, w.refT)
  if (judged.fail) return { pass: false, expected, measured: judged.fail.measured, t: judged.fail.t ?? w.from }
  if (atList) return { expected, ...checkTimes(times, atList, w.refT, rule, 'packets'), moments: times }
  if (e.gaps) return { expected, ...checkGaps(times, e.gaps, rule, 'packets'), moments: times }
  if (typeof e.at === 'number') {
    // A single time: the delta of the nearest match (or of the nearest packet outside the window, to show the miss).
    const want = w.refT + e.at / 1000
    const tolMs = toleranceFor(rule, e.at)
    const nearestOf = (ts: number[]): number | undefined => ts.reduce<number | undefined>((b, x) => (b === undefined || Math.abs(x - want) < Math.abs(b - want) ? x : b), undefined)
    const near = nearestOf(times) ?? nearestOf(fields.filter(pktRecords(ctx).filter((p) => p.host === e.on && matchesFilter(p))).map((p) => p.t))
    const deltaMs = near === undefined ? undefined : Math.round((near - want) * 1e6) / 1000
    if (!count && matched.length === 0) {
      return { pass: false, expected, measured: `${near === undefined ? 'no matching packets' : `no matching packet in the window; nearest at ${fmtT(near - w.refT)}`}${missText()}`, t: near ?? w.from, deltaMs, toleranceMs: tolMs }
    }
    return { pass: true, expected, measured: `${matched.length} packets at ${timesText()}${judged.text}`, t: times[0], deltaMs, toleranceMs: tolMs, moments: times }
  }
  if (!count && matched.length === 0) return { pass: false, expected, measured: 'no matching packets', t: w.from }
  return { pass: true, expected, measured: matched.length ? `${matched.length} packets at ${timesText()}${judged.text}` : 'no matching packets', t: times[0], moments: times }
}
