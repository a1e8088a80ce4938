// The files of a run directory besides the scenario folders: summary.json,
// junit.xml, results.tap and index.html. `tcplab run` writes them when the
// suite ends and `tcplab merge` writes them for the merged directory, with the
// same writers, so a merged directory reads like one run.

import path from 'node:path'
import { RESULTS_FORMAT_VERSION, type MergedRun, type RunShard, type RunSummary, type ScenarioVerdict } from '../expect/verdict.js'
import { writeFileAtomic } from '../util/atomic-write.js'
import { renderJunit } from './junit.js'
import { renderTap } from './tap.js'
import { writeRunIndex, type WrittenReport } from './write.js'

/** File names inside a run directory. */
export const RUN_FILES = { summary: 'summary.json', junit: 'junit.xml', tap: 'results.tap', index: 'index.html' } as const

export interface RunSummaryMeta {
  backend: string
  resultsDir: string
  startedMs: number
  durationMs: number
  daemons?: readonly string[] | undefined
  shard?: RunShard | undefined
  mergedFrom?: readonly MergedRun[] | undefined
}

/** Count verdicts into a run summary (per scenario: its expectations passed, failed, skipped; its daemon). */
export function summarizeRun(verdicts: readonly ScenarioVerdict[], meta: RunSummaryMeta): RunSummary {
  const count = (st: string): number => verdicts.filter((v) => v.status === st).length
  return {
    formatVersion: RESULTS_FORMAT_VERSION,
    startedAt: new Date(meta.startedMs).toISOString(),
    durationMs: meta.durationMs,
    backend: meta.backend,
    resultsDir: meta.resultsDir,
    ...(meta.daemons !== undefined && meta.daemons.length > 0 ? { daemons: [...meta.daemons] } : {}),
    ...(meta.shard !== undefined ? { shard: meta.shard } : {}),
    ...(meta.mergedFrom !== undefined ? { mergedFrom: [...meta.mergedFrom] } : {}),
    scenarios: verdicts.map((v) => ({
      name: v.name,
      file: v.file,
      status: v.status,
      durationMs: v.durationMs,
      passed: v.results.filter((r) => r.status === 'pass').length,
      failed: v.results.filter((r) => r.status === 'fail' || r.status === 'error').length,
      skipped: v.results.filter((r) => r.status === 'skip').length,
      ...(v.daemon !== undefined ? { daemon: v.daemon } : {}),
    })),
    passed: count('pass'),
    failed: count('fail'),
    errors: count('error'),
    skipped: count('skip'),
    ...(count('interrupted') > 0 ? { interruptedScenarios: count('interrupted') } : {}),
  }
}

/** Write summary.json, junit.xml, results.tap, then index.html (which reads them back); the index never throws. */
export async function writeRunFiles(dir: string, summary: RunSummary, verdicts: readonly ScenarioVerdict[]): Promise<WrittenReport> {
  await writeFileAtomic(path.join(dir, RUN_FILES.summary), `${JSON.stringify(summary, null, 2)}\n`)
  await writeFileAtomic(path.join(dir, RUN_FILES.junit), renderJunit(summary, verdicts))
  await writeFileAtomic(path.join(dir, RUN_FILES.tap), renderTap(summary, verdicts))
  return writeRunIndex(dir)
}
