// `tcplab run --repeat N`: the same selection N times, one after the other,
// each into its own results directory (DIR/repeat-1 ... DIR/repeat-N, each a
// complete run with summary.json and index.html), then the flake summary
// (report/flake.ts) into DIR/flake.json and to the reporter.

import { mkdir, writeFile } from 'node:fs/promises'
import path from 'node:path'
import type { LoadedScenario } from '../scenario/loader.js'
import type { ScenarioVerdict } from '../expect/index.js'
import { summarizeFlakes, type FlakeSummary } from '../report/flake.js'
import { runSuite, type RunSuiteOptions } from './suite.js'

/** The directory of repeat `index` (1-based) under the run's results directory. */
export function resolveRepeatDir(resultsDir: string, index: number): string {
  return path.join(resultsDir, `repeat-${index}`)
}

/** Run the scenarios `count` times; returns every verdict (all repeats) and the flake summary. */
export async function runRepeated(scenarios: readonly LoadedScenario[], opts: RunSuiteOptions, count: number): Promise<{ verdicts: ScenarioVerdict[]; flake: FlakeSummary }> {
  const repeats: ScenarioVerdict[][] = []
  for (let index = 1; index <= count; index++) {
    if (opts.signal?.aborted) break
    const { verdicts } = await runSuite(scenarios, { ...opts, resultsDir: resolveRepeatDir(opts.resultsDir, index), repeat: { index, count } })
    repeats.push(verdicts)
  }
  const flake = summarizeFlakes(repeats)
  await mkdir(opts.resultsDir, { recursive: true })
  await writeFile(path.join(opts.resultsDir, 'flake.json'), `${JSON.stringify(flake, null, 2)}\n`)
  opts.reporter?.onFlakeSummary?.(flake)
  return { verdicts: repeats.flat(), flake }
}
