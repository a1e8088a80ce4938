// The flake summary of `tcplab run --repeat N`: for each expectation of each
// scenario, how often it passed over the repeats and how its timing delta
// (measured - expected, ms) spread. Written to DIR/flake.json and printed.

import type { ScenarioStatus, ScenarioVerdict } from '../expect/verdict.js'
import { RESULTS_FORMAT_VERSION } from '../expect/verdict.js'
import { formatMs } from '../util/duration.js'
import { paint } from './color.js'

export interface DeltaSpread {
  /** Smallest and largest delta over the repeats that measured one (ms). */
  minMs: number
  maxMs: number
  /** maxMs - minMs. */
  spreadMs: number
  /** How many repeats measured a delta. */
  n: number
}

export interface ExpectationFlake {
  index: number
  kind: string
  description: string
  line?: number | undefined
  runs: number
  passed: number
  failed: number
  skipped: number
  errors: number
  /** passed / (runs - skipped), 1 when every run skipped it. */
  passRate: number
  deltas?: DeltaSpread | undefined
  toleranceMs?: number | undefined
}

export interface ScenarioFlake {
  name: string
  runs: number
  statuses: Record<ScenarioStatus, number>
  /** Some repeats passed and some did not. */
  flaky: boolean
  expectations: ExpectationFlake[]
}

export interface FlakeSummary {
  formatVersion: number
  repeats: number
  scenarios: ScenarioFlake[]
}

/** Summarize the verdicts of N repeats (repeats[k] holds the verdicts of repeat k + 1). */
export function summarizeFlakes(repeats: ReadonlyArray<readonly ScenarioVerdict[]>): FlakeSummary {
  const byName = new Map<string, ScenarioVerdict[]>()
  for (const run of repeats) for (const v of run) byName.set(v.name, [...(byName.get(v.name) ?? []), v])
  const scenarios = [...byName].map(([name, vs]): ScenarioFlake => {
    const statuses: Record<ScenarioStatus, number> = { pass: 0, fail: 0, error: 0, skip: 0, interrupted: 0 }
    for (const v of vs) statuses[v.status]++
    const byIndex = new Map<number, ExpectationFlake & { deltaList: number[] }>()
    for (const v of vs) {
      for (const r of v.results) {
        const e = byIndex.get(r.index) ?? { index: r.index, kind: r.kind, description: r.description, line: r.line, runs: 0, passed: 0, failed: 0, skipped: 0, errors: 0, passRate: 0, deltaList: [] }
        e.runs++
        if (r.status === 'pass') e.passed++
        else if (r.status === 'fail') e.failed++
        else if (r.status === 'skip') e.skipped++
        else e.errors++
        if (r.deltaMs !== undefined) e.deltaList.push(r.deltaMs)
        if (r.toleranceMs !== undefined) e.toleranceMs = Math.max(e.toleranceMs ?? 0, r.toleranceMs)
        byIndex.set(r.index, e)
      }
    }
    const expectations = [...byIndex.values()].sort((a, b) => a.index - b.index).map(({ deltaList, ...e }) => {
      const judged = e.runs - e.skipped
      const out: ExpectationFlake = { ...e, passRate: judged === 0 ? 1 : round(e.passed / judged) }
      if (deltaList.length > 0) {
        const minMs = Math.min(...deltaList)
        const maxMs = Math.max(...deltaList)
        out.deltas = { minMs: round(minMs), maxMs: round(maxMs), spreadMs: round(maxMs - minMs), n: deltaList.length }
      }
      return out
    })
    const flaky = statuses.pass > 0 && statuses.pass < vs.length
    return { name, runs: vs.length, statuses, flaky, expectations }
  })
  return { formatVersion: RESULTS_FORMAT_VERSION, repeats: repeats.length, scenarios }
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000
}

function signed(ms: number): string {
  return `${ms >= 0 ? '+' : ''}${formatMs(ms)}`
}

/**
 * The text of the flake summary: a line per scenario (how many repeats
 * passed), then a line per expectation that did not always pass or whose
 * delta moved: its pass rate and the spread of its deltas.
 */
export function formatFlakeSummary(f: FlakeSummary, opts: { color?: boolean | undefined } = {}): string {
  const color = opts.color === true
  const lines = [`flake summary over ${f.repeats} repeats:`]
  for (const s of f.scenarios) {
    const tag = s.flaky ? paint(color, 'yellow', 'FLAKY') : s.statuses.pass === s.runs ? paint(color, 'green', 'stable') : paint(color, 'red', 'FAILS')
    const other = (['fail', 'error', 'skip'] as const).filter((k) => s.statuses[k] > 0).map((k) => `${s.statuses[k]} ${k}`)
    lines.push(`  ${tag} ${s.name}: ${s.statuses.pass}/${s.runs} passed${other.length ? ` (${other.join(', ')})` : ''}`)
    for (const e of s.expectations) {
      const judged = e.runs - e.skipped
      const d = e.deltas
      const delta = d ? `, Δ ${signed(d.minMs)} .. ${signed(d.maxMs)} (spread ${formatMs(d.spreadMs)}${e.toleranceMs !== undefined ? `, tolerance ±${formatMs(e.toleranceMs)}` : ''})` : ''
      lines.push(`      #${e.index + 1} ${e.kind}${e.line ? ` (line ${e.line})` : ''}: ${e.passed}/${judged} passed (${Math.round(e.passRate * 100)}%)${delta}${e.description ? ` · ${e.description}` : ''}`)
    }
  }
  return `${lines.join('\n')}\n`
}
