// TAP 14 of a run: one test point per scenario, a subtest per scenario with one
// point per expectation, failures with a YAML diagnostic (expected, measured,
// delta, tolerance, line). The tap reporter streams it as scenarios end; a
// results directory keeps the whole document as results.tap.

import type { RunSummary, ScenarioVerdict } from '../expect/verdict.js'
import { summaryLine } from './summary-line.js'

/** "TAP version 14" and the plan. */
export function formatTapHeader(scenarios: number): string {
  return `TAP version 14\n1..${scenarios}\n`
}

/** Test point `n` (1-based) for one scenario, with its expectations as a subtest. */
export function formatTapScenario(v: ScenarioVerdict, n: number): string {
  const lines: string[] = []
  const ok = v.status === 'pass' || v.status === 'skip'
  const directive = v.status === 'skip' ? ` # SKIP ${v.reason ?? ''}` : ''
  lines.push(`${ok ? 'ok' : 'not ok'} ${n} - ${v.name}${directive}`)
  lines.push(`    # Subtest: ${v.name}`, `    1..${v.results.length}`)
  v.results.forEach((r, i) => {
    const rok = r.status !== 'fail'
    lines.push(`    ${rok ? 'ok' : 'not ok'} ${i + 1} - ${r.kind}: ${r.description}${r.status === 'skip' ? ` # SKIP ${r.reason ?? ''}` : ''}`)
    if (!rok) {
      lines.push('      ---', `      expected: ${JSON.stringify(r.expected)}`, `      measured: ${JSON.stringify(r.measured)}`)
      if (r.deltaMs !== undefined) lines.push(`      deltaMs: ${r.deltaMs}`)
      if (r.toleranceMs !== undefined) lines.push(`      toleranceMs: ${r.toleranceMs}`)
      if (r.line) lines.push(`      at: { line: ${r.line}, column: ${r.col ?? 1} }`)
      lines.push('      ...')
    }
  })
  if (v.error) lines.push(`    # error: ${v.error.message.split('\n').join('\n    # ')}`)
  return `${lines.join('\n')}\n`
}

/** The closing comment: the summary line. */
export function formatTapFooter(summary: RunSummary): string {
  return `# ${summaryLine(summary)}\n`
}

/** The whole TAP document of a finished run. */
export function renderTap(summary: RunSummary, verdicts: readonly ScenarioVerdict[]): string {
  return formatTapHeader(verdicts.length) + verdicts.map((v, i) => formatTapScenario(v, i + 1)).join('') + formatTapFooter(summary)
}
