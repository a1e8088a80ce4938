// Packets as a reader wants them: one "flight" per packet on the path from
// one host to the next (its capture leaving the sender matched with its
// capture arriving at the receiver), relative sequence numbers per
// connection, retransmissions marked, and the fate of packets that never
// arrived (lost on the way, or dropped at the receiver by an iptables rule).

import type { CounterRecord, PktRecord, TimelineRecord } from '../recorder/records.js'
import { parseIptablesRule, type MatchAnswer, type ParsedRule } from './iptables-rule.js'

/** What became of a packet. */
export type Fate =
  /** seen leaving the sender and arriving at the receiver */
  | 'delivered'
  /** seen arriving, then discarded by a rule of the receiver (captures see packets before INPUT/FORWARD) */
  | 'dropped'
  /** seen leaving, never seen arriving although the receiver was capturing */
  | 'lost'
  /** seen arriving only (the sender's capture missed it or the sender is not a lab host) */
  | 'arrived'
  /** seen leaving only, and the receiver captures nothing (no capture there) */
  | 'sent'

export interface Flight {
  id: number
  /** Sending host (lane), when known. */
  from?: string | undefined
  /** Receiving host (lane), when known. */
  to?: string | undefined
  tSend?: number | undefined
  tRecv?: number | undefined
  /** The packet as the sender captured it (else as the receiver did). */
  pkt: PktRecord
  fate: Fate
  /** The rule that dropped it (fate dropped), or that may have (maybe). */
  rule?: string | undefined
  ruleAnswer?: MatchAnswer | undefined
  /** Connection label, e.g. "client:45064 → server:8000". */
  conn: string
  /** Relative sequence and ack numbers (tcpdump style: the SYN is 0). */
  relSeq: number
  relAck: number
  /** The same segment was sent before (same direction, sequence and length). */
  retransmission: boolean
  /** Nth transmission of this segment (1 = first). */
  attempt: number
  /** Short label: "S. 0 ack 1 win 65160" / "P. 1:7 ack 1 win 64 len 6". */
  label: string
  /** tcpdump-like line with options, for tooltips. */
  detail: string
}

/** An iptables rule on the timeline: where, while, what it did. */
export interface RuleSpan {
  host: string
  name: string
  rule?: ParsedRule | undefined
  /** The command as the action recorded it (without the tcplab comment). */
  text: string
  tStart: number
  /** When it was deleted (undefined: installed until the end). */
  tEnd?: number | undefined
  /** Last counter readings (iptables-save -c). */
  packets?: number | undefined
  bytes?: number | undefined
  /** Captured packets this rule dropped (fate dropped) — may be fewer than `packets` when drops happen before capture (OUTPUT). */
  matched: number
}

/** Which host owns which address, learned from captures: a host sends from its own address. */
export function learnAddressOwners(pkts: readonly PktRecord[]): Map<string, string> {
  const outSrc = new Map<string, Set<string>>()
  const inSrc = new Map<string, Set<string>>()
  for (const p of pkts) {
    const m = p.dir === 'out' ? outSrc : p.dir === 'in' ? inSrc : undefined
    if (!m) continue
    const set = m.get(p.src) ?? new Set<string>()
    set.add(p.host)
    m.set(p.src, set)
  }
  const owners = new Map<string, string>()
  for (const [addr, hosts] of outSrc) {
    // A router also sends packets from other hosts' addresses, but it received them first.
    const own = [...hosts].filter((h) => !inSrc.get(addr)?.has(h))
    if (own.length === 1) owners.set(addr, own[0] as string)
  }
  for (const p of pkts) {
    // Receivers of packets nobody captured leaving: the destination of an "in" packet that the host never forwards.
    if (p.dir === 'in' && !owners.has(p.dst) && !outSrc.get(p.dst)) owners.set(p.dst, p.host)
  }
  return owners
}

/** Rule spans from iptables action records and counter records. */
export function collectRuleSpans(records: readonly TimelineRecord[]): RuleSpan[] {
  const spans: RuleSpan[] = []
  for (const r of records) {
    if (r.kind === 'action' && (r.action === 'iptables' || r.action === 'ip6tables') && r.host) {
      const name = r.target ?? `step${r.step}`
      if (/\(deleted\)$/.test(r.detail)) {
        const open = spans.find((s) => s.host === r.host && s.name === name && s.tEnd === undefined)
        if (open) open.tEnd = r.t
        continue
      }
      const rule = parseIptablesRule(r.detail)
      spans.push({ host: r.host, name, rule, text: rule?.text ?? r.detail, tStart: r.t, matched: 0 })
    }
  }
  for (const r of records) {
    if (r.kind !== 'counter') continue
    const span = findCounterSpan(spans, r)
    if (span) {
      span.packets = r.packets ?? r.value
      span.bytes = r.bytes
    }
  }
  return spans
}

function findCounterSpan(spans: RuleSpan[], c: CounterRecord): RuleSpan | undefined {
  const candidates = spans.filter((s) => s.host === c.host && s.name === c.name && s.tStart <= c.t + 1e-6)
  return candidates[candidates.length - 1]
}

interface ConnInfo {
  label: string
  /** ISN per direction key "addr:port>addr:port". */
  base: Map<string, number>
}

/** Match every captured packet into flights between hosts, and decide the fate of those that did not arrive. */
export function buildFlights(records: readonly TimelineRecord[], rules: RuleSpan[], hostOrder: readonly string[] = []): Flight[] {
  const pkts = records.filter((r): r is PktRecord => r.kind === 'pkt').sort((a, b) => a.t - b.t)
  const owners = learnAddressOwners(pkts)
  const capturing = new Set(pkts.map((p) => p.host))
  const nameOf = (addr: string): string => owners.get(addr) ?? addr
  const conns = new Map<string, ConnInfo>()
  const connOf = (p: PktRecord): ConnInfo => {
    const a = `${p.src}:${p.sport}`
    const b = `${p.dst}:${p.dport}`
    const key = a < b ? `${a}|${b}` : `${b}|${a}`
    let c = conns.get(key)
    if (!c) {
      // The side that sends a SYN without ACK is the client; without a SYN, the lower port is the service.
      const isClientFirst = p.flags.includes('S') ? !p.flags.includes('.') : p.sport > p.dport
      const [cli, cport, srv, sport] = isClientFirst ? [p.src, p.sport, p.dst, p.dport] : [p.dst, p.dport, p.src, p.sport]
      c = { label: `${nameOf(cli)}:${cport} → ${nameOf(srv)}:${sport}`, base: new Map() }
      conns.set(key, c)
    }
    return c
  }

  // Arrivals by packet identity, consumed in time order.
  const identity = (p: PktRecord): string => `${p.src}:${p.sport}>${p.dst}:${p.dport}|${p.flags}|${p.seq}|${p.ack}|${p.len}|${String(p.options?.tsval ?? '')}`
  const arrivals = new Map<string, PktRecord[]>()
  for (const p of pkts) {
    if (p.dir !== 'in') continue
    const k = identity(p)
    const list = arrivals.get(k) ?? []
    list.push(p)
    arrivals.set(k, list)
  }
  const used = new Set<PktRecord>()
  const flights: Flight[] = []
  const seen = new Map<string, number>() // direction|seq|len|flags -> transmissions so far
  const push = (pkt: PktRecord, from: string | undefined, to: string | undefined, tSend: number | undefined, tRecv: number | undefined, fate: Fate): Flight => {
    const c = connOf(pkt)
    const dirKey = `${pkt.src}:${pkt.sport}>${pkt.dst}:${pkt.dport}`
    const revKey = `${pkt.dst}:${pkt.dport}>${pkt.src}:${pkt.sport}`
    if (!c.base.has(dirKey)) c.base.set(dirKey, pkt.seq)
    const relSeq = (pkt.seq - (c.base.get(dirKey) as number) + 2 ** 32) % 2 ** 32
    const ackBase = c.base.get(revKey)
    const relAck = pkt.flags.includes('.') && ackBase !== undefined ? (pkt.ack - ackBase + 2 ** 32) % 2 ** 32 : pkt.ack
    // A retransmission: same direction, flags class, sequence and length, sent by the same host again.
    const consumes = pkt.len > 0 || /[SF]/.test(pkt.flags)
    const segKey = `${from ?? '?'}|${dirKey}|${pkt.seq}|${pkt.len}|${pkt.flags.replace(/[P.]/g, '')}|${consumes ? '' : pkt.ack}`
    const attempt = (seen.get(segKey) ?? 0) + 1
    seen.set(segKey, attempt)
    const f: Flight = {
      id: flights.length,
      from,
      to,
      tSend,
      tRecv,
      pkt,
      fate,
      conn: c.label,
      relSeq,
      relAck,
      retransmission: consumes && attempt > 1,
      attempt,
      label: labelOf(pkt, relSeq, relAck),
      detail: '',
    }
    flights.push(f)
    return f
  }
  for (const p of pkts) {
    if (p.dir === 'in' || used.has(p)) continue
    const candidates = (arrivals.get(identity(p)) ?? []).filter((q) => !used.has(q) && q.host !== p.host && q.t >= p.t - 0.001 && q.t <= p.t + 5)
    const owner = owners.get(p.dst)
    const arrival = candidates.find((q) => q.host === owner) ?? candidates[0]
    if (arrival) {
      used.add(arrival)
      push(p, p.host, arrival.host, p.t, arrival.t, 'delivered')
      continue
    }
    const to = owner !== undefined && owner !== p.host ? owner : nextHop(p.host, hostOrder, owner)
    push(p, p.host, to, p.t, undefined, to !== undefined && capturing.has(to) ? 'lost' : 'sent')
  }
  for (const p of pkts) {
    if (p.dir !== 'in' || used.has(p)) continue
    const from = owners.get(p.src)
    push(p, from !== p.host ? from : undefined, p.host, undefined, p.t, 'arrived')
  }
  flights.sort((a, b) => (a.tSend ?? a.tRecv ?? 0) - (b.tSend ?? b.tRecv ?? 0) || a.id - b.id)
  flights.forEach((f, i) => (f.id = i))
  applyRules(flights, rules, owners)
  for (const f of flights) f.detail = detailOf(f, nameOf)
  return flights
}

/** The next lane toward `owner` when the owner is unknown or not adjacent (wire in the middle). */
function nextHop(host: string, order: readonly string[], owner: string | undefined): string | undefined {
  if (owner !== undefined) return owner
  const i = order.indexOf(host)
  if (i < 0 || order.length < 2) return undefined
  return order[i === 0 ? 1 : i - 1]
}

/** Mark packets that arrived where an active DROP/REJECT rule of the receiver matches them. */
function applyRules(flights: Flight[], rules: RuleSpan[], owners: Map<string, string>): void {
  for (const f of flights) {
    if (f.to === undefined || f.tRecv === undefined) continue
    const receiver = f.to
    const isForward = owners.get(f.pkt.dst) !== receiver
    const chains = isForward ? ['PREROUTING', 'FORWARD'] : ['PREROUTING', 'INPUT']
    const active = rules.filter((r) => r.host === receiver && r.rule?.isDrop && chains.includes(r.rule.chain) && r.tStart <= (f.tRecv as number) && (r.tEnd === undefined || (f.tRecv as number) < r.tEnd))
    for (const r of active) {
      const answer = r.rule?.match(f.pkt) ?? 'no'
      if (answer === 'no') continue
      f.rule = r.name
      f.ruleAnswer = answer
      if (answer === 'yes') {
        f.fate = 'dropped'
        r.matched++
      }
      break
    }
  }
}

/** "S 0 win 64240", "P. 1:7 ack 1 win 64 len 6", "R. 1 ack 1". */
export function labelOf(p: PktRecord, relSeq: number, relAck: number): string {
  const seq = p.len > 0 ? `${relSeq}:${relSeq + p.len}` : `${relSeq}`
  const ack = p.flags.includes('.') ? ` ack ${relAck}` : ''
  const len = p.len > 0 ? ` len ${p.len}` : ''
  return `${p.flags} ${seq}${ack} win ${p.win}${len}`
}

function detailOf(f: Flight, nameOf: (a: string) => string): string {
  const p = f.pkt
  const opts = p.options ? Object.entries(p.options).map(([k, v]) => (v === true ? k : k === 'nop' ? `nop×${String(v)}` : `${k} ${String(v)}`)).join(', ') : ''
  const where = [f.tSend !== undefined ? `left ${f.from ?? '?'} at ${f.tSend.toFixed(6)}s` : '', f.tRecv !== undefined ? `arrived at ${f.to ?? '?'} at ${f.tRecv.toFixed(6)}s` : ''].filter(Boolean).join(', ')
  const fate = f.fate === 'dropped' ? `DROPPED by rule ${f.rule ?? ''} on ${f.to ?? '?'}` : f.fate === 'lost' ? `LOST: never seen arriving at ${f.to ?? '?'}` : f.ruleAnswer === 'maybe' ? `may have been dropped by rule ${f.rule ?? ''} (the rule has matches tcplab cannot evaluate)` : ''
  return [
    `${nameOf(p.src)}:${p.sport} > ${nameOf(p.dst)}:${p.dport}: Flags [${p.flags}], seq ${p.len > 0 ? `${f.relSeq}:${f.relSeq + p.len}` : f.relSeq}${p.flags.includes('.') ? `, ack ${f.relAck}` : ''}, win ${p.win}${opts ? `, options [${opts}]` : ''}, length ${p.len}`,
    `raw seq ${p.seq} ack ${p.ack}${p.ifname ? ` on ${p.ifname}` : ''}; ${where}`,
    ...(f.retransmission ? [`retransmission (transmission #${f.attempt} of this segment)`] : []),
    ...(fate ? [fate] : []),
  ].join('\n')
}
