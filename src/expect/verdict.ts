// What a run concluded: one result per expectation, a verdict per scenario, a
// summary per run. A failed expectation is data, never an exception.

/**
 * The version of the JSON tcplab writes (summary.json, verdict.json, flake.json,
 * the jsonl reporter's events): bumped when a field changes meaning or goes
 * away, not when one is added. Their JSON Schemas: schema/summary.schema.json,
 * schema/verdict.schema.json (test/unit/report/results-schema.test.ts).
 */
import type { AgentPriority } from '../agent/protocol.js'
export const RESULTS_FORMAT_VERSION = 1

/** error: the expectation could not be judged (e.g. its named socket was never seen), never a pass. */
export type ResultStatus = 'pass' | 'fail' | 'skip' | 'error'

/** The outcome of one expectation, with the evidence next to the claim. */
export interface ExpectationResult {
  index: number
  /** ss | states | packets | process | event | counter */
  kind: string
  status: ResultStatus
  /** One line saying what was expected, in words. */
  description: string
  /** What was expected, e.g. "recvQ = 6 always during [1.3s, 2.9s]". */
  expected: string
  /** What was measured, e.g. "recvQ = 6 in 14 of 14 samples" or "SYN at 0.000s, 1.003s, ...". */
  measured: string
  /** Largest timing difference from the expectation, in ms (timing expectations). */
  deltaMs?: number | undefined
  /** Tolerance used, in ms (largest of the per-item tolerances). */
  toleranceMs?: number | undefined
  /** Timeline time (seconds since t0) the result points at: the first violation, or the match. */
  t?: number | undefined
  /** What the expectation's selector reached before its filters, e.g. "socket cli on client: 37 ss rows, 6 packets". */
  reached?: string | undefined
  /** Why it was skipped (when:), or why it failed when the reason is not a mismatch. */
  reason?: string | undefined
  /** The mark this expectation set (`mark:`) and its moments (seconds since t0). */
  mark?: { name: string; t: number[] } | undefined
  /** Where the expectation is written. */
  line?: number | undefined
  col?: number | undefined
}

/** interrupted: Ctrl-C, or the run was killed, before the scenario ended; its results are partial (see ScenarioVerdict.interrupted). */
export type ScenarioStatus = 'pass' | 'fail' | 'error' | 'skip' | 'interrupted'

/** Where an interrupted scenario (or run) got to. */
export interface InterruptedAt {
  /** Wall clock when it stopped (ISO), or when it started for a run that was killed (then `how` says so). */
  at: string
  /** Timeline time reached (seconds since t0), when the clock had started. */
  atT?: number | undefined
  /** What stopped it: "Ctrl-C", "Ctrl-C twice", or that the process died without a word (SIGKILL). */
  how: string
}

export interface ScenarioVerdict {
  /** RESULTS_FORMAT_VERSION when written (absent in results written before it existed). */
  formatVersion?: number | undefined
  name: string
  file: string
  title: string
  status: ScenarioStatus
  backend: string
  /** docker: the daemon that ran the lab ("unix:///var/run/docker.sock", "tcp://10.0.0.7:2375"); see `--docker-host`. */
  daemon?: string | undefined
  labId?: string | undefined
  /** Wall-clock start (ISO) and duration of the whole scenario (setup to teardown). */
  startedAt: string
  durationMs: number
  /** End of the played timeline (seconds since t0): windows that end at `end` end here. */
  endT?: number | undefined
  results: ExpectationResult[]
  /** The scenario's `timeout:` ran out: it was stopped and torn down (status error, error.code E_TIMEOUT). */
  timedOut?: boolean | undefined
  /** Set when the scenario was interrupted: when, and how far its timeline got. */
  interrupted?: InterruptedAt | undefined
  /** Set when the scenario could not run (error) or was skipped. */
  error?: { code: string; message: string; hint?: string | undefined; exitCode: number } | undefined
  reason?: string | undefined
  /** Who played the steps: the hosts' agents on their own clocks, or the runner (see runner/plan.ts). */
  player?: 'agent' | 'runner' | undefined
  /** How late the steps ran (actual - scheduled, ms); each action record has its own. */
  stepLateMs?: { p50: number; p99: number; max: number } | undefined
  /** How the hosts' agents were scheduled: --agent-priority, what each host's agent got, and why it was refused where it was. */
  agentSched?: AgentSched | undefined
  /** How busy the machine was while the scenario ran (the suite's timing canary; see runner/canary.ts). */
  load?: ScenarioLoad | undefined
  /** Earlier attempts set aside because the machine stalled under their timing failures; this verdict is the last attempt's. */
  setAside?: SetAsideAttempt[] | undefined
}

/** How the hosts' agents were scheduled (tcplab-agent --priority; see agent/plan.c plan_raise_priority). */
export interface AgentSched {
  asked: AgentPriority
  /** Host name: what its agent runs at ('normal' where the priority asked for was refused). */
  hosts: Record<string, AgentPriority>
  /** Why it was refused (strerror, "Operation not permitted"), where it was. */
  refused?: string | undefined
}

/** Hosts whose agent did not get the priority asked for, in name order. */
export function demotedAgents(s: AgentSched | undefined): string[] {
  if (!s) return []
  return Object.keys(s.hosts).filter((h) => s.hosts[h] !== s.asked).sort()
}

/** "the agents on client, server ran at the normal priority: --agent-priority=fifo was refused (Operation not permitted)" */
export function demotedLine(s: AgentSched, hosts: readonly string[]): string {
  const got = s.hosts[hosts[0] ?? ''] ?? 'normal'
  return `the agent${hosts.length === 1 ? '' : 's'} on ${hosts.join(', ')} ran at the ${got} priority: ` +
    `--agent-priority=${s.asked} was refused${s.refused ? ` (${s.refused})` : ''}`
}

/** Timer lateness seen by the canary during a scenario (ms), the 1-minute load average at its end, scenarios running beside it. */
export interface ScenarioLoad {
  canaryLateMsP90: number
  canaryLateMsP99: number
  canaryLateMsMax: number
  loadavg: number
  running: number
  /**
   * Stalls: the stall probes' wake-ups (a SCHED_FIFO loop pinned to each CPU, runner/canary.ts) at
   * least STALL_MS late, overlapping ones merged: a CPU did not run even a real-time task for that
   * long (the kernel held it, or the hypervisor did not run it, or paused the whole machine).
   * t: when it began (seconds since t0), ms: how long. Absent when the clock never started or
   * there was no probe.
   */
  stalls?: Array<{ t: number; ms: number }> | undefined
  /** Where the stall probes ran, with stalls: "this machine", or the vm guest the labs ran in ("the guest on 6.1.0-57-cloud-amd64"). */
  stallsOn?: string | undefined
}

/** An attempt set aside: every failure in it was a timing miss the machine's stalls account for (see runner/suite.ts). */
export interface SetAsideAttempt {
  /** 1 for the first run of the scenario. */
  attempt: number
  /** Its failures, "#4 <description>: <measured>". */
  failed: string[]
  /** The longest stall during it (ms) and when it began (seconds since t0). */
  stallMs: number
  stallT: number
  /** Its results folder, relative to the scenario's (attempts/1). */
  dir: string
}

export interface RunSummary {
  /** RESULTS_FORMAT_VERSION when written (absent in results written before it existed). */
  formatVersion?: number | undefined
  startedAt: string
  durationMs: number
  backend: string
  resultsDir: string
  /** docker: every daemon the run used, in --docker-host order (absent on netns). */
  daemons?: string[] | undefined
  /** `--shard i/N`: which part of which selection this run is (see runner/shard.ts). */
  shard?: RunShard | undefined
  /** `tcplab merge`: the runs this directory was merged from, in the order given. */
  mergedFrom?: MergedRun[] | undefined
  scenarios: Array<{ name: string; file: string; status: ScenarioStatus; durationMs: number; passed: number; failed: number; skipped: number; daemon?: string | undefined }>
  passed: number
  failed: number
  errors: number
  skipped: number
  /** Scenarios interrupted before their end. */
  interruptedScenarios?: number | undefined
  /** Set when the run itself was interrupted (Ctrl-C, or killed: then it is the provisional summary written at the start). */
  interrupted?: InterruptedAt | undefined
}

/** Shard `index` of `total` (1-based) of a selection of scenarios, identified by its sorted names. */
export interface RunShard {
  index: number
  total: number
  /** How many scenarios the whole selection (every shard together) has. */
  selectionCount: number
  /** sha256 of the selection's names, sorted, one per line: shards of one suite share it. */
  selectionSha256: string
}

/** One input of a merged results directory. */
export interface MergedRun {
  /** The input directory as given to `tcplab merge`. */
  dir: string
  startedAt: string
  durationMs: number
  scenarios: number
  shard?: RunShard | undefined
}

/** Overall status from the expectation results. */
export function statusOf(results: ExpectationResult[]): ScenarioStatus {
  if (results.some((r) => r.status === 'fail' || r.status === 'error')) return 'fail'
  if (results.length > 0 && results.every((r) => r.status === 'skip')) return 'skip'
  return 'pass'
}
