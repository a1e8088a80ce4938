// The reporter contract: the suite runner calls these as scenarios start and end.
import type { LoadedScenario } from '../scenario/loader.js'
import type { RunSummary, ScenarioVerdict } from '../expect/verdict.js'

export interface SuiteReporter {
  onStart?(scenarios: readonly LoadedScenario[], info: { backend: string; jobs: number; auto?: boolean | undefined; resultsDir: string; daemons?: readonly string[] | undefined }): void
  onScenarioStart?(s: LoadedScenario): void
  onScenarioEnd?(v: ScenarioVerdict, s: LoadedScenario): void
  onEnd?(summary: RunSummary, verdicts: readonly ScenarioVerdict[]): void
}
