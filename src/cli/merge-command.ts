// `tcplab merge DIR... [--out DIR]`: the results directories of several runs
// (the shards of a CI matrix) into one, with one summary.json, index.html,
// junit.xml and results.tap (src/report/merge.ts). Exit 0 when every merged
// scenario passed (or was skipped), 1 when one failed or errored, 2 when the
// inputs cannot be merged (nothing is written then).

import path from 'node:path'
import { UsageError } from '../util/errors.js'
import type { Command } from './commands.js'

export const mergeCommand: Command = {
  options: { out: { type: 'string', short: 'o' } },
  async run(ctx) {
    if (ctx.positionals.length === 0) throw new UsageError('merge expects results directories: tcplab merge DIR... [--out DIR]', { hint: 'tcplab merge results/shard-1 results/shard-2 --out results/all' })
    const outDir = (ctx.values.out as string | undefined) ?? path.join('results', `merged-${new Date().toISOString().replace(/:/g, '-').replace(/\..*$/, '')}`)
    const { mergeResults, summaryLine } = await import('../report/index.js')
    const m = await mergeResults(ctx.positionals, { outDir })
    for (const w of m.warnings) ctx.err.write(`tcplab: warning: ${w}\n`)
    ctx.out.write(`merged ${ctx.positionals.length} run(s) into ${m.outDir}: ${m.files.map((f) => path.basename(f)).join(', ')}\n${summaryLine(m.summary)}\n`)
    return m.verdicts.some((v) => v.status === 'fail' || v.status === 'error') ? 1 : 0
  },
}
