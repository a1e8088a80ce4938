// JUnit XML for CI: one <testsuite> per scenario, one <testcase> per
// expectation (the measured value against the expected one in the failure
// text), a scenario that could not run as one errored testcase. The layout
// is the one Jenkins, GitLab and GitHub test reporters read (the "JUnit 10"
// schema of Jenkins' xunit plugin: testsuites > testsuite > testcase with
// failure/error/skipped, and properties).

import type { ExpectationResult, RunSummary, ScenarioVerdict } from '../expect/verdict.js'
import { formatMs } from '../util/duration.js'
import { escapeXml as x } from './escape.js'

/** Options that end up as <properties> of every suite (backend, kernel). */
export interface JunitOptions {
  properties?: Record<string, string> | undefined
}

/** The JUnit XML document of a run. */
export function renderJunit(summary: RunSummary | undefined, verdicts: readonly ScenarioVerdict[], opts: JunitOptions = {}): string {
  const suites = verdicts.map((v) => renderSuite(v, opts))
  const tests = verdicts.reduce((n, v) => n + Math.max(1, v.results.length), 0)
  const failures = verdicts.reduce((n, v) => n + v.results.filter((r) => r.status === 'fail' || r.status === 'error').length, 0)
  const errors = verdicts.filter((v) => v.status === 'error').length
  const skipped = verdicts.reduce((n, v) => n + (v.results.length === 0 && v.status === 'skip' ? 1 : v.results.filter((r) => r.status === 'skip').length), 0)
  const time = seconds(summary?.durationMs ?? verdicts.reduce((n, v) => n + v.durationMs, 0))
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites name="tcplab" tests="${tests}" failures="${failures}" errors="${errors}" skipped="${skipped}" time="${time}"${summary ? ` timestamp="${x(timestamp(summary.startedAt))}"` : ''}>`,
    ...suites,
    '</testsuites>',
    '',
  ].join('\n')
}

function renderSuite(v: ScenarioVerdict, opts: JunitOptions): string {
  const classname = `tcplab.${v.name}`
  const props = { backend: v.backend, ...(v.daemon ? { daemon: v.daemon } : {}), file: v.file, ...(v.labId ? { labId: v.labId } : {}), ...opts.properties }
  const cases: string[] = []
  if (v.results.length === 0) {
    // The scenario as a whole: it errored or was skipped before any expectation was evaluated.
    const body = v.status === 'error' && v.error
      ? `<error message="${x(firstLine(v.error.message))}" type="${x(v.error.code)}">${x(`${v.error.message}${v.error.hint ? `\nhint: ${v.error.hint}` : ''}`)}</error>`
      : v.status === 'skip' ? `<skipped message="${x(v.reason ?? '')}"/>` : ''
    cases.push(`    <testcase name="${x(v.title || v.name)}" classname="${x(classname)}" file="${x(v.file)}" time="${seconds(v.durationMs)}">${body}</testcase>`)
  }
  for (const r of v.results) cases.push(renderCase(r, v, classname))
  const failures = v.results.filter((r) => r.status === 'fail' || r.status === 'error').length
  const skipped = v.results.length === 0 ? (v.status === 'skip' ? 1 : 0) : v.results.filter((r) => r.status === 'skip').length
  return [
    `  <testsuite name="${x(v.name)}" tests="${Math.max(1, v.results.length)}" failures="${failures}" errors="${v.status === 'error' ? 1 : 0}" skipped="${skipped}" time="${seconds(v.durationMs)}" timestamp="${x(timestamp(v.startedAt))}" file="${x(v.file)}">`,
    `    <properties>${Object.entries(props).map(([k, val]) => `<property name="${x(k)}" value="${x(String(val))}"/>`).join('')}</properties>`,
    ...cases,
    '  </testsuite>',
  ].join('\n')
}

function renderCase(r: ExpectationResult, v: ScenarioVerdict, classname: string): string {
  const name = `#${r.index + 1} ${r.kind}: ${r.description || r.expected}`
  const attrs = `name="${x(name)}" classname="${x(classname)}" file="${x(v.file)}"${r.line ? ` line="${r.line}"` : ''} time="0"`
  if (r.status === 'skip') return `    <testcase ${attrs}><skipped message="${x(r.reason ?? '')}"/></testcase>`
  if (r.status === 'pass') return `    <testcase ${attrs}/>`
  const timing = r.deltaMs !== undefined ? `delta: ${r.deltaMs >= 0 ? '+' : ''}${formatMs(r.deltaMs)}${r.toleranceMs !== undefined ? ` (tolerance ±${formatMs(r.toleranceMs)})` : ''}` : ''
  const text = [
    `expected: ${r.expected}`,
    `measured: ${r.measured}`,
    timing,
    r.reason ? `reason: ${r.reason}` : '',
    r.t !== undefined ? `at: ${r.t.toFixed(6)}s on the scenario timeline (see ${v.name}/report.html)` : '',
    r.line ? `where: ${v.file}:${r.line}:${r.col ?? 1}` : '',
  ].filter(Boolean).join('\n')
  const message = `expected ${r.expected}; measured ${r.measured}`
  return `    <testcase ${attrs}><failure message="${x(message)}" type="${x(r.kind)}">${x(text)}</failure></testcase>`
}

function seconds(ms: number): string {
  return (ms / 1000).toFixed(3)
}

/** xs:dateTime without a zone, as the Jenkins schema wants: 2026-11-24T00:41:39. */
function timestamp(iso: string): string {
  return iso.replace(/(\.\d+)?Z$/, '')
}

function firstLine(s: string): string {
  return s.split('\n')[0] ?? ''
}
