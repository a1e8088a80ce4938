// Run many scenarios (each in its own lab, so they cannot see each other) and
// write summary.json. With `jobs: 'auto'` (the default) scenarios are admitted
// while the machine keeps time: a timing canary (runner/canary.ts) measures
// how late a 5 ms sleep wakes up, and no scenario starts while that lateness
// is over budget, with at least one running and at most 4 per core. Every
// verdict records the lateness seen while it ran, and the stalls (the machine
// stopped even real-time tasks) on the scenario's clock; a timing failure the
// stalls account for says so, and a scenario whose every failure is such a miss
// runs again (stallRetries), the set-aside attempt kept in its folder.

import { mkdir, rename, rmdir } from 'node:fs/promises'
import { removeOwnTempFilesSync, writeFileAtomic, writeFileAtomicSync } from '../util/atomic-write.js'
import { onExitSync } from './exit-hooks.js'
import { availableParallelism, loadavg } from 'node:os'
import path from 'node:path'
import type { Backend } from '../lab/index.js'
import type { AgentPriority } from '../agent/index.js'
import type { LoadedScenario } from '../scenario/loader.js'
import { RESULTS_FORMAT_VERSION, type RunShard, type RunSummary, type ScenarioLoad, type ScenarioVerdict, type SetAsideAttempt, type ToleranceRule } from '../expect/index.js'
import { runScenario } from './run-scenario.js'
import { startScenarioTimeout, markTimedOut } from './timeout.js'
import type { SuiteReporter } from '../report/reporter.js'
import { summarizeRun, writeRunFiles, writeScenarioReport } from '../report/index.js'
import { Canary, type SpanFigures } from './canary.js'
import { collectBaseEnv } from './env.js'
import { BackendSpread } from './spread.js'
import { formatMs } from '../util/duration.js'
import { annotateBusyMachine, failedOnStalls, stallsFor, type StallFound } from './busy-machine.js'

export interface RunSuiteOptions {
  /**
   * Where labs run. Several (one docker backend per daemon, `--docker-host a,b`): each scenario's
   * lab goes whole to the least busy one (runner/spread.ts).
   */
  backend: Backend | readonly Backend[]
  resultsDir: string
  /** A fixed number of scenarios at a time, or 'auto' (default): as many as the machine holds. */
  jobs?: number | 'auto' | undefined
  /** --jobs auto: the lateness budget (p90 over the last ADMIT_WINDOW_MS, default 2 ms). */
  lateBudgetMs?: number | undefined
  tolerance?: Partial<ToleranceRule> | undefined
  sysctlOverrides?: Record<string, string> | undefined
  /** How the hosts' agents are scheduled (--agent-priority; default fifo). */
  agentPriority?: AgentPriority | undefined
  signal?: AbortSignal | undefined
  reporter?: SuiteReporter | undefined
  /** Where a warning goes (--jobs N beyond what the machine holds, once per run; an attempt set aside). */
  warn?: ((msg: string) => void) | undefined
  /** With --repeat N: this run is repeat `index` of `count` (told to the reporter). */
  repeat?: { index: number; count: number } | undefined
  /** `--shard i/N`: recorded in summary.json (the scenarios given are the shard's already). */
  shard?: RunShard | undefined
  /**
   * How many times a scenario runs again when every failure in it is a timing miss the machine's
   * stalls account for (default DEFAULT_STALL_RETRIES; 0: never). The set-aside attempts stay in
   * its folder (attempts/N) and its verdict (setAside).
   */
  stallRetries?: number | undefined
}

/** See RunSuiteOptions.stallRetries. */
export const DEFAULT_STALL_RETRIES = 2
/** Where set-aside attempts wait (in the results dir) until their scenario's last attempt is done. */
const ATTEMPTS_DIR = '.attempts'

/** --jobs auto: no scenario starts while the canary's p90 lateness over this window exceeds the budget. */
export const ADMIT_WINDOW_MS = 200
export const DEFAULT_LATE_BUDGET_MS = 2
/**
 * --jobs auto: at most this many scenarios per core. The agents keep each
 * scenario's time (SCHED_FIFO, deadlines in the agent), so the bound is what
 * the machine's memory and process table hold, not timing: 33 scenarios at once
 * on 2 cores, with two busy loops beside them, fail nothing (bench/suite.ts).
 * The canary still holds admission back while timers are late.
 */
export const AUTO_JOBS_PER_CORE = 16
/**
 * --jobs auto in a vm guest (Backend.probeMachine): one scenario at a time. This machine's canary
 * says nothing of the guest's clock, and under TCG every program the guest starts costs it
 * 0.1-1 s of emulated CPU. Measured on 2 cores:
 * one guest playing 4 at once failed the 5 seed scenarios (nc started seconds after its step);
 * with those alone, two such guests side by side still failed scenarios whose iptables took
 * 1.6 s to run, with no stall seen. Guests side by side (--kernels-at-once) use the cores better.
 */
export const GUEST_AUTO_JOBS = 1

/**
 * --jobs auto: after a start, wait this long before the next one, so the canary sees what the last
 * one costs (its lab, recorders and agents come up in ~100-200 ms).
 */
const ADMIT_GAP_MS = 60
/** How often a blocked admission looks at the canary again. */
const ADMIT_POLL_MS = 25
/** --jobs N: warn when p90 lateness over WARN_WINDOW_MS exceeds WARN_FACTOR x the budget. */
const WARN_WINDOW_MS = 1000
const WARN_FACTOR = 5

/** Run scenarios concurrently; returns the summary (also written to resultsDir/summary.json). */
export async function runSuite(scenarios: readonly LoadedScenario[], opts: RunSuiteOptions): Promise<{ summary: RunSummary; verdicts: ScenarioVerdict[] }> {
  const spread = new BackendSpread(backendList(opts.backend))
  // The labs keep another machine's clock (a vm guest): this machine's canary says nothing of it.
  const elsewhere = spread.backends.length === 1 ? spread.backends[0]?.probeMachine : undefined
  const auto = opts.jobs === undefined || opts.jobs === 'auto'
  const cores = availableParallelism()
  const autoJobs = elsewhere ? GUEST_AUTO_JOBS : AUTO_JOBS_PER_CORE * cores
  const maxJobs = Math.max(1, Math.min(scenarios.length, auto ? autoJobs : (opts.jobs as number)))
  const gated = auto && !elsewhere
  const budgetMs = opts.lateBudgetMs ?? DEFAULT_LATE_BUDGET_MS
  const started = Date.now()
  const backendName = spread.backends[0]?.name ?? 'none'
  const daemons = spread.backends.map((b) => b.daemon).filter((d): d is string => d !== undefined)
  await mkdir(opts.resultsDir, { recursive: true })
  // Until the run ends, summary.json says it did not (a killed run still has a readable one), updated as scenarios end.
  const summaryFile = path.join(opts.resultsDir, 'summary.json')
  const writeSummary = (s: RunSummary): Promise<void> => writeFileAtomic(summaryFile, `${JSON.stringify(s, null, 2)}\n`).catch(() => undefined)
  const provisional = (how: string): RunSummary => ({
    ...summarize(verdicts.filter((v): v is ScenarioVerdict => v !== undefined), backendName, opts.resultsDir, started, { daemons, shard: opts.shard }),
    interrupted: { at: new Date().toISOString(), how },
  })
  const verdicts: ScenarioVerdict[] = new Array<ScenarioVerdict>(scenarios.length)
  await writeSummary(provisional('the tcplab process ended before the run did (killed, or crashed)'))
  const unhookExit = onExitSync(() => {
    removeOwnTempFilesSync(opts.resultsDir)
    writeFileAtomicSync(summaryFile, `${JSON.stringify(provisional(opts.signal?.aborted ? 'Ctrl-C twice: everything was killed at once' : 'the tcplab process exited before the run ended'), null, 2)}\n`)
  })
  opts.reporter?.onStart?.(scenarios, { backend: daemons.length > 1 ? `${backendName} (${daemons.length} daemons)` : backendName, jobs: maxJobs, auto, inGuest: elsewhere !== undefined, resultsDir: opts.resultsDir, daemons, repeat: opts.repeat })
  // The run's shared env facts (per backend: daemons may run different kernels), probed once while
  // the first scenarios set up (runScenario awaits the same promise). None for an empty shard.
  if (scenarios.length > 0) for (const b of spread.backends) collectBaseEnv(b, opts.signal).catch(() => undefined)
  const canary = await Canary.start(elsewhere)
  // Longest first when several run at once: the suite then ends soon after its longest scenario.
  const order = scenarios.map((_, i) => i)
  if (maxJobs > 1) order.sort((a, b) => expectedMs(scenarios[b] as LoadedScenario) - expectedMs(scenarios[a] as LoadedScenario))

  let running = 0
  let heldWithinBudget = 0
  let warned = false
  let wake: (() => void) | undefined
  const inFlight = new Set<Promise<void>>()
  const failures: unknown[] = []
  const warnAll = (msg: string): void => {
    opts.warn?.(msg)
    opts.reporter?.onNote?.(msg)
  }
  const runOne = async (i: number): Promise<void> => {
    const s = scenarios[i] as LoadedScenario
    opts.reporter?.onScenarioStart?.(s)
    const setAside: SetAsideAttempt[] = []
    const attempts = 1 + Math.max(0, opts.stallRetries ?? DEFAULT_STALL_RETRIES)
    for (let attempt = 1; ; attempt++) {
      const span = canary.measure()
      let peak = running
      const peakTimer = setInterval(() => (peak = Math.max(peak, running)), 100)
      const timeout = startScenarioTimeout(s, opts.signal)
      const slot = spread.acquire()
      let t0Us: number | undefined
      try {
        let v = await runScenario(s, {
          backend: slot.backend,
          resultsDir: opts.resultsDir,
          tolerance: opts.tolerance,
          sysctlOverrides: opts.sysctlOverrides,
          agentPriority: opts.agentPriority,
          signal: timeout.signal,
          onRecord: opts.reporter?.onScenarioRecord ? (rec, t0) => opts.reporter?.onScenarioRecord?.(s, rec, t0) : undefined,
          onProgress: opts.reporter?.onNote ? (msg) => opts.reporter?.onNote?.(msg, s) : undefined,
          onClock: (t0) => (t0Us = t0),
        })
        if (timeout.expired()) v = markTimedOut(v, s)
        const dir = path.join(opts.resultsDir, v.name)
        const load = loadOf(span.stop(), Math.max(peak, running), t0Us, v.endT)
        const found = stallsFor(v.results, load)
        const stalled = v.status === 'fail' && !opts.signal?.aborted && attempt < attempts ? failedOnStalls(v, load, found) : undefined
        if (stalled) {
          // Every failure is a timing miss the machine's stalls account for: set this attempt aside, run it again.
          await recordLoad(v, load, found, dir, v.timedOut === true)
          const aside = path.join(opts.resultsDir, ATTEMPTS_DIR, v.name, String(attempt))
          await mkdir(path.dirname(aside), { recursive: true })
          await rename(dir, aside)
          setAside.push({ attempt, failed: stalled.failed, stallMs: stalled.stallMs, stallT: stalled.stallT, dir: path.join('attempts', String(attempt)) })
          const note = `${v.name}: ${stalled.failed.length} timing failure(s) while the machine stalled ${formatMs(Math.round(stalled.stallMs))} ` +
            `at ${stalled.stallT.toFixed(3)}s; running it again (attempt ${attempt + 1} of ${attempts})`
          opts.warn?.(note)
          opts.reporter?.onNote?.(note, s)
          continue
        }
        if (setAside.length > 0) v.setAside = setAside
        await recordLoad(v, load, found, dir, v.timedOut === true || setAside.length > 0)
        if (setAside.length > 0) await rename(path.join(opts.resultsDir, ATTEMPTS_DIR, v.name), path.join(dir, 'attempts')).catch(() => undefined)
        verdicts[i] = v
        await writeSummary(provisional('the tcplab process ended before the run did (killed, or crashed)'))
        opts.reporter?.onScenarioEnd?.(v, s)
        return
      } finally {
        timeout.clear()
        slot.release()
        clearInterval(peakTimer)
        span.stop()
      }
    }
  }

  try {
    let lastStartMs = 0
    for (const i of order) {
      if (opts.signal?.aborted) break
      // Admission: a free slot, and (auto) timers on time since the last start had time to show.
      for (;;) {
        if (opts.signal?.aborted) break
        const now = Date.now()
        const late = canary.recentStats(ADMIT_WINDOW_MS, now)
        if (late.p90 <= budgetMs) heldWithinBudget = Math.max(heldWithinBudget, running)
        if (!auto && !elsewhere && !warned && running >= maxJobs && running > 1) {
          const longer = canary.recentStats(WARN_WINDOW_MS, now)
          if (longer.p90 > WARN_FACTOR * budgetMs) {
            warned = true
            warnAll(`--jobs ${maxJobs} is more than this machine holds: timers are ${formatMs(Math.round(longer.p90))} late (p90) with ${running} scenarios running, ` +
              `it kept time with ${Math.max(1, heldWithinBudget)}; timing expectations may fail for that reason (try --jobs auto)`)
          }
        }
        if (running === 0) break
        if (running < maxJobs && (!gated || (now - lastStartMs >= ADMIT_GAP_MS && late.p90 <= budgetMs))) break
        await new Promise<void>((resolve) => {
          wake = resolve
          setTimeout(resolve, ADMIT_POLL_MS)
        })
      }
      if (opts.signal?.aborted) break
      running++
      lastStartMs = Date.now()
      const p: Promise<void> = runOne(i)
        .catch((e: unknown) => void failures.push(e))
        .finally(() => {
          running--
          inFlight.delete(p)
          wake?.()
        })
      inFlight.add(p)
    }
    await Promise.all(inFlight)
    await rmdir(path.join(opts.resultsDir, ATTEMPTS_DIR)).catch(() => undefined)
    if (failures.length > 0) throw failures[0]
  } finally {
    await canary.stop()
  }
  const done = verdicts.filter((v): v is ScenarioVerdict => v !== undefined)
  const summary = summarize(done, backendName, opts.resultsDir, started, { daemons, shard: opts.shard })
  if (opts.signal?.aborted) summary.interrupted = { at: new Date().toISOString(), how: 'Ctrl-C' }
  await writeRunFiles(opts.resultsDir, summary, done)
  unhookExit()
  opts.reporter?.onEnd?.(summary, done)
  return { summary, verdicts: done }
}

/** The scenario's expected length (its duration, else its last `at:` step), for longest-first ordering. */
function expectedMs(s: LoadedScenario): number {
  const sc = s.scenario
  if (sc.duration !== undefined) return sc.duration
  return Math.max(0, ...sc.steps.map((st) => (typeof st.at === 'number' ? st.at : 0)))
}

function loadOf(late: SpanFigures, running: number, t0Us: number | undefined, endT: number | undefined): ScenarioLoad {
  const r = (x: number): number => Math.round(x * 100) / 100
  const load: ScenarioLoad = { canaryLateMsP90: r(late.p90), canaryLateMsP99: r(late.p99), canaryLateMsMax: r(late.max), loadavg: r(loadavg()[0] ?? 0), running }
  if (t0Us !== undefined && late.stalls !== undefined) {
    // A stall ends at the late wake-up; it began when that wake-up was due.
    load.stalls = late.stalls
      .map((st) => ({ t: Math.round(((st.endMs - st.ms) * 1000 - t0Us) / 1000) / 1000, ms: Math.round(st.ms) }))
      .filter((st) => st.t + st.ms / 1000 >= -1 && (endT === undefined || st.t <= endT + 1))
    load.stallsOn = late.stallsOn
  }
  return load
}

/**
 * Put the load into the verdict (and verdict.json), and say so on each timing failure that
 * coincides with timers later than its tolerance: the status stays fail, the reason names the machine.
 */
async function recordLoad(v: ScenarioVerdict, load: ScenarioLoad, found: readonly (StallFound | undefined)[], dir: string, changed: boolean): Promise<void> {
  v.load = load
  const noted = annotateBusyMachine(v.results, load, found)
  await writeFileAtomic(path.join(dir, 'verdict.json'), `${JSON.stringify(v, null, 2)}\n`).catch(() => undefined)
  if (noted > 0 || changed) await writeScenarioReport(dir).catch(() => undefined)
}

/** Count verdicts into a run summary (its duration: from startedMs to now). */
export function summarize(verdicts: readonly ScenarioVerdict[], backend: string, resultsDir: string, startedMs: number, more: { daemons?: readonly string[]; shard?: RunShard | undefined } = {}): RunSummary {
  return summarizeRun(verdicts, { backend, resultsDir, startedMs, durationMs: Date.now() - startedMs, ...more })
}

function backendList(b: Backend | readonly Backend[]): readonly Backend[] {
  return Array.isArray(b) ? (b as readonly Backend[]) : [b as Backend]
}
