// The reporter contract: the suite runner calls these as scenarios start and end.
import type { LoadedScenario } from '../scenario/loader.js'
import type { RunSummary, ScenarioVerdict } from '../expect/verdict.js'
import type { FlakeSummary } from './flake.js'
import type { ActionRecord, EventRecord } from '../recorder/records.js'

export interface RunStartInfo {
  backend: string
  jobs: number
  auto?: boolean | undefined
  /** The labs run in a vm guest (--jobs auto there: runner/suite.ts GUEST_AUTO_JOBS, not the canary). */
  inGuest?: boolean | undefined
  resultsDir: string
  /** The Docker daemons of --docker-host, when there are several. */
  daemons?: readonly string[] | undefined
  /** With --repeat N: which repeat this run is (1-based) of how many. */
  repeat?: { index: number; count: number } | undefined
}

export interface SuiteReporter {
  onStart?(scenarios: readonly LoadedScenario[], info: RunStartInfo): void
  onScenarioStart?(s: LoadedScenario): void
  /**
   * Inside a running scenario, as it happens: a step played (`action`) or an endpoint event
   * (`event`). `rec.t` is on the scenario's clock (seconds since its t0); `t0Us` is that t0
   * (µs since the epoch), so the run's clock is t0Us / 1e6 + rec.t minus the run's start.
   */
  onScenarioRecord?(s: LoadedScenario, rec: ActionRecord | EventRecord, t0Us: number): void
  /** A word from a running scenario (`s`), e.g. sampling fell back to the ss loop, or from the suite (--jobs beyond what the machine holds). */
  onNote?(msg: string, s?: LoadedScenario): void
  onScenarioEnd?(v: ScenarioVerdict, s: LoadedScenario): void
  onEnd?(summary: RunSummary, verdicts: readonly ScenarioVerdict[]): void
  /** With --repeat N, after the last repeat. */
  onFlakeSummary?(flake: FlakeSummary): void
}

/** One reporter that calls each of `reporters` in turn (e.g. JUnit on stdout and progress on stderr). */
export function combineReporters(...reporters: ReadonlyArray<SuiteReporter | undefined>): SuiteReporter {
  const rs = reporters.filter((r): r is SuiteReporter => r !== undefined)
  return {
    onStart: (s, info) => rs.forEach((r) => r.onStart?.(s, info)),
    onScenarioStart: (s) => rs.forEach((r) => r.onScenarioStart?.(s)),
    onScenarioRecord: (s, rec, t0Us) => rs.forEach((r) => r.onScenarioRecord?.(s, rec, t0Us)),
    onNote: (msg, s) => rs.forEach((r) => r.onNote?.(msg, s)),
    onScenarioEnd: (v, s) => rs.forEach((r) => r.onScenarioEnd?.(v, s)),
    onEnd: (summary, verdicts) => rs.forEach((r) => r.onEnd?.(summary, verdicts)),
    onFlakeSummary: (f) => rs.forEach((r) => r.onFlakeSummary?.(f)),
  }
}
