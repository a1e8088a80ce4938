// Kernel matrix figures from results directories (one per kernel, as `tcplab run --kernel` or
// `tcplab run --results DIR` wrote them): per kernel the verdicts and the suite's wall time, per
// neighbouring pair the scenarios that differ and whether the known differences were found
// unprompted (the SYN schedule's shape with the sysctl that governs it, the zero-window byte
// count), and how long building the matrix took. /proc/loadavg beside each figure. Asserts nothing.
//
//   node --import tsx bench/kernels-matrix.ts RESULTS_DIR...
//   (with no argument: the recorded runs under test/fixtures/runs)

import { readFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { readRunResults } from '../src/report/results.js'
import { buildKernelMatrix } from '../src/diff/index.js'

const loadavg = (): string => `loadavg ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}`
const here = path.dirname(fileURLToPath(import.meta.url))
const dirs = process.argv.length > 2 ? process.argv.slice(2) : ['default-a', 'linear-0'].map((d) => path.join(here, '../test/fixtures/runs', d))

const t0 = performance.now()
const runs = dirs.map((d) => readRunResults(d))
const tRead = performance.now()
const m = buildKernelMatrix(runs)
const tBuild = performance.now()

console.log(`kernel matrix of ${m.columns.length} runs, ${m.rows.length} scenarios; read ${(tRead - t0).toFixed(0)} ms, built ${(tBuild - tRead).toFixed(0)} ms; ${loadavg()}`)
for (const [i, c] of m.columns.entries()) {
  const took = runs[i]?.summary?.durationMs
  console.log(`  ${c.label.padEnd(48)} ${c.counts.pass} pass, ${c.counts.fail} fail, ${c.counts.error} error${took !== undefined ? `, suite ${(took / 1000).toFixed(1)} s wall` : ''}`)
}
for (const p of m.pairs) {
  const a = m.columns[p.from]?.label ?? ''
  const b = m.columns[p.to]?.label ?? ''
  const diffs = m.rows.flatMap((r) => r.differences.filter((d) => d.from === p.from && d.to === p.to).map((d) => ({ name: r.name, d })))
  const synShape = diffs.find(({ d }) => /SYN schedule .*(doubling|linear).*→/.test(d.headline))
  const synNamed = synShape && /tcp_syn_linear_timeouts/.test(synShape.d.headline)
  const zeroWindow = diffs.find(({ d }) => d.changes.some((c) => /payload bytes|bytes/.test(c)))
  console.log(`  ${a} → ${b}: ${diffs.length} scenario(s) differ; sysctls only on B ${p.onlyTo.length}, only on A ${p.onlyFrom.length}, defaults changed ${p.defaults.length}`)
  console.log(`    SYN schedule shape change found: ${synShape ? `yes (${synShape.name})` : 'no'}; sysctl named: ${synNamed ? 'yes' : 'no'}`)
  console.log(`    byte-count change found: ${zeroWindow ? `yes (${zeroWindow.name})` : 'no'}`)
}
