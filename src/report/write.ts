// Write report.html (per scenario) and index.html (per run) from what a
// results directory holds. The runner calls the safe variants at the end of
// each scenario and of the run: a report that cannot be drawn is logged in
// the page itself and never changes a verdict. `tcplab report DIR` calls
// regenerateReports, which reports bad input as an error.

import { existsSync } from 'node:fs'
import { writeFile as writeFileDirect } from 'node:fs/promises'
import { writeFileAtomic } from '../util/atomic-write.js'
import path from 'node:path'
import { buildReportModel } from './model.js'
import { writePcapngs } from './pcapng.js'
import { renderScenarioPage } from './scenario-page.js'
import { renderIndexPage, type IndexEntry } from './index-page.js'
import { isScenarioDir, readRunResults, readScenarioResult, type ScenarioResult } from './results.js'
import { escapeXml as x } from './escape.js'
import { REPORT_CSS } from './styles.js'

export interface WrittenReport {
  file: string
  /** Set when the report could not be drawn (the file then says why). */
  error?: string | undefined
  /** Set when the pcapng copies of the captures could not be written (the report still was). */
  pcapngError?: string | undefined
}

/**
 * Write <dir>/report.html for one scenario's results folder; never throws (a
 * failure is written into the page). `linkIndex`: link back to ../index.html
 * (the suite runner writes it when the run ends).
 */
export async function writeScenarioReport(dir: string, opts: { linkIndex?: boolean } = {}): Promise<WrittenReport> {
  const file = path.join(dir, 'report.html')
  try {
    const res = readScenarioResult(dir)
    return { file, ...(await writeScenarioFiles(res, file, opts.linkIndex ?? true)) }
  } catch (e: unknown) {
    const message = e instanceof Error ? (e.stack ?? e.message) : String(e)
    await writeFileDirect(file, errorPage(`report of ${path.basename(dir)}`, message)).catch(() => undefined)
    return { file, error: message }
  }
}

/** Write <resultsDir>/index.html listing every scenario of the run; never throws. */
export async function writeRunIndex(resultsDir: string): Promise<WrittenReport> {
  const file = path.join(resultsDir, 'index.html')
  try {
    await writeFileAtomic(file, renderRunIndex(resultsDir))
    return { file }
  } catch (e: unknown) {
    const message = e instanceof Error ? (e.stack ?? e.message) : String(e)
    await writeFileDirect(file, errorPage('run index', message)).catch(() => undefined)
    return { file, error: message }
  }
}

/** Regenerate every report.html and the index.html of a results directory (a run, or one scenario folder). */
export async function regenerateReports(dir: string): Promise<WrittenReport[]> {
  const run = readRunResults(dir) // throws ResultsError on bad input
  const out: WrittenReport[] = []
  const single = isScenarioDir(dir)
  for (const res of run.scenarios) {
    const file = path.join(res.dir, 'report.html')
    try {
      out.push({ file, ...(await writeScenarioFiles(res, file, !single || hasRunIndexAbove(res.dir))) })
    } catch (e: unknown) {
      out.push({ file, error: e instanceof Error ? (e.stack ?? e.message) : String(e) })
    }
  }
  if (!single) out.push(await writeRunIndex(dir))
  return out
}

/** report.html, and each capture again as <host>.pcapng with the report's comments (a failure there spares the page). */
async function writeScenarioFiles(res: ScenarioResult, file: string, linkIndex: boolean): Promise<{ pcapngError?: string }> {
  const model = buildReportModel(res)
  let pcapngError: string | undefined
  try {
    await writePcapngs(res, model)
  } catch (e: unknown) {
    pcapngError = e instanceof Error ? e.message : String(e)
  }
  await writeFileAtomic(file, renderScenarioPage(model, res, { indexHref: linkIndex ? '../index.html' : undefined }))
  return pcapngError !== undefined ? { pcapngError } : {}
}

/** The report page of one scenario's results. */
export function renderScenarioReport(res: ScenarioResult, linkIndex: boolean): string {
  return renderScenarioPage(buildReportModel(res), res, { indexHref: linkIndex ? '../index.html' : undefined })
}

/** The index page of a run directory (verdicts and env only; records are not read). */
export function renderRunIndex(resultsDir: string): string {
  const run = readRunResults(resultsDir, { records: false })
  const entries: IndexEntry[] = run.scenarios.map((s) => ({
    verdict: s.verdict,
    folder: path.basename(s.dir),
    hasReport: existsSync(path.join(s.dir, 'report.html')),
    env: s.env,
  }))
  return renderIndexPage(entries, run.summary, resultsDir)
}

function hasRunIndexAbove(dir: string): boolean {
  const parent = path.dirname(path.resolve(dir))
  return existsSync(path.join(parent, 'summary.json')) || existsSync(path.join(parent, 'index.html'))
}

function errorPage(what: string, message: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>tcplab: ${x(what)} failed</title><style>${REPORT_CSS}</style></head><body><main><h1><span class="badge error">error</span> tcplab could not draw the ${x(what)}</h1><p>The results themselves are intact; run <code>tcplab report DIR</code> again after fixing the cause.</p><pre>${x(message)}</pre></main></body></html>\n`
}
