// tcplab's public library API: load scenarios, run them, read their verdicts.
// The CLI (src/cli) is a thin client of exactly this.

export { loadScenario, loadScenarios, parseScenario, findScenarioFiles, type LoadedScenario } from './scenario/loader.js'
export { Scenario, type Expectation, type Step } from './scenario/schema.js'
export { runScenario, type RunScenarioOptions } from './runner/run-scenario.js'
export { runSuite, summarize, type RunSuiteOptions } from './runner/suite.js'
export { parseShard, selectShard, shardRange, type Shard } from './runner/shard.js'
export { createBackend, createBackends, newLabId, parseDockerHosts, BACKEND_NAMES, type Backend, type BackendName, type Host, type Lab, type LabSpec } from './lab/index.js'
export { evaluateAll, evaluateExpectation, type EvalContext, type ExpectationResult, type MergedRun, type RunShard, type RunSummary, type ScenarioVerdict } from './expect/index.js'
export { mergeResults, MergeError, type MergeOptions, type MergeOutcome } from './report/merge.js'
export { createReporter, formatResult, summaryLine, REPORTER_NAMES, type ReporterName } from './report/terminal.js'
export type { SuiteReporter } from './report/reporter.js'
export type { TimelineRecord, ActionRecord, SsRecord, PktRecord, EventRecord, CounterRecord } from './recorder/records.js'
export { parseJsonl } from './recorder/timeline.js'
export * from './util/errors.js'
export { parseDurationMs, formatMs } from './util/duration.js'
