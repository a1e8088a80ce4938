// Timing failures the machine accounts for, and how the verdict says so. Two causes hold a
// moment back while the scenario's TCP does nothing wrong:
// - a stall: the stall probes (runner/canary.ts) saw a CPU run nothing, not even a real-time
//   task, over the moment (the kernel held it, or the hypervisor did not run it);
// - a late step: a step due by the moment ran late (a command that took a second in a loaded
//   guest holds every later step of its host), also where no probe saw the machine stand still.
// Either goes into the failure's reason ("machine too busy: ..."); the status stays fail. Only
// stalls set an attempt aside to run again (failedOnStalls, suite.ts): a late step is in the
// verdict's own records, and a scenario that ran late runs late again on the same machine.

import { demotedAgents, demotedLine, type AgentSched, type ExpectationResult, type ScenarioLoad, type ScenarioVerdict } from '../expect/verdict.js'
import type { ActionRecord } from '../recorder/records.js'
import { formatMs } from '../util/duration.js'

/** Slack between a step's times and the failure's moment, which another clock may have stamped (a capture) (s). */
const EDGE_S = 0.001

/** How far a stall's start may be from where it is placed: a probe sees it only when it wakes (every 5 ms) (s). */
const STALL_EDGE_S = 0.01

/** A timing failure: its signed miss (deltaMs) and how far beyond its tolerance (ms); undefined for anything else. */
function missOf(r: ExpectationResult): { delta: number; excess: number; tolerance: number } | undefined {
  if (r.status !== 'fail' || r.toleranceMs === undefined || r.deltaMs === undefined) return undefined
  return { delta: r.deltaMs, excess: Math.abs(r.deltaMs) - r.toleranceMs, tolerance: r.toleranceMs }
}

/**
 * Append "machine too busy: <what>, more than this missed by beyond its <tolerance> tolerance" (a
 * timing failure), or "..., and this failed at <t> as it came back" (another), to a failure's reason.
 */
function noteBusy(r: ExpectationResult, what: string): void {
  const how = r.deltaMs === undefined
    ? `and this failed at ${(r.t ?? 0).toFixed(3)}s, while it stood still or as it came back`
    : `more than this missed by beyond its ${formatMs(r.toleranceMs ?? 0)} tolerance`
  const note = `machine too busy: ${what}, ${how}`
  r.reason = r.reason ? `${r.reason}; ${note}` : note
}

/**
 * The late step that accounts for a timing failure, if one does: the failure came late
 * (deltaMs > 0) by more than its tolerance; a step due by the moment the failure expected was
 * played late by at least that excess, and played no later than the failure's moment (so it
 * could have held it back). Of several, the one most late. Early failures are not a late step's doing.
 */
export function lateStepAccountsFor(r: ExpectationResult, actions: readonly ActionRecord[]): ActionRecord | undefined {
  const miss = missOf(r)
  if (miss === undefined || r.t === undefined || miss.delta <= 0 || miss.excess <= 0) return undefined
  const expected = r.t - miss.delta / 1000
  let worst: ActionRecord | undefined
  for (const a of actions) {
    if (a.scheduledT === undefined || a.lateMs === undefined) continue
    if (a.scheduledT > expected + EDGE_S || a.t > r.t + EDGE_S || a.lateMs < miss.excess) continue
    if (worst === undefined || a.lateMs > (worst.lateMs ?? 0)) worst = a
  }
  return worst
}

/**
 * Add "a step ran late" to the reason of each timing failure a late step accounts for; returns how
 * many. With `sched`, a late step whose host's agent did not get the priority asked for says so.
 */
export function annotateLateSteps(results: ExpectationResult[], records: ReadonlyArray<{ kind: string }>, sched?: AgentSched): number {
  const actions = records.filter((x): x is ActionRecord => x.kind === 'action' && (x as ActionRecord).lateMs !== undefined)
  if (actions.length === 0) return 0
  const demoted = demotedAgents(sched)
  let n = 0
  for (const r of results) {
    const a = lateStepAccountsFor(r, actions)
    if (a === undefined) continue
    const what = `step #${a.step} (${a.action}${a.host === undefined ? '' : ` on ${a.host}`})`
    const priority = a.host !== undefined && demoted.includes(a.host) ? ` (${demotedLine(sched as AgentSched, [a.host])})` : ''
    noteBusy(r, `${what} was due at ${(a.scheduledT ?? 0).toFixed(3)}s and ran at ${a.t.toFixed(3)}s, ${formatMs(Math.round(a.lateMs ?? 0))} late${priority}`)
    n++
  }
  return n
}

/** The stall that accounts for a timing failure: how long, and when (s, scenario clock). */
export interface StallFound {
  stallMs: number
  stallT: number
}

/**
 * Whether one of the machine's stalls accounts for a timing failure that missed by `excess` ms
 * beyond its tolerance. Late (delta > 0): the stall covered the moment it was due (t - delta) and
 * lasted past it by at least the excess: nothing could happen while the machine stood still.
 * Early: a stall of at least the excess before it (it delayed what it is measured from). Without
 * a moment, any stall that long; without stall times (no probe, or a clock that never started),
 * the scenario's worst canary lateness against the tolerance, for the note only.
 */
export function stallsAccountFor(r: ExpectationResult, load: ScenarioLoad): StallFound | undefined {
  const miss = missOf(r)
  if (miss === undefined) return brokeInStall(r, load)
  const { delta, excess } = miss
  if (load.stalls === undefined) return load.canaryLateMsMax > miss.tolerance ? { stallMs: load.canaryLateMsMax, stallT: r.t ?? 0 } : undefined
  if (excess <= 0) return undefined
  const t = r.t
  const due = t === undefined ? undefined : t - delta / 1000
  const fits = (st: { t: number; ms: number }): boolean => {
    const end = st.t + st.ms / 1000
    if (t === undefined || due === undefined) return st.ms >= excess
    if (delta > 0) return st.t <= due + STALL_EDGE_S && end >= due + excess / 1000 - STALL_EDGE_S
    return st.ms >= excess && end <= t + STALL_EDGE_S
  }
  return longest(load.stalls.filter(fits))
}

/** The longest of the stalls found, as a StallFound (undefined: none). */
function longest(found: ReadonlyArray<{ t: number; ms: number }>): StallFound | undefined {
  if (found.length === 0) return undefined
  const worst = found.reduce((x, st) => (st.ms > x.ms ? st : x))
  return { stallMs: worst.ms, stallT: worst.t }
}

/**
 * A failure that is not a timing claim (an order, a count, a value) whose first violation came
 * while the machine stood still, or as it came back: two reads due 50 ms apart that one read took
 * at the end of a 98 ms stall. Only where the probes placed stalls on the clock.
 */
function brokeInStall(r: ExpectationResult, load: ScenarioLoad): StallFound | undefined {
  if (r.status !== 'fail' || r.deltaMs !== undefined || r.t === undefined || load.stalls === undefined) return undefined
  const t = r.t
  return longest(load.stalls.filter((st) => st.t - STALL_EDGE_S <= t && t <= st.t + st.ms / 1000 + STALL_EDGE_S))
}

/** stallsAccountFor of each result, in order: what annotateBusyMachine and failedOnStalls share. */
export function stallsFor(results: readonly ExpectationResult[], load: ScenarioLoad): Array<StallFound | undefined> {
  return results.map((r) => stallsAccountFor(r, load))
}

/** Add "machine stalled" to the reason of timing failures the machine's stalls account for (`found`: stallsFor); returns how many. */
export function annotateBusyMachine(results: ExpectationResult[], load: ScenarioLoad, found: readonly (StallFound | undefined)[] = stallsFor(results, load)): number {
  let n = 0
  for (const [i, r] of results.entries()) {
    const st = found[i]
    if (!st) continue
    noteBusy(r, `it stalled ${formatMs(Math.round(st.stallMs))} at ${st.stallT.toFixed(3)}s (timers up to ${formatMs(Math.round(load.canaryLateMsMax))} late during this scenario, ` +
      `p99 ${formatMs(Math.round(load.canaryLateMsP99))}, ${load.running} running, load ${load.loadavg})`)
    n++
  }
  return n
}

/** A failed verdict whose every failure the machine's stalls account for: what failed, and the longest stall. */
export function failedOnStalls(v: ScenarioVerdict, load: ScenarioLoad, found: readonly (StallFound | undefined)[] = stallsFor(v.results, load)): ({ failed: string[] } & StallFound) | undefined {
  // Only stalls the probe placed on the clock set an attempt aside, not lateness in general.
  if (v.status !== 'fail' || v.error !== undefined || v.timedOut === true || v.interrupted !== undefined || load.stalls === undefined) return undefined
  const bad = [...v.results.entries()].filter(([, r]) => r.status === 'fail' || r.status === 'error')
  if (bad.length === 0) return undefined
  let worst: StallFound = { stallMs: 0, stallT: 0 }
  for (const [i] of bad) {
    const st = found[i]
    if (!st) return undefined
    if (st.stallMs > worst.stallMs) worst = st
  }
  return { failed: bad.map(([, r]) => `#${r.index + 1} ${r.description}: ${r.measured}`), ...worst }
}
