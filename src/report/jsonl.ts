// The jsonl reporter: one JSON object a line, written as things happen, for
// tools that follow a run live (jq, log shippers, dashboards). Every line has
// `event`, `time` (ISO) and `formatVersion`; the last one of a run is
// `run-end` with the summary. The events:
//   run-start       scenarios, backend, jobs, resultsDir (and repeat: {index, count} with --repeat)
//   scenario-start  name, file
//   scenario-end    name, status, durationMs and the whole verdict (as in verdict.json)
//   run-end         summary (as in summary.json)
//   flake-summary   with --repeat, after the last repeat (as in flake.json)

import type { Writable } from 'node:stream'
import type { SuiteReporter } from './reporter.js'
import { RESULTS_FORMAT_VERSION } from '../expect/verdict.js'

export function createJsonlReporter(out: Writable, now: () => Date = () => new Date()): SuiteReporter {
  let repeat: { index: number; count: number } | undefined
  const emit = (event: string, body: Record<string, unknown>): void => {
    out.write(`${JSON.stringify({ event, time: now().toISOString(), formatVersion: RESULTS_FORMAT_VERSION, ...(repeat ? { repeat } : {}), ...body })}\n`)
  }
  return {
    onStart(scenarios, info) {
      repeat = info.repeat
      emit('run-start', { scenarios: scenarios.map((s) => s.scenario.name), backend: info.backend, jobs: info.jobs, auto: info.auto ?? false, resultsDir: info.resultsDir })
    },
    onScenarioStart(s) {
      emit('scenario-start', { name: s.scenario.name, file: s.file })
    },
    onScenarioEnd(v) {
      emit('scenario-end', { name: v.name, status: v.status, durationMs: v.durationMs, verdict: v })
    },
    onEnd(summary) {
      emit('run-end', { summary })
    },
    onFlakeSummary(flake) {
      repeat = undefined
      emit('flake-summary', { flake })
    },
  }
}
