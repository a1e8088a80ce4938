// matrix.html: scenario x kernel verdicts, then for each scenario whose
// results differ between neighbouring columns what changed and what explains
// it, then what distinguishes the kernels themselves (sysctls that one has and
// the other lacks, changed defaults). Self-contained like the other reports.

import { existsSync } from 'node:fs'
import { writeFile } from 'node:fs/promises'
import path from 'node:path'
import { escapeXml as x } from '../report/escape.js'
import { REPORT_CSS } from '../report/styles.js'
import { readRunResults } from '../report/results.js'
import type { DiffOptions } from './compare.js'
import { buildKernelMatrix, type KernelMatrix, type MatrixDifference } from './matrix.js'

const MATRIX_CSS = `
table.matrix td, table.matrix th { text-align: center; }
table.matrix td.name, table.matrix th.name { text-align: left; }
table.matrix tr.differs td.name { border-left: 4px solid #ef6c00; }
.delta { color: #ef6c00; font-weight: 700; text-decoration: none; margin-left: 4px; }
.diff { margin: 10px 0 18px; }
.diff h3 { font-size: 15px; margin: 14px 0 4px; }
.diff .pair { margin: 6px 0 10px 10px; }
.diff .headline { font-weight: 600; margin: 3px 0; color: #bf360c; }
.diff ul { margin: 2px 0 2px 0; padding-left: 20px; }
.diff li.cause { color: #5d4037; }
.kern ul { columns: 2; font-size: 12.5px; }
`

/** Render the page; `outDir` is where it will be written (links to scenario reports are relative to it). */
export function renderMatrixPage(m: KernelMatrix, outDir: string): string {
  const rel = (p: string): string => path.relative(outDir, p).split(path.sep).map(encodeURIComponent).join('/')
  const head = m.columns.map((c) => `<th title="${x(c.dir)}">${x(c.label)}<br><span class="muted">${x(c.backend ?? '')} · ${c.counts.pass}/${c.counts.pass + c.counts.fail + c.counts.error} passed</span></th>`).join('')
  const rows = m.rows.map((r) => {
    const differs = r.differences.length > 0
    const cells = r.cells.map((c, i) => {
      if (!c.status) return '<td class="muted">—</td>'
      const report = c.scenarioDir && existsSync(path.join(c.scenarioDir, 'report.html')) ? `${rel(c.scenarioDir)}/report.html` : c.scenarioDir ? `${rel(c.scenarioDir)}/` : undefined
      const badge = `<span class="badge ${c.status}">${c.status}</span>`
      const delta = r.differences.some((d) => d.to === i) ? `<a class="delta" href="#d-${x(anchor(r.name))}" title="differs from the column before">Δ</a>` : ''
      return `<td>${report ? `<a href="${x(report)}">${badge}</a>` : badge}${delta}</td>`
    }).join('')
    return `<tr class="${differs ? 'differs' : ''}"><td class="name"><b>${x(r.name)}</b>${r.title ? `<br><span class="muted">${x(r.title)}</span>` : ''}</td>${cells}</tr>`
  })
  const withDiffs = m.rows.filter((r) => r.differences.length > 0)
  const diffs = withDiffs.map((r) => `<div class="diff" id="d-${x(anchor(r.name))}"><h3>${x(r.name)}</h3>${r.differences.map((d) => renderDifference(m, d)).join('')}</div>`)
  const kernels = m.pairs.map((p) => {
    const a = m.columns[p.from]?.label ?? ''
    const b = m.columns[p.to]?.label ?? ''
    const list = (keys: string[]): string => (keys.length ? `<ul>${keys.map((k) => `<li><code>${x(k)}</code></li>`).join('')}</ul>` : '<p class="muted">none</p>')
    return `<div class="kern"><h3>${x(a)} → ${x(b)}</h3>
<details${p.onlyTo.length + p.onlyFrom.length <= 12 ? ' open' : ''}><summary>sysctls only on ${x(b)} (${p.onlyTo.length}), only on ${x(a)} (${p.onlyFrom.length})</summary>
<b>only on ${x(b)}</b>${list(p.onlyTo)}<b>only on ${x(a)}</b>${list(p.onlyFrom)}</details>
<details><summary>defaults that differ (${p.defaults.length})</summary>${p.defaults.length ? `<table><tr><th>sysctl</th><th>${x(a)}</th><th>${x(b)}</th></tr>${p.defaults.map((d) => `<tr><td><code>${x(d.key)}</code></td><td class="mono">${x(d.from)}</td><td class="mono">${x(d.to)}</td></tr>`).join('')}</table>` : '<p class="muted">none</p>'}</details></div>`
  })
  const total = m.rows.length
  const differing = withDiffs.length
  const verdictDiff = m.rows.filter((r) => r.verdictsDiffer).length
  const overall = m.columns.some((c) => c.counts.error > 0) ? 'error' : m.columns.some((c) => c.counts.fail > 0) ? 'fail' : 'pass'
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>tcplab kernel matrix: ${x(m.columns.map((c) => c.label).join(', '))}</title><style>${REPORT_CSS}${MATRIX_CSS}</style></head><body><main>
<h1><span class="badge ${overall}">${overall}</span> tcplab kernel matrix</h1>
<div class="meta">${m.columns.map((c) => `<span><b>${x(c.label)}</b> ${x(c.dir)}</span>`).join('')}<span><b>timing tolerance</b> max(${m.tolerance.floorMs}ms, ${m.tolerance.percent}%)</span></div>
<div class="banner ${overall}"><div class="what">${total} scenario${total === 1 ? '' : 's'} on ${m.columns.length} kernel${m.columns.length === 1 ? '' : 's'}: ${verdictDiff} with verdicts that differ, ${differing} whose measurements differ between neighbouring columns</div></div>
<table class="matrix"><tr><th class="name">scenario</th>${head}</tr>
${rows.join('\n')}
</table>
<h2>What differs, and why</h2>
${diffs.length ? diffs.join('\n') : '<p class="muted">Every scenario measured the same on every kernel (within tolerance).</p>'}
<h2>What the kernels have</h2>
${kernels.join('\n') || '<p class="muted">one kernel only</p>'}
<p class="muted">Rebuild with <code>tcplab matrix ${x(m.columns.map((c) => c.dir).join(' '))}</code>; compare two columns in detail with <code>tcplab diff A B</code>.</p>
</main></body></html>
`
}

function renderDifference(m: KernelMatrix, d: MatrixDifference): string {
  const a = m.columns[d.from]?.label ?? ''
  const b = m.columns[d.to]?.label ?? ''
  const v = d.diff.verdict
  const verdict = v.a !== v.b ? ` <span class="badge ${v.a ?? 'skip'}">${x(v.a ?? 'missing')}</span> → <span class="badge ${v.b ?? 'skip'}">${x(v.b ?? 'missing')}</span>` : ''
  const changes = d.changes.map((c) => `<li>${x(c)}</li>`).join('')
  const causes = d.causes.map((c) => `<li class="cause">${x(c)}</li>`).join('')
  return `<div class="pair"><b>${x(a)} → ${x(b)}</b> (A → B)${verdict}${d.headline ? `<div class="headline">${x(d.headline)}</div>` : ''}<ul>${changes || '<li class="muted">present on one side only</li>'}</ul>${causes ? `<b>explained by</b><ul>${causes}</ul>` : ''}</div>`
}

function anchor(name: string): string {
  return name.replace(/[^A-Za-z0-9_-]/g, '-')
}

/** Read the runs, build the matrix and write it to `file`; returns the matrix. */
export async function writeMatrixPage(dirs: readonly string[], file: string, opts: DiffOptions = {}): Promise<KernelMatrix> {
  const m = buildKernelMatrix(dirs.map((d) => readRunResults(d)), opts)
  await writeFile(file, renderMatrixPage(m, path.dirname(path.resolve(file))))
  return m
}

/** The matrix as text (for the terminal): verdicts, then one block per difference. */
export function formatMatrixText(m: KernelMatrix): string {
  const w = Math.max(8, ...m.rows.map((r) => r.name.length))
  const cw = m.columns.map((c) => Math.max(6, c.label.length))
  const lines = [`${'scenario'.padEnd(w)}  ${m.columns.map((c, i) => c.label.padEnd(cw[i] as number)).join('  ')}`]
  for (const r of m.rows) lines.push(`${r.name.padEnd(w)}  ${r.cells.map((c, i) => `${c.status ?? '-'}${r.differences.some((d) => d.to === i) ? ' Δ' : ''}`.padEnd(cw[i] as number)).join('  ')}`)
  for (const r of m.rows) for (const d of r.differences) {
    lines.push('', `${r.name}: ${m.columns[d.from]?.label ?? ''} → ${m.columns[d.to]?.label ?? ''} (${d.status})`)
    if (d.headline) lines.push(`  ${d.headline}`)
    for (const c of d.changes) lines.push(`  ${c}`)
    if (d.causes.length) lines.push('  explained by:')
    for (const c of d.causes) lines.push(`    ${c}`)
  }
  for (const p of m.pairs) {
    if (p.onlyFrom.length + p.onlyTo.length === 0) continue
    lines.push('', `sysctls: ${m.columns[p.to]?.label ?? ''} adds ${p.onlyTo.length}${p.onlyTo.length ? ` (${p.onlyTo.slice(0, 6).join(', ')}${p.onlyTo.length > 6 ? ', ...' : ''})` : ''}, lacks ${p.onlyFrom.length}${p.onlyFrom.length ? ` (${p.onlyFrom.slice(0, 6).join(', ')}${p.onlyFrom.length > 6 ? ', ...' : ''})` : ''}`)
  }
  return `${lines.join('\n')}\n`
}
