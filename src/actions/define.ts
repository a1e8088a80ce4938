// What a step action is, in one place (like Playwright's defineTool): its
// schema, its docs line, the names it defines and uses (the loader checks
// them), how it compiles into agent commands for a host's plan (runner/plan.ts),
// and how the runner plays it where an agent cannot (runner/actions.ts). Adding
// an action is one file in this folder, its entry in index.ts, and its handler
// in the agent when it needs a new op.
//
// Runtime imports stay light (zod, scenario fields, faults, records): the
// scenario schema loads this folder. What only the runner-side `run` needs
// from the lab is imported there, lazily.

import type { z } from 'zod'
import type { AgentCommand } from '../agent/protocol.js'
import type { IptablesCmd, InstalledRule } from '../faults/iptables.js'
import type { Host, Proc } from '../lab/types.js'
import { nowUs, secondsSince } from '../recorder/records.js'
import type { Timeline } from '../recorder/timeline.js'
import type { HostFacts } from '../scenario/template.js'

// ----------------------------------------------------------------- names

/**
 * A name a step defines or uses, for the loader's checks (defined before use,
 * on the same host, not taken twice). `key` is the field of the action that
 * holds it (where a problem is reported).
 */
export type NameRef =
  /** A new process (`run`) or socket (`listen`, `connect`) of the step's host; a name is taken once. */
  | { defines: 'process' | 'socket'; name: string; key: string }
  /** The name accepted connections get: NAME, then NAME-2, NAME-3, ... */
  | { accepts: string }
  /** A process or socket an earlier step of the same host defined. */
  | { uses: 'process' | 'socket'; name: string; key: string }
  /** A named rule; rules are kept per action (iptables and ip6tables apart). */
  | { addsRule: string; key: string }
  /** Deletes a rule an earlier step of the same host named. */
  | { deletesRule: string; key: string }
  /** A HOST:PORT whose host must be one of the scenario's. */
  | { hostPort: string; key: string }

// ------------------------------------------------------------- compiling

/** What one plan step is for, so the player knows what its events mean. */
export type PlanStepRole =
  /** A socket action (the agent's own op). */
  | 'socket'
  /** A user process (`run`), kept running. */
  | 'process'
  /** A command run to completion (iptables, sysctl, ip link, tc): a non-zero exit is a step error. */
  | 'command'
  /** `iptables-save -c` before a rule is deleted: its output becomes counter records. */
  | 'counters'
  /** write/signal to a process. */
  | 'process-io'

/** One agent command of a compiled step (a step may need several). */
export interface CompiledCommand {
  cmd: AgentCommand
  /** The next step of the host waits for this command's final event. */
  waits: boolean
  role: PlanStepRole
  /** "iptables -A INPUT ..." for the action record. */
  detail: string
  target?: string | undefined
  /** The iptables command of a rule or counters step. */
  iptables?: IptablesCmd | undefined
}

export interface CompileContext {
  /** The step's index in the scenario. */
  index: number
  /** Host facts for {{host}} placeholders. */
  facts: ReadonlyMap<string, HostFacts>
  /** The step's host's lab interfaces. */
  ifnames: readonly string[]
}

/** What an action may need to know of its host to say whether the agent can play it. */
export interface AgentHostCaps {
  /** The backend sets sysctls from outside (docker): a sysctl step cannot run in the agent. */
  setsSysctlsOutside: boolean
  /** The host runs the user's own image: `run` must start there, not next to the agent. */
  hasUserImage: boolean
}

/** Internal process names start with "." and never reach the timeline. */
export function internalName(index: number, k: number): string {
  return `.step${index}-${k}`
}

/** A command run to completion by the agent (sub-command k of the step). */
export function commandStep(ctx: CompileContext, argv: string[], detail: string, k = 0): CompiledCommand {
  return { cmd: { op: 'exec', name: internalName(ctx.index, k), argv, lines: false, keepPriority: true }, waits: true, role: 'command', detail }
}

/** Why the agent cannot play a step that starts or drives a program on this host. */
export function programsUnplayable(host: AgentHostCaps, hostName: string): string | undefined {
  return host.hasUserImage ? `${hostName} runs its own image, where the agent cannot start programs` : undefined
}

// ------------------------------------------------------- runner-side play

/** Everything an action may touch while the runner plays a scenario (where the agents cannot). */
export interface StepContext {
  stepIndex: number
  hostName: string
  host: Host
  timeline: Timeline
  /** Host facts for {{host}} placeholders. */
  facts: ReadonlyMap<string, HostFacts>
  /** Processes started by `run`, by name. */
  procs: Map<string, { host: string; proc: Proc }>
  /** Named iptables rules, by "cmd:name". */
  rules: Map<string, { host: string; rule: InstalledRule }>
  /** Socket actions go to the host's agent (started on first use). */
  agent(host: string): Promise<AgentPort>
  signal: AbortSignal
}

/** The runner's view of an agent: send a command, and wait for its final event when asked to. */
export interface AgentPort {
  command(cmd: AgentCommand, waitForResult: boolean): Promise<void>
}

/** Seconds since the scenario's t0, now. */
export function stepNow(ctx: Pick<StepContext, 'timeline'>): number {
  return secondsSince(ctx.timeline.t0Us, nowUs())
}

// ------------------------------------------------------------ definition

/** One step action. `Args` is what the schema parses the action's value to. */
export interface ActionDefinition<N extends string = string, S extends z.ZodType = z.ZodType> {
  name: N
  /** The action's value in a scenario step (its descriptions and examples reach the JSON Schema). */
  schema: S
  /** One line for the docs: what it does, with an example. */
  doc: string
  /** A socket action: the agent's op of this name carries it out. */
  agentOp?: N
  /** The names it defines and uses, in the order the loader checks them. */
  refs(args: z.output<S>): NameRef[]
  /** The step as agent commands (most are one), in the order they run. */
  compile(args: z.output<S>, ctx: CompileContext): CompiledCommand[]
  /** Why the agent cannot play it on this host (the runner then plays the scenario), or undefined. */
  unplayable?(host: AgentHostCaps, hostName: string): string | undefined
  /** Play it from the runner; returns the action record's detail. */
  run(ctx: StepContext, args: z.output<S>): Promise<string>
}

/** Define a step action (the compiler checks every piece is there). */
export function defineAction<const N extends string, S extends z.ZodType>(def: ActionDefinition<N, S>): ActionDefinition<N, S> {
  return def
}
