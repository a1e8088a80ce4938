// Sockets over time, from the ss samples: one track per socket (host + local
// + peer endpoint), with its state bands, the series the report charts
// (Recv-Q, Send-Q, cwnd, rto, retransmissions, timer countdown) and the
// samples themselves for the inspector.

import type { SampleRecord, SsRecord, TimelineRecord } from '../recorder/records.js'
import type { SsFieldName } from './glossary.js'

export interface StateSegment {
  state: string
  t1: number
  t2: number
}

/** One charted value of a socket. */
export interface SeriesSpec {
  key: string
  label: string
  /** Glossary key for the tooltip. */
  field: SsFieldName
  get(r: SsRecord): number | undefined
  /** Shown when it ever differs from 0, not only when it varies (queues). */
  showNonZero?: boolean
}

/** Charted series, in display order. */
export const SERIES: readonly SeriesSpec[] = [
  { key: 'recvQ', label: 'Recv-Q', field: 'recvQ', get: (r) => r.recvQ, showNonZero: true },
  { key: 'sendQ', label: 'Send-Q', field: 'sendQ', get: (r) => r.sendQ, showNonZero: true },
  { key: 'cwnd', label: 'cwnd', field: 'cwnd', get: (r) => numberOf(r.info.cwnd) },
  { key: 'ssthresh', label: 'ssthresh', field: 'ssthresh', get: (r) => numberOf(r.info.ssthresh) },
  { key: 'rto', label: 'rto (ms)', field: 'rto', get: (r) => numberOf(r.info.rto) },
  { key: 'retrans', label: 'retrans', field: 'retrans_total', get: (r) => numberOf(r.info.retrans_total) ?? (r.timer?.name === 'on' ? r.timer.retrans : undefined), showNonZero: true },
  { key: 'backoff', label: 'backoff', field: 'backoff', get: (r) => numberOf(r.info.backoff), showNonZero: true },
  { key: 'skmem.r', label: 'skmem r', field: 'skmem.r', get: (r) => r.skmem?.r },
  { key: 'skmem.d', label: 'skmem d', field: 'skmem.d', get: (r) => r.skmem?.d, showNonZero: true },
]

/** A timer as seen over consecutive samples: name, countdown points, probes so far. */
export interface TimerRun {
  name: string
  /** [t, ms left] at each sample while this timer was pending. */
  points: Array<[number, number]>
  /** [t, retrans] where the retransmission/probe count changed. */
  retrans: Array<[number, number]>
  t1: number
  t2: number
}

export interface SocketTrack {
  id: string
  host: string
  /** The socket's name in the scenario, when known. */
  name?: string | undefined
  label: string
  local: string
  peer: string
  samples: SsRecord[]
  states: StateSegment[]
  /** Charted series that show something; constant ones are listed in `constants`. */
  series: Array<{ spec: SeriesSpec; points: Array<[number, number]>; max: number }>
  constants: Array<{ spec: SeriesSpec; value: number }>
  timers: TimerRun[]
  t1: number
  t2: number
}

/** Build the socket tracks of a timeline; `nameOf` turns addresses into host names for labels. */
export function buildSocketTracks(records: readonly TimelineRecord[], nameOf: (addr: string) => string, hostOrder: readonly string[]): SocketTrack[] {
  const byId = new Map<string, SsRecord[]>()
  const sampleTimes = new Map<string, number[]>()
  for (const r of records) {
    if (r.kind === 'ss') {
      const id = `${r.host}|${r.local}|${r.peer}`
      const list = byId.get(id) ?? []
      list.push(r)
      byId.set(id, list)
    } else if (r.kind === 'sample') {
      const list = sampleTimes.get(r.host) ?? []
      list.push((r as SampleRecord).t)
      sampleTimes.set(r.host, list)
    }
  }
  for (const l of sampleTimes.values()) l.sort((a, b) => a - b)
  const tracks: SocketTrack[] = []
  for (const [id, list] of byId) {
    list.sort((a, b) => a.t - b.t)
    const first = list[0] as SsRecord
    const times = sampleTimes.get(first.host) ?? []
    const endOf = (t: number): number => nextAfter(times, t) ?? t + medianGap(times)
    const states: StateSegment[] = []
    for (const [i, r] of list.entries()) {
      const prev = states[states.length - 1]
      const gapEnd = endOf(r.t)
      if (prev && prev.state === r.state && i > 0 && prev.t2 >= r.t - 1e-9) prev.t2 = gapEnd
      else states.push({ state: r.state, t1: r.t, t2: gapEnd })
    }
    const series: SocketTrack['series'] = []
    const constants: SocketTrack['constants'] = []
    for (const spec of SERIES) {
      const points: Array<[number, number]> = []
      for (const r of list) {
        const v = spec.get(r)
        if (v !== undefined && Number.isFinite(v)) points.push([r.t, v])
      }
      if (points.length === 0) continue
      const values = new Set(points.map((p) => p[1]))
      const max = points.reduce((m, p) => Math.max(m, p[1]), -Infinity)
      // A LISTEN socket's Send-Q is its backlog limit: constant, not worth a chart.
      const isLimit = spec.key === 'sendQ' && list.every((r) => r.state === 'LISTEN')
      if (values.size > 1 || (spec.showNonZero === true && max !== 0 && !isLimit)) series.push({ spec, points, max })
      else constants.push({ spec, value: points[0]?.[1] ?? 0 })
    }
    const name = list.find((r) => r.socket !== undefined)?.socket
    const local = first.local
    const peer = first.peer
    tracks.push({
      id,
      host: first.host,
      name,
      label: trackLabel(first, name, nameOf),
      local,
      peer,
      samples: list,
      states,
      series,
      constants,
      timers: buildTimerRuns(list, endOf),
      t1: first.t,
      t2: states[states.length - 1]?.t2 ?? first.t,
    })
  }
  const hostRank = (h: string): number => {
    const i = hostOrder.indexOf(h)
    return i < 0 ? hostOrder.length : i
  }
  tracks.sort((a, b) => hostRank(a.host) - hostRank(b.host) || a.t1 - b.t1 || a.id.localeCompare(b.id))
  return tracks
}

/** "cli :45064 ⇄ server:8000", ":8000 listening". */
function trackLabel(r: SsRecord, name: string | undefined, nameOf: (a: string) => string): string {
  const prefix = name ? `${name} ` : ''
  if (r.state === 'LISTEN' || r.peerPort === 0) return `${prefix}:${r.localPort} listening`
  const peerHost = nameOf(stripPort(r.peer))
  return `${prefix}:${r.localPort} ⇄ ${peerHost}:${r.peerPort}`
}

function stripPort(endpoint: string): string {
  const i = endpoint.lastIndexOf(':')
  return (i < 0 ? endpoint : endpoint.slice(0, i)).replace(/^\[|\]$/g, '').replace(/%.*$/, '')
}

function buildTimerRuns(list: readonly SsRecord[], endOf: (t: number) => number): TimerRun[] {
  const runs: TimerRun[] = []
  let cur: TimerRun | undefined
  for (const r of list) {
    const tm = r.timer
    if (!tm) {
      cur = undefined
      continue
    }
    if (!cur || cur.name !== tm.name) {
      cur = { name: tm.name, points: [], retrans: [[r.t, tm.retrans]], t1: r.t, t2: endOf(r.t) }
      runs.push(cur)
    }
    if (tm.expiresMs !== undefined) cur.points.push([r.t, tm.expiresMs])
    const last = cur.retrans[cur.retrans.length - 1]
    if (last && last[1] !== tm.retrans) cur.retrans.push([r.t, tm.retrans])
    cur.t2 = endOf(r.t)
  }
  return runs
}

function nextAfter(sorted: readonly number[], t: number): number | undefined {
  let lo = 0
  let hi = sorted.length
  while (lo < hi) {
    const mid = (lo + hi) >> 1
    if ((sorted[mid] as number) <= t + 1e-9) lo = mid + 1
    else hi = mid
  }
  return sorted[lo]
}

/** Median gap between samples (the sampling interval), 0.1 s when unknown. */
export function medianGap(sorted: readonly number[]): number {
  if (sorted.length < 2) return 0.1
  const gaps = sorted.slice(1).map((t, i) => t - (sorted[i] as number)).sort((a, b) => a - b)
  return gaps[gaps.length >> 1] ?? 0.1
}

function numberOf(v: number | string | boolean | undefined): number | undefined {
  return typeof v === 'number' ? v : undefined
}
