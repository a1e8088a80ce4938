// The report layer's public surface: terminal reporters (pretty, tap, json,
// junit), the HTML reports (report.html per scenario, index.html per run)
// and reading a results directory back.

export { createReporter, expectedDurationMs, formatResult, progressLine, summaryLine, REPORTER_NAMES, type ReporterName, type ReporterOptions } from './terminal.js'
export type { SuiteReporter } from './reporter.js'
export { renderJunit, type JunitOptions } from './junit.js'
export { renderTap, formatTapHeader, formatTapScenario, formatTapFooter } from './tap.js'
export { summarizeRun, writeRunFiles, RUN_FILES, type RunSummaryMeta } from './run-files.js'
export { mergeResults, MergeError, type MergeOptions, type MergeOutcome } from './merge.js'
export { writeScenarioReport, writeRunIndex, regenerateReports, renderScenarioReport, renderRunIndex, type WrittenReport } from './write.js'
export { readRunResults, readScenarioResult, readScenarioView, parseRecords, isScenarioDir, ResultsError } from './results.js'
export type { RunResults, ScenarioResult, ScenarioView, EnvView, ReadOptions } from './results.js'
export { buildReportModel, describeRecord, RECORD_LINES, type ReportModel, type Marker } from './model.js'
export { SS_FIELDS, STATE_MEANINGS, TIMER_MEANINGS, QUEUE_MEANINGS, findFieldMeaning, findMentionedFields, type FieldMeaning, type SsFieldName } from './glossary.js'
