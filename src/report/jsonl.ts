// The jsonl reporter: one JSON object a line, written as things happen, for
// tools that follow a run live (jq, log shippers, dashboards). Every line has
// `event` (the line's type), `time` (ISO, wall clock when written) and
// `formatVersion`; lines about a scenario have its `name`; lines from inside a
// scenario have `t` (seconds since the scenario's t0, the clock of its
// records.jsonl, report and expectations) and `runT` (seconds since run-start,
// the run's clock, shared by scenarios running side by side). The last line of
// a run is `run-end` with the summary. schema/jsonl.schema.json describes every
// line. The events:
//   run-start       scenarios, backend, jobs, resultsDir (and repeat: {index, count} with --repeat)
//   scenario-start  name, file
//   step            a step played: step (index), action, host, detail, target, scheduledT and
//                   lateMs when the agent played it (when it was due, how late it ran)
//   late            a step ran later than the scenario's tolerance floor: step, lateMs, toleranceMs
//   endpoint        a process or socket event: source, host, type (started, exited, connected,
//                   error, eof, ...), errno, code, signal; not the many sent/read/stdout/stderr
//   note            a word from the runner: text (sampling fell back to the ss loop, --jobs
//                   beyond what the machine holds, ...); `name` when it is about a scenario
//   expectation     one expectation's result, its fields as in verdict.json's results (index,
//                   kind, status, description, expected, measured, deltaMs, t, line...): decided when the
//                   scenario's recording ends, so they come together just before scenario-end
//   scenario-end    name, status, durationMs and the whole verdict (as in verdict.json)
//   run-end         summary (as in summary.json)
//   flake-summary   with --repeat, after the last repeat (as in flake.json)

import type { Writable } from 'node:stream'
import type { SuiteReporter } from './reporter.js'
import type { LoadedScenario } from '../scenario/loader.js'
import type { ActionRecord, EventRecord } from '../recorder/records.js'
import { RESULTS_FORMAT_VERSION } from '../expect/verdict.js'
import { DEFAULT_TOLERANCE } from '../expect/context.js'

/** Endpoint events too many to stream (a bulk transfer has thousands): they stay in records.jsonl. */
const QUIET_EVENT_TYPES: ReadonlySet<string> = new Set(['sent', 'read', 'stdout', 'stderr', 'polled', 'info'])

export function createJsonlReporter(out: Writable, now: () => Date = () => new Date()): SuiteReporter {
  let repeat: { index: number; count: number } | undefined
  let runStartMs = now().getTime()
  /** Each running scenario's t0 (µs since the epoch), for `runT` on its expectations. */
  const t0UsOf = new Map<string, number>()
  const emit = (event: string, body: Record<string, unknown>): void => {
    out.write(`${JSON.stringify({ event, time: now().toISOString(), formatVersion: RESULTS_FORMAT_VERSION, ...(repeat ? { repeat } : {}), ...body })}\n`)
  }
  /** Seconds since run-start of scenario time `t` (µs resolution). */
  const runT = (t0Us: number, t: number): number => Math.round(t0Us - runStartMs * 1000 + t * 1e6) / 1e6
  const onAction = (s: LoadedScenario, a: ActionRecord, t0Us: number): void => {
    const name = s.scenario.name
    emit('step', {
      name, t: a.t, runT: runT(t0Us, a.t), step: a.step, action: a.action,
      ...(a.host !== undefined ? { host: a.host } : {}), detail: a.detail, ...(a.target !== undefined ? { target: a.target } : {}),
      ...(a.scheduledT !== undefined ? { scheduledT: a.scheduledT, scheduledRunT: runT(t0Us, a.scheduledT) } : {}),
      ...(a.lateMs !== undefined ? { lateMs: a.lateMs } : {}),
    })
    const toleranceMs = toleranceFloorMs(s)
    if (a.lateMs !== undefined && a.lateMs > toleranceMs) {
      emit('late', { name, t: a.t, runT: runT(t0Us, a.t), step: a.step, action: a.action, lateMs: a.lateMs, toleranceMs })
    }
  }
  const onEvent = (s: LoadedScenario, e: EventRecord, t0Us: number): void => {
    if (QUIET_EVENT_TYPES.has(e.type)) return
    emit('endpoint', {
      name: s.scenario.name, t: e.t, runT: runT(t0Us, e.t), source: e.source, host: e.host, type: e.type,
      ...(e.errno !== undefined ? { errno: e.errno } : {}), ...(e.code !== undefined ? { code: e.code } : {}),
      ...(e.signal !== undefined ? { signal: e.signal } : {}), ...(e.text !== undefined ? { text: e.text } : {}),
    })
  }
  return {
    onStart(scenarios, info) {
      repeat = info.repeat
      runStartMs = now().getTime()
      emit('run-start', { scenarios: scenarios.map((s) => s.scenario.name), backend: info.backend, jobs: info.jobs, auto: info.auto ?? false, resultsDir: info.resultsDir })
    },
    onScenarioStart(s) {
      emit('scenario-start', { name: s.scenario.name, file: s.file })
    },
    onScenarioRecord(s, rec, t0Us) {
      t0UsOf.set(s.scenario.name, t0Us)
      if (rec.kind === 'action') onAction(s, rec, t0Us)
      else onEvent(s, rec, t0Us)
    },
    onNote(text, s) {
      emit('note', { ...(s ? { name: s.scenario.name } : {}), text })
    },
    onScenarioEnd(v) {
      const t0Us = t0UsOf.get(v.name)
      t0UsOf.delete(v.name)
      for (const r of v.results) {
        emit('expectation', { name: v.name, ...r, ...(t0Us !== undefined && r.t !== undefined ? { runT: runT(t0Us, r.t) } : {}) })
      }
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

/** The scenario's tolerance floor (ms): a step later than this may move a timing expectation past it. */
function toleranceFloorMs(s: LoadedScenario): number {
  const tol = s.scenario.tolerance
  if (typeof tol === 'number') return tol
  return tol?.floor ?? DEFAULT_TOLERANCE.floorMs
}
