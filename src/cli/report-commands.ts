// `tcplab report DIR` and `tcplab diff A B`: commands over results
// directories (no lab, no root needed).

import { UsageError } from '../util/errors.js'
import { DEFAULT_DIFF_TOLERANCE } from '../diff/index.js'
import { defineCommand } from './command.js'

/** Regenerate report.html of every scenario and the run's index.html; exit 1 when a report could not be drawn. */
export const reportCommand = defineCommand({
  name: 'report',
  summary: 'regenerate report.html and index.html of results directories',
  positionals: [{ name: 'DIR', required: true, variadic: true, complete: 'dir', description: 'a results directory (what `tcplab run --results DIR` wrote)' }],
  options: {},
  examples: [{ description: 'redraw the reports of a run', command: 'tcplab report results/2026-12-01T10-00-00' }],
  async run(ctx) {
    const dirs = ctx.positionals
    const { regenerateReports } = await import('../report/index.js')
    let failed = 0
    for (const dir of dirs) {
      for (const w of await regenerateReports(dir)) {
        if (w.error) {
          failed++
          ctx.err.write(`tcplab: cannot draw ${w.file}: ${w.error.split('\n')[0] ?? ''}\n`)
        } else ctx.out.write(`wrote ${w.file}\n`)
      }
    }
    return failed > 0 ? 1 : 0
  },
})

/** Compare two results directories; exit 1 when something regressed, 0 otherwise, 2 on bad input. */
export const diffCommand = defineCommand({
  name: 'diff',
  summary: 'compare two runs (verdicts, timings, kernels, sysctls); exit 1 on a regression',
  positionals: [
    { name: 'DIR_A', required: true, complete: 'dir', description: 'the baseline results directory' },
    { name: 'DIR_B', required: true, complete: 'dir', description: 'the results directory to compare with it' },
  ],
  options: {
    json: { type: 'boolean', description: 'the comparison as JSON' },
    verbose: { type: 'boolean', short: 'v', description: 'also list what did not change' },
    tolerance: { type: 'string', valueName: 'MS', defaultText: String(DEFAULT_DIFF_TOLERANCE.floorMs), description: 'timing changes below this many ms are not regressions' },
    percent: { type: 'string', valueName: 'PCT', defaultText: String(DEFAULT_DIFF_TOLERANCE.percent), description: 'timing changes below this percentage are not regressions' },
  },
  examples: [{ description: 'what changed between yesterday\'s run and today\'s', command: 'tcplab diff results/monday results/tuesday' }],
  async run(ctx) {
    const [a, b] = ctx.positionals as [string, string]
    const [{ readRunResults }, { diffRuns, formatDiffText }] = await Promise.all([import('../report/index.js'), import('../diff/index.js')])
    const floorMs = parseNumber(ctx.values.tolerance, 'tolerance') ?? DEFAULT_DIFF_TOLERANCE.floorMs
    const percent = parseNumber(ctx.values.percent, 'percent') ?? DEFAULT_DIFF_TOLERANCE.percent
    const d = diffRuns(readRunResults(a), readRunResults(b), { floorMs, percent })
    if (ctx.values.json) ctx.out.write(`${JSON.stringify(d, null, 2)}\n`)
    else ctx.out.write(formatDiffText(d, { verbose: ctx.values.verbose === true }))
    return d.regressed ? 1 : 0
  },
})

function parseNumber(v: unknown, name: string): number | undefined {
  if (v === undefined) return undefined
  const n = Number(v)
  if (!Number.isFinite(n) || n < 0) throw new UsageError(`--${name} expects a number >= 0, got "${String(v)}"`)
  return n
}

/** Build matrix.html from one results directory per kernel (column order as given); exit 0, 2 on bad input. */
export const matrixCommand = defineCommand({
  name: 'matrix',
  summary: 'build matrix.html from one results directory per kernel: scenario x kernel verdicts and what changed',
  positionals: [{ name: 'DIR', required: true, variadic: true, complete: 'dir', description: 'one results directory per kernel, in column order' }],
  options: {
    out: { type: 'string', short: 'o', valueName: 'FILE', defaultText: 'matrix.html in the directories\' common parent', complete: 'file', description: 'where to write the page' },
    json: { type: 'boolean', description: 'the matrix as JSON on stdout' },
    tolerance: { type: 'string', valueName: 'MS', defaultText: String(DEFAULT_DIFF_TOLERANCE.floorMs), description: 'timing changes below this many ms are not differences' },
    percent: { type: 'string', valueName: 'PCT', defaultText: String(DEFAULT_DIFF_TOLERANCE.percent), description: 'timing changes below this percentage are not differences' },
  },
  examples: [{ description: 'the page of a kernel matrix run', command: 'tcplab matrix results/m/kernel-6.1 results/m/kernel-6.12 results/m/kernel-host' }],
  async run(ctx) {
    const dirs = ctx.positionals
    if (dirs.length === 0) throw new UsageError('matrix expects one results directory per kernel: tcplab matrix DIR...')
    const { writeMatrixPage, formatMatrixText, DEFAULT_DIFF_TOLERANCE } = await import('../diff/index.js')
    const path = await import('node:path')
    const floorMs = parseNumber(ctx.values.tolerance, 'tolerance') ?? DEFAULT_DIFF_TOLERANCE.floorMs
    const percent = parseNumber(ctx.values.percent, 'percent') ?? DEFAULT_DIFF_TOLERANCE.percent
    // Next to the runs by default: their common parent (where `run --kernel` puts them).
    const file = (ctx.values.out as string | undefined) ?? path.join(commonParent(dirs.map((d) => path.resolve(d))), 'matrix.html')
    const m = await writeMatrixPage(dirs, file, { floorMs, percent })
    if (ctx.values.json) ctx.out.write(`${JSON.stringify({ ...m, rows: m.rows.map((r) => ({ ...r, differences: r.differences.map(({ diff: _d, ...rest }) => rest) })) }, null, 2)}\n`)
    else ctx.out.write(formatMatrixText(m))
    ctx.err.write(`wrote ${file}\n`)
    return 0
  },
})

function commonParent(dirs: readonly string[]): string {
  const parents = dirs.map((d) => d.split('/').slice(0, -1))
  const first = parents[0] ?? []
  let n = first.length
  for (const p of parents) {
    let i = 0
    while (i < n && p[i] === first[i]) i++
    n = i
  }
  return first.slice(0, n).join('/') || '/'
}
