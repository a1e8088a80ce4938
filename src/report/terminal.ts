// Terminal reporters for `tcplab run`: pretty (default, with live progress on
// a terminal), tap, json, junit, jsonl; and the progress reporter, the pretty
// one without failure details, that `run` puts on stderr beside the others.

import type { Writable } from 'node:stream'
import { demotedAgents, demotedLine, type AgentSched, type ExpectationResult, type ScenarioVerdict, type SetAsideAttempt } from '../expect/verdict.js'
import type { LoadedScenario } from '../scenario/loader.js'
import type { SuiteReporter } from './reporter.js'
import { renderJunit } from './junit.js'
import { createJsonlReporter } from './jsonl.js'
import { paint, type ColorName } from './color.js'
import { formatFlakeSummary } from './flake.js'
import { summaryLine } from './summary-line.js'
import { formatTapFooter, formatTapHeader, formatTapScenario } from './tap.js'
import { formatMs } from '../util/duration.js'

export { summaryLine }

export { isColorEnabled } from './color.js'
export { combineReporters } from './reporter.js'

export const REPORTER_NAMES = ['pretty', 'tap', 'json', 'junit', 'jsonl'] as const
export type ReporterName = (typeof REPORTER_NAMES)[number]

/** Where a reporter writes, and how the pretty one draws progress (tests set these). */
export interface ReporterOptions {
  /** Redraw a live status line (default: out.isTTY). */
  live?: boolean | undefined
  /** Terminal width for the status line (default: out.columns or 100). */
  columns?: number | undefined
  /** Clock, ms (default Date.now). */
  now?: (() => number) | undefined
  /** Status line refresh period (default 500 ms). */
  refreshMs?: number | undefined
  /** ANSI colors (default off; the CLI decides with isColorEnabled: NO_COLOR, FORCE_COLOR, a terminal). */
  color?: boolean | undefined
  /** Under a failed scenario, its failed expectations (default true; the stderr progress leaves them to the report on stdout). */
  details?: boolean | undefined
}

/** A reporter writing to `out`. */
export function createReporter(name: ReporterName, out: Writable, opts: ReporterOptions = {}): SuiteReporter {
  switch (name) {
    case 'tap':
      return tapReporter(out)
    case 'json':
      return { onEnd: (summary, verdicts) => out.write(`${JSON.stringify({ summary, verdicts }, null, 2)}\n`) }
    case 'junit':
      return { onEnd: (summary, verdicts) => out.write(renderJunit(summary, verdicts)) }
    case 'jsonl':
      return createJsonlReporter(out, opts.now ? () => new Date((opts.now as () => number)()) : undefined)
    default:
      return prettyReporter(out, opts)
  }
}

/** How long a scenario should take: its `duration`, else its last `at:` step plus the runner's 1 s linger. */
export function expectedDurationMs(s: LoadedScenario): number | undefined {
  const sc = s.scenario
  if (sc.duration !== undefined) return sc.duration
  const ats = sc.steps.map((st) => st.at).filter((a): a is number => typeof a === 'number')
  return ats.length > 0 ? Math.max(...ats) + 1000 : undefined
}

/** Progress on `err` (stderr), whatever the reporter on stdout: what runs, what passed and failed, the summary line. */
export function createProgressReporter(err: Writable, opts: ReporterOptions = {}): SuiteReporter {
  return prettyReporter(err, { ...opts, details: false })
}

const ICON: Record<string, string> = { pass: 'PASS', fail: 'FAIL', error: 'ERROR', skip: 'SKIP', interrupted: 'INTERRUPTED' }
const ICON_COLOR: Record<string, ColorName> = { pass: 'green', fail: 'red', error: 'red', skip: 'yellow', interrupted: 'yellow' }

/** Timers later than this (p99, ms) during a scenario are worth a word on its line. */
const NOTABLE_LATE_MS = 5

/** ", timers 12ms late (p99), load 3.4" when the machine was busy during the scenario, else "". */
export function loadNote(v: ScenarioVerdict): string {
  const l = v.load
  if (!l || l.canaryLateMsP99 < NOTABLE_LATE_MS) return ''
  return `, timers ${formatMs(Math.round(l.canaryLateMsP99))} late (p99), load ${l.loadavg}`
}

/** "attempt 1 set aside (attempts/1): the machine stalled 101ms at 3.214s; it failed #4 ..." */
export function setAsideLine(a: SetAsideAttempt): string {
  return `attempt ${a.attempt} set aside (${a.dir}): the machine stalled ${formatMs(Math.round(a.stallMs))} at ${a.stallT.toFixed(3)}s, ` +
    `which accounts for its timing failure${a.failed.length === 1 ? '' : 's'}: ${a.failed.join('; ')}`
}

/** One line per expectation: what was expected, what was measured, delta and tolerance. */
export function formatResult(r: ExpectationResult): string {
  const where = r.line ? ` (line ${r.line})` : ''
  const timing = r.deltaMs !== undefined ? ` [Δ ${r.deltaMs >= 0 ? '+' : ''}${formatMs(r.deltaMs)}${r.toleranceMs !== undefined ? `, tolerance ±${formatMs(r.toleranceMs)}` : ''}]` : ''
  if (r.status === 'skip') return `skip ${r.kind}${where}: ${r.reason ?? ''}`
  const head = `${r.status === 'pass' ? 'ok  ' : r.status === 'error' ? 'ERR ' : 'FAIL'} ${r.kind}${where}: ${r.description}`
  const lines = [head]
  if (r.description !== r.expected && r.expected) lines.push(`       expected: ${r.expected}`)
  lines.push(`       measured: ${r.measured}${timing}`)
  if (r.reached && r.reached !== r.measured) lines.push(`       judged on: ${r.reached}`)
  if (r.reason && r.status !== 'pass') lines.push(`       reason:   ${r.reason}`)
  return lines.join('\n')
}

/**
 * Pretty: one line per finished scenario (failures explained under it). On a
 * terminal a status line at the bottom shows what is running, for how long
 * and how long it should take, and how many passed/failed so far; elsewhere
 * (CI logs) a line when each scenario starts, for long suites.
 */
function prettyReporter(out: Writable, opts: ReporterOptions): SuiteReporter {
  const tty = out as Writable & { isTTY?: boolean; columns?: number }
  const live = opts.live ?? tty.isTTY === true
  const now = opts.now ?? Date.now
  const color = opts.color === true
  const details = opts.details !== false
  const running = new Map<string, { startMs: number; expectedMs?: number | undefined }>()
  const done = { pass: 0, fail: 0, error: 0, skip: 0, interrupted: 0 }
  let total = 0
  let manyDaemons = false
  let schedNoted = false
  let timer: NodeJS.Timeout | undefined
  let statusShown = false
  const clearStatus = (): void => {
    if (statusShown) out.write('\r\x1b[2K')
    statusShown = false
  }
  const drawStatus = (): void => {
    if (!live || running.size === 0) return
    const cols = opts.columns ?? tty.columns ?? 100
    const line = progressLine(running, done, total, now())
    out.write(`\r\x1b[2K${line.length > cols - 1 ? `${line.slice(0, cols - 2)}…` : line}`)
    statusShown = true
  }
  return {
    onStart(scenarios, info) {
      total = scenarios.length
      done.pass = done.fail = done.error = done.skip = 0
      manyDaemons = (info.daemons?.length ?? 0) > 1
      const jobs = !info.auto ? `${info.jobs} at a time`
        : info.inGuest ? `${info.jobs} at a time (--jobs auto in a guest)`
          : `up to ${info.jobs} at a time while timers keep time (--jobs auto)`
      const repeat = info.repeat ? `repeat ${info.repeat.index}/${info.repeat.count}: ` : ''
      out.write(`tcplab: ${repeat}${scenarios.length} scenario(s) on ${info.backend}, ${jobs}; results in ${info.resultsDir}\n`)
      if (live) {
        timer = setInterval(drawStatus, opts.refreshMs ?? 500)
        timer.unref()
      }
    },
    onScenarioStart(s) {
      const expectedMs = expectedDurationMs(s)
      running.set(s.scenario.name, { startMs: now(), expectedMs })
      if (live) drawStatus()
      else out.write(`${paint(color, 'dim', 'RUN ')} ${s.scenario.name}${expectedMs !== undefined ? ` (expected ~${formatMs(expectedMs)})` : ''}\n`)
    },
    onScenarioEnd(v) {
      const r = running.get(v.name)
      running.delete(v.name)
      done[v.status]++
      clearStatus()
      const counts = `${v.results.filter((x) => x.status === 'pass').length}/${v.results.length} expectations`
      const expected = r?.expectedMs !== undefined ? `, expected ~${formatMs(r.expectedMs)}` : ''
      const where = manyDaemons && v.daemon ? `, on ${v.daemon}` : ''
      out.write(`${paint(color, ICON_COLOR[v.status] ?? 'bold', ICON[v.status] ?? v.status)} ${v.name} (${formatMs(v.durationMs)}${expected}, ${counts}${where}${loadNote(v)})${v.reason ? `: ${v.reason}` : ''}\n`)
      for (const a of v.setAside ?? []) out.write(`  ${paint(color, 'dim', setAsideLine(a))}\n`)
      const demoted = demotedAgents(v.agentSched)
      if (demoted.length > 0 && !schedNoted) {
        // Once a run: it is the machine's (or the daemon's) doing, the same for every scenario.
        schedNoted = true
        out.write(`  ${paint(color, 'yellow', `note: ${demotedLine(v.agentSched as AgentSched, demoted)}; steps run on time only as far as the machine's load allows`)}\n`)
      }
      const show = v.status === 'pass' || !details ? [] : v.results.filter((x) => x.status !== 'pass')
      for (const x of show) out.write(`  ${formatResult(x).replace(/\n/g, '\n  ')}\n`)
      if (v.error && details) out.write(`  ${v.error.message.replace(/\n/g, '\n  ')}${v.error.hint ? `\n  hint: ${v.error.hint}` : ''}\n`)
      drawStatus()
    },
    onEnd(summary) {
      if (timer) clearInterval(timer)
      clearStatus()
      out.write(`\n${summaryLine(summary)}\n`)
    },
    onFlakeSummary(flake) {
      out.write(`\n${formatFlakeSummary(flake, { color })}`)
    },
  }
}

/** "[3/5] 2 passed, 1 failed · running: syn-drop 3.2s/~10s, close-wait 1.0s/~8s" */
export function progressLine(
  running: ReadonlyMap<string, { startMs: number; expectedMs?: number | undefined }>,
  done: Readonly<Record<'pass' | 'fail' | 'error' | 'skip', number>>,
  total: number,
  nowMs: number,
): string {
  const finished = done.pass + done.fail + done.error + done.skip
  const counts = [`${done.pass} passed`, ...(done.fail ? [`${done.fail} failed`] : []), ...(done.error ? [`${done.error} errors`] : []), ...(done.skip ? [`${done.skip} skipped`] : [])].join(', ')
  const items = [...running].map(([name, r]) => {
    const elapsed = Math.max(0, nowMs - r.startMs)
    const late = r.expectedMs !== undefined && elapsed > r.expectedMs + 5000 ? ' (late)' : ''
    return `${name} ${(elapsed / 1000).toFixed(1)}s${r.expectedMs !== undefined ? `/~${formatMs(r.expectedMs)}` : ''}${late}`
  })
  return `[${finished}/${total}] ${counts} · running: ${items.join(', ')}`
}

function tapReporter(out: Writable): SuiteReporter {
  let n = 0
  return {
    onStart: (scenarios) => out.write(formatTapHeader(scenarios.length)),
    onScenarioEnd: (v: ScenarioVerdict) => out.write(formatTapScenario(v, ++n)),
    onEnd: (summary) => out.write(formatTapFooter(summary)),
  }
}
