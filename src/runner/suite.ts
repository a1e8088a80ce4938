// Run many scenarios, `jobs` at a time (each in its own lab, so they cannot
// see each other), and write summary.json.

import { mkdir, writeFile } from 'node:fs/promises'
import path from 'node:path'
import type { Backend } from '../lab/index.js'
import type { LoadedScenario } from '../scenario/loader.js'
import type { RunSummary, ScenarioVerdict, ToleranceRule } from '../expect/index.js'
import { runScenario } from './run-scenario.js'
import type { SuiteReporter } from '../report/reporter.js'
import { writeRunIndex } from '../report/index.js'


export interface RunSuiteOptions {
  backend: Backend
  resultsDir: string
  jobs?: number | undefined
  tolerance?: Partial<ToleranceRule> | undefined
  sysctlOverrides?: Record<string, string> | undefined
  signal?: AbortSignal | undefined
  reporter?: SuiteReporter | undefined
}

/** Run scenarios concurrently; returns the summary (also written to resultsDir/summary.json). */
export async function runSuite(scenarios: readonly LoadedScenario[], opts: RunSuiteOptions): Promise<{ summary: RunSummary; verdicts: ScenarioVerdict[] }> {
  const jobs = Math.max(1, opts.jobs ?? 1)
  const started = Date.now()
  await mkdir(opts.resultsDir, { recursive: true })
  opts.reporter?.onStart?.(scenarios, { backend: opts.backend.name, jobs, resultsDir: opts.resultsDir })
  const verdicts: ScenarioVerdict[] = new Array<ScenarioVerdict>(scenarios.length)
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < scenarios.length) {
      const i = next++
      const s = scenarios[i] as LoadedScenario
      if (opts.signal?.aborted) return
      opts.reporter?.onScenarioStart?.(s)
      const v = await runScenario(s, {
        backend: opts.backend,
        resultsDir: opts.resultsDir,
        tolerance: opts.tolerance,
        sysctlOverrides: opts.sysctlOverrides,
        signal: opts.signal,
      })
      verdicts[i] = v
      opts.reporter?.onScenarioEnd?.(v, s)
    }
  }
  await Promise.all(Array.from({ length: Math.min(jobs, scenarios.length) }, worker))
  const done = verdicts.filter((v): v is ScenarioVerdict => v !== undefined)
  const summary = summarize(done, opts.backend.name, opts.resultsDir, started)
  await writeFile(path.join(opts.resultsDir, 'summary.json'), `${JSON.stringify(summary, null, 2)}\n`)
  await writeRunIndex(opts.resultsDir)
  opts.reporter?.onEnd?.(summary, done)
  return { summary, verdicts: done }
}

/** Count verdicts into a run summary. */
export function summarize(verdicts: readonly ScenarioVerdict[], backend: string, resultsDir: string, startedMs: number): RunSummary {
  const count = (st: string): number => verdicts.filter((v) => v.status === st).length
  return {
    startedAt: new Date(startedMs).toISOString(),
    durationMs: Date.now() - startedMs,
    backend,
    resultsDir,
    scenarios: verdicts.map((v) => ({
      name: v.name,
      file: v.file,
      status: v.status,
      durationMs: v.durationMs,
      passed: v.results.filter((r) => r.status === 'pass').length,
      failed: v.results.filter((r) => r.status === 'fail').length,
      skipped: v.results.filter((r) => r.status === 'skip').length,
    })),
    passed: count('pass'),
    failed: count('fail'),
    errors: count('error'),
    skipped: count('skip'),
  }
}
