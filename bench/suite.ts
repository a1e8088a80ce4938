// The default suite end to end: its wall time at --jobs auto against its longest
// scenario (target: <= 1.15 x longest + 3 s), and how many expectations fail at
// --jobs auto, 8, 16 and 33 (a machine run past what it holds fails timing
// expectations; auto should not). Each figure with /proc/loadavg beside it.
// Prints figures, asserts nothing.
//
// Run:  npx tsx bench/suite.ts [--repeat N] [--jobs auto,8,16,33] [--busy 2] [PATH...]
// Default: one run per setting. The machine is shared: do not repeat jobs 33.
// Needs root and `make build` (runs dist/cli/main.js, as a user would).

import { readFileSync } from 'node:fs'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { $bench, startBusyLoops } from './lib/procs.js'
import type { RunSummary, ScenarioVerdict } from '../src/expect/verdict.js'

const { values, positionals } = parseArgs({
  options: { repeat: { type: 'string', default: '1' }, jobs: { type: 'string', default: 'auto,8,16,33' }, busy: { type: 'string', default: '0' } },
  allowPositionals: true,
})
const REPEAT = Number(values.repeat)
/** CPU-bound busy loops running beside the suite (--busy 2: the loaded-machine case). */
const BUSY = Number(values.busy)
const SETTINGS = (values.jobs ?? 'auto').split(',')
const load = (): string => `loadavg ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}`
const cli = path.resolve('dist/cli/main.js')

interface RunFigures {
  wallMs: number; longestMs: number; longestName: string; failedExpectations: number; failedScenarios: number; scenarios: number
  /** Every step's lateness (actual - scheduled, ms) from the action records, and the failures' texts. */
  lateMs: number[]; failures: string[]
  /** The same, leaving out steps due while the canary saw the machine stalled (it ran nothing of ours). */
  lateOutsideStallsMs: number[]
  /** Stalls (>= 10 ms) the stall probe saw, summed over scenarios, and the longest. */
  stalls: number; stallMaxMs: number
  /** Attempts set aside (every failure accounted for by a stall) and run again. */
  setAside: string[]
}

async function runOnce(jobs: string): Promise<RunFigures> {
  const dir = await mkdtemp(path.join(tmpdir(), 'tcplab-suite-'))
  try {
    const t0 = performance.now()
    await $bench({ timeout: '30m' })`${process.execPath} ${cli} run ${positionals} --jobs ${jobs} --reporter json --results ${dir}`
    const wallMs = performance.now() - t0
    const summary = JSON.parse(await readFile(path.join(dir, 'summary.json'), 'utf8')) as RunSummary
    let failedExpectations = 0
    const lateMs: number[] = []
    const lateOutsideStallsMs: number[] = []
    const failures: string[] = []
    const setAside: string[] = []
    let stalls = 0
    let stallMaxMs = 0
    let longestMs = 0
    let longestName = ''
    for (const s of summary.scenarios) {
      const v = JSON.parse(await readFile(path.join(dir, s.name, 'verdict.json'), 'utf8')) as ScenarioVerdict
      const bad = v.results.filter((r) => r.status === 'fail' || r.status === 'error')
      failedExpectations += bad.length
      for (const r of bad) failures.push(`${v.name} #${r.index}: ${r.description} -- ${r.measured}`)
      if (v.error) failures.push(`${v.name}: ${v.error.message.split('\n')[0] ?? ''}`)
      for (const a of v.setAside ?? []) setAside.push(`${v.name} attempt ${a.attempt} (stall ${a.stallMs} ms at ${a.stallT.toFixed(3)}s): ${a.failed.join('; ')}`)
      const spans = v.load?.stalls ?? []
      stalls += spans.length
      for (const st of spans) stallMaxMs = Math.max(stallMaxMs, st.ms)
      const inStall = (t: number): boolean => spans.some((st) => t >= st.t - 0.001 && t <= st.t + st.ms / 1000 + 0.001)
      const recs = await readFile(path.join(dir, s.name, 'records.jsonl'), 'utf8').catch(() => '')
      for (const line of recs.split('\n')) {
        if (!line.includes('"lateMs"')) continue
        const r = JSON.parse(line) as { kind: string; lateMs?: number; scheduledT?: number }
        if (r.kind !== 'action' || typeof r.lateMs !== 'number') continue
        lateMs.push(r.lateMs)
        if (r.scheduledT === undefined || !inStall(r.scheduledT)) lateOutsideStallsMs.push(r.lateMs)
      }
      // The longest scenario's own played length: what no schedule can beat.
      const playedMs = (v.endT ?? 0) * 1000
      if (playedMs > longestMs) {
        longestMs = playedMs
        longestName = v.name
      }
    }
    return { wallMs, longestMs, longestName, failedExpectations, failedScenarios: summary.failed + summary.errors, scenarios: summary.scenarios.length, lateMs, failures, lateOutsideStallsMs, stalls, stallMaxMs, setAside }
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

const busy = startBusyLoops(BUSY)
console.log(`== default suite, ${REPEAT} run(s) per setting, ${BUSY} busy loop(s) beside it, ${load()}`)
for (const jobs of SETTINGS) {
  const repeat = jobs === '33' ? 1 : REPEAT
  for (let i = 0; i < repeat; i++) {
    const f = await runOnce(jobs)
    const targetMs = 1.15 * f.longestMs + 3000
    const wall = `wall ${(f.wallMs / 1000).toFixed(1)} s, longest ${f.longestName} ${(f.longestMs / 1000).toFixed(1)} s` +
      (jobs === 'auto' ? ` (target <= ${(targetMs / 1000).toFixed(1)} s: ${f.wallMs <= targetMs ? 'met' : 'MISSED'})` : '')
    console.log(`--jobs ${jobs.padEnd(4)} ${wall}; failing expectations ${f.failedExpectations} in ${f.failedScenarios}/${f.scenarios} scenarios   ${load()}`)
    const quantiles = (xs: number[]): ((p: number) => string) => {
      const late = [...xs].sort((a, b) => a - b)
      return (p) => (late.length ? (late[Math.min(late.length - 1, Math.ceil((p / 100) * late.length) - 1)] ?? 0).toFixed(2) : '-')
    }
    const q = quantiles(f.lateMs)
    const o = quantiles(f.lateOutsideStallsMs)
    console.log(`           step lateness over ${f.lateMs.length} steps: p50 ${q(50)} ms, p99 ${q(99)} ms, max ${q(100)} ms (target p99 <= 2 ms); ` +
      `outside machine stalls (${f.lateOutsideStallsMs.length} steps): p99 ${o(99)} ms, max ${o(100)} ms`)
    console.log(`           machine stalls >= 10 ms seen by the stall probe: ${f.stalls} (longest ${f.stallMaxMs} ms); attempts set aside and run again: ${f.setAside.length}`)
    for (const x of f.setAside.slice(0, 10)) console.log(`           set aside: ${x}`)
    for (const x of f.failures.slice(0, 10)) console.log(`           fail: ${x}`)
  }
}
await busy.stop()
