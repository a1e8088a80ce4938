// `tcplab merge DIR... --out DIR`: several results directories (the shards of
// one suite run on several machines, or runs of disjoint sets of scenarios)
// into one results directory that reads like one run: the scenario folders
// copied as they are, one summary.json, junit.xml, results.tap and index.html
// written by the same writers as `tcplab run` (run-files.ts).
//
// Refused, before anything is written (exit 2, nothing left behind):
// - an input that is not a finished run's directory (no summary.json, a
//   scenario the summary lists has no folder);
// - overlapping inputs: the same directory twice, one scenario in two inputs,
//   the same shard twice, an output inside an input (or the reverse), an
//   output that exists and is not empty;
// - incompatible inputs: different backends, tcplab versions, summary format
//   versions or --sysctl overrides; shards cut from different selections or
//   into different counts; shards mixed with unsharded runs.
// Shards that are missing (3 of 4 merged) are not an error (the missing job
// failed already, and its report is what one wants to see): the outcome says
// so in its warnings and the index page shows which shards are there.

import { RESULTS_FORMAT_VERSION } from '../expect/verdict.js'
import { existsSync, readdirSync, realpathSync, statSync } from 'node:fs'
import { cp, mkdir, rm } from 'node:fs/promises'
import path from 'node:path'
import type { MergedRun, RunShard, RunSummary, ScenarioVerdict } from '../expect/verdict.js'
import { TcplabError, type TcplabErrorOptions } from '../util/errors.js'
import { isScenarioDir, readRunResults, type RunResults } from './results.js'
import { RUN_FILES, summarizeRun, writeRunFiles } from './run-files.js'

/** Inputs that cannot be merged: bad input, exit 2. */
export class MergeError extends TcplabError {
  override readonly exitCode = 2
  constructor(message: string, opts: TcplabErrorOptions = {}) {
    super('E_MERGE', message, opts)
  }
}

export interface MergeOptions {
  /** The merged directory: must not exist yet, or be empty. */
  outDir: string
}

export interface MergeOutcome {
  outDir: string
  summary: RunSummary
  verdicts: ScenarioVerdict[]
  /** Files written besides the copied scenario folders. */
  files: string[]
  /** What is worth a word but not a refusal (missing shards). */
  warnings: string[]
}

/** One input, read and checked. */
interface Input {
  dir: string
  real: string
  run: RunResults
  summary: RunSummary
  /** The scenarios summary.json lists, with their folders. */
  scenarios: Array<{ name: string; folder: string; verdict: ScenarioVerdict }>
  version: string | undefined
  formatVersion: unknown
  overrides: string
}

/** Merge results directories into `opts.outDir`; throws MergeError (exit 2) before writing anything when they cannot be merged. */
export async function mergeResults(dirs: readonly string[], opts: MergeOptions): Promise<MergeOutcome> {
  if (dirs.length === 0) throw new MergeError('merge expects at least one results directory', { hint: 'tcplab merge results/shard-1 results/shard-2 --out results/all' })
  const inputs = dirs.map(readInput)
  checkOverlaps(inputs, opts.outDir)
  checkCompatible(inputs)
  const warnings = shardWarnings(inputs)

  const outDir = opts.outDir
  const created = !existsSync(outDir)
  await mkdir(outDir, { recursive: true })
  try {
    const verdicts: ScenarioVerdict[] = []
    const all = inputs.flatMap((inp) => inp.scenarios.map((s) => ({ inp, s })))
    all.sort((a, b) => (a.s.name < b.s.name ? -1 : a.s.name > b.s.name ? 1 : 0))
    for (const { s } of all) {
      await cp(s.folder, path.join(outDir, s.name), { recursive: true, errorOnExist: true, force: false, preserveTimestamps: true })
      verdicts.push(s.verdict)
    }
    const starts = inputs.map((i) => Date.parse(i.summary.startedAt))
    const ends = inputs.map((i, k) => (starts[k] as number) + i.summary.durationMs)
    const startedMs = Math.min(...starts)
    const daemons = [...new Set(inputs.flatMap((i) => i.summary.daemons ?? []))]
    const mergedFrom: MergedRun[] = inputs.map((i) => ({
      dir: i.dir,
      startedAt: i.summary.startedAt,
      durationMs: i.summary.durationMs,
      scenarios: i.scenarios.length,
      ...(i.summary.shard ? { shard: i.summary.shard } : {}),
    }))
    const summary = summarizeRun(verdicts, {
      backend: inputs[0]?.summary.backend ?? 'unknown',
      resultsDir: outDir,
      startedMs,
      durationMs: Math.max(...ends) - startedMs,
      daemons,
      mergedFrom,
    })
    const written = await writeRunFiles(outDir, summary, verdicts)
    if (written.error) warnings.push(`could not draw ${written.file}: ${written.error.split('\n')[0] ?? ''}`)
    return {
      outDir,
      summary,
      verdicts,
      files: [RUN_FILES.summary, RUN_FILES.junit, RUN_FILES.tap, RUN_FILES.index].map((f) => path.join(outDir, f)),
      warnings,
    }
  } catch (e: unknown) {
    // Nothing left behind: the output is removed when this call made it, else emptied again.
    if (created) await rm(outDir, { recursive: true, force: true }).catch(() => undefined)
    else for (const f of readdirSync(outDir)) await rm(path.join(outDir, f), { recursive: true, force: true }).catch(() => undefined)
    throw e
  }
}

function readInput(dir: string): Input {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    throw new MergeError(`${dir}: no such results directory`, { hint: 'pass the directories `tcplab run --results DIR` wrote (one per shard)' })
  }
  if (isScenarioDir(dir)) {
    throw new MergeError(`${dir}: one scenario's folder, not a run's results directory`, { hint: `pass the run directory above it (${path.dirname(dir)})` })
  }
  if (!existsSync(path.join(dir, RUN_FILES.summary))) {
    throw new MergeError(`${dir}: no summary.json: not a finished run (it is written when the run ends, also on Ctrl-C)`, {
      hint: 'run that shard again; a run that crashed left no summary to merge',
    })
  }
  const run = readRunResults(dir, { records: false })
  const summary = run.summary
  if (!summary || !Array.isArray(summary.scenarios) || typeof summary.backend !== 'string' || typeof summary.startedAt !== 'string') {
    throw new MergeError(`${dir}/summary.json: not a tcplab run summary (backend, startedAt, scenarios)`)
  }
  const byName = new Map(run.scenarios.map((s) => [s.verdict.name, s]))
  const scenarios = summary.scenarios.map((entry) => {
    const s = byName.get(entry.name)
    if (!s) {
      throw new MergeError(`${dir}: summary.json lists scenario "${entry.name}" but there is no folder with its verdict.json`, {
        hint: 'the directory was copied incompletely (CI artifacts: upload the whole results directory)',
      })
    }
    return { name: entry.name, folder: s.dir, verdict: s.verdict }
  })
  const envs = run.scenarios.map((s) => s.env).filter((e) => e !== undefined)
  return {
    dir,
    real: realpathSync(dir),
    run,
    summary,
    scenarios,
    version: envs.find((e) => e.tcplab !== undefined)?.tcplab,
    formatVersion: (summary as { formatVersion?: unknown }).formatVersion,
    overrides: JSON.stringify(sortKeys(envs.find((e) => e.sysctlOverrides !== undefined)?.sysctlOverrides ?? {})),
  }
}

function checkOverlaps(inputs: readonly Input[], outDir: string): void {
  const seen = new Map<string, string>()
  for (const i of inputs) {
    const other = seen.get(i.real)
    if (other !== undefined) throw new MergeError(`${i.dir} and ${other} are the same directory`, { hint: 'name each results directory once' })
    seen.set(i.real, i.dir)
  }
  const owner = new Map<string, string>()
  const twice: string[] = []
  for (const i of inputs) {
    for (const s of i.scenarios) {
      const o = owner.get(s.name)
      if (o !== undefined) twice.push(`${s.name} (in ${o} and ${i.dir})`)
      else owner.set(s.name, i.dir)
    }
  }
  if (twice.length > 0) {
    throw new MergeError(`overlapping inputs: ${twice.length} scenario(s) ran in more than one of them: ${twice.slice(0, 5).join(', ')}${twice.length > 5 ? ', ...' : ''}`, {
      hint: 'merge the shards of one run (--shard 1/N ... N/N), or runs of disjoint sets of scenarios; compare two runs of the same scenarios with `tcplab diff`',
    })
  }
  const out = path.resolve(outDir)
  const outReal = existsSync(out) ? realpathSync(out) : out
  for (const i of inputs) {
    if (isInside(outReal, i.real) || isInside(i.real, outReal)) {
      throw new MergeError(`--out ${outDir} overlaps the input ${i.dir}`, { hint: 'write the merged results to a new directory, e.g. --out results/merged' })
    }
  }
  if (existsSync(out)) {
    if (!statSync(out).isDirectory()) throw new MergeError(`--out ${outDir} exists and is not a directory`)
    if (readdirSync(out).length > 0) throw new MergeError(`--out ${outDir} exists and is not empty`, { hint: 'name a new directory; merge never overwrites results' })
  }
}

function checkCompatible(inputs: readonly Input[]): void {
  const differ = (what: string, value: (i: Input) => string, hint: string): void => {
    const values = new Map<string, string[]>()
    for (const i of inputs) values.set(value(i), [...(values.get(value(i)) ?? []), i.dir])
    if (values.size > 1) {
      throw new MergeError(`incompatible inputs: ${what} differ: ${[...values].map(([v, ds]) => `${v} (${ds.join(', ')})`).join('; ')}`, { hint })
    }
  }
  differ('backends', (i) => i.summary.backend, 'merge runs of one backend; compare runs across backends with `tcplab diff DIR_A DIR_B`')
  differ('tcplab versions', (i) => i.version ?? 'unknown', 'run every shard with the same tcplab version')
  // Results written before formatVersion existed have version 1's layout.
  differ('summary format versions', (i) => String(i.formatVersion ?? RESULTS_FORMAT_VERSION), 'run every shard with the same tcplab version')
  differ('--sysctl overrides', (i) => i.overrides, 'run every shard with the same --sysctl options (compare different ones with `tcplab diff`)')
  const sharded = inputs.filter((i) => i.summary.shard !== undefined)
  if (sharded.length > 0 && sharded.length < inputs.length) {
    const plain = inputs.filter((i) => i.summary.shard === undefined).map((i) => i.dir)
    throw new MergeError(`incompatible inputs: shards (${sharded.map((i) => i.dir).join(', ')}) mixed with unsharded runs (${plain.join(', ')})`, {
      hint: 'merge the shards of one run together; an unsharded run is complete on its own',
    })
  }
  if (sharded.length === 0) return
  differ('shard counts', (i) => `/${(i.summary.shard as RunShard).total}`, 'every job of the matrix must pass the same N to --shard i/N')
  differ('selections (the scenarios the shards were cut from)', (i) => {
    const s = i.summary.shard as RunShard
    return `${s.selectionCount} scenarios, sha256 ${s.selectionSha256.slice(0, 12)}`
  }, 'every shard must select the same scenarios (same paths, --tag, and scenario files at the same commit)')
  const byIndex = new Map<number, string>()
  for (const i of sharded) {
    const k = (i.summary.shard as RunShard).index
    const other = byIndex.get(k)
    if (other !== undefined) throw new MergeError(`overlapping inputs: ${other} and ${i.dir} are both shard ${k}/${(i.summary.shard as RunShard).total}`)
    byIndex.set(k, i.dir)
  }
}

/** Missing shards, or fewer scenarios than the selection had (a shard interrupted). */
function shardWarnings(inputs: readonly Input[]): string[] {
  const first = inputs[0]?.summary.shard
  if (!first) return []
  const present = new Set(inputs.map((i) => (i.summary.shard as RunShard).index))
  const missing: number[] = []
  for (let k = 1; k <= first.total; k++) if (!present.has(k)) missing.push(k)
  const merged = inputs.reduce((n, i) => n + i.scenarios.length, 0)
  const out: string[] = []
  if (missing.length > 0) out.push(`shard${missing.length > 1 ? 's' : ''} ${missing.map((k) => `${k}/${first.total}`).join(', ')} missing`)
  if (merged < first.selectionCount) out.push(`the merged run has ${merged} of the ${first.selectionCount} scenarios selected`)
  return out
}

function isInside(child: string, parent: string): boolean {
  const rel = path.relative(parent, child)
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel))
}

function sortKeys(o: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(o).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
}
