// Compile a scenario's steps into one plan per host for the agents
// (agent/plan.c): each step becomes one or more agent commands behind a gate,
// an absolute CLOCK_REALTIME deadline (`at:`), an event (`after:`, `wait: {for}`)
// or the end of an earlier step (a step with neither, or after `wait: DURATION`).
// The agents fire them on their own clocks; the runner only relays what crosses
// hosts. Pure: no process is touched here (play-plan.ts plays the result).
//
// Step order, as the scenario language defines it, maps onto the plan so:
//   - steps of one host fire in file order (the agent's ordering rule), and a
//     step whose result the next one may rely on (listen, close, iptables...)
//     is `waits: true`: the next step of that host waits for its final event;
//   - `at:` is the time the step runs, whatever another host is doing; only two
//     steps at the same instant on different hosts keep their file order (the
//     second waits for the first to be done: relayed through the runner);
//   - a step with no `at:`/`after:` runs when the step before it is done (plus
//     any `wait: DURATION` in between); after `wait: {for: EVENT}` it runs on
//     that event.

import type { AgentCommand, PlanGate } from '../agent/index.js'
import { buildRuleArgv, toDeleteArgv, type IptablesCmd } from '../faults/iptables.js'
import { stepTarget } from '../scenario/loader.js'
import type { ActionName, HostActions, Scenario } from '../scenario/schema.js'
import { fillPlaceholders, type HostFacts } from '../scenario/template.js'
import { formatMs } from '../util/duration.js'
import { toAgentCommand } from './actions.js'

/** Plan step numbers: step i of the scenario is STEP_STRIDE * i + sub (a step may need several commands). */
export const STEP_STRIDE = 8

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

export interface CompiledStep {
  /** Index in the scenario's `steps`. */
  index: number
  /** Unique plan step number (STEP_STRIDE * index + sub). */
  planStep: number
  host: string
  action: ActionName
  role: PlanStepRole
  gate: PlanGate
  cmd: AgentCommand
  waits: boolean
  /** "iptables -A INPUT ..." for the action record (sub 0 only). */
  detail: string
  target?: string | undefined
  /** The iptables command of a counters step. */
  iptables?: IptablesCmd | undefined
  /** Sub-command index within the scenario step (0 = the one the action record is about). */
  sub: number
}

/** A host-less `wait` step, for the action records. */
export interface CompiledWait {
  index: number
  detail: string
  /** The plan step it follows (its done time starts the wait), if any. */
  afterPlanStep?: number | undefined
}

export interface CompiledPlan {
  steps: CompiledStep[]
  waits: CompiledWait[]
  /** Host -> its steps, in plan order. */
  byHost: Map<string, CompiledStep[]>
  /** Event refs ("cli.connected") that gate steps, and the hosts whose plans use them. */
  eventRefs: Map<string, Set<string>>
  /** Plan step K -> hosts (other than K's) waiting for K to be done. */
  stepRefs: Map<number, Set<string>>
}

/** What the compiler needs to know of a host. */
export interface PlanHost {
  ifnames: readonly string[]
  /** The backend sets sysctls from outside (docker): a sysctl step cannot run in the agent. */
  setsSysctlsOutside: boolean
  /** The host runs the user's own image: `run` must start there, not next to the agent. */
  hasUserImage: boolean
}

/** Why a scenario cannot be played by the agents (it is then played from the runner), or undefined. */
export function planUnsupported(s: Scenario, hosts: ReadonlyMap<string, PlanHost>): string | undefined {
  for (const [i, step] of s.steps.entries()) {
    const target = stepTarget(step)
    if (!target) continue
    const h = hosts.get(target.host)
    if (!h) return `step ${i}: unknown host ${target.host}`
    if (target.action === 'sysctl' && h.setsSysctlsOutside) return `step ${i}: this backend sets ${target.host}'s sysctls from outside the host`
    if ((target.action === 'run' || target.action === 'write' || target.action === 'signal') && h.hasUserImage) {
      return `step ${i}: ${target.host} runs its own image, where the agent cannot start programs`
    }
  }
  return undefined
}

/** Ops whose result a later step may rely on (the old runner waited for them too). */
const WAITS = new Set(['listen', 'setsockopt', 'getsockopt', 'shutdown', 'close', 'abort', 'pause', 'resume', 'read', 'write', 'signal'])

/** Compile the steps; t0Us anchors `at:`. */
export function compilePlan(s: Scenario, t0Us: number, facts: ReadonlyMap<string, HostFacts>, hosts: ReadonlyMap<string, Pick<PlanHost, 'ifnames'>>): CompiledPlan {
  const steps: CompiledStep[] = []
  const waits: CompiledWait[] = []
  let prev: { last: CompiledStep; at: number | undefined } | undefined
  let waitMs = 0
  let waitFor: string | undefined
  for (const [index, step] of s.steps.entries()) {
    const target = stepTarget(step)
    if (!target) {
      const w = step.wait
      if (typeof w === 'number') {
        waitMs += w
        waits.push({ index, detail: formatMs(w), afterPlanStep: prev?.last.planStep })
      } else if (w) {
        waitFor = w.for
        waitMs = 0
        waits.push({ index, detail: `for ${w.for}`, afterPlanStep: prev?.last.planStep })
      }
      continue
    }
    let gate: PlanGate
    if (step.at !== undefined) {
      gate = { atUs: t0Us + Math.round(step.at * 1000) }
      if (prev && prev.last.host !== target.host && prev.at === step.at) gate = { afterStep: prev.last.planStep }
    } else if (step.after !== undefined) {
      gate = { on: step.after, delayMs: step.delay ?? 0 }
    } else if (waitFor !== undefined) {
      gate = { on: waitFor, delayMs: waitMs }
    } else if (prev) {
      gate = { afterStep: prev.last.planStep, delayMs: waitMs }
    } else {
      gate = { atUs: t0Us + Math.round(waitMs * 1000) }
    }
    waitMs = 0
    waitFor = undefined
    const subs = compileAction(index, target.action, target.args, facts, hosts.get(target.host)?.ifnames ?? [])
    subs.forEach((sub, k) => {
      const planStep = STEP_STRIDE * index + k
      const c: CompiledStep = {
        index,
        planStep,
        host: target.host,
        action: target.action,
        role: sub.role,
        gate: k === 0 ? gate : { afterStep: planStep - 1 },
        cmd: { ...sub.cmd, id: `s${planStep}` } as AgentCommand,
        waits: sub.waits,
        detail: sub.detail,
        target: sub.target,
        iptables: sub.iptables,
        sub: k,
      }
      steps.push(c)
    })
    const last = steps[steps.length - 1]
    if (last) prev = { last, at: step.at }
  }
  const byHost = new Map<string, CompiledStep[]>()
  for (const c of steps) byHost.set(c.host, [...(byHost.get(c.host) ?? []), c])
  const hostOfStep = new Map(steps.map((c) => [c.planStep, c.host]))
  const eventRefs = new Map<string, Set<string>>()
  const stepRefs = new Map<number, Set<string>>()
  for (const c of steps) {
    const g = c.gate
    if ('on' in g) eventRefs.set(g.on, (eventRefs.get(g.on) ?? new Set()).add(c.host))
    if ('afterStep' in g && hostOfStep.get(g.afterStep) !== c.host) stepRefs.set(g.afterStep, (stepRefs.get(g.afterStep) ?? new Set()).add(c.host))
  }
  return { steps, waits, byHost, eventRefs, stepRefs }
}

interface Sub {
  cmd: Record<string, unknown>
  waits: boolean
  role: PlanStepRole
  detail: string
  target?: string | undefined
  iptables?: IptablesCmd | undefined
}

/** One scenario action as agent commands (most are one). Internal process names start with "." and never reach the timeline. */
function compileAction(index: number, action: ActionName, args: unknown, facts: ReadonlyMap<string, HostFacts>, ifnames: readonly string[]): Sub[] {
  const internal = (k: number): string => `.step${index}-${k}`
  const command = (argv: string[], detail: string, k = 0): Sub => ({
    cmd: { op: 'exec', name: internal(k), argv, lines: false },
    waits: true,
    role: 'command',
    detail,
  })
  switch (action) {
    case 'run': {
      const a = args as NonNullable<HostActions['run']>
      const argv = a.cmd.map((x) => fillPlaceholders(x, facts))
      return [{ cmd: { op: 'exec', name: a.name, argv, stdin: a.stdin === true, lines: true }, waits: false, role: 'process', detail: argv.join(' '), target: a.name }]
    }
    case 'write': {
      const a = args as NonNullable<HostActions['write']>
      const out: Sub[] = []
      const detail = `${a.data !== undefined ? JSON.stringify(a.data) : ''}${a.eof ? ' EOF' : ''} -> ${a.to}`
      if (a.data !== undefined) out.push({ cmd: { op: 'write', name: a.to, data: fillPlaceholders(a.data, facts) }, waits: true, role: 'process-io', detail, target: a.to })
      if (a.eof) out.push({ cmd: { op: 'endStdin', name: a.to }, waits: true, role: 'process-io', detail, target: a.to })
      return out
    }
    case 'signal': {
      const a = args as NonNullable<HostActions['signal']>
      return [{ cmd: { op: 'signal', name: a.to, signal: a.signal }, waits: true, role: 'process-io', detail: `SIG${a.signal} -> ${a.to}`, target: a.to }]
    }
    case 'iptables':
    case 'ip6tables': {
      const cmd = action
      const a = args as NonNullable<HostActions['iptables']>
      if (typeof a === 'object' && !Array.isArray(a) && 'delete' in a) {
        // The rule's argv is known from the step that added it: the player resolves it (ruleArgv).
        return [
          { cmd: { op: 'exec', name: internal(0), argv: [`${cmd}-save`, '-c'], lines: true }, waits: true, role: 'counters', detail: `${cmd} counters`, iptables: cmd },
          { ...command([cmd, '-w', '@delete', a.delete], `${cmd} ${a.delete} (deleted)`, 1), target: a.delete, iptables: cmd },
        ]
      }
      const spec = typeof a === 'string' || Array.isArray(a) ? { rule: a, name: undefined, table: undefined } : a
      const name = spec.name ?? `step${index}`
      const filled = (typeof spec.rule === 'string' ? [spec.rule] : spec.rule).map((x) => fillPlaceholders(x, facts))
      const argv = buildRuleArgv(typeof spec.rule === 'string' ? (filled[0] as string) : filled, name, spec.table)
      return [{ ...command([cmd, '-w', ...argv], `${cmd} ${argv.join(' ')}`), target: name, iptables: cmd }]
    }
    case 'sysctl': {
      const a = args as NonNullable<HostActions['sysctl']>
      const entries = Object.entries(a).filter(([k]) => !k.startsWith('?'))
      const optional = Object.entries(a).filter(([k]) => k.startsWith('?')).map(([k, v]): [string, string] => [k.slice(1), String(v)])
      const detail = Object.entries(a).map(([k, v]) => `${k}=${String(v)}`).join(' ')
      const out: Sub[] = []
      // `sysctl -e` ignores keys this kernel lacks (sysctl(8)); a bad value still fails.
      if (entries.length > 0) out.push(command(['sysctl', '-q', '-w', ...entries.map(([k, v]) => `${k}=${String(v)}`)], detail, 0))
      if (optional.length > 0) out.push(command(['sysctl', '-e', '-q', '-w', ...optional.map(([k, v]) => `${k}=${v}`)], detail, out.length))
      return out
    }
    case 'link': {
      const a = args as NonNullable<HostActions['link']>
      const state = typeof a === 'string' ? a : a.state
      const dev = (typeof a === 'string' ? undefined : a.dev) ?? ifnames[0] ?? 'eth0'
      return [command(['ip', 'link', 'set', 'dev', dev, state], `${dev} ${state}`)]
    }
    case 'tc': {
      const a = args as NonNullable<HostActions['tc']>
      const argv = a.args.map((x) => fillPlaceholders(x, facts))
      return [command(['tc', ...argv], `tc ${argv.join(' ')}`)]
    }
    default: {
      const cmd = toAgentCommand(action, args as Record<string, unknown>, facts)
      return [{ cmd, waits: WAITS.has(action), role: 'socket', detail: JSON.stringify(args), target: targetName(args) }]
    }
  }
}

/** Resolve `@delete NAME` argvs against the rules the plan adds (file order): a delete removes what its named rule added. */
export function resolveDeletes(plan: CompiledPlan): string | undefined {
  const added = new Map<string, string[]>()
  for (const c of plan.steps) {
    if (c.role !== 'command' || c.iptables === undefined || c.cmd.op !== 'exec') continue
    const argv = c.cmd.argv
    if (argv[2] === '@delete') {
      const name = argv[3] as string
      const rule = added.get(`${c.iptables}:${name}`)
      if (!rule) return `step ${c.index}: no ${c.iptables} rule named ${name}`
      c.cmd = { ...c.cmd, argv: [c.iptables, '-w', ...toDeleteArgv(rule)] }
      added.delete(`${c.iptables}:${name}`)
    } else if (c.target !== undefined) {
      added.set(`${c.iptables}:${c.target}`, argv.slice(2))
    }
  }
  return undefined
}

function targetName(args: unknown): string | undefined {
  if (args && typeof args === 'object' && !Array.isArray(args)) {
    const a = args as Record<string, unknown>
    for (const k of ['name', 'to', 'socket', 'delete']) if (typeof a[k] === 'string') return a[k]
  }
  return undefined
}
