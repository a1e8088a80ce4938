// What `tcplab diff` compares: measurements derived from one scenario's
// records, under keys that stay the same from run to run (host names instead
// of addresses, service ports kept, ephemeral ports replaced by the order in
// which connections appeared).

import type { EventRecord, PktRecord, TimelineRecord } from '../recorder/records.js'
import { buildFlights, collectRuleSpans, learnAddressOwners, type Flight } from '../report/packets.js'
import { buildSocketTracks } from '../report/sockets.js'

/** Topics a measurement belongs to, used to relate it to sysctls that govern it. */
export type Topic = 'syn' | 'synack' | 'data' | 'fin' | 'rst' | 'ack' | 'keepalive' | 'persist' | 'timewait' | 'accept' | 'error' | 'exit' | 'window'

/** Transmissions of one segment: the first and its retransmissions (or a probe series). */
export interface ScheduleMetric {
  kind: 'schedule'
  key: string
  what: string
  times: number[]
  /** What the first transmission is judged from (the rest by their gaps). */
  sinceT: number
  sinceKind: AnchorKind
  topics: Topic[]
}

/**
 * What a time is measured from: the last step before it (then it mostly
 * measures how fast the machine played the step and the application
 * reacted), or the last packet its host saw (then it measures the kernel).
 */
export type AnchorKind = 'step' | 'packet'

/** When something happened once: an error, a process exit, a connection. */
export interface TimeMetric {
  kind: 'time'
  key: string
  what: string
  t: number
  /** What happened, compared too (exit code, errno). */
  value?: string | undefined
  /** What it is measured from. */
  sinceT: number
  sinceKind: AnchorKind
  topics: Topic[]
}

/** A count: packets, bytes, probes, rule hits. */
export interface CountMetric {
  kind: 'count'
  key: string
  what: string
  value: number
  topics: Topic[]
}

/** The states a socket went through, with the first time of each. */
export interface SequenceMetric {
  kind: 'sequence'
  key: string
  what: string
  items: string[]
  times: number[]
  /** The sample before each first sighting: the change happened between that and `times`. */
  earliest: number[]
  /** What each state's first sighting is measured from. */
  since: Array<{ t: number; kind: AnchorKind }>
  topics: Topic[]
}

export type Metric = ScheduleMetric | TimeMetric | CountMetric | SequenceMetric

/**
 * Everything measurable in one scenario's records. What happens once the
 * runner starts stopping the endpoints at the end (its SIGTERMs, the FINs
 * and RSTs they cause) is teardown, not the scenario, and is left out.
 */
export function extractMetrics(records: readonly TimelineRecord[], opts: { hostOrder?: readonly string[] | undefined; endT?: number | undefined } = {}): Metric[] {
  const hostOrder = opts.hostOrder ?? []
  const stoppedT = records.reduce((m, r) => (r.kind === 'event' && r.type === 'exited' && r.data?.stoppedByRunner === true ? Math.min(m, r.t) : m), Infinity)
  const lastStepT = records.reduce((m, r) => (r.kind === 'action' ? Math.max(m, r.t) : m), 0)
  // The runner stops the endpoints at the scenario's duration (else 1 s after the last step).
  const teardownT = Math.min(stoppedT, opts.endT ?? lastStepT + 1)
  const sorted = [...records].filter((r) => r.t < teardownT || r.kind === 'counter').sort((a, b) => a.t - b.t)
  const stepTimes = sorted.filter((r) => r.kind === 'action').map((r) => r.t)
  const pktTimes = new Map<string, number[]>()
  for (const r of sorted) {
    if (r.kind !== 'pkt') continue
    const list = pktTimes.get(r.host) ?? []
    list.push(r.t)
    pktTimes.set(r.host, list)
  }
  const anchor: Anchor = (host, t) => {
    const step = lastAtOrBefore(stepTimes, t) ?? 0
    const pkt = lastAtOrBefore(pktTimes.get(host) ?? [], t - 1e-6, true) ?? -Infinity
    return pkt > step ? { t: pkt, kind: 'packet' } : { t: step, kind: 'step' }
  }
  const pkts = sorted.filter((r): r is PktRecord => r.kind === 'pkt')
  const owners = learnAddressOwners(pkts)
  const hostOf = (addr: string): string => owners.get(addr) ?? addr
  const flights = buildFlights(sorted, collectRuleSpans(sorted), hostOrder)
  const listenPorts = new Set<string>()
  for (const r of sorted) if (r.kind === 'ss' && r.state === 'LISTEN') listenPorts.add(`${r.host}:${r.localPort}`)
  const conns = nameConnections(flights, hostOf, listenPorts)
  const out: Metric[] = []
  out.push(...scheduleMetrics(flights, conns, hostOf, anchor))
  out.push(...countMetrics(sorted, pkts))
  out.push(...timeMetrics(sorted, anchor))
  out.push(...sequenceMetrics(sorted, hostOf, hostOrder, listenPorts, anchor))
  return out
}

/** The last value <= t (< t when strict) of a sorted list, by binary search. */
function lastAtOrBefore(sorted: readonly number[], t: number, strict = false): number | undefined {
  let lo = 0
  let hi = sorted.length
  while (lo < hi) {
    const mid = (lo + hi) >> 1
    const v = sorted[mid] as number
    if (strict ? v < t : v <= t) lo = mid + 1
    else hi = mid
  }
  return lo > 0 ? sorted[lo - 1] : undefined
}

/** What a time on `host` is measured from. */
type Anchor = (host: string, t: number) => { t: number; kind: AnchorKind }

interface ConnName {
  name: string
  /** Address:port of the client side (the one that sent the SYN). */
  client: string
}

/** "client→server:8000", "client→server:8000 #2" (second such connection), by first appearance. */
function nameConnections(flights: readonly Flight[], hostOf: (a: string) => string, listenPorts: ReadonlySet<string>): Map<string, ConnName> {
  const out = new Map<string, ConnName>()
  const seen = new Map<string, number>()
  for (const f of flights) {
    const p = f.pkt
    const k = rawConnKey(p)
    if (out.has(k)) continue
    const isService = (host: string, port: number): boolean => listenPorts.has(`${host}:${port}`)
    const srcIsClient = p.flags.includes('S')
      ? !p.flags.includes('.')
      : isService(hostOf(p.dst), p.dport) || (!isService(hostOf(p.src), p.sport) && p.sport > p.dport)
    const [cli, srv, srvPort] = srcIsClient ? [p.src, p.dst, p.dport] : [p.dst, p.src, p.sport]
    const base = `${hostOf(cli)}→${hostOf(srv)}:${srvPort}`
    const n = (seen.get(base) ?? 0) + 1
    seen.set(base, n)
    out.set(k, { name: n > 1 ? `${base} #${n}` : base, client: srcIsClient ? `${p.src}:${p.sport}` : `${p.dst}:${p.dport}` })
  }
  return out
}

function rawConnKey(p: PktRecord): string {
  const a = `${p.src}:${p.sport}`
  const b = `${p.dst}:${p.dport}`
  return a < b ? `${a}|${b}` : `${b}|${a}`
}

/** Topics of a packet, from its flags and payload. */
export function packetTopics(p: Pick<PktRecord, 'flags' | 'len'>): Topic[] {
  if (p.flags.includes('R')) return ['rst']
  if (p.flags.includes('S')) return [p.flags.includes('.') ? 'synack' : 'syn']
  if (p.flags.includes('F')) return ['fin']
  if (p.len > 0) return ['data']
  return ['ack']
}

function scheduleMetrics(flights: readonly Flight[], conns: Map<string, ConnName>, hostOf: (a: string) => string, anchor: Anchor): ScheduleMetric[] {
  const byKey = new Map<string, ScheduleMetric>()
  const sendersCapturing = new Set(flights.filter((g) => g.tSend !== undefined).map((g) => g.from))
  for (const f of flights) {
    const t = f.tSend ?? f.tRecv
    if (t === undefined) continue
    // The sender's capture is the schedule; an arrival-only copy counts where the sender captured nothing.
    if (f.tSend === undefined && f.from !== undefined && sendersCapturing.has(f.from)) continue
    const p = f.pkt
    const conn = conns.get(rawConnKey(p))
    if (!conn) continue
    const dir = `${hostOf(p.src)}→${hostOf(p.dst)}`
    const consumes = p.len > 0 || /[SF]/.test(p.flags)
    const seg = p.len > 0 ? `seq ${f.relSeq}:${f.relSeq + p.len}` : `seq ${f.relSeq}`
    const ack = consumes ? '' : ` ack ${f.relAck}`
    const via = f.from !== undefined && f.from !== hostOf(p.src) ? ` via ${f.from}` : ''
    const key = `pkt ${conn.name} ${dir}${via} [${p.flags}] ${seg}${ack}`
    let m = byKey.get(key)
    if (!m) {
      const since = anchor(f.from ?? p.host, t)
      const topics = packetTopics(p)
      m = { kind: 'schedule', key, what: `${SCHEDULE_NAME[topics[0] ?? 'ack']} ${dir}${via} [${p.flags}] ${seg}${ack} (${conn.name})`, times: [], sinceT: since.t, sinceKind: since.kind, topics }
      byKey.set(key, m)
    }
    m.times.push(t)
  }
  return [...byKey.values()]
}

/** What a series of transmissions of one segment is called. */
const SCHEDULE_NAME: Partial<Record<Topic, string>> & { ack: string } = {
  syn: 'SYN schedule',
  synack: 'SYN-ACK schedule',
  data: 'data (re)transmissions',
  fin: 'FIN schedule',
  rst: 'RST',
  ack: 'ACK',
}

function countMetrics(records: readonly TimelineRecord[], pkts: readonly PktRecord[]): CountMetric[] {
  const counts = new Map<string, CountMetric>()
  const bump = (key: string, what: string, by: number, topics: Topic[]): void => {
    const m = counts.get(key) ?? { kind: 'count' as const, key, what, value: 0, topics }
    m.value += by
    counts.set(key, m)
  }
  for (const p of pkts) {
    bump(`packets ${p.host} ${p.dir} [${p.flags}]`, `[${p.flags}] packets ${p.dir === 'out' ? 'sent' : p.dir === 'in' ? 'received' : 'seen'} by ${p.host}`, 1, packetTopics(p))
    if (p.len > 0) bump(`bytes ${p.host} ${p.dir}`, `payload bytes ${p.dir === 'out' ? 'sent' : 'received'} by ${p.host}`, p.len, ['data'])
  }
  // Rule counters: the last reading of each rule.
  const last = new Map<string, { host: string; name: string; packets: number }>()
  for (const r of records) if (r.kind === 'counter') last.set(`${r.host}|${r.name}`, { host: r.host, name: r.name, packets: r.packets ?? r.value })
  for (const c of last.values()) counts.set(`counter ${c.host} ${c.name}`, { kind: 'count', key: `counter ${c.host} ${c.name}`, what: `packets matched by rule ${c.name} on ${c.host}`, value: c.packets, topics: [] })
  return [...counts.values()]
}

/** Event types whose time is a measurement (the rest are steps' echoes). */
const TIMED_EVENTS = new Set(['connected', 'accepted', 'eof', 'error', 'closed', 'exited'])

function timeMetrics(records: readonly TimelineRecord[], anchor: Anchor): TimeMetric[] {
  const out: TimeMetric[] = []
  const nth = new Map<string, number>()
  for (const r of records) {
    if (r.kind !== 'event' || !TIMED_EVENTS.has(r.type)) continue
    if (r.type === 'exited' && r.data?.stoppedByRunner === true) continue
    const base = `event ${r.host} ${r.source} ${r.type}${r.errno ? ` ${r.errno}` : ''}`
    const n = (nth.get(base) ?? 0) + 1
    nth.set(base, n)
    // A process ended by a signal was ended by a step or the runner: measured from the step, never the kernel's timing.
    const byAnchor = anchor(r.host, r.t)
    const since = r.type === 'exited' && r.signal ? { t: anchor('', r.t).t, kind: 'step' as const } : byAnchor
    out.push({
      kind: 'time',
      key: n > 1 ? `${base} #${n}` : base,
      what: describeEvent(r),
      t: r.t,
      value: r.type === 'exited' ? (r.signal ?? String(r.code ?? '')) : r.errno,
      sinceT: since.t,
      sinceKind: since.kind,
      topics: r.type === 'error' ? ['error'] : r.type === 'exited' ? ['exit'] : r.type === 'accepted' ? ['accept'] : [],
    })
  }
  // A process's stderr lines often carry the error (nc prints "Connection timed out"): errno names found there.
  for (const r of records) {
    if (r.kind !== 'event' || r.type !== 'stderr' || !r.text) continue
    const errno = ERRNO_TEXT.find(([re]) => re.test(r.text ?? ''))?.[1]
    if (!errno) continue
    const base = `event ${r.host} ${r.source} stderr ${errno}`
    if (out.some((m) => m.key === base)) continue
    const since = anchor(r.host, r.t)
    out.push({ kind: 'time', key: base, what: `${r.source} on ${r.host} reports ${errno} ("${r.text}")`, t: r.t, value: errno, sinceT: since.t, sinceKind: since.kind, topics: ['error'] })
  }
  return out
}

/** strerror texts of the errnos TCP failures end in. */
const ERRNO_TEXT: Array<[RegExp, string]> = [
  [/connection timed out/i, 'ETIMEDOUT'],
  [/connection refused/i, 'ECONNREFUSED'],
  [/connection reset/i, 'ECONNRESET'],
  [/broken pipe/i, 'EPIPE'],
  [/no route to host/i, 'EHOSTUNREACH'],
  [/network is unreachable/i, 'ENETUNREACH'],
]

function describeEvent(r: EventRecord): string {
  if (r.type === 'exited') return `${r.source} on ${r.host} exits${r.signal ? ` by ${r.signal}` : ` with ${r.code ?? '?'}`}`
  if (r.type === 'error') return `${r.source} on ${r.host} fails with ${r.errno ?? 'an error'}`
  return `${r.source} on ${r.host} ${r.type}`
}

function sequenceMetrics(records: readonly TimelineRecord[], hostOf: (a: string) => string, hostOrder: readonly string[], listenPorts: ReadonlySet<string>, anchor: Anchor): Metric[] {
  const tracks = buildSocketTracks(records, hostOf, hostOrder)
  const out: Metric[] = []
  const seen = new Map<string, number>()
  const sampleTimes = new Map<string, number[]>()
  for (const r of records) {
    if (r.kind !== 'sample') continue
    const list = sampleTimes.get(r.host) ?? []
    list.push(r.t)
    sampleTimes.set(r.host, list)
  }
  for (const tr of tracks) {
    const first = tr.samples[0]
    if (!first) continue
    const peerHost = hostOf(first.peer.replace(/:\d+$|:\*$/, '').replace(/^\[|\]$/g, ''))
    const role = first.state === 'LISTEN' || first.peerPort === 0
      ? `${tr.host}:${first.localPort} listening`
      : listenPorts.has(`${tr.host}:${first.localPort}`)
        ? `${tr.host}:${first.localPort}←${peerHost}`
        : `${tr.host}→${peerHost}:${first.peerPort}`
    const base = tr.name ? `${tr.host} ${tr.name}` : role
    const n = (seen.get(base) ?? 0) + 1
    seen.set(base, n)
    const name = n > 1 ? `${base} #${n}` : base
    const items: string[] = []
    const times: number[] = []
    for (const s of tr.states) {
      if (items[items.length - 1] === s.state) continue
      items.push(s.state)
      times.push(s.t1)
    }
    out.push({ kind: 'sequence', key: `states ${name}`, what: `states of ${name}`, items, times, earliest: times.map((t) => sampleBefore(sampleTimes.get(tr.host) ?? [], t)), since: times.map((t) => anchor(tr.host, t)), topics: stateTopics(items) })
    // Probes and retransmissions the timer counted, per timer name: the most seen.
    const probes = new Map<string, number>()
    for (const s of tr.samples) if (s.timer) probes.set(s.timer.name, Math.max(probes.get(s.timer.name) ?? 0, s.timer.retrans))
    for (const [timer, value] of probes) {
      if (value === 0) continue
      out.push({ kind: 'count', key: `timer ${name} ${timer}`, what: `most retransmissions/probes the ${timer} timer of ${name} counted`, value, topics: timer === 'keepalive' ? ['keepalive'] : timer === 'persist' ? ['persist'] : ['data'] })
    }
  }
  return out
}

/** The last sample of a host before t (t itself when none). */
function sampleBefore(times: readonly number[], t: number): number {
  let last = t
  for (const s of times) {
    if (s >= t - 1e-9) break
    last = s
  }
  return last
}

function stateTopics(states: readonly string[]): Topic[] {
  const t = new Set<Topic>()
  for (const s of states) {
    if (s === 'SYN-SENT') t.add('syn')
    if (s === 'SYN-RECV') t.add('synack')
    if (/FIN|TIME-WAIT|CLOSE|LAST-ACK|CLOSING/.test(s)) t.add('fin')
    if (s === 'TIME-WAIT') t.add('timewait')
  }
  return [...t]
}
