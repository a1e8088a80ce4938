// Terminal reporters for `tcplab run`: pretty (default), tap, json.

import type { Writable } from 'node:stream'
import type { ExpectationResult, RunSummary, ScenarioVerdict } from '../expect/verdict.js'
import type { SuiteReporter } from './reporter.js'
import { formatMs } from '../util/duration.js'

export const REPORTER_NAMES = ['pretty', 'tap', 'json'] as const
export type ReporterName = (typeof REPORTER_NAMES)[number]

/** A reporter writing to `out`. */
export function createReporter(name: ReporterName, out: Writable): SuiteReporter {
  switch (name) {
    case 'tap':
      return tapReporter(out)
    case 'json':
      return { onEnd: (summary, verdicts) => out.write(`${JSON.stringify({ summary, verdicts }, null, 2)}\n`) }
    default:
      return prettyReporter(out)
  }
}

const ICON: Record<string, string> = { pass: 'PASS', fail: 'FAIL', error: 'ERROR', skip: 'SKIP' }

/** One line per expectation: what was expected, what was measured, delta and tolerance. */
export function formatResult(r: ExpectationResult): string {
  const where = r.line ? ` (line ${r.line})` : ''
  const timing = r.deltaMs !== undefined ? ` [Δ ${r.deltaMs >= 0 ? '+' : ''}${formatMs(r.deltaMs)}${r.toleranceMs !== undefined ? `, tolerance ±${formatMs(r.toleranceMs)}` : ''}]` : ''
  if (r.status === 'skip') return `skip ${r.kind}${where}: ${r.reason ?? ''}`
  const head = `${r.status === 'pass' ? 'ok  ' : 'FAIL'} ${r.kind}${where}: ${r.description}`
  const lines = [head]
  if (r.description !== r.expected && r.expected) lines.push(`       expected: ${r.expected}`)
  lines.push(`       measured: ${r.measured}${timing}`)
  if (r.reason && r.status === 'fail') lines.push(`       reason:   ${r.reason}`)
  return lines.join('\n')
}

function prettyReporter(out: Writable): SuiteReporter {
  return {
    onStart(scenarios, info) {
      out.write(`tcplab: ${scenarios.length} scenario(s) on ${info.backend}, ${info.jobs} at a time; results in ${info.resultsDir}\n`)
    },
    onScenarioEnd(v) {
      const counts = `${v.results.filter((r) => r.status === 'pass').length}/${v.results.length} expectations`
      out.write(`${ICON[v.status] ?? v.status} ${v.name} (${formatMs(v.durationMs)}, ${counts})${v.reason ? `: ${v.reason}` : ''}\n`)
      const show = v.status === 'pass' ? [] : v.results.filter((r) => r.status !== 'pass')
      for (const r of show) out.write(`  ${formatResult(r).replace(/\n/g, '\n  ')}\n`)
      if (v.error) out.write(`  ${v.error.message.replace(/\n/g, '\n  ')}${v.error.hint ? `\n  hint: ${v.error.hint}` : ''}\n`)
    },
    onEnd(summary) {
      out.write(`\n${summaryLine(summary)}\n`)
    },
  }
}

/** "5 scenarios: 4 passed, 1 failed, 0 errors, 0 skipped in 23.1s" */
export function summaryLine(s: RunSummary): string {
  return `${s.scenarios.length} scenarios: ${s.passed} passed, ${s.failed} failed, ${s.errors} errors, ${s.skipped} skipped in ${formatMs(s.durationMs)} (${s.resultsDir})`
}

function tapReporter(out: Writable): SuiteReporter {
  let n = 0
  return {
    onStart(scenarios) {
      out.write(`TAP version 14\n1..${scenarios.length}\n`)
    },
    onScenarioEnd(v: ScenarioVerdict) {
      n++
      const ok = v.status === 'pass' || v.status === 'skip'
      const directive = v.status === 'skip' ? ` # SKIP ${v.reason ?? ''}` : ''
      out.write(`${ok ? 'ok' : 'not ok'} ${n} - ${v.name}${directive}\n`)
      out.write(`    # Subtest: ${v.name}\n    1..${v.results.length}\n`)
      v.results.forEach((r, i) => {
        const rok = r.status !== 'fail'
        out.write(`    ${rok ? 'ok' : 'not ok'} ${i + 1} - ${r.kind}: ${r.description}${r.status === 'skip' ? ` # SKIP ${r.reason ?? ''}` : ''}\n`)
        if (!rok) {
          out.write(`      ---\n      expected: ${JSON.stringify(r.expected)}\n      measured: ${JSON.stringify(r.measured)}\n`)
          if (r.deltaMs !== undefined) out.write(`      deltaMs: ${r.deltaMs}\n`)
          if (r.toleranceMs !== undefined) out.write(`      toleranceMs: ${r.toleranceMs}\n`)
          if (r.line) out.write(`      at: { line: ${r.line}, column: ${r.col ?? 1} }\n`)
          out.write(`      ...\n`)
        }
      })
      if (v.error) out.write(`    # error: ${v.error.message.split('\n').join('\n    # ')}\n`)
    },
    onEnd(summary) {
      out.write(`# ${summaryLine(summary)}\n`)
    },
  }
}
