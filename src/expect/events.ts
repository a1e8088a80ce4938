// Expectations on endpoint events (process exit and output, socket events and
// errno, their order) and on counters (iptables rules, nstat).

import type { ExpectationOf } from '../scenario/schema.js'
import { compileComparator } from '../scenario/comparator.js'
import type { CounterRecord, EventRecord } from '../recorder/records.js'
import { eventRecords, fmtT, inWindow, resolveWindow, toleranceFor, toleranceOf, type EvalContext } from './context.js'
import type { Outcome } from './outcome.js'
import { checkTimes } from './timing.js'
import { compileEventValues } from './values.js'
import { formatMs } from '../util/duration.js'

/** Evaluate a `process:` expectation (exit code or signal, output, time of exit). */
export function evaluateProcess(e: ExpectationOf<'process'>, ctx: EvalContext): Outcome {
  const w = resolveWindow(e, ctx)
  const evs = eventRecords(ctx).filter((r) => r.source === e.name)
  const exit = evs.find((r) => r.type === 'exited')
  const wants: string[] = []
  if (e.exit !== undefined) wants.push(e.exit === 'running' ? 'still running at the end' : typeof e.exit === 'number' ? `exits with ${e.exit}` : `killed by ${sigName(e.exit)}`)
  if (e.stdout !== undefined) wants.push(`prints ${e.stdout} on stdout`)
  if (e.stderr !== undefined) wants.push(`prints ${e.stderr} on stderr`)
  const expected = `${e.name} ${wants.join(', ') || 'exits'}${typeof w === 'string' ? '' : e.at !== undefined ? ` ${w.text}` : ''}`
  if (typeof w === 'string') return { pass: false, expected, measured: w, reason: w }
  const stoppedByRunner = exit?.data?.stoppedByRunner === true
  const started = evs.some((r) => r.type === 'started')
  const exitText = !started ? 'never started' : !exit || stoppedByRunner ? 'still running at the end' : exit.signal ? `killed by ${exit.signal} at ${fmtT(exit.t)}` : `exited with ${String(exit.code)} at ${fmtT(exit.t)}`
  const problems: string[] = []
  if (!started) {
    problems.push('never started')
  } else if (e.exit === 'running') {
    if (exit && !stoppedByRunner) problems.push(exitText)
  } else if (e.exit !== undefined || e.at !== undefined) {
    if (!exit || stoppedByRunner) problems.push('still running at the end')
    else if (typeof e.exit === 'number' && exit.code !== e.exit) problems.push(exitText)
    else if (typeof e.exit === 'string' && exit.signal !== sigName(e.exit)) problems.push(exitText)
    else if (e.at !== undefined && !inWindow(exit.t, w)) {
      const off = typeof e.at === 'number' ? (exit.t - w.refT) * 1000 - e.at : undefined
      problems.push(`${exitText}, outside the window${off !== undefined ? ` (${fmtT(exit.t - w.refT)} after the reference: ${off >= 0 ? '+' : ''}${formatMs(off)} off, tolerance ±${formatMs(toleranceFor(toleranceOf(e, ctx), e.at as number))})` : ''}`)
    }
  }
  for (const stream of ['stdout', 'stderr'] as const) {
    const want = e[stream]
    if (want === undefined) continue
    const text = evs.filter((r) => r.type === stream).map((r) => r.text ?? '').join('\n')
    const ok = want.length > 2 && want.startsWith('/') && want.endsWith('/') ? new RegExp(want.slice(1, -1), 'm').test(text) : text.includes(want)
    if (!ok) problems.push(`${stream} was ${JSON.stringify(text.slice(0, 200))}`)
  }
  const measured = problems.length ? problems.join('; ') : exitText
  let deltaMs: number | undefined
  let toleranceMs: number | undefined
  if (typeof e.at === 'number' && exit) {
    deltaMs = Math.round(((exit.t - w.refT) * 1000 - e.at) * 1000) / 1000
    toleranceMs = toleranceFor(toleranceOf(e, ctx), e.at)
  }
  const exitMoments = exit && !stoppedByRunner ? [exit.t] : []
  return { pass: problems.length === 0, expected, measured, t: exit?.t, deltaMs, toleranceMs, moments: exitMoments }
}

/** Evaluate an `event:` expectation (socket/process events: type, errno, count, times, order). */
export function evaluateEvent(e: ExpectationOf<'event'>, ctx: EvalContext): Outcome {
  const source = (e.socket ?? e.source) as string
  const atList = Array.isArray(e.at) ? e.at : undefined
  const w = resolveWindow(atList ? { ...e, at: undefined } : e, ctx)
  const count = e.count !== undefined ? compileComparator(e.count) : undefined
  const values = compileEventValues(e)
  const what = `${source} ${e.type ?? 'event'}${e.errno ? ` ${e.errno}` : ''}${values.matchText}`
  const seqText = e.sequence ? ` in order: ${e.sequence.map((s) => `${s.type}${s.errno ? ` ${s.errno}` : ''}`).join(' → ')}` : ''
  const expected = `${what}${seqText}${count ? `, count ${count.text}` : ''}${values.aggText}${atList ? ` at ${atList.map((ms) => `${ms / 1000}s`).join(', ')}` : ''}${typeof w === 'string' ? '' : ` ${w.text}`}`
  if (typeof w === 'string') return { pass: false, expected, measured: w, reason: w }
  const evs = eventRecords(ctx).filter((r) => r.source === source && inWindow(r.t, w))
  if (e.sequence) {
    const seq = e.sequence
    const ns = seq.map((s) => (s.n !== undefined ? compileComparator(s.n) : undefined))
    let i = 0
    let firstT: number | undefined
    // Where it broke: the first event of the type due next that did not match (its errno or n).
    let brokeT: number | undefined
    const hitTimes: number[] = []
    for (const r of evs) {
      const s = seq[i]
      if (s && r.type === s.type && (s.errno === undefined || r.errno === s.errno) && (ns[i] === undefined || ns[i]?.test(r.n))) {
        firstT ??= r.t
        hitTimes.push(r.t)
        i++
      } else if (s && r.type === s.type) brokeT ??= r.t
    }
    const observed = evs.filter((r) => r.type !== 'stdout' && r.type !== 'stderr').map(describeEvent).slice(0, 20).join(', ')
    return i === seq.length
      ? { pass: true, expected, measured: observed, t: firstT, moments: hitTimes }
      : { pass: false, expected, measured: `got ${observed || 'no events'} (matched ${i} of ${seq.length})`, t: brokeT ?? evs[0]?.t }
  }
  const typed = evs.filter((r) => (e.type === undefined || r.type === e.type) && (e.errno === undefined || r.errno === e.errno))
  const matched = typed.filter(values.test)
  const others = evs.filter((r) => !matched.includes(r)).map(describeEvent).slice(0, 8).join(', ')
  const times = matched.map((r) => r.t)
  if (count ? !count.test(matched.length) : matched.length === 0) {
    // A single `at:` that missed: the nearest matching event anywhere in the run, and how far off it was.
    if (typeof e.at === 'number' && matched.length === 0) {
      const want = w.refT + e.at / 1000
      const near = eventRecords(ctx)
        .filter((r) => r.source === source && (e.type === undefined || r.type === e.type) && (e.errno === undefined || r.errno === e.errno))
        .filter(values.test)
        .reduce<EventRecord | undefined>((b, r) => (b === undefined || Math.abs(r.t - want) < Math.abs(b.t - want) ? r : b), undefined)
      if (near) {
        const deltaMs = Math.round((near.t - want) * 1e6) / 1000
        return {
          pass: false, expected, t: near.t, deltaMs, toleranceMs: toleranceFor(toleranceOf(e, ctx), e.at),
          measured: `no matching event in the window; nearest: ${describeEvent(near)}, ${fmtT(near.t - w.refT)} after the reference (${deltaMs >= 0 ? '+' : ''}${formatMs(deltaMs)} off)`,
        }
      }
    }
    return { pass: false, expected, measured: `${matched.length} matching events${times.length ? ` at ${times.map((t) => fmtT(t - w.refT)).join(', ')}` : ''}${values.explainMiss(typed)}${others ? `; other events: ${others}` : ''}`, t: times[0] ?? w.from, moments: times }
  }
  const agg = values.judge(matched)
  if (agg && !agg.pass) return { pass: false, expected, measured: agg.measured, t: times[0], moments: times }
  if (atList) return { expected, ...checkTimes(times, atList, w.refT, toleranceOf(e, ctx), 'events'), moments: times }
  let deltaMs: number | undefined
  let toleranceMs: number | undefined
  if (typeof e.at === 'number' && times[0] !== undefined) {
    deltaMs = Math.round(((times[0] - w.refT) * 1000 - e.at) * 1000) / 1000
    toleranceMs = toleranceFor(toleranceOf(e, ctx), e.at)
  }
  return { pass: true, expected, measured: `${matched.length} at ${times.slice(0, 10).map((t) => fmtT(t - w.refT)).join(', ')}${agg ? `; ${agg.measured}` : ''}`, t: times[0], deltaMs, toleranceMs, moments: times }
}

/** Evaluate a `counter:` expectation against the last value recorded for it. */
export function evaluateCounter(e: ExpectationOf<'counter'>, ctx: EvalContext): Outcome {
  const recs = ctx.records.filter((r): r is CounterRecord => r.kind === 'counter' && r.host === e.on && r.name === e.name)
  const last = recs[recs.length - 1]
  const checks: Array<['value' | 'packets' | 'bytes', ReturnType<typeof compileComparator>]> = []
  for (const k of ['value', 'packets', 'bytes'] as const) if (e[k] !== undefined) checks.push([k, compileComparator(e[k] as string | number | boolean)])
  const expected = `counter ${e.name} on ${e.on}: ${checks.map(([k, c]) => `${k} ${c.text}`).join(', ')}`
  if (!last) return { pass: false, expected, measured: `no counter named ${e.name} was recorded on ${e.on}` }
  const measured = checks.map(([k]) => `${k}=${String(last[k] ?? '(none)')}`).join(', ')
  return { pass: checks.every(([k, c]) => c.test(last[k])), expected, measured, t: last.t }
}

function describeEvent(r: EventRecord): string {
  return `${r.type}${r.errno ? ` ${r.errno}` : ''}${r.n !== undefined ? ` ${r.n}` : ''}@${fmtT(r.t)}`
}

function sigName(s: string): string {
  return s.startsWith('SIG') ? s : `SIG${s}`
}
