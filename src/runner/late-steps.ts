// Timing failures that a late step accounts for. A stall the probes saw is one cause of a
// missed moment (suite.ts stallsAccountFor); a step that ran late is another, also where no
// probe saw the machine stand still: a command that took a second to run in a loaded guest
// holds every later step of its host. The verdict says so in the failure's reason; the status
// stays fail, and only stalls set an attempt aside (suite.ts failedOnStalls).

import { demotedAgents, demotedLine, type AgentSched, type ExpectationResult } from '../expect/verdict.js'
import type { ActionRecord } from '../recorder/records.js'
import { formatMs } from '../util/duration.js'

/** Slack between a step's times and the failure's moment, which another clock may have stamped (a capture) (s). */
const EDGE_S = 0.001

/**
 * The late step that accounts for a timing failure, if one does: the failure came late
 * (deltaMs > 0) by more than its tolerance; a step due by the moment the failure expected was
 * played late by at least that excess, and played no later than the failure's moment (so it
 * could have held it back). Of several, the one most late. Early failures are not a late step's doing.
 */
export function lateStepAccountsFor(r: ExpectationResult, actions: readonly ActionRecord[]): ActionRecord | undefined {
  if (r.status !== 'fail' || r.toleranceMs === undefined || r.deltaMs === undefined || r.t === undefined || r.deltaMs <= 0) return undefined
  const excess = r.deltaMs - r.toleranceMs
  if (excess <= 0) return undefined
  const expected = r.t - r.deltaMs / 1000
  let worst: ActionRecord | undefined
  for (const a of actions) {
    if (a.scheduledT === undefined || a.lateMs === undefined) continue
    if (a.scheduledT > expected + EDGE_S || a.t > r.t + EDGE_S || a.lateMs < excess) continue
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
  let n = 0
  for (const r of results) {
    const a = lateStepAccountsFor(r, actions)
    if (a === undefined) continue
    const what = `step #${a.step} (${a.action}${a.host === undefined ? '' : ` on ${a.host}`})`
    const note = `machine too busy: ${what} was due at ${(a.scheduledT ?? 0).toFixed(3)}s and ran at ${a.t.toFixed(3)}s, ` +
      `${formatMs(Math.round(a.lateMs ?? 0))} late, more than this missed by beyond its ${formatMs(r.toleranceMs ?? 0)} tolerance` +
      (a.host !== undefined && demotedAgents(sched).includes(a.host) ? ` (${demotedLine(sched as AgentSched, [a.host])})` : '')
    r.reason = r.reason ? `${r.reason}; ${note}` : note
    n++
  }
  return n
}
