// Compile a scenario's steps into one plan per host for the agents
// (agent/plan.c): each step becomes one or more agent commands behind a gate,
// an absolute CLOCK_REALTIME deadline (`at:`), an event (`after:`, `wait: {for}`),
// a mark (`after: NAME[.N]`: the event itself when the mark is just the first
// SRC.TYPE, else "mark:NAME.N", which the runner triggers: markRefs)
// or the end of an earlier step (a step with neither, or after `wait: DURATION`).
// The agents fire them on their own clocks; the runner only relays what crosses
// hosts. Pure: no process is touched here (play-plan.ts plays the result).
//
// Step order, as the scenario language defines it, maps onto the plan so:
//   - steps of one host fire in file order (the agent's ordering rule), and a
//     step whose result the next one may rely on (listen, close, iptables...)
//     is `waits: true`: the next step of that host waits for its final event;
//   - `at:` is the time the step runs, whatever another host is doing, with one
//     exception: it never runs before an earlier setup step of another host
//     that it may rely on (a rule, a sysctl, a link, a listen: an `at:` step
//     at or before its time) is done. On a fast machine that is long done; in
//     a slow guest an iptables takes 100-300 ms, and a connect at 200 ms must
//     not race the rule at 0 s. Such a step waits (gate notBefore) and its
//     lateness says so. Two steps at the same instant on different hosts keep
//     their file order (the second waits for the first to be done);
//   - a step with no `at:`/`after:` runs when the step before it is done (plus
//     any `wait: DURATION` in between); after `wait: {for: EVENT}` it runs on
//     that event.

import { actionOf, type AgentHostCaps, type PlanStepRole } from '../actions/index.js'
import type { AgentCommand, PlanGate } from '../agent/index.js'
import { toDeleteArgv, type IptablesCmd } from '../faults/iptables.js'
import { stepTarget } from '../scenario/loader.js'
import { stepMarkOf, type StepMark } from '../scenario/marks.js'
import type { ActionName, Scenario } from '../scenario/schema.js'
import type { HostFacts } from '../scenario/template.js'
import { formatMs } from '../util/duration.js'

export type { PlanStepRole } from '../actions/index.js'

/** Plan step numbers: step i of the scenario is STEP_STRIDE * i + sub (a step may need several commands). */
export const STEP_STRIDE = 8

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
  /**
   * Marks steps wait for that no agent event opens by itself ("mark:NAME.N"):
   * the runner evaluates them as the events come (src/expect/live-marks.ts)
   * and triggers the waiting hosts with the mark's own time. A mark that is
   * exactly the first event SRC.TYPE is gated on that event instead (eventRefs).
   */
  markRefs: Map<string, { mark: StepMark; hosts: Set<string> }>
}

/** What the compiler needs to know of a host. */
export interface PlanHost extends AgentHostCaps {
  ifnames: readonly string[]
}

/** Why a scenario cannot be played by the agents (it is then played from the runner), or undefined. */
export function planUnsupported(s: Scenario, hosts: ReadonlyMap<string, PlanHost>): string | undefined {
  for (const [i, step] of s.steps.entries()) {
    const target = stepTarget(step)
    if (!target) continue
    const h = hosts.get(target.host)
    if (!h) return `step ${i}: unknown host ${target.host}`
    const why = actionOf(target.action).unplayable?.(h, target.host)
    if (why !== undefined) return `step ${i}: ${why}`
  }
  return undefined
}

/** Compile the steps; t0Us anchors `at:`. */
export function compilePlan(s: Scenario, t0Us: number, facts: ReadonlyMap<string, HostFacts>, hosts: ReadonlyMap<string, Pick<PlanHost, 'ifnames'>>): CompiledPlan {
  const steps: CompiledStep[] = []
  const waits: CompiledWait[] = []
  let prev: { last: CompiledStep; at: number | undefined } | undefined
  let waitMs = 0
  let waitFor: string | undefined
  const markOf = new Map<string, StepMark>()
  /**
   * Per host, its setup steps with an `at:` (a rule, sysctl, link, tc or listen), in file order: a
   * later `at:` step of another host waits for the last of them due at or before its time (the
   * host's own order makes that one done only after the ones before it).
   */
  const setups = new Map<string, Array<{ planStep: number; at: number }>>()
  /** The gate ref of an `after:`/`wait: {for}`: the event, or a mark's own event, or "mark:NAME.N" (the runner triggers it). */
  const gateOn = (ref: string): string => {
    const mark = stepMarkOf(ref, s.expect as unknown as Array<Record<string, unknown>>)
    if (typeof mark !== 'object') return ref
    if (mark.direct !== undefined) return mark.direct
    markOf.set(mark.gateRef, mark)
    return mark.gateRef
  }
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
      const at = step.at
      const notBefore = [...setups].filter(([h]) => h !== target.host)
        .flatMap(([, list]) => list.filter((p) => p.at <= at).slice(-1).map((p) => p.planStep))
      gate = { atUs: t0Us + Math.round(at * 1000), ...(notBefore.length > 0 ? { notBefore } : {}) }
      if (prev && prev.last.host !== target.host && prev.at === step.at) gate = { afterStep: prev.last.planStep }
    } else if (step.after !== undefined) {
      gate = { on: gateOn(step.after), delayMs: step.delay ?? 0 }
    } else if (waitFor !== undefined) {
      gate = { on: gateOn(waitFor), delayMs: waitMs }
    } else if (prev) {
      gate = { afterStep: prev.last.planStep, delayMs: waitMs }
    } else {
      gate = { atUs: t0Us + Math.round(waitMs * 1000) }
    }
    waitMs = 0
    waitFor = undefined
    // One scenario action as agent commands (most are one), as its definition compiles it.
    const subs = actionOf(target.action).compile(target.args, { index, facts, ifnames: hosts.get(target.host)?.ifnames ?? [] })
    subs.forEach((sub, k) => {
      const planStep = STEP_STRIDE * index + k
      const c: CompiledStep = {
        index,
        planStep,
        host: target.host,
        action: target.action,
        role: sub.role,
        gate: k === 0 ? gate : { afterStep: planStep - 1 },
        cmd: { ...sub.cmd, id: `s${planStep}` },
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
    if (last && step.at !== undefined && subs.some((sub) => sub.role === 'command' || (sub.role === 'socket' && target.action === 'listen'))) {
      setups.set(target.host, [...(setups.get(target.host) ?? []), { planStep: last.planStep, at: step.at }])
    }
  }
  const byHost = new Map<string, CompiledStep[]>()
  for (const c of steps) byHost.set(c.host, [...(byHost.get(c.host) ?? []), c])
  const hostOfStep = new Map(steps.map((c) => [c.planStep, c.host]))
  const eventRefs = new Map<string, Set<string>>()
  const stepRefs = new Map<number, Set<string>>()
  const markRefs = new Map<string, { mark: StepMark; hosts: Set<string> }>()
  for (const c of steps) {
    const g = c.gate
    const mark = 'on' in g ? markOf.get(g.on) : undefined
    if (mark) markRefs.set(mark.gateRef, { mark, hosts: (markRefs.get(mark.gateRef)?.hosts ?? new Set()).add(c.host) })
    else if ('on' in g) eventRefs.set(g.on, (eventRefs.get(g.on) ?? new Set()).add(c.host))
    if ('afterStep' in g && hostOfStep.get(g.afterStep) !== c.host) stepRefs.set(g.afterStep, (stepRefs.get(g.afterStep) ?? new Set()).add(c.host))
    if ('notBefore' in g) for (const k of g.notBefore ?? []) stepRefs.set(k, (stepRefs.get(k) ?? new Set()).add(c.host))
  }
  return { steps, waits, byHost, eventRefs, stepRefs, markRefs }
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
