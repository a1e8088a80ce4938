// Packet header fields and options in packets expectations: seq/ack relative
// to the connection's ISN, absolute or symbolic (snd_una-1, <snd_nxt, first),
// the raw and the scaled window, mss, wscale, sackOK, SACK blocks, timestamps.
// The connection state a symbol stands for is rebuilt from the host's own
// capture, packet by packet, in capture order.

import { compileComparator, type ParsedComparator } from '../scenario/comparator.js'
import { formatSymbolic, parseSeqExpr, testSeqOp, type SeqExpr, type SeqExprInput } from '../scenario/seq-expr.js'
import { PACKET_FIELD_NAMES } from '../scenario/value-fields.js'
import type { PktRecord, TimelineRecord } from '../recorder/records.js'
import { checkAggregates, type AggregateSpec } from './aggregates.js'

/** What a packet's connection looked like just before it, from the sender's side (relative numbers). */
export interface PktState {
  /** seq - the sender's ISN (mod 2^32); undefined without the sender's SYN in the capture. */
  relSeq?: number | undefined
  /** ack - the receiver's ISN (mod 2^32), for packets with ACK set. */
  relAck?: number | undefined
  /** The highest ack the sender had received. */
  sndUna?: number | undefined
  /** The byte after the highest the sender had sent. */
  sndNxt?: number | undefined
  /** The byte after the highest the sender had received. */
  rcvNxt?: number | undefined
  /** The window in bytes (scaled by the sender's wscale when both SYNs offered one). */
  winBytes?: number | undefined
}

interface Side {
  isn?: number | undefined
  /** undefined: no SYN seen; null: SYN without wscale. */
  wscale?: number | null | undefined
  nxt?: number | undefined
  una?: number | undefined
}

const rel = (x: number, isn: number): number => (x - isn) >>> 0

/** Rebuild each packet's connection state from the capture of its host (records in time order). */
export function derivePacketStates(pkts: readonly PktRecord[]): Map<PktRecord, PktState> {
  const conns = new Map<string, Map<string, Side>>()
  const out = new Map<PktRecord, PktState>()
  for (const p of pkts) {
    const a = `${p.src}|${p.sport}`
    const b = `${p.dst}|${p.dport}`
    const key = `${p.host}|${a < b ? `${a}|${b}` : `${b}|${a}`}`
    let conn = conns.get(key)
    const syn = p.flags.includes('S')
    const hasAck = p.flags.includes('.')
    // A SYN without ACK with a new ISN: the tuple is being reused, start over.
    if (conn && syn && !hasAck && conn.get(a)?.isn !== undefined && conn.get(a)?.isn !== p.seq) conn = undefined
    if (!conn) {
      conn = new Map()
      conns.set(key, conn)
    }
    const s = conn.get(a) ?? {}
    const r = conn.get(b) ?? {}
    conn.set(a, s)
    conn.set(b, r)
    if (syn) {
      s.isn = p.seq
      s.wscale = typeof p.options?.wscale === 'number' ? p.options.wscale : null
    }
    const relSeq = s.isn !== undefined ? rel(p.seq, s.isn) : undefined
    const relAck = hasAck && r.isn !== undefined ? rel(p.ack, r.isn) : undefined
    let winBytes: number | undefined
    if (syn) winBytes = p.win
    else if (typeof s.wscale === 'number' && typeof r.wscale === 'number') winBytes = p.win * 2 ** s.wscale
    else if (s.wscale !== undefined && r.wscale !== undefined) winBytes = p.win
    out.set(p, { relSeq, relAck, sndUna: s.una, sndNxt: s.nxt, rcvNxt: r.nxt, winBytes })
    if (relSeq !== undefined) {
      const end = relSeq + p.len + (syn ? 1 : 0) + (p.flags.includes('F') ? 1 : 0)
      if (s.nxt === undefined || end > s.nxt) s.nxt = end
    }
    if (relAck !== undefined && (r.una === undefined || relAck > r.una)) r.una = relAck
  }
  return out
}

type FieldName = (typeof PACKET_FIELD_NAMES)[number] | 'len'

/** What `each:` may check: the filter fields and the payload length. */
const EACH_FIELD_NAMES: readonly FieldName[] = [...PACKET_FIELD_NAMES, 'len']

/** The written form of the packet fields (filters or `each:`). */
export type PacketFieldSpec = Partial<Record<FieldName, unknown>>

interface FieldCheck {
  name: FieldName
  text: string
  /** Whether packet p matches, given the first and previous packets of the list it is judged in. */
  test(p: PktRecord, st: PktState, first: PktRecord | undefined, prev: PktRecord | undefined, states: ReadonlyMap<PktRecord, PktState>): boolean
  /** The packet's value as this check reads it ("snd_una-1", "0", "(none)"). */
  show(p: PktRecord, st: PktState, first: PktRecord | undefined, prev: PktRecord | undefined, states: ReadonlyMap<PktRecord, PktState>): string
}

/** The value of a numeric packet field (relative seq/ack); undefined when the packet has none. */
export function packetValue(p: PktRecord, st: PktState | undefined, name: string): number | undefined {
  switch (name) {
    case 'len': return p.len
    case 'win': return p.win
    case 'winBytes': return st?.winBytes
    case 'seq': return st?.relSeq
    case 'ack': return st?.relAck
    case 'mss': return typeof p.options?.mss === 'number' ? p.options.mss : undefined
    case 'wscale': return typeof p.options?.wscale === 'number' ? p.options.wscale : undefined
    case 'sack': return sackBlocks(p)
  }
  return undefined
}

function sackBlocks(p: PktRecord): number {
  const s = p.options?.sack
  return typeof s === 'string' && s.trim() !== '' ? s.trim().split(/\s+/).length : 0
}

/** Compile the field checks of a spec (filters or `each:`); fields not given are not checked. */
export function compilePacketFields(spec: PacketFieldSpec, names: readonly FieldName[] = PACKET_FIELD_NAMES): FieldCheck[] {
  const checks: FieldCheck[] = []
  for (const name of names) {
    const v = spec[name]
    if (v === undefined) continue
    if (name === 'seq' || name === 'ack') checks.push(seqCheck(name, v as SeqExprInput))
    else if (name === 'sackOK' || name === 'ts') checks.push(presenceCheck(name, v as boolean))
    else checks.push(valueCheck(name, compileComparator(v as string | number | boolean)))
  }
  return checks
}

function seqCheck(name: 'seq' | 'ack', v: SeqExprInput): FieldCheck {
  const x = parseSeqExpr(v)
  if ('error' in x) throw new Error(`${name}: ${x.error}`)
  const e: SeqExpr = x
  const relOf = (p: PktRecord | undefined, states: ReadonlyMap<PktRecord, PktState>): number | undefined =>
    p === undefined ? undefined : name === 'seq' ? states.get(p)?.relSeq : states.get(p)?.relAck
  const symbolValue = (st: PktState, first: PktRecord | undefined, prev: PktRecord | undefined, states: ReadonlyMap<PktRecord, PktState>): number | undefined => {
    if (e.kind !== 'symbolic') return undefined
    switch (e.symbol) {
      case 'snd_una': return st.sndUna
      case 'snd_nxt': return st.sndNxt
      case 'rcv_nxt': return st.rcvNxt
      case 'first': return relOf(first, states)
      case 'prev': return relOf(prev, states)
    }
  }
  const own = (p: PktRecord, st: PktState): number | undefined => (name === 'seq' ? st.relSeq : st.relAck)
  return {
    name,
    text: `${name} ${e.text}`,
    test: (p, st, first, prev, states) => {
      if (name === 'ack' && !p.flags.includes('.')) return false
      if (e.kind === 'absolute') return e.cmp.test(name === 'seq' ? p.seq : p.ack)
      const mine = own(p, st)
      if (mine === undefined) return false
      if (e.kind === 'relative') return e.cmp.test(mine)
      // The first packet of the list has no previous one: `prev` does not judge it.
      if (e.symbol === 'prev' && prev === undefined) return true
      const base = symbolValue(st, first, prev, states)
      return base !== undefined && testSeqOp(e.op, mine - (base + e.offset))
    },
    show: (p, st, first, prev, states) => {
      if (name === 'ack' && !p.flags.includes('.')) return '(no ACK)'
      if (e.kind === 'absolute') return String(name === 'seq' ? p.seq : p.ack)
      const mine = own(p, st)
      if (mine === undefined) return '(no SYN in the capture)'
      if (e.kind === 'relative') return String(mine)
      if (e.symbol === 'prev' && prev === undefined) return `${mine} (first)`
      const base = symbolValue(st, first, prev, states)
      return base === undefined ? `${mine} (${e.symbol} unknown)` : formatSymbolic(e.symbol, mine - base)
    },
  }
}

function presenceCheck(name: 'sackOK' | 'ts', want: boolean): FieldCheck {
  const has = (p: PktRecord): boolean => (name === 'ts' ? p.options?.tsval !== undefined : p.options?.sackOK === true)
  return { name, text: `${name} ${want ? 'present' : 'absent'}`, test: (p) => has(p) === want, show: (p) => (has(p) ? 'present' : 'absent') }
}

function valueCheck(name: FieldName, cmp: ParsedComparator): FieldCheck {
  // true/false ask whether the option is there (sack: whether blocks are).
  const value = (p: PktRecord, st: PktState): number | boolean | undefined => {
    const v = packetValue(p, st, name)
    if (cmp.text === '= true' || cmp.text === '= false') return v !== undefined && !(name === 'sack' && v === 0)
    return v
  }
  return {
    name,
    text: `${name} ${cmp.text}`,
    test: (p, st) => cmp.test(value(p, st)),
    show: (p, st) => {
      const v = value(p, st)
      return v === undefined ? '(none)' : String(v)
    },
  }
}

const NONE: PktState = {}

/** The packets of `list` (in order) that pass every check; first/prev refer to `list` itself. */
export function filterPackets(list: readonly PktRecord[], checks: readonly FieldCheck[], states: ReadonlyMap<PktRecord, PktState>): PktRecord[] {
  if (checks.length === 0) return [...list]
  const first = list[0]
  return list.filter((p, i) => checks.every((c) => c.test(p, states.get(p) ?? NONE, first, list[i - 1], states)))
}

/** The first packet of `list` that fails a check, with the check, or undefined. */
export function findViolation(list: readonly PktRecord[], checks: readonly FieldCheck[], states: ReadonlyMap<PktRecord, PktState>): { p: PktRecord; check: FieldCheck; index: number } | undefined {
  const first = list[0]
  for (let i = 0; i < list.length; i++) {
    const p = list[i] as PktRecord
    for (const c of checks) if (!c.test(p, states.get(p) ?? NONE, first, list[i - 1], states)) return { p, check: c, index: i }
  }
  return undefined
}

/** "seq snd_una-1×3, snd_una×1; win 0×4" — what the checked fields were in `list`. */
export function summarizePacketFields(list: readonly PktRecord[], checks: readonly FieldCheck[], states: ReadonlyMap<PktRecord, PktState>): string {
  const first = list[0]
  return checks
    .map((c) => {
      const counts = new Map<string, number>()
      list.forEach((p, i) => {
        const v = c.show(p, states.get(p) ?? NONE, first, list[i - 1], states)
        counts.set(v, (counts.get(v) ?? 0) + 1)
      })
      const items = [...counts.entries()].slice(0, 8).map(([v, n]) => `${v}×${n}`)
      return `${c.name} ${items.join(', ')}${counts.size > 8 ? ', ...' : ''}`
    })
    .join('; ')
}

/** What one packet's checked fields were: "seq snd_una, win 576". */
export function showPacketFields(p: PktRecord, index: number, list: readonly PktRecord[], checks: readonly FieldCheck[], states: ReadonlyMap<PktRecord, PktState>): string {
  return checks.map((c) => `${c.name} ${c.show(p, states.get(p) ?? NONE, list[0], list[index - 1], states)}`).join(', ')
}

export type { FieldCheck }

/** The field filters, `each:` and aggregates of one packets expectation, compiled once. */
export interface PacketFieldJudge {
  /** " seq = snd_una-1 win = 0" for the description of what is matched (empty without filters). */
  filterText: string
  /** ", each seq = first, sum len = 1152" (empty without them). */
  checkText: string
  /** The packets of `base` that pass the field filters. */
  filter(base: readonly PktRecord[]): PktRecord[]
  /** What the field filters left out of `base`, to explain a miss ("" when nothing was). */
  explainMiss(base: readonly PktRecord[], matched: readonly PktRecord[]): string
  /** A failure of `each:` or of an aggregate over `matched` (measured text and the time it points at), or the aggregates' text on success. */
  judge(matched: readonly PktRecord[], refT: number): { fail?: { measured: string; t: number | undefined } | undefined; text: string }
}

interface JudgeSpec extends PacketFieldSpec {
  each?: PacketFieldSpec | undefined
  sum?: Partial<Record<string, string | number | boolean>> | undefined
  min?: Partial<Record<string, string | number | boolean>> | undefined
  max?: Partial<Record<string, string | number | boolean>> | undefined
}

/** Connection states per timeline (the records array of an EvalContext), computed once for all its expectations. */
const STATES_BY_TIMELINE = new WeakMap<readonly TimelineRecord[], Map<PktRecord, PktState>>()

function statesOfTimeline(records: readonly TimelineRecord[]): Map<PktRecord, PktState> {
  let states = STATES_BY_TIMELINE.get(records)
  if (!states) {
    states = derivePacketStates(records.filter((r): r is PktRecord => r.kind === 'pkt'))
    STATES_BY_TIMELINE.set(records, states)
  }
  return states
}

/** Compile the packet-field parts of a packets expectation over a timeline (sorted by t). */
export function compilePacketJudge(e: JudgeSpec, records: readonly TimelineRecord[]): PacketFieldJudge {
  const filters = compilePacketFields(e)
  const each = e.each ? compilePacketFields(e.each, EACH_FIELD_NAMES) : []
  const spec: AggregateSpec = { sum: e.sum, min: e.min, max: e.max }
  const hasAgg = e.sum !== undefined || e.min !== undefined || e.max !== undefined
  const statesOf = (): Map<PktRecord, PktState> => statesOfTimeline(records)
  const aggText = hasAgg ? checkAggregates(spec, [], () => undefined, 'packets')?.expected ?? '' : ''
  return {
    filterText: filters.map((c) => ` ${c.text}`).join(''),
    checkText: [each.length ? `each ${each.map((c) => c.text).join(', ')}` : '', aggText].filter(Boolean).map((s) => `, ${s}`).join(''),
    filter: (base) => (filters.length ? filterPackets(base, filters, statesOf()) : [...base]),
    explainMiss: (base, matched) =>
      filters.length && base.length !== matched.length
        ? `; of ${base.length} packets before the field filters: ${summarizePacketFields(base, filters, statesOf())}`
        : '',
    judge: (matched, refT) => {
      if (each.length) {
        const bad = findViolation(matched, each, statesOf())
        if (bad) {
          return {
            fail: {
              measured: `packet #${bad.index + 1} of ${matched.length} (at ${(bad.p.t - refT).toFixed(3)}s) has ${showPacketFields(bad.p, bad.index, matched, [bad.check], statesOf())}, expected ${bad.check.text}; seen: ${summarizePacketFields(matched, each, statesOf())}`,
              t: bad.p.t,
            },
            text: '',
          }
        }
      }
      const agg = hasAgg ? checkAggregates(spec, matched, (p, f) => packetValue(p, statesOf().get(p), f), 'packets') : undefined
      if (agg && !agg.pass) return { fail: { measured: agg.measured, t: matched[0]?.t }, text: '' }
      const eachText = each.length && matched.length ? `each ${summarizePacketFields(matched, each, statesOf())}` : ''
      return { text: [eachText, agg?.measured ?? ''].filter(Boolean).map((s) => `; ${s}`).join('') }
    },
  }
}
