// The one-line summary of a run, shared by the pretty and TAP reporters and results.tap.

import type { RunSummary } from '../expect/verdict.js'
import { formatMs } from '../util/duration.js'

/** "5 scenarios: 4 passed, 1 failed, 0 errors, 0 skipped in 23.1s" */
export function summaryLine(s: RunSummary): string {
  return `${s.scenarios.length} scenarios: ${s.passed} passed, ${s.failed} failed, ${s.errors} errors, ${s.skipped} skipped${s.interruptedScenarios ? `, ${s.interruptedScenarios} interrupted` : ''} in ${formatMs(s.durationMs)} (${s.resultsDir})`
}
