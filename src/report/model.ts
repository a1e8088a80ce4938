// The report model of one scenario run: everything the HTML page draws,
// derived from the records (one collector per record kind, checked by the
// compiler), the verdict, env.json and scenario.yaml.

import type { ActionRecord, CounterRecord, EventRecord, PktRecord, RecordKind, RecordOf, SampleRecord, SsRecord, TimelineRecord } from '../recorder/records.js'
import type { ExpectationResult, ScenarioStatus, ScenarioVerdict } from '../expect/verdict.js'
import { buildFlights, collectRuleSpans, learnAddressOwners, type Flight, type RuleSpan } from './packets.js'
import { buildSocketTracks, type SocketTrack } from './sockets.js'
import type { EnvView, ScenarioResult, ScenarioView } from './results.js'

export type Severity = 'info' | 'ok' | 'warn' | 'error'

/** A step or an endpoint event drawn as a marker. */
export interface Marker {
  t: number
  host?: string | undefined
  kind: 'action' | 'event'
  /** Short text next to the marker. */
  label: string
  /** Tooltip. */
  detail: string
  severity: Severity
  /** Action: the step index; event: the event type. */
  step?: number | undefined
  type?: string | undefined
  /** Event: the endpoint (process or socket name) it came from. */
  source?: string | undefined
  /** Whether the label is worth showing on the timeline (others: tooltip only). */
  prominent: boolean
  /** Action: when it was due (seconds since t0) and how late it ran (ms), when the agent played it. */
  scheduledT?: number | undefined
  lateMs?: number | undefined
}

/** "0.08 ms" / "12 ms": how late a step ran. */
export function formatLate(ms: number | undefined): string {
  if (ms === undefined) return ''
  return ms < 1 ? `${ms.toFixed(2)} ms` : `${Math.round(ms)} ms`
}

export interface ReportModel {
  name: string
  title: string
  file: string
  status: ScenarioStatus
  backend: string
  startedAt: string
  durationMs: number
  error?: { code: string; message: string; hint?: string | undefined } | undefined
  reason?: string | undefined
  /** Earlier attempts set aside because the machine stalled under their timing failures. */
  setAside?: ScenarioVerdict['setAside']
  /** Set for an interrupted scenario: when, how far (atT) and how; its records and results are partial. */
  interrupted?: ScenarioVerdict['interrupted']
  scenario?: ScenarioView | undefined
  env?: EnvView | undefined
  lanes: string[]
  /** Time range of the timeline (seconds since t0), padded a little on both sides. */
  tMin: number
  tMax: number
  flights: Flight[]
  rules: RuleSpan[]
  tracks: SocketTrack[]
  markers: Marker[]
  expectations: ExpectationResult[]
  counts: Record<RecordKind, number>
  /** Address -> host name, learned from captures. */
  owners: Map<string, string>
}

interface Acc {
  actions: ActionRecord[]
  ss: SsRecord[]
  pkts: PktRecord[]
  events: EventRecord[]
  counters: CounterRecord[]
  samples: SampleRecord[]
  markers: Marker[]
}

/** What each record kind contributes to the report; the compiler checks every kind is handled. */
const COLLECTORS = {
  action: (r, acc) => {
    acc.actions.push(r)
    acc.markers.push(actionMarker(r))
  },
  ss: (r, acc) => acc.ss.push(r),
  pkt: (r, acc) => acc.pkts.push(r),
  event: (r, acc) => {
    acc.events.push(r)
    acc.markers.push(eventMarker(r))
  },
  counter: (r, acc) => acc.counters.push(r),
  sample: (r, acc) => acc.samples.push(r),
} satisfies { [K in RecordKind]: (r: RecordOf<K>, acc: Acc) => void }

/** One line of text per record kind (the report's record log, tooltips). */
export const RECORD_LINES = {
  action: (r) => `step ${r.step}${r.host ? ` ${r.host}` : ''}: ${r.action} ${r.detail}`,
  ss: (r) => `${r.host}${r.socket ? ` ${r.socket}` : ''} ${r.state} ${r.local} ${r.peer} Recv-Q ${r.recvQ} Send-Q ${r.sendQ}${r.timer ? ` timer:(${r.timer.name},${r.timer.expiresMs ?? '-'}ms,${r.timer.retrans})` : ''}`,
  pkt: (r) => `${r.host} ${r.dir} ${r.src}:${r.sport} > ${r.dst}:${r.dport} [${r.flags}] seq ${r.seq} ack ${r.ack} win ${r.win} len ${r.len}`,
  event: (r) => `${r.host} ${r.source} ${r.type}${r.errno ? ` ${r.errno}` : ''}${r.code !== undefined ? ` code ${r.code}` : ''}${r.signal ? ` ${r.signal}` : ''}${r.n !== undefined ? ` n=${r.n}` : ''}${r.text !== undefined ? `: ${r.text}` : ''}`,
  counter: (r) => `${r.host} counter ${r.name} = ${r.value}${r.bytes !== undefined ? ` (${r.packets ?? r.value} packets, ${r.bytes} bytes)` : ''}`,
  sample: (r) => `${r.host} ss sample: ${r.sockets} socket(s)`,
} satisfies { [K in RecordKind]: (r: RecordOf<K>) => string }

/** The text line of any record. */
export function describeRecord(r: TimelineRecord): string {
  return (RECORD_LINES[r.kind] as (r: TimelineRecord) => string)(r)
}

/** Build the report model of one scenario's results. */
export function buildReportModel(res: ScenarioResult): ReportModel {
  const acc: Acc = { actions: [], ss: [], pkts: [], events: [], counters: [], samples: [], markers: [] }
  const counts = { action: 0, ss: 0, pkt: 0, event: 0, counter: 0, sample: 0 } satisfies Record<RecordKind, number>
  const records = [...res.records].sort((a, b) => a.t - b.t)
  for (const r of records) {
    counts[r.kind]++
    ;(COLLECTORS[r.kind] as (r: TimelineRecord, acc: Acc) => void)(r, acc)
  }
  calmStderrOfHealthyPrograms(acc.markers, acc.events)
  const lanes = orderLanes(res.scenario, records)
  const owners = learnAddressOwners(acc.pkts)
  const rules = collectRuleSpans(records)
  const flights = buildFlights(records, rules, lanes)
  const nameOf = (addr: string): string => owners.get(addr) ?? addr
  const tracks = buildSocketTracks(records, nameOf, lanes)
  const v = res.verdict
  let dataMax = Math.max((res.scenario?.durationMs ?? 0) / 1000, 0.001)
  let dataMin = 0
  for (const r of records) {
    if (r.t > dataMax) dataMax = r.t
    if (r.t < dataMin) dataMin = r.t
  }
  for (const r of v.results) if (r.t !== undefined && r.t > dataMax) dataMax = r.t
  // A little room on both sides so markers at the very start and end are whole.
  const pad = (dataMax - dataMin) * 0.015
  return {
    name: v.name,
    title: v.title,
    file: v.file,
    status: v.status,
    backend: v.backend,
    startedAt: v.startedAt,
    durationMs: v.durationMs,
    error: v.error,
    reason: v.reason,
    setAside: v.setAside,
    interrupted: v.interrupted,
    scenario: res.scenario,
    env: res.env,
    lanes,
    tMin: dataMin - pad,
    tMax: dataMax + pad,
    flights,
    rules,
    tracks,
    markers: acc.markers,
    expectations: v.results,
    counts,
    owners,
  }
}

/** Lanes: the scenario's hosts in file order with a wire host in the middle, then any host only the records know. */
function orderLanes(sc: ScenarioView | undefined, records: readonly TimelineRecord[]): string[] {
  const hosts = sc?.hosts ?? []
  const wire = hosts.filter((h) => h.role === 'wire').map((h) => h.name)
  const ends = hosts.filter((h) => h.role !== 'wire').map((h) => h.name)
  const lanes = ends.length >= 2 ? [ends[0] as string, ...wire, ...ends.slice(1)] : [...ends, ...wire]
  for (const r of records) {
    if ('host' in r && typeof r.host === 'string' && !lanes.includes(r.host)) lanes.push(r.host)
  }
  return lanes
}

function actionMarker(r: ActionRecord): Marker {
  const deleted = /\(deleted\)$/.test(r.detail)
  const what = r.target ? `${r.action} ${deleted ? 'delete ' : ''}${r.target}` : r.action
  return {
    t: r.t,
    host: r.host,
    kind: 'action',
    label: `#${r.step}${r.host ? ` ${r.host}` : ''}: ${what}`,
    detail: `step ${r.step} at ${r.t.toFixed(3)}s${r.scheduledT !== undefined ? ` (due ${r.scheduledT.toFixed(3)}s, ${formatLate(r.lateMs)} late)` : ''}${r.host ? ` on ${r.host}` : ''}\n${r.action}: ${r.detail}`,
    scheduledT: r.scheduledT,
    lateMs: r.lateMs,
    severity: r.action === 'iptables' || r.action === 'ip6tables' || r.action === 'tc' || r.action === 'link' || r.action === 'signal' ? 'warn' : 'info',
    step: r.step,
    prominent: true,
  }
}

/** Event types worth a label on the timeline; the rest are markers with a tooltip. */
const PROMINENT_EVENTS = new Set(['started', 'exited', 'error', 'connected', 'accepted', 'listening', 'eof', 'closed', 'shutdown', 'stderr'])

function eventMarker(r: EventRecord): Marker {
  const stopped = r.data?.stoppedByRunner === true
  let label: string
  let severity: Severity = 'info'
  switch (r.type) {
    case 'error':
      label = `${r.source}: ${r.errno ?? 'error'}`
      severity = 'error'
      break
    case 'exited':
      label = `${r.source} exited ${r.signal ?? r.code ?? ''}${stopped ? ' (stopped at the end)' : ''}`
      severity = stopped ? 'info' : r.code === 0 ? 'ok' : 'error'
      break
    case 'stdout':
    case 'stderr':
      label = `${r.source} ${r.type}: ${truncate(r.text ?? '', 48)}`
      severity = r.type === 'stderr' ? 'warn' : 'info'
      break
    case 'sent':
    case 'read':
      label = `${r.source} ${r.type} ${r.n ?? ''}`
      break
    default:
      label = `${r.source} ${r.type}${r.errno ? ` ${r.errno}` : ''}`
      severity = r.type === 'connected' || r.type === 'accepted' ? 'ok' : 'info'
  }
  const extra = r.data ? Object.entries(r.data).filter(([k]) => k !== 'stoppedByRunner').map(([k, v]) => `${k}: ${JSON.stringify(v)}`) : []
  return {
    t: r.t,
    host: r.host,
    kind: 'event',
    label,
    detail: [`${r.t.toFixed(6)}s ${RECORD_LINES.event(r)}`, ...extra].join('\n'),
    severity,
    type: r.type,
    source: r.source,
    prominent: PROMINENT_EVENTS.has(r.type) && !(stopped && r.type === 'exited'),
  }
}

/**
 * Many programs write to stderr without failing (nc -v, curl's progress, a
 * warning): its lines are drawn as errors only when the program failed (exited
 * non-zero or was killed, not stopped by the runner at the end).
 */
function calmStderrOfHealthyPrograms(markers: Marker[], events: readonly EventRecord[]): void {
  const failed = new Set<string>()
  for (const e of events) {
    if (e.type !== 'exited' || e.data?.stoppedByRunner === true) continue
    if ((e.code !== undefined && e.code !== 0) || e.signal !== undefined) failed.add(`${e.host}\0${e.source}`)
  }
  for (const mk of markers) {
    if (mk.kind !== 'event' || mk.type !== 'stderr') continue
    mk.severity = failed.has(`${mk.host ?? ''}\0${mk.source ?? ''}`) ? 'error' : 'info'
  }
}

function truncate(s: string, n: number): string {
  return s.length > n ? `${s.slice(0, n - 1)}…` : s
}
