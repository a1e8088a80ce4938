// tcplab diff: compare two results directories (same suite on two kernels,
// before and after a sysctl change) and say what regressed and why.

export { diffRuns, diffScenario, diffMetrics, diffEnv, toleranceMs, DEFAULT_DIFF_TOLERANCE } from './compare.js'
export type { DiffOptions, RunDiff, ScenarioDiff, MetricChange, ExpectationChange, EnvChange, Severity } from './compare.js'
export { extractMetrics, type Metric, type Topic } from './metrics.js'
export { formatDiffText } from './format.js'
export { explainScenarioDiff, explainSchedule, explainEnvChange, classifyBackoff, scheduleGaps, sysctlPresence, type BackoffShape } from './explain.js'
export { buildKernelMatrix, type KernelMatrix, type MatrixColumn, type MatrixRow, type MatrixCell, type MatrixDifference, type KernelPairDifference } from './matrix.js'
export { renderMatrixPage, writeMatrixPage, formatMatrixText } from './matrix-page.js'
