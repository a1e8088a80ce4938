// index.html of a run: every scenario with its status, its expectations
// counted, what failed (measured against expected), and a link to its report.

import type { MergedRun, RunSummary, ScenarioVerdict } from '../expect/verdict.js'
import { formatMs } from '../util/duration.js'
import { escapeXml as x } from './escape.js'
import type { EnvView } from './results.js'
import { REPORT_CSS } from './styles.js'

export interface IndexEntry {
  verdict: ScenarioVerdict
  /** Folder name inside the run directory. */
  folder: string
  hasReport: boolean
  env?: EnvView | undefined
}

/** The HTML of a run's index.html. */
export function renderIndexPage(entries: readonly IndexEntry[], summary: RunSummary | undefined, runDir: string): string {
  const count = (st: string): number => entries.filter((e) => e.verdict.status === st).length
  const overall = summary?.interrupted || count('interrupted') > 0 ? 'interrupted' : count('error') > 0 ? 'error' : count('fail') > 0 ? 'fail' : entries.length > 0 && count('skip') === entries.length ? 'skip' : 'pass'
  const kernels = [...new Set(entries.map((e) => e.env?.kernel).filter((k): k is string => !!k))]
  const overrides = entries.find((e) => e.env?.sysctlOverrides && Object.keys(e.env.sysctlOverrides).length > 0)?.env?.sysctlOverrides
  const manyDaemons = new Set(entries.map((e) => e.verdict.daemon)).size > 1
  const rows = entries.map((e) => {
    const v = e.verdict
    const n = (st: string): number => v.results.filter((r) => r.status === st).length
    const failures = v.results
      .filter((r) => r.status === 'fail' || r.status === 'error')
      .map((r) => `<div><b>#${r.index + 1}</b> ${x(r.description)}<br><span class="muted">expected</span> ${x(r.expected)}<br><span class="muted">measured</span> ${x(r.measured)}</div>`)
    const note = v.interrupted ? `<div class="muted">interrupted${v.interrupted.atT !== undefined ? ` at t = ${v.interrupted.atT.toFixed(3)}s` : ''} (${x(v.interrupted.how)})</div>` : v.error ? `<div><b>${x(v.error.code)}</b> ${x(v.error.message.split('\n')[0] ?? '')}</div>` : v.reason ? `<div class="muted">${x(v.reason)}</div>` : ''
    const href = e.hasReport ? `${encodeURIComponent(e.folder)}/report.html` : `${encodeURIComponent(e.folder)}/`
    const where = manyDaemons && v.daemon ? `<br><span class="muted">on ${x(v.daemon)}</span>` : ''
    return `<tr class="${v.status}"><td><span class="badge ${v.status}">${v.status}</span></td><td><a href="${x(href)}">${x(v.name)}</a><br><span class="muted">${x(v.title)}</span>${where}</td><td class="num">${n('pass')} ✓ ${n('fail') ? `<b style="color:var(--fail)">${n('fail')} ✗</b>` : '0 ✗'} ${n('skip') ? `${n('skip')} skipped` : ''}</td><td class="num">${x(formatMs(v.durationMs))}</td><td>${failures.join('')}${note}</td></tr>`
  })
  const meta = [
    `<span><b>results</b> ${x(runDir)}</span>`,
    summary ? `<span><b>started</b> ${x(summary.startedAt)}</span>` : '',
    summary ? `<span><b>took</b> ${x(formatMs(summary.durationMs))}</span>` : '',
    `<span><b>backend</b> ${x(summary?.backend ?? entries[0]?.verdict.backend ?? '?')}</span>`,
    kernels.length ? `<span><b>kernel</b> ${x(kernels.join(', '))}</span>` : '',
    overrides ? `<span><b>--sysctl</b> ${x(Object.entries(overrides).map(([k, v]) => `${k}=${v}`).join(' '))}</span>` : '',
    summary?.daemons?.length ? `<span><b>daemon${summary.daemons.length > 1 ? 's' : ''}</b> ${x(summary.daemons.join(', '))}</span>` : '',
    summary?.shard ? `<span><b>shard</b> ${summary.shard.index}/${summary.shard.total} of ${summary.shard.selectionCount} scenarios</span>` : '',
    summary?.mergedFrom ? `<span><b>merged from</b> ${x(describeMerged(summary.mergedFrom))}</span>` : '',
  ].filter(Boolean)
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${x(`${overall.toUpperCase()} tcplab run ${runDir}`)}</title><style>${REPORT_CSS}</style></head><body><main>
<h1><span class="badge ${overall}">${overall}</span> tcplab run</h1>
<div class="meta">${meta.join('')}</div>
<div class="banner ${overall}"><div class="what">${entries.length} scenario${entries.length === 1 ? '' : 's'}: ${count('pass')} passed, ${count('fail')} failed, ${count('error')} errors, ${count('skip')} skipped</div></div>
<table><tr><th>result</th><th>scenario</th><th>expectations</th><th>took</th><th>what failed</th></tr>
${rows.join('\n')}
</table>
<p class="muted">Each report is self-contained: open it from disk, no network needed. <a href="summary.json">summary.json</a></p>
</main></body></html>
`
}

/** "2 runs: shards 1/3, 3/3 (2/3 missing)" or "2 runs: results/a, results/b". */
export function describeMerged(from: readonly MergedRun[]): string {
  const runs = `${from.length} run${from.length === 1 ? '' : 's'}`
  const total = from[0]?.shard?.total
  if (total === undefined) return `${runs}: ${from.map((m) => m.dir).join(', ')}`
  const present = from.map((m) => m.shard?.index ?? 0).sort((a, b) => a - b)
  const missing: number[] = []
  for (let k = 1; k <= total; k++) if (!present.includes(k)) missing.push(k)
  return `${runs}: shards ${present.map((k) => `${k}/${total}`).join(', ')}${missing.length ? ` (${missing.map((k) => `${k}/${total}`).join(', ')} missing)` : ''}`
}
