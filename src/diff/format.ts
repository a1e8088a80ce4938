// `tcplab diff` as text: per scenario what regressed, what merely changed,
// and the environment differences that may explain it; a summary line last.

import type { EnvChange, MetricChange, RunDiff, ScenarioDiff } from './compare.js'
import { classifyBackoff, explainEnvChange, explainScenarioDiff, scheduleGaps } from './explain.js'

const STATUS_WORD: Record<ScenarioDiff['status'], string> = {
  same: 'same',
  changed: 'CHANGED',
  regressed: 'REGRESSED',
  'only-a': 'only in A',
  'only-b': 'only in B',
}

/** The text report of a run diff. `verbose` also lists scenarios that did not change. */
export function formatDiffText(d: RunDiff, opts: { verbose?: boolean } = {}): string {
  const lines: string[] = []
  lines.push(`tcplab diff`)
  lines.push(`  A: ${d.a}`)
  lines.push(`  B: ${d.b}`)
  lines.push(`  timing tolerance: the larger of ${d.tolerance.floorMs}ms and ${d.tolerance.percent}% of the interval measured`)
  if (d.env.length > 0) {
    lines.push('', 'environment (every scenario):')
    for (const e of d.env) lines.push(`  ${envLine(e)}`)
  }
  const runEnvKeys = new Set(d.env.map((e) => `${e.key}|${e.summary}`))
  for (const s of d.scenarios) {
    if (s.status === 'same' && !opts.verbose) continue
    lines.push('')
    const verdict = s.verdict.a !== s.verdict.b ? ` (${s.verdict.a ?? '-'} → ${s.verdict.b ?? '-'})` : s.verdict.a ? ` (${s.verdict.a} in both)` : ''
    lines.push(`${s.name}: ${STATUS_WORD[s.status]}${verdict}`)
    const { headline } = s.status === 'same' ? { headline: '' } : explainScenarioDiff(s)
    if (headline) lines.push(`  in short: ${headline}`)
    if (s.expectations.length > 0) {
      lines.push('  expectations:')
      for (const e of s.expectations) {
        lines.push(`    ${e.severity === 'regression' ? '✗' : e.severity === 'fixed' ? '✓' : '~'} #${e.index + 1} ${e.kind} ${e.a} → ${e.b}: ${e.description}`)
        lines.push(`        A: ${e.measuredA}`)
        lines.push(`        B: ${e.measuredB}`)
      }
    }
    const groups: Array<[string, MetricChange[]]> = [
      ['timings beyond tolerance', s.metrics.filter((m) => m.severity === 'regression')],
      ['other changes', s.metrics.filter((m) => m.severity === 'change')],
    ]
    for (const [title, list] of groups) {
      if (list.length === 0) continue
      lines.push(`  ${title}:`)
      for (const m of list) {
        lines.push(`    ${m.what}: ${m.summary}`)
        if (m.kind === 'schedule' && Array.isArray(m.a) && Array.isArray(m.b)) {
          lines.push(`        A: ${schedule(m.a as number[])}`)
          lines.push(`        B: ${schedule(m.b as number[])}`)
          const shapeA = classifyBackoff(scheduleGaps(m.a as number[]))
          const shapeB = classifyBackoff(scheduleGaps(m.b as number[]))
          if (shapeA !== shapeB) lines.push(`        backoff: ${shapeA} → ${shapeB}`)
        }
      }
    }
    const env = s.env.filter((e) => !runEnvKeys.has(`${e.key}|${e.summary}`) || e.related)
    if (env.length > 0 && s.status !== 'same') {
      const related = env.filter((e) => e.related)
      const other = env.filter((e) => !e.related)
      if (related.length > 0) {
        lines.push('  environment differences that may explain it:')
        for (const e of related) lines.push(`    ${envLine(e)}`)
      }
      if (other.length > 0 && opts.verbose) {
        lines.push('  other environment differences:')
        for (const e of other) lines.push(`    ${envLine(e)}`)
      } else if (other.length > 0) {
        lines.push(`  (${other.length} other environment difference${other.length === 1 ? '' : 's'}; --verbose lists them)`)
      }
    }
  }
  lines.push('')
  const c = d.counts
  lines.push(`${d.scenarios.length} scenario(s): ${c.regressed} regressed, ${c.changed} changed, ${c.same} same${c.onlyA ? `, ${c.onlyA} only in A` : ''}${c.onlyB ? `, ${c.onlyB} only in B` : ''}`)
  return `${lines.join('\n')}\n`
}

function envLine(e: EnvChange): string {
  return explainEnvChange(e)
}

/** "0.330 1.341 2.370 s (gaps 1.011 1.029 s)" */
function schedule(times: readonly number[]): string {
  const gaps = times.slice(1).map((t, i) => (t - (times[i] as number)).toFixed(3))
  return `${times.map((t) => t.toFixed(3)).join(' ')} s${gaps.length ? `  (gaps ${gaps.join(' ')} s)` : ''}`
}
