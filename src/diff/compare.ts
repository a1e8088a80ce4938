// Compare two results directories scenario by scenario: verdict changes,
// measured timings that moved beyond tolerance, counts and state sequences
// that changed, and the env.json differences (kernel, sysctls) that may
// explain them. Timing tolerance follows the scenarios' rule: the larger of
// a floor and a percentage of the interval being measured (the gap since
// the previous transmission of the same segment, or since the last step).

import type { ScenarioStatus } from '../expect/verdict.js'
import type { EnvView, RunResults, ScenarioResult } from '../report/results.js'
import { extractMetrics, type Metric, type Topic } from './metrics.js'

export interface DiffOptions {
  /** Timing tolerance floor in ms (default 100). */
  floorMs?: number | undefined
  /** Timing tolerance as a percentage of the measured interval (default 10). */
  percent?: number | undefined
}

export const DEFAULT_DIFF_TOLERANCE = { floorMs: 100, percent: 10 } as const

/** regression: counts toward exit 1; change: reported only. */
export type Severity = 'regression' | 'change'

export interface MetricChange {
  key: string
  kind: Metric['kind']
  what: string
  severity: Severity
  /** One line: what changed, e.g. "5 → 3 transmissions" or "9.491s → 7.488s (-2.003s, tolerance ±919ms)". */
  summary: string
  a?: unknown
  b?: unknown
  deltaMs?: number | undefined
  toleranceMs?: number | undefined
  topics: Topic[]
}

export interface ExpectationChange {
  index: number
  kind: string
  description: string
  a: string
  b: string
  measuredA: string
  measuredB: string
  severity: Severity | 'fixed'
}

export interface EnvChange {
  /** kernel, hz, congestionControl, qdiscs, tools.ss, sysctlOverrides, sysctl name. */
  key: string
  /** Per host for sysctls: "client: 2 → 0, server: 4 → 0". */
  summary: string
  values: Array<{ host?: string | undefined; a?: string | undefined; b?: string | undefined }>
  /** Sysctls that govern something that changed in this scenario. */
  related: boolean
}

export interface ScenarioDiff {
  name: string
  status: 'same' | 'changed' | 'regressed' | 'only-a' | 'only-b'
  verdict: { a?: ScenarioStatus | undefined; b?: ScenarioStatus | undefined }
  expectations: ExpectationChange[]
  metrics: MetricChange[]
  env: EnvChange[]
}

export interface RunDiff {
  a: string
  b: string
  tolerance: { floorMs: number; percent: number }
  regressed: boolean
  /** Differences common to every scenario (kernel, overrides, tool versions). */
  env: EnvChange[]
  scenarios: ScenarioDiff[]
  counts: { regressed: number; changed: number; same: number; onlyA: number; onlyB: number }
}

/** Compare two runs (or two scenario folders). */
export function diffRuns(a: RunResults, b: RunResults, opts: DiffOptions = {}): RunDiff {
  const tol = { floorMs: opts.floorMs ?? DEFAULT_DIFF_TOLERANCE.floorMs, percent: opts.percent ?? DEFAULT_DIFF_TOLERANCE.percent }
  const byName = (r: RunResults): Map<string, ScenarioResult> => new Map(r.scenarios.map((s) => [s.verdict.name, s]))
  const ma = byName(a)
  const mb = byName(b)
  // Two single scenario folders of different names are still the thing to compare.
  if (a.scenarios.length === 1 && b.scenarios.length === 1 && !mb.has(a.scenarios[0]?.verdict.name ?? '')) {
    const sa = a.scenarios[0] as ScenarioResult
    mb.delete((b.scenarios[0] as ScenarioResult).verdict.name)
    mb.set(sa.verdict.name, b.scenarios[0] as ScenarioResult)
  }
  const names = [...new Set([...ma.keys(), ...mb.keys()])]
  const scenarios: ScenarioDiff[] = names.map((name) => diffScenario(name, ma.get(name), mb.get(name), tol))
  const runEnv = commonEnvChanges(scenarios)
  const count = (st: ScenarioDiff['status']): number => scenarios.filter((s) => s.status === st).length
  return {
    a: a.dir,
    b: b.dir,
    tolerance: tol,
    regressed: scenarios.some((s) => s.status === 'regressed'),
    env: runEnv,
    scenarios,
    counts: { regressed: count('regressed'), changed: count('changed'), same: count('same'), onlyA: count('only-a'), onlyB: count('only-b') },
  }
}

/** Compare one scenario's two results. */
export function diffScenario(name: string, a: ScenarioResult | undefined, b: ScenarioResult | undefined, tol: { floorMs: number; percent: number }): ScenarioDiff {
  if (!a || !b) {
    return { name, status: a ? 'only-a' : 'only-b', verdict: { a: a?.verdict.status, b: b?.verdict.status }, expectations: [], metrics: [], env: [] }
  }
  const expectations = diffExpectations(a, b)
  const hosts = [...new Set([...(a.scenario?.hosts ?? []).map((h) => h.name)])]
  const endOf = (r: ScenarioResult): number | undefined => (r.scenario?.durationMs !== undefined ? r.scenario.durationMs / 1000 : undefined)
  const metrics = diffMetrics(extractMetrics(a.records, { hostOrder: hosts, endT: endOf(a) }), extractMetrics(b.records, { hostOrder: hosts, endT: endOf(b) }), tol)
  const env = diffEnv(a.env, b.env, metrics)
  const va = a.verdict.status
  const vb = b.verdict.status
  const verdictRegressed = va === 'pass' && (vb === 'fail' || vb === 'error')
  const regressed = verdictRegressed || expectations.some((e) => e.severity === 'regression') || metrics.some((m) => m.severity === 'regression')
  const changed = va !== vb || expectations.length > 0 || metrics.length > 0
  return { name, status: regressed ? 'regressed' : changed ? 'changed' : 'same', verdict: { a: va, b: vb }, expectations, metrics, env }
}

function diffExpectations(a: ScenarioResult, b: ScenarioResult): ExpectationChange[] {
  const out: ExpectationChange[] = []
  for (const ra of a.verdict.results) {
    const rb = b.verdict.results.find((r) => r.index === ra.index && r.kind === ra.kind)
    if (!rb || rb.status === ra.status) continue
    const severity: ExpectationChange['severity'] = ra.status === 'pass' && rb.status === 'fail' ? 'regression' : ra.status === 'fail' && rb.status === 'pass' ? 'fixed' : 'change'
    out.push({ index: ra.index, kind: ra.kind, description: ra.description || rb.description, a: ra.status, b: rb.status, measuredA: ra.measured || ra.reason || '', measuredB: rb.measured || rb.reason || '', severity })
  }
  return out
}

/** [first - since, t1 - t0, t2 - t1, ...] in seconds. */
function intervals(times: readonly number[], sinceT: number): number[] {
  return times.map((t, i) => (i === 0 ? t - sinceT : t - (times[i - 1] as number)))
}

interface WorstInterval {
  i: number
  /** B's interval minus A's, ms. */
  delta: number
  tolMs: number
}

/** The interval that moved most beyond its tolerance (relative to the tolerance), over the common prefix from `from`, where `only` allows. */
function worstInterval(a: readonly number[], b: readonly number[], tol: { floorMs: number; percent: number }, extraMs: number, from: number, only?: readonly boolean[]): WorstInterval | undefined {
  let worst: WorstInterval | undefined
  for (let i = from; i < Math.min(a.length, b.length); i++) {
    if (only && only[i] !== true) continue
    const tolMs = toleranceMs(a[i] as number, tol) + extraMs
    const delta = ((b[i] as number) - (a[i] as number)) * 1000
    if (Math.abs(delta) > tolMs && (!worst || Math.abs(delta) / tolMs > Math.abs(worst.delta) / worst.tolMs)) worst = { i, delta, tolMs }
  }
  return worst
}

function describeInterval(w: WorstInterval, what: 'transmission' | 'state', a: readonly number[], b: readonly number[], anchor: 'step' | 'packet'): string {
  const ia = a[w.i] as number
  const ib = b[w.i] as number
  const head = what === 'transmission' ? `#${w.i + 1}` : 'seen'
  const first = anchor === 'packet' ? 'after the last packet before it' : 'after the step before it'
  const since = what === 'state' || w.i === 0 ? first : 'after the previous one'
  return `${head} ${fmtS(ia)} → ${fmtS(ib)} ${since} (${fmtDelta(w.delta)}, tolerance ${fmtTol(w.tolMs)})`
}

/** Tolerance for a time measured over an interval: max(floor, percent × interval). */
export function toleranceMs(intervalSec: number, tol: { floorMs: number; percent: number }): number {
  return Math.max(tol.floorMs, (Math.abs(intervalSec) * 1000 * tol.percent) / 100)
}

function fmtS(t: number): string {
  return `${t.toFixed(3)}s`
}

function fmtDelta(ms: number): string {
  const sign = ms >= 0 ? '+' : '-'
  const a = Math.abs(ms)
  return a >= 1000 ? `${sign}${(a / 1000).toFixed(3)}s` : `${sign}${a.toFixed(1)}ms`
}

function fmtTol(ms: number): string {
  return ms >= 1000 ? `±${(ms / 1000).toFixed(3)}s` : `±${Math.round(ms)}ms`
}

/** Changes between two runs' metrics of one scenario. */
export function diffMetrics(ma: readonly Metric[], mb: readonly Metric[], tol: { floorMs: number; percent: number }): MetricChange[] {
  const out: MetricChange[] = []
  const bByKey = new Map(mb.map((m) => [m.key, m]))
  const aKeys = new Set(ma.map((m) => m.key))
  for (const a of ma) {
    const b = bByKey.get(a.key)
    const c = b ? compareMetric(a, b, tol) : missing(a, 'a')
    if (c) out.push(c)
  }
  for (const b of mb) if (!aKeys.has(b.key)) {
    const c = missing(b, 'b')
    if (c) out.push(c)
  }
  const rank = (c: MetricChange): number => (c.severity === 'regression' ? 0 : 1)
  const kindRank: Record<Metric['kind'], number> = { schedule: 0, time: 1, sequence: 2, count: 3 }
  return out.sort((x, y) => rank(x) - rank(y) || kindRank[x.kind] - kindRank[y.kind])
}

function missing(m: Metric, side: 'a' | 'b'): MetricChange | undefined {
  const present = side === 'a' ? 'only in A' : 'only in B'
  // A retransmitted segment that vanished (or appeared) is a timing change; a single packet is a change.
  const severity: Severity = m.kind === 'schedule' && m.times.length > 1 ? 'regression' : 'change'
  if (m.kind === 'count' && m.value === 0) return undefined
  const desc = m.kind === 'schedule' ? `${m.times.length} transmission(s) at ${m.times.map(fmtS).join(', ')}` : m.kind === 'time' ? `at ${fmtS(m.t)}${m.value ? ` (${m.value})` : ''}` : m.kind === 'count' ? `${m.value}` : m.items.join(' → ')
  return { key: m.key, kind: m.kind, what: m.what, severity, summary: `${present}: ${desc}`, [side]: m.kind === 'schedule' ? m.times : m.kind === 'time' ? m.t : m.kind === 'count' ? m.value : m.items, topics: m.topics }
}

function compareMetric(a: Metric, b: Metric, tol: { floorMs: number; percent: number }): MetricChange | undefined {
  const base = { key: a.key, kind: a.kind, what: a.what, topics: a.topics }
  if (a.kind === 'schedule' && b.kind === 'schedule') {
    // The first transmission is judged from the step before it, each later one by its gap from the previous:
    // a step played late (a loaded machine) moves everything after it, which is not the kernel's doing.
    const stepsA = intervals(a.times, a.sinceT)
    const stepsB = intervals(b.times, b.sinceT)
    // The first transmission after a step measures the machine and the application: reported, not a regression.
    const kernelFrom = a.sinceKind === 'packet' && b.sinceKind === 'packet' ? 0 : 1
    const worst = worstInterval(stepsA, stepsB, tol, 0, kernelFrom) ?? worstInterval(stepsA, stepsB, tol, 0, 0)
    const countChanged = a.times.length !== b.times.length
    if (!countChanged && !worst) return undefined
    const parts: string[] = []
    if (countChanged) parts.push(`${a.times.length} → ${b.times.length} transmissions`)
    if (worst) parts.push(describeInterval(worst, 'transmission', stepsA, stepsB, a.sinceKind))
    // More or fewer (re)transmissions of a segment sent more than once, or a kernel-timed one that moved: a timing regression.
    const severity: Severity = (worst && worst.i >= kernelFrom) || (countChanged && Math.max(a.times.length, b.times.length) > 1) ? 'regression' : 'change'
    return { ...base, severity, summary: parts.join('; '), a: a.times, b: b.times, deltaMs: worst?.delta, toleranceMs: worst?.tolMs }
  }
  if (a.kind === 'time' && b.kind === 'time') {
    // Judged from the step before it, so a step played late does not count against the kernel.
    const delta = (b.t - b.sinceT - (a.t - a.sinceT)) * 1000
    const tolMs = toleranceMs(a.t - a.sinceT, tol)
    const moved = Math.abs(delta) > tolMs
    const valueChanged = (a.value ?? '') !== (b.value ?? '')
    if (!moved && !valueChanged) return undefined
    const parts: string[] = []
    const from = a.sinceKind === 'packet' ? 'the last packet before it' : 'the step before it'
    if (moved) parts.push(`${fmtS(a.t - a.sinceT)} → ${fmtS(b.t - b.sinceT)} after ${from} (at ${fmtS(a.t)} → ${fmtS(b.t)}; ${fmtDelta(delta)}, tolerance ${fmtTol(tolMs)})`)
    if (valueChanged) parts.push(`${a.value ?? '(none)'} → ${b.value ?? '(none)'}`)
    const kernelTimed = a.sinceKind === 'packet' && b.sinceKind === 'packet'
    return { ...base, severity: moved && kernelTimed ? 'regression' : 'change', summary: parts.join('; '), a: { t: a.t, value: a.value }, b: { t: b.t, value: b.value }, deltaMs: delta, toleranceMs: tolMs }
  }
  if (a.kind === 'count' && b.kind === 'count') {
    if (a.value === b.value) return undefined
    // Bulk traffic varies a little from run to run (delayed ACKs): only a change beyond the percentage counts.
    const allowed = a.key.startsWith('packets ') || a.key.startsWith('bytes ') ? Math.floor((Math.max(a.value, b.value) * tol.percent) / 100) : 0
    if (Math.abs(a.value - b.value) <= allowed) return undefined
    return { ...base, severity: 'change', summary: `${a.value} → ${b.value}`, a: a.value, b: b.value }
  }
  if (a.kind === 'sequence' && b.kind === 'sequence') {
    const same = a.items.join(' ') === b.items.join(' ')
    if (!same) return { ...base, severity: 'change', summary: `${a.items.join(' → ')}  became  ${b.items.join(' → ')}`, a: a.items, b: b.items }
    // Each state's first sighting, from what preceded it (the last packet on the host, or a step). A sample only
    // says the change happened since the previous sample: compare those ranges, not the sample times.
    let worst: { i: number; gapMs: number; tolMs: number; a: [number, number]; b: [number, number] } | undefined
    for (let i = 0; i < a.items.length; i++) {
      const sa = a.since[i]
      const sb = b.since[i]
      if (!sa || !sb || sa.kind !== 'packet' || sb.kind !== 'packet') continue
      const ra: [number, number] = [(a.earliest[i] as number) - sa.t, (a.times[i] as number) - sa.t]
      const rb: [number, number] = [(b.earliest[i] as number) - sb.t, (b.times[i] as number) - sb.t]
      const gapMs = Math.max(0, rb[0] - ra[1], ra[0] - rb[1]) * 1000
      const tolMs = toleranceMs(Math.max(0, ra[1]), tol)
      if (gapMs > tolMs && (!worst || gapMs / tolMs > worst.gapMs / worst.tolMs)) worst = { i, gapMs, tolMs, a: ra, b: rb }
    }
    if (!worst) return undefined
    const range = (r: [number, number]): string => `${Math.max(0, r[0]).toFixed(3)}…${r[1].toFixed(3)}s`
    // ss timestamps are the middle of an ss run, which a loaded machine stretches: reported, never a regression alone.
    return {
      ...base,
      severity: 'change',
      summary: `${a.items[worst.i] ?? ''} began ${range(worst.a)} → ${range(worst.b)} after the last packet before it (apart by ${fmtDelta(worst.gapMs)}, tolerance ${fmtTol(worst.tolMs)}; ranges are the ss sampling uncertainty)`,
      a: a.times,
      b: b.times,
      deltaMs: worst.gapMs,
      toleranceMs: worst.tolMs,
    }
  }
  return { ...base, severity: 'change', summary: `measured differently (${a.kind} → ${b.kind})`, topics: a.topics }
}

/** Sysctl name patterns that govern each topic (ip-sysctl.rst). */
const TOPIC_SYSCTLS: Record<Topic, RegExp> = {
  syn: /tcp_syn_retries|tcp_syn_linear_timeouts|tcp_timeout_init|tcp_rto_m(in|ax)|tcp_fastopen/,
  synack: /tcp_synack_retries|tcp_syn_linear_timeouts|tcp_max_syn_backlog|somaxconn|tcp_abort_on_overflow|tcp_syncookies/,
  data: /tcp_retries[12]|tcp_rto_m(in|ax)|tcp_early_retrans|tcp_frto|tcp_thin_linear_timeouts|tcp_recovery|tcp_reordering|tcp_sack|tcp_dsack|tcp_congestion_control|tcp_tlp|tcp_autocorking|tcp_delack|tcp_comp_sack/,
  fin: /tcp_fin_timeout|tcp_orphan_retries|tcp_max_orphans|tcp_retries2/,
  rst: /tcp_abort_on_overflow|tcp_rfc1337|tcp_orphan_retries|tcp_retries2/,
  ack: /tcp_delack|tcp_comp_sack|tcp_quickack|tcp_sack|tcp_dsack/,
  keepalive: /tcp_keepalive_(time|intvl|probes)/,
  // The window a receiver advertises (and so when it closes) follows its buffer and how much of it the kernel counts as window.
  persist: /tcp_retries2|tcp_rto_m(in|ax)|tcp_[rw]mem|[rw]mem_(default|max)|tcp_adv_win_scale|tcp_shrink_window|tcp_moderate_rcvbuf/,
  timewait: /tcp_fin_timeout|tcp_tw_reuse|tcp_max_tw_buckets/,
  accept: /somaxconn|tcp_max_syn_backlog|tcp_abort_on_overflow|tcp_syncookies/,
  error: /tcp_retries2|tcp_syn_retries|tcp_syn_linear_timeouts|tcp_synack_retries|tcp_keepalive|tcp_orphan_retries/,
  exit: /tcp_retries2|tcp_syn_retries|tcp_syn_linear_timeouts|tcp_keepalive|tcp_fin_timeout/,
  window: /tcp_[rw]mem|[rw]mem_(default|max)|tcp_window_scaling|tcp_adv_win_scale|tcp_moderate_rcvbuf|tcp_shrink_window/,
}

/** env.json differences of one scenario; sysctls marked related when they govern something that changed. */
export function diffEnv(a: EnvView | undefined, b: EnvView | undefined, changes: readonly MetricChange[]): EnvChange[] {
  if (!a || !b) return a === b ? [] : [{ key: 'env.json', summary: a ? 'missing in B' : 'missing in A', values: [], related: false }]
  const out: EnvChange[] = []
  const scalar = (key: string, va: unknown, vb: unknown): void => {
    const sa = va === undefined ? undefined : Array.isArray(va) ? va.join(',') : String(va)
    const sb = vb === undefined ? undefined : Array.isArray(vb) ? vb.join(',') : String(vb)
    if (sa !== sb) out.push({ key, summary: `${sa ?? '(none)'} → ${sb ?? '(none)'}`, values: [{ a: sa, b: sb }], related: key === 'kernel' || key === 'hz' || key === 'congestionControl' })
  }
  scalar('kernel', a.kernel, b.kernel)
  scalar('hz', a.hz, b.hz)
  scalar('backend', a.backend, b.backend)
  scalar('congestionControl', a.congestionControl, b.congestionControl)
  scalar('qdiscs', a.qdiscs, b.qdiscs)
  scalar('tcplab', a.tcplab, b.tcplab)
  for (const tool of new Set([...Object.keys(a.tools ?? {}), ...Object.keys(b.tools ?? {})])) scalar(`tools.${tool}`, a.tools?.[tool], b.tools?.[tool])
  const ovA = a.sysctlOverrides ?? {}
  const ovB = b.sysctlOverrides ?? {}
  const fmtOv = (o: Record<string, string>): string => Object.entries(o).map(([k, v]) => `${k}=${v}`).join(' ') || '(none)'
  if (fmtOv(ovA) !== fmtOv(ovB)) out.push({ key: 'sysctlOverrides', summary: `--sysctl ${fmtOv(ovA)} → ${fmtOv(ovB)}`, values: [{ a: fmtOv(ovA), b: fmtOv(ovB) }], related: false })
  // What the kernel did differently (regressions) is what sysctls explain; fall back to any change.
  const kernelChanges = changes.filter((c) => c.severity === 'regression')
  const topics = new Set((kernelChanges.length > 0 ? kernelChanges : changes).flatMap((c) => c.topics))
  const hosts = [...new Set([...Object.keys(a.hosts ?? {}), ...Object.keys(b.hosts ?? {})])].sort()
  const keys = new Set<string>()
  for (const h of hosts) for (const k of [...Object.keys(a.hosts?.[h]?.sysctls ?? {}), ...Object.keys(b.hosts?.[h]?.sysctls ?? {})]) keys.add(k)
  for (const k of [...keys].sort()) {
    if (VOLATILE_SYSCTLS.test(k)) continue
    const values = hosts
      .map((h) => ({ host: h, a: a.hosts?.[h]?.sysctls?.[k], b: b.hosts?.[h]?.sysctls?.[k] }))
      .filter((v) => v.a !== v.b)
    if (values.length === 0) continue
    const related = [...topics].some((t) => TOPIC_SYSCTLS[t].test(k))
    out.push({ key: k, summary: values.map((v) => `${v.host}: ${v.a ?? '(absent)'} → ${v.b ?? '(absent)'}`).join(', '), values, related })
  }
  // Mark overrides related when the sysctls they set are.
  const over = out.find((c) => c.key === 'sysctlOverrides')
  if (over) over.related = [...new Set([...Object.keys(ovA), ...Object.keys(ovB)])].some((k) => out.some((c) => c.key === k && c.related))
  return out
}

/** Sysctls that differ between any two boots or namespaces and explain nothing. */
const VOLATILE_SYSCTLS = /hash_seed|boot_id|random|\.uuid$|netdev_rss_key|tcp_fastopen_key/

/** Environment differences shared by every compared scenario, reported once for the run. */
function commonEnvChanges(scenarios: readonly ScenarioDiff[]): EnvChange[] {
  const both = scenarios.filter((s) => s.status !== 'only-a' && s.status !== 'only-b')
  if (both.length === 0) return []
  const first = both[0] as ScenarioDiff
  return first.env.filter((c) => both.every((s) => s.env.some((d) => d.key === c.key && d.summary === c.summary)))
}
