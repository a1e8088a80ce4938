// The kernel matrix: the same suite's results on several kernels (one results
// directory per kernel, as `tcplab run --results DIR` writes them), as
// scenario x kernel verdicts, and for each scenario whose results differ
// between neighbouring columns, the diff's explanation. Kernels also differ
// in what they have: the sysctls present on one kernel and not the other, and
// defaults that changed, are listed once per pair of columns.

import path from 'node:path'
import type { ScenarioStatus } from '../expect/verdict.js'
import type { EnvView, RunResults, ScenarioResult } from '../report/results.js'
import { DEFAULT_DIFF_TOLERANCE, diffScenario, type DiffOptions, type ScenarioDiff } from './compare.js'
import { explainScenarioDiff } from './explain.js'

export interface MatrixColumn {
  /** The results directory. */
  dir: string
  /** What the column is called: the kernel (and the --sysctl of the run, if any). */
  label: string
  kernel?: string | undefined
  backend?: string | undefined
  sysctlOverrides: Record<string, string>
  counts: Record<ScenarioStatus, number>
}

export interface MatrixCell {
  status?: ScenarioStatus | undefined
  /** Path of the scenario's folder, relative to the page when written. */
  scenarioDir?: string | undefined
  durationMs?: number | undefined
}

/** One scenario's difference between two columns. */
export interface MatrixDifference {
  from: number
  to: number
  status: ScenarioDiff['status']
  /** One line: the change that matters most and its likely cause. */
  headline: string
  changes: string[]
  causes: string[]
  diff: ScenarioDiff
}

export interface MatrixRow {
  name: string
  title?: string | undefined
  cells: MatrixCell[]
  /** Verdicts not all the same. */
  verdictsDiffer: boolean
  differences: MatrixDifference[]
}

/** What distinguishes two kernels, whatever the scenarios did. */
export interface KernelPairDifference {
  from: number
  to: number
  /** net.* sysctls that only one side's kernel has. */
  onlyFrom: string[]
  onlyTo: string[]
  /** Defaults (the value most hosts had) that differ, e.g. tcp_rmem. */
  defaults: Array<{ key: string; from: string; to: string }>
}

export interface KernelMatrix {
  columns: MatrixColumn[]
  rows: MatrixRow[]
  pairs: KernelPairDifference[]
  tolerance: { floorMs: number; percent: number }
}

const STATUSES: ScenarioStatus[] = ['pass', 'fail', 'error', 'skip']

/** Build the matrix of runs given in column order (e.g. oldest kernel first); neighbours are compared. */
export function buildKernelMatrix(runs: readonly RunResults[], opts: DiffOptions = {}): KernelMatrix {
  const tol = { floorMs: opts.floorMs ?? DEFAULT_DIFF_TOLERANCE.floorMs, percent: opts.percent ?? DEFAULT_DIFF_TOLERANCE.percent }
  const columns = runs.map((r) => describeColumn(r))
  // Two columns on the same kernel with the same settings would share a label: the folder tells them apart.
  const shared = new Set(columns.map((c) => c.label).filter((l, i, all) => all.indexOf(l) !== i))
  for (const c of columns) if (shared.has(c.label)) c.label = `${c.label} (${path.basename(c.dir)})`
  const byName = runs.map((r) => new Map(r.scenarios.map((s) => [s.verdict.name, s])))
  const names: string[] = []
  for (const r of runs) for (const s of r.scenarios) if (!names.includes(s.verdict.name)) names.push(s.verdict.name)
  const rows: MatrixRow[] = names.map((name) => {
    const results = byName.map((m) => m.get(name))
    const cells: MatrixCell[] = results.map((s) => ({ status: s?.verdict.status, scenarioDir: s?.dir, durationMs: s?.verdict.durationMs }))
    const differences: MatrixDifference[] = []
    for (let i = 1; i < runs.length; i++) {
      const a = results[i - 1]
      const b = results[i]
      if (!a && !b) continue
      const diff = diffScenario(name, a, b, tol)
      if (diff.status === 'same') continue
      const { headline, changes, causes } = explainScenarioDiff(diff)
      differences.push({ from: i - 1, to: i, status: diff.status, headline, changes, causes, diff })
    }
    const statuses = new Set(cells.map((c) => c.status ?? 'missing'))
    return { name, title: results.find((s) => s)?.verdict.title, cells, verdictsDiffer: statuses.size > 1, differences }
  })
  const pairs: KernelPairDifference[] = []
  for (let i = 1; i < runs.length; i++) pairs.push(diffKernelFacts(runs[i - 1] as RunResults, runs[i] as RunResults, i - 1, i))
  return { columns, rows, pairs, tolerance: tol }
}

function describeColumn(r: RunResults): MatrixColumn {
  const env = r.scenarios.find((s) => s.env)?.env
  const overrides = env?.sysctlOverrides ?? {}
  const kernel = env?.kernel
  const extra = Object.entries(overrides).map(([k, v]) => `${k.replace(/^net\.ipv4\./, '')}=${v}`).join(' ')
  const counts = Object.fromEntries(STATUSES.map((s) => [s, r.scenarios.filter((x) => x.verdict.status === s).length])) as Record<ScenarioStatus, number>
  return { dir: r.dir, label: `${kernel ?? path.basename(r.dir)}${extra ? ` + ${extra}` : ''}`, kernel, backend: env?.backend, sysctlOverrides: overrides, counts }
}

/** Every sysctl key any host of any scenario had, and each key's most common value. */
function kernelSysctls(r: RunResults): Map<string, string> {
  const seen = new Map<string, Map<string, number>>()
  for (const s of r.scenarios) for (const h of Object.values(s.env?.hosts ?? {})) {
    for (const [k, v] of Object.entries(h.sysctls ?? {})) {
      const m = seen.get(k) ?? new Map<string, number>()
      m.set(v, (m.get(v) ?? 0) + 1)
      seen.set(k, m)
    }
  }
  const out = new Map<string, string>()
  for (const [k, m] of seen) out.set(k, [...m.entries()].sort((x, y) => y[1] - x[1])[0]?.[0] ?? '')
  return out
}

/** Sysctls that vary between namespaces or boots and say nothing about the kernel. */
const VOLATILE = /hash_seed|boot_id|random|\.uuid$|netdev_rss_key|tcp_fastopen_key|ip_forward$/

function diffKernelFacts(a: RunResults, b: RunResults, from: number, to: number): KernelPairDifference {
  const sa = kernelSysctls(a)
  const sb = kernelSysctls(b)
  const overridden = new Set([...Object.keys(envOf(a)?.sysctlOverrides ?? {}), ...Object.keys(envOf(b)?.sysctlOverrides ?? {})])
  const onlyFrom = [...sa.keys()].filter((k) => !sb.has(k) && !VOLATILE.test(k)).sort()
  const onlyTo = [...sb.keys()].filter((k) => !sa.has(k) && !VOLATILE.test(k)).sort()
  const defaults = [...sa.entries()]
    .filter(([k, v]) => sb.has(k) && sb.get(k) !== v && !VOLATILE.test(k) && !overridden.has(k))
    .map(([k, v]) => ({ key: k, from: v, to: sb.get(k) as string }))
    .sort((x, y) => x.key.localeCompare(y.key))
  return { from, to, onlyFrom, onlyTo, defaults }
}

function envOf(r: RunResults): EnvView | undefined {
  return r.scenarios.find((s: ScenarioResult) => s.env)?.env
}
