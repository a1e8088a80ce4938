// Plain-language explanations of a scenario's differences between two runs,
// for `tcplab diff` and the kernel matrix page: how a retransmission schedule
// changed shape (doubling vs linear first), how byte counts moved, and which
// sysctls govern it, including a sysctl that one kernel has and the other
// does not (a feature one kernel added: tcp_syn_linear_timeouts, for example).

import type { EnvChange, MetricChange, ScenarioDiff } from './compare.js'

/** How the gaps between retransmissions grow. */
export type BackoffShape = 'doubling' | 'linear' | 'linear, then doubling' | 'irregular' | 'single'

/** Gaps (s) between consecutive transmissions of one segment. */
export function scheduleGaps(times: readonly number[]): number[] {
  return times.slice(1).map((t, i) => t - (times[i] as number))
}

/**
 * The shape of a backoff (tcp(7): the RTO doubles after each retransmission; with
 * tcp_syn_linear_timeouts=N the first N SYN retransmissions keep the initial RTO). Gaps within
 * 25 % (timer-wheel rounding) of each other are "the same"; of twice the previous one, "doubled".
 */
export function classifyBackoff(gapsSec: readonly number[]): BackoffShape {
  if (gapsSec.length < 2) return 'single'
  const same = (a: number, b: number): boolean => Math.abs(a - b) <= 0.25 * Math.max(a, b)
  const steps = gapsSec.slice(1).map((g, i) => (same(g, gapsSec[i] as number) ? 'same' : same(g, 2 * (gapsSec[i] as number)) ? 'double' : 'other'))
  if (steps.includes('other')) return 'irregular'
  const firstDouble = steps.indexOf('double')
  if (firstDouble < 0) return 'linear'
  if (firstDouble === 0 && steps.every((s) => s === 'double')) return 'doubling'
  // Linear first, then doubling, and never back to equal gaps.
  return steps.slice(firstDouble).every((s) => s === 'double') ? 'linear, then doubling' : 'irregular'
}

function fmtGaps(gapsSec: readonly number[]): string {
  return gapsSec.map((g) => (g >= 10 ? g.toFixed(0) : g.toFixed(g >= 1 ? 1 : 2))).join(', ')
}

/** One line on a schedule that changed: "SYN schedule ...: A doubles (gaps 1.0, 2.0, 4.0 s); B linear, then doubling (gaps 1.0, 1.0, 1.0, 2.0 s)". */
export function explainSchedule(m: MetricChange): string | undefined {
  if (m.kind !== 'schedule' || !Array.isArray(m.a) || !Array.isArray(m.b)) return undefined
  const ga = scheduleGaps(m.a as number[])
  const gb = scheduleGaps(m.b as number[])
  const side = (label: string, times: readonly unknown[], gaps: number[]): string => {
    const shape = classifyBackoff(gaps)
    return `${label}: ${times.length} transmission${times.length === 1 ? '' : 's'}${gaps.length ? `, ${shape} (gaps ${fmtGaps(gaps)} s)` : ''}`
  }
  return `${m.what}: ${side('A', m.a as unknown[], ga)}; ${side('B', m.b as unknown[], gb)}`
}

/** A sysctl that exists for every host on one side only: the kernels differ in the feature, not the setting. */
export function sysctlPresence(e: EnvChange): 'only-a' | 'only-b' | undefined {
  if (!/^net\./.test(e.key) || e.values.length === 0) return undefined
  if (e.values.every((v) => v.a === undefined && v.b !== undefined)) return 'only-b'
  if (e.values.every((v) => v.a !== undefined && v.b === undefined)) return 'only-a'
  return undefined
}

/** A sysctl difference in words: "net.ipv4.tcp_syn_linear_timeouts exists only on B's kernel (client=4, server=4)". */
export function explainEnvChange(e: EnvChange): string {
  const p = sysctlPresence(e)
  const vals = (side: 'a' | 'b'): string => {
    const set = [...new Set(e.values.map((v) => v[side]))]
    return set.length === 1 ? `= ${set[0] ?? ''}` : e.values.map((v) => `${v.host ?? ''}=${v[side] ?? ''}`).join(', ')
  }
  if (p === 'only-b') return `${e.key} exists only on B's kernel (${vals('b')}); A's kernel has no such setting`
  if (p === 'only-a') return `${e.key} exists only on A's kernel (${vals('a')}); B's kernel has no such setting`
  return `${e.key}: ${e.summary}`
}

/**
 * What changed in one scenario and why, most telling first: a headline (the first schedule whose
 * shape changed, else the first change, with its most likely cause), then schedule shapes, other
 * timings, counts and state sequences, then the sysctls that govern them: sysctls present on one
 * kernel only first, then sysctls whose values differ, then the rest (the run's --sysctl, kernel).
 */
export function explainScenarioDiff(d: ScenarioDiff, opts: { maxLines?: number } = {}): { headline: string; changes: string[]; causes: string[] } {
  const changes: string[] = []
  let headline = ''
  for (const m of d.metrics) {
    const shaped = explainSchedule(m)
    changes.push(shaped ? `${shaped} — ${m.summary}` : `${m.what}: ${m.summary}`)
    if (!headline && m.kind === 'schedule' && Array.isArray(m.a) && Array.isArray(m.b)) {
      const sa = classifyBackoff(scheduleGaps(m.a as number[]))
      const sb = classifyBackoff(scheduleGaps(m.b as number[]))
      headline = sa !== sb ? `${m.what.replace(/ \(.*\)$/, '')}: ${sa} → ${sb} (${m.a.length} → ${m.b.length} transmissions)` : ''
    }
  }
  for (const e of d.expectations) changes.push(`expectation #${e.index + 1} (${e.kind}) ${e.a} → ${e.b}: ${e.description}`)
  const related = d.env.filter((e) => e.related)
  // Most likely cause first: a key the scenario's own expectations name (a `when:` guard, a skip
  // reason), then one whose name shares a word with what changed (SYN schedule -> *syn*), then
  // keys that exist on one kernel only, then other net.* keys.
  const named = d.expectations.map((e) => `${e.description} ${e.measuredA} ${e.measuredB}`).join('\n')
  const words = new Set(d.metrics.flatMap((m) => m.what.toLowerCase().match(/[a-z]{3,}/g) ?? []))
  const rank = (e: EnvChange): number =>
    (named.includes(e.key) ? 0 : 4) + (e.key.split(/[._]/).some((w) => words.has(w)) ? 0 : 2) + (sysctlPresence(e) ? 0 : /^net\./.test(e.key) ? 1 : 2) / 4
  const ordered = [...related].sort((a, b) => rank(a) - rank(b))
  const causes = ordered.map(explainEnvChange)
  if (!headline) headline = d.metrics[0] ? `${d.metrics[0].what}: ${d.metrics[0].summary}` : d.verdict.a !== d.verdict.b ? `verdict ${d.verdict.a ?? 'missing'} → ${d.verdict.b ?? 'missing'}` : ''
  const cause = ordered.find((e) => /^net\./.test(e.key))
  if (headline && cause) headline += `; ${sysctlPresence(cause) ? explainEnvChange(cause).replace(/;.*$/, '') : `${cause.key} ${cause.summary}`}`
  const max = opts.maxLines ?? Infinity
  return { headline, changes: changes.slice(0, max), causes: causes.slice(0, max) }
}
