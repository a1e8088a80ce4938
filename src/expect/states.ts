// states expectations: the states each selected socket went through, in order,
// and (items written { state, at, tolerance }) when it entered them.
//
// A transition is dated by the best source the timeline has: a destroy event
// (the agent read the kernel's SKNLGRP_INET_TCP_DESTROY notification: exact) for
// CLOSED, else the samples: the first sample that shows the new state (or, for
// CLOSED, the first sample of the host without the socket). A sample-dated
// transition happened between the previous sample of the host and that one;
// the verdict gives both, and judges the point of that span nearest the
// expected time (the samples cannot tell it apart from any other point of it).
// An item's `at` counts from its own `since:`; else, packetdrill's rule, from
// the previous timed transition as dated (at - its at); else from the
// expectation's `since:` (t0 by default).

import type { ExpectationOf } from '../scenario/schema.js'
import type { EventRecord, SsRecord } from '../recorder/records.js'
import { formatMs } from '../util/duration.js'
import { fmtT, inWindow, resolveSince, resolveWindow, toleranceFor, toleranceOf, type EvalContext } from './context.js'
import type { Outcome } from './outcome.js'
import { describeSelector, selectSockets } from './ss.js'

type StateItem = ExpectationOf<'states'>['sequence'][number]

/** One state a socket entered, and how that moment is known. */
export interface Transition {
  state: string
  /** When it was first seen in the state (seconds since t0). */
  t: number
  /** The host's sample before it (the transition came after), for sample-dated ones. */
  prevT?: number | undefined
  source: 'samples' | 'destroy event'
}

/** Evaluate a `states:` expectation: the states each selected socket went through, and when. */
export function evaluateStates(e: ExpectationOf<'states'>, ctx: EvalContext): Outcome {
  const items = e.sequence.map((s) => (typeof s === 'string' ? { state: s } : s))
  const names = items.map((s) => s.state)
  const w = resolveWindow(e, ctx)
  const seqText = items.map(describeItem).join(' → ')
  const expected = `${describeSelector(e.on, e.socket)} goes through ${seqText}${e.exact ? ' (exactly)' : ''}${typeof w === 'string' ? '' : ` ${w.text}`}`
  if (typeof w === 'string') return { pass: false, expected, measured: w, reason: w }
  const all = selectSockets(ctx, e.on, e.socket)
  // Times each host was sampled (sorted), to see when a socket stopped showing up.
  const sampleTimes = new Map<string, number[]>()
  const destroys: EventRecord[] = []
  for (const r of ctx.records) {
    if (r.kind === 'sample') {
      const list = sampleTimes.get(r.host)
      if (list) list.push(r.t)
      else sampleTimes.set(r.host, [r.t])
    }
    if (r.kind === 'event' && r.type === 'ss-destroy') destroys.push(r)
  }
  // The records are sorted by t, so is each list: the last sample before t by bisection
  // (live marks re-evaluate this over every sample so far, src/expect/live-marks.ts).
  const prevSample = (host: string, t: number): number | undefined => {
    const list = sampleTimes.get(host) ?? []
    let lo = 0
    let hi = list.length
    while (lo < hi) {
      const mid = (lo + hi) >> 1
      if ((list[mid] as number) < t) lo = mid + 1
      else hi = mid
    }
    return lo > 0 ? list[lo - 1] : undefined
  }
  /** The first sample of the host after t. */
  const nextSample = (host: string, t: number): number | undefined => {
    const list = sampleTimes.get(host) ?? []
    let lo = 0
    let hi = list.length
    while (lo < hi) {
      const mid = (lo + hi) >> 1
      if ((list[mid] as number) <= t) lo = mid + 1
      else hi = mid
    }
    return list[lo]
  }
  // One sequence per socket: a host and 4-tuple, until a sample of the host no longer shows it
  // (the socket is gone: a 4-tuple seen again after that is a new socket, e.g. a reused port).
  const seqs = new Map<string, Transition[]>()
  const lastSeen = new Map<string, SsRecord>()
  const current = new Map<string, string>()
  for (const r of all) {
    const tuple = `${r.host} ${r.local} ${r.peer}`
    let key = current.get(tuple)
    const last = key === undefined ? undefined : lastSeen.get(key)
    if (key === undefined || (last !== undefined && (nextSample(r.host, last.t) ?? Infinity) < r.t)) {
      key = `${tuple} #${current.size}:${lastSeen.size}`
      current.set(tuple, key)
    }
    lastSeen.set(key, r)
    if (!inWindow(r.t, w)) continue
    const s = seqs.get(key) ?? []
    if (s[s.length - 1]?.state !== r.state) s.push({ state: r.state, t: r.t, prevT: prevSample(r.host, r.t), source: 'samples' })
    seqs.set(key, s)
  }
  // A socket that a later sample of its host (within the window) no longer shows went to CLOSED;
  // a destroy event of its ports between its last row and that sample dates it exactly.
  for (const [key, s] of seqs) {
    const r = lastSeen.get(key) as SsRecord
    const next = nextSample(r.host, r.t)
    if (next === undefined || next > w.to) continue
    const d = destroys.find((x) => x.host === r.host && x.t > r.t && x.t <= next && isDestroyOf(x, r))
    s.push(d ? { state: 'CLOSED', t: d.t, source: 'destroy event' } : { state: 'CLOSED', t: next, prevT: r.t, source: 'samples' })
  }
  if (seqs.size === 0) return { pass: false, expected, measured: 'no samples of the socket in the window', t: w.from }
  const observed = [...seqs.values()]
  const measured = observed.map((s) => s.map((x) => x.state).join(' → ')).join('; ')
  const aligned = observed.map((s) => ({ s, hit: e.exact ? (s.length === names.length && s.every((x, i) => x.state === names[i]) ? s : undefined) : alignSubsequence(names, s) }))
  const hits = aligned.filter((a): a is { s: Transition[]; hit: Transition[] } => a.hit !== undefined)
  if (hits.length === 0) return { pass: false, expected, measured: `observed ${measured}`, t: observed[0]?.[0]?.t }
  // The moments (mark:) are the transitions of the socket that went through the sequence first
  // (the earliest last transition; the first selected on a tie): known as soon as that
  // transition is seen, which is what lets a step wait for them (src/expect/live-marks.ts).
  const moments = firstThrough(hits).map((x) => x.t)
  if (!items.some((x) => x.at !== undefined)) {
    const hit = hits[0] as { hit: Transition[] }
    return { pass: true, expected, measured, t: hit.hit[0]?.t, moments }
  }
  // Timed transitions: the first socket whose times all hold passes; else the first socket's miss is reported.
  let first: Outcome | undefined
  for (const { hit } of hits) {
    const o = judgeTimes(items, hit, w.refT, e, ctx)
    const out: Outcome = { ...o, expected, measured: `${measured}; ${o.measured}`, moments }
    if (o.pass) return out
    first ??= out
  }
  return first as Outcome
}

/** The items' times against the matched transitions, each from the previous timed one's measured time (packetdrill's rule). */
function judgeTimes(items: ReadonlyArray<Exclude<StateItem, string> | { state: string; at?: undefined; since?: undefined; tolerance?: undefined }>, hit: readonly Transition[], refT: number, e: ExpectationOf<'states'>, ctx: EvalContext): Outcome {
  let prev: { at: number; t: number } | undefined
  const parts: string[] = []
  let worst: { deltaMs: number; toleranceMs: number; t: number; i: number; failed: boolean } | undefined
  const sources = new Set<string>()
  for (const [i, item] of items.entries()) {
    const tr = hit[i] as Transition
    if (item.at === undefined) continue
    let base: number
    let interval: number
    let refText = ''
    if (item.since !== undefined) {
      const r = resolveSince(item.since, ctx)
      if (typeof r === 'string') return { pass: false, expected: '', measured: r, reason: r, t: tr.t }
      base = r.t + item.at / 1000
      interval = item.at
      refText = ` (${formatMs(item.at)} after ${r.text})`
    } else if (prev) {
      interval = item.at - prev.at
      base = prev.t + interval / 1000
      refText = ` (${formatMs(interval)} after the previous timed transition, dated ${fmtT(prev.t)})`
    } else {
      base = refT + item.at / 1000
      interval = item.at
    }
    const tol = toleranceFor(toleranceOf({ tolerance: item.tolerance ?? e.tolerance }, ctx), interval)
    // A sample-dated transition lies in (prevT, t]: it is judged at the point of that span nearest the expected time.
    const lo = tr.prevT ?? tr.t
    const at = Math.min(Math.max(base, lo), tr.t)
    const deltaMs = Math.round((at - base) * 1e6) / 1000
    const failed = Math.abs(deltaMs) > tol
    sources.add(tr.source)
    const how = tr.source === 'samples'
      ? tr.prevT !== undefined ? `dated by samples: between ${fmtT(tr.prevT)} (not yet) and ${fmtT(tr.t)} (seen)` : `dated by samples: seen at ${fmtT(tr.t)}`
      : `dated by a destroy event at ${fmtT(tr.t)}`
    parts.push(`${tr.state} ${deltaMs === 0 ? 'on time' : `${deltaMs > 0 ? '+' : ''}${formatMs(deltaMs)} off`}, expected at ${fmtT(base)}${refText} ±${formatMs(tol)} (${how})`)
    if (!worst?.failed && (failed || !worst || Math.abs(deltaMs) / tol >= Math.abs(worst.deltaMs) / worst.toleranceMs)) worst = { deltaMs, toleranceMs: tol, t: tr.t, i, failed }
    prev = { at: item.at, t: at }
  }
  const bad = worst?.failed ? worst : undefined
  return {
    pass: bad === undefined,
    expected: '',
    measured: `${parts.join('; ')}${bad ? `; ${(items[bad.i] as { state: string }).state} is outside its tolerance` : ''}`,
    deltaMs: worst?.deltaMs,
    toleranceMs: worst?.toleranceMs,
    t: bad?.t ?? hit[0]?.t,
    datedBy: [...sources].join(' and '),
  }
}

/** The matched transitions of the socket whose last one came first (the earliest selected on a tie). */
function firstThrough(hits: ReadonlyArray<{ hit: readonly Transition[] }>): readonly Transition[] {
  let best: readonly Transition[] = hits[0]?.hit ?? []
  for (const { hit } of hits) if ((hit[hit.length - 1]?.t ?? Infinity) < (best[best.length - 1]?.t ?? Infinity)) best = hit
  return best
}

/** The transitions matching `want` in order (earliest first), or undefined. */
function alignSubsequence(want: readonly string[], have: readonly Transition[]): Transition[] | undefined {
  const out: Transition[] = []
  for (const x of have) if (x.state === want[out.length]) out.push(x)
  return out.length === want.length ? out : undefined
}

function describeItem(s: StateItem): string {
  if (typeof s === 'string') return s
  if (s.at === undefined) return s.state
  return `${s.state} at ${formatMs(s.at)}${s.since ? ` after ${s.since}` : ''}`
}

/**
 * Whether a destroy event is the end of socket `r`: the same socket cookie (`sk`), or, where
 * either lacks one, the same ports. The cookie is what identifies it: a socket closed with
 * SO_LINGER 0 is disconnected before it is freed (tcp_disconnect), so the kernel's last word
 * on it has peer port 0 and maybe no local address.
 */
function isDestroyOf(x: EventRecord, r: SsRecord): boolean {
  const sk = x.data?.sk
  if (typeof sk === 'string' && r.info.sk !== undefined) return sk === r.info.sk
  return Number(x.data?.lport) === r.localPort && Number(x.data?.rport) === r.peerPort
}
