// What every evaluator needs: the sorted timeline, the run's end, the hosts'
// addresses, the tolerance rule, and how to resolve a window (`at`, `during`,
// `before`, `after`, relative to t0 or to an event named by `since`).

import type { EventRecord, PktRecord, SsRecord, TimelineRecord } from '../recorder/records.js'
import { formatMs } from '../util/duration.js'
import { describeMarkRef, parseMarkRef, pickMoment, type MarkTable } from './marks.js'

export interface ToleranceRule {
  floorMs: number
  /** Percent of the interval since the previous asserted time. */
  percent: number
}

export const DEFAULT_TOLERANCE: ToleranceRule = { floorMs: 50, percent: 10 }

export interface EvalContext {
  /** Sorted by t. */
  records: readonly TimelineRecord[]
  /** End of the run (seconds since t0). */
  endT: number
  /** Host name -> its lab addresses. */
  hosts: ReadonlyMap<string, readonly string[]>
  /** The scenario's (or the run's) default tolerance. */
  tolerance: ToleranceRule
  /** Kernel release, e.g. "6.18.44". */
  kernel: string
  /** Whether a sysctl exists on the lab hosts' kernel. */
  hasSysctl(key: string): boolean
  /**
   * The value of a sysctl in force on a host (after the scenario's sysctls and
   * --sysctl overrides), or on every host when none is named; undefined where the key is absent.
   */
  sysctlValues?(key: string): ReadonlyMap<string, string> | undefined
  /** Marks set so far (`mark:`), for `since:` a mark (see marks.ts). */
  marks?: MarkTable | undefined
  /** The names the scenario's sockets got (agent steps, `sockets:`), and their hosts. */
  sockets?: ReadonlyMap<string, { host: string; listener: boolean }> | undefined
}

/** Fields every expectation kind may carry (see WindowFields in the schema). */
export interface WindowSpec {
  at?: number | number[] | undefined
  during?: [number, number | 'end'] | undefined
  before?: number | undefined
  after?: number | undefined
  since?: string | undefined
  tolerance?: number | { floor?: number | undefined; percent?: number | undefined } | undefined
}

export interface Window {
  /** Absolute bounds (seconds since t0). */
  from: number
  to: number
  /** Reference time `since` resolves to (0 = t0). */
  refT: number
  /** "during [1s, 3s] after cli.connected" */
  text: string
}

/** The tolerance rule of one expectation (its own `tolerance:`, else the scenario's). */
export function toleranceOf(spec: WindowSpec, ctx: EvalContext): ToleranceRule {
  const t = spec.tolerance
  if (t === undefined) return ctx.tolerance
  if (typeof t === 'number') return { floorMs: t, percent: ctx.tolerance.percent }
  return { floorMs: t.floor ?? ctx.tolerance.floorMs, percent: t.percent ?? ctx.tolerance.percent }
}

/** Tolerance for a time asserted `intervalMs` after the previous asserted time: max(floor, percent x interval). */
export function toleranceFor(rule: ToleranceRule, intervalMs: number): number {
  return Math.max(rule.floorMs, (rule.percent / 100) * Math.abs(intervalMs))
}

/** Time of the first event `NAME.TYPE`, or undefined when it never happened. */
export function eventTime(ctx: EvalContext, ref: string): number | undefined {
  return eventRef(ctx, ref)?.t
}

/**
 * The first event `NAME.TYPE`: its time, and the time its syscall was issued
 * where the agent stamps one (data.issuedT: connecting, sent, read, closed,
 * shutdown); those events are written after the syscall returns, so what the
 * call itself caused (the packet a send() produced) comes before their `t`.
 */
export function eventRef(ctx: EvalContext, ref: string): { t: number; issuedT?: number | undefined } | undefined {
  const dot = ref.lastIndexOf('.')
  const source = ref.slice(0, dot)
  const type = ref.slice(dot + 1)
  for (const r of ctx.records) {
    if (r.kind !== 'event' || r.source !== source || r.type !== type) continue
    const issued = Number(r.data?.issuedT)
    return { t: r.t, issuedT: r.data?.issuedT !== undefined && Number.isFinite(issued) && issued <= r.t ? issued : undefined }
  }
  return undefined
}

/**
 * The moment a `since:` names: a mark (`syn`, `syn.last`, `syn.3`) or an
 * event (`cli.sent`: from when its syscall was issued, where known), with how it
 * reads in a report; an error string when it never happened.
 */
export function resolveSince(ref: string, ctx: EvalContext): { t: number; text: string } | string {
  const mark = ctx.marks ? parseMarkRef(ref, ctx.marks.declared) : undefined
  if (mark && ctx.marks) {
    const m = ctx.marks.set.get(mark.name)
    if (!m) return `the mark ${mark.name} was never set${ctx.marks.skipped.has(mark.name) ? ` (${ctx.marks.skipped.get(mark.name) ?? ''})` : ''}`
    const t = pickMoment(m, mark.pick)
    if (typeof t === 'string') return t
    return { t, text: `mark ${describeMarkRef(mark)} at ${fmtT(t)}` }
  }
  const ev = eventRef(ctx, ref)
  if (ev === undefined) return `the reference event ${ref} never happened`
  if (ev.issuedT !== undefined) return { t: ev.issuedT, text: `${ref} (its call issued at ${fmtT(ev.issuedT)}, ${formatMs((ev.t - ev.issuedT) * 1000)} before the event)` }
  return { t: ev.t, text: ref }
}

/** Resolve the window of an expectation; a `since` event that never happened is an error string. */
export function resolveWindow(spec: WindowSpec, ctx: EvalContext): Window | string {
  let refT = 0
  let refText = ''
  if (spec.since) {
    const r = resolveSince(spec.since, ctx)
    if (typeof r === 'string') return r
    refT = r.t
    refText = ` after ${r.text}`
  }
  const sec = (ms: number): number => ms / 1000
  const rule = toleranceOf(spec, ctx)
  if (Array.isArray(spec.at)) return 'a list of times (at: [...]) applies to packets and event expectations only'
  if (typeof spec.at === 'number') {
    const tol = toleranceFor(rule, spec.at)
    return { from: refT + sec(spec.at - tol), to: refT + sec(spec.at + tol), refT, text: `at ${formatMs(spec.at)} ±${formatMs(tol)}${refText}` }
  }
  if (spec.during) {
    const [a, b] = spec.during
    const to = b === 'end' ? ctx.endT : refT + sec(b)
    return { from: refT + sec(a), to, refT, text: `during [${formatMs(a)}, ${b === 'end' ? 'end' : formatMs(b)}]${refText}` }
  }
  if (spec.before !== undefined || spec.after !== undefined) {
    const from = spec.after !== undefined ? refT + sec(spec.after) : refT
    const to = spec.before !== undefined ? refT + sec(spec.before) : ctx.endT
    const parts = [spec.after !== undefined ? `after ${formatMs(spec.after)}` : '', spec.before !== undefined ? `before ${formatMs(spec.before)}` : '']
    return { from, to, refT, text: `${parts.filter(Boolean).join(' and ')}${refText || ' (since t0)'}` }
  }
  return { from: refT, to: ctx.endT, refT, text: spec.since ? `after ${spec.since}` : 'during the whole run' }
}

export function inWindow(t: number, w: Window): boolean {
  return t >= w.from && t <= w.to
}

/** Seconds as "1.234s" for measured values. */
export function fmtT(t: number): string {
  return `${t.toFixed(3)}s`
}

/** Parse "HOST", "HOST:PORT", ":PORT", "ADDR:PORT", "*" into addresses and port. */
export function resolveEndpoint(ep: string | number, ctx: EvalContext): { addrs?: readonly string[] | undefined; port?: number | undefined } {
  if (typeof ep === 'number') return { port: ep }
  if (ep === '*' || ep === '') return {}
  // "[2001:2::1]:80" and "2001:2::1" (a bare IPv6 address has no port); "host:80", ":80", "host".
  const m = ep.startsWith('[') ? /^\[([^\]]*)\](?::(\d+))?$/.exec(ep) : (ep.match(/:/g) ?? []).length > 1 ? [ep, ep, undefined] : /^(.*?)(?::(\d+))?$/.exec(ep)
  const hostPart = m?.[1] ?? ''
  const port = m?.[2] !== undefined ? Number(m[2]) : undefined
  if (hostPart === '' || hostPart === '*') return { port }
  const hostAddrs = ctx.hosts.get(hostPart)
  return { addrs: hostAddrs ?? [hostPart], port }
}

/** Addresses ss prints for a socket bound to any address. */
export const WILDCARD_ADDRS: ReadonlySet<string> = new Set(['*', '0.0.0.0', '::'])

/** Whether an address/port pair matches an endpoint. */
export function matchesEndpoint(addr: string, port: number, ep: { addrs?: readonly string[] | undefined; port?: number | undefined }): boolean {
  if (ep.port !== undefined && ep.port !== port) return false
  if (ep.addrs !== undefined && !ep.addrs.includes(addr)) return false
  return true
}

/** Split ss's "198.18.0.1:8000" / "[::1]:8000" / "*:8000" into address and port. */
export function splitHostPort(s: string): { addr: string; port: number } {
  const i = s.lastIndexOf(':')
  // "[fe80::1]%eth0:22": drop the %dev scope first, then the brackets.
  const addr = s.slice(0, i).replace(/%[^\]]*$/, '').replace(/^\[|\]$/g, '')
  const port = Number(s.slice(i + 1))
  return { addr, port: Number.isNaN(port) ? 0 : port }
}

export function ssRecords(ctx: EvalContext): SsRecord[] {
  return ctx.records.filter((r): r is SsRecord => r.kind === 'ss')
}
export function pktRecords(ctx: EvalContext): PktRecord[] {
  return ctx.records.filter((r): r is PktRecord => r.kind === 'pkt')
}
export function eventRecords(ctx: EvalContext): EventRecord[] {
  return ctx.records.filter((r): r is EventRecord => r.kind === 'event')
}

/** Compare "6.18.44" with a constraint like ">=5.7". */
export function kernelSatisfies(release: string, constraint: string): boolean {
  const m = /^(>=|<=|>|<|=)?(\d+(?:\.\d+){0,2})$/.exec(constraint)
  if (!m) return false
  const op = m[1] ?? '>='
  const want = (m[2] as string).split('.').map(Number)
  const have = (/^(\d+(?:\.\d+){0,2})/.exec(release)?.[1] ?? '0').split('.').map(Number)
  let cmp = 0
  for (let i = 0; i < want.length && cmp === 0; i++) cmp = Math.sign((have[i] ?? 0) - (want[i] ?? 0))
  return op === '>=' ? cmp >= 0 : op === '<=' ? cmp <= 0 : op === '>' ? cmp > 0 : op === '<' ? cmp < 0 : cmp === 0
}
