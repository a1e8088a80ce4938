// `tcplab merge DIR... [--out DIR]`: the results directories of several runs
// (the shards of a CI matrix) into one, with one summary.json, index.html,
// junit.xml and results.tap (src/report/merge.ts). Exit 0 when every merged
// scenario passed (or was skipped), 1 when one failed or errored, 2 when the
// inputs cannot be merged (nothing is written then).

import path from 'node:path'
import { defineCommand } from './command.js'
import { timestampedResultsDir } from './results-dir.js'

export const mergeCommand = defineCommand({
  name: 'merge',
  summary: 'merge results directories (the shards of a run) into one, with one summary, report, JUnit and TAP file',
  positionals: [{ name: 'DIR', variadic: true, required: true, complete: 'dir', description: 'results directories written by tcplab run (e.g. one per --shard)' }],
  options: {
    out: { type: 'string', short: 'o', valueName: 'DIR', defaultText: 'results/merged-<timestamp>', complete: 'dir', description: 'the merged results directory' },
  },
  examples: [
    { description: 'the two halves of a sharded run, as one', command: 'tcplab merge results/shard-1 results/shard-2 --out results/all' },
  ],
  async run(ctx) {
    const outDir = ctx.values.out ?? timestampedResultsDir('merged-')
    const { mergeResults, summaryLine } = await import('../report/index.js')
    const m = await mergeResults(ctx.positionals, { outDir })
    for (const w of m.warnings) ctx.err.write(`tcplab: warning: ${w}\n`)
    ctx.out.write(`merged ${ctx.positionals.length} run(s) into ${m.outDir}: ${m.files.map((f) => path.basename(f)).join(', ')}\n${summaryLine(m.summary)}\n`)
    return m.verdicts.some((v) => v.status === 'fail' || v.status === 'error') ? 1 : 0
  },
})
