// Play a compiled plan (plan.ts): hand each host's steps to its agent, start
// them, relay what crosses hosts (an event or a finished step another host's
// step waits for), turn the agents' `step` events into action records with
// their scheduled and actual times, and stop the scenario when a command
// fails. The agents keep the time; the runner only listens.
//
// Cross-host gates go two ways at once. The runner relays: an agent's event on
// stdout -> Node -> `trigger` on the waiting agent's stdin (p99 6-16 ms on a
// busy machine: Node's event loop is in the path). Where the agents share a
// filesystem (the netns backend, `relayDir`), they also relay directly: each
// binds a unix datagram socket there (`relayBind`) and is told which refs to
// send to which sockets (`relay`, agent/relay.c), so the datagram leaves the
// moment the event is written. The first of the two wins on the waiting agent;
// the runner's relay stays as the fallback (docker: no shared filesystem).

import { mkdir, mkdtemp, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import type { AgentEvent, RelayCommand } from '../agent/index.js'
import { DEFAULT_TOLERANCE, type ExpectationResult } from '../expect/index.js'
import { LiveMarks, type LiveMarkContext } from '../expect/live-marks.js'
import { parseSaveCounters, type IptablesCmd } from '../faults/iptables.js'
import { secondsSince, nowUs } from '../recorder/records.js'
import type { Timeline } from '../recorder/timeline.js'
import type { LoadedScenario } from '../scenario/loader.js'
import { relayDirOf } from '../lab/lease.js'
import { StepError } from '../util/errors.js'
import type { Teardown } from '../util/teardown.js'
import type { HostAgent } from './agents.js'
import type { LivePackets } from './live-packets.js'
import { LiveMarkFeed } from './live-mark-feed.js'
import { STEP_STRIDE, type CompiledPlan, type CompiledStep } from './plan.js'

export interface PlayPlanOptions {
  loaded: LoadedScenario
  plan: CompiledPlan
  agents: ReadonlyMap<string, HostAgent>
  timeline: Timeline
  /**
   * Called once every agent holds its plan: fixes t0 (the runner rebases its timeline) and returns it. `at:` gates are offsets from it.
   * Nothing else may run between it and the `go` writes; what can wait runs in clockStarted.
   */
  startClock(): number
  /** Called right after `go` has been written to every agent. */
  clockStarted?(): void
  signal: AbortSignal
  /** Give up on steps whose gate has not opened for this long without any progress (no `duration:`). */
  idleTimeoutMs: number
  /** Linger after the last step when the scenario has no `duration:`. */
  lingerMs: number
  /**
   * A directory every agent can reach by path (netns backend: one filesystem
   * for all hosts; see relayDirFor): the agents also relay cross-host gates
   * to each other through unix datagram sockets there. Without it only the
   * runner relays.
   */
  relayDir?: string | undefined
  /** What the runner needs to evaluate the marks steps wait for (plan.markRefs) as the events come. */
  markContext?: LiveMarkContext | undefined
  /** The captures' packets as they come, for marks set by packets expectations (live-packets.ts). */
  livePackets?: Pick<LivePackets, 'on'> | undefined
}

export interface PlayPlanResult {
  /** Steps that never ran (their event never happened), as failed results. */
  extra: ExpectationResult[]
  /** Hosts with iptables rules, for the counters at the end. */
  ruleHosts: Set<`${IptablesCmd}:${string}`>
  /** Step lateness (actual - scheduled), ms. */
  lateness: { n: number; p50: number; p99: number; max: number }
  /** Call once the agents are to stop: processes still running then are marked stoppedByRunner. */
  markStopping(): void
  /** The agents' direct relay (relayDir), when it was used. */
  agentRelay?: AgentRelayStats | undefined
}

export interface AgentRelayStats {
  /** Agents whose relay socket is bound. */
  bound: number
  /** Datagrams sent, and sends that failed (ENOENT: the waiting agent has no socket; the runner's relay covers it). */
  sent: number
  failed: number
  /** Gates opened by an agent's datagram, and by the runner's `trigger` (whichever came first). */
  viaAgent: number
  viaRunner: number
}

/** Ids of the relay commands: their replies are the player's, never the timeline's. */
const RELAY_BIND_ID = 'relay-bind'
const RELAY_ID = 'relay'
/** sun_path holds 108 bytes with the final NUL (unix(7)). */
const SUN_PATH_MAX = 107

/**
 * A directory for one lab's relay sockets, reachable by path from every
 * agent of a netns lab (network namespaces share the filesystem; only abstract
 * unix sockets are per namespace): <STATE_DIR>/relay/<labId>, or a fresh one
 * under os.tmpdir() where that cannot be made. Its removal is pushed on `td`.
 * undefined when neither can be made (then only the runner relays).
 */
export async function relayDirFor(labId: string, td: Teardown): Promise<string | undefined> {
  let dir: string
  try {
    dir = relayDirOf(labId)
    await mkdir(dir, { recursive: true, mode: 0o700 })
  } catch {
    try {
      dir = await mkdtemp(path.join(os.tmpdir(), `tcplab-relay-${labId}-`))
    } catch {
      return undefined
    }
  }
  td.push(`remove relay sockets ${dir}`, () => rm(dir, { recursive: true, force: true }))
  return dir
}

/**
 * Each host's relay socket in dir: <host>.sock, or =<index>.sock when the name
 * is too long for sun_path (or not a plain file name: "=" is never in one);
 * none when even that is too long.
 */
export function relaySocketPaths(dir: string, hosts: readonly string[]): Map<string, string> {
  const out = new Map<string, string>()
  const fits = (p: string): boolean => Buffer.byteLength(p) <= SUN_PATH_MAX
  for (const [i, h] of hosts.entries()) {
    const named = path.join(dir, `${h}.sock`)
    const p = /^[\w.-]+$/.test(h) && fits(named) ? named : path.join(dir, `=${i}.sock`)
    if (fits(p)) out.set(h, p)
  }
  return out
}

/**
 * The `relay` commands of each source host. "step:K": the host of step K sends
 * to the hosts waiting for it. "NAME.TYPE": which host writes that event is not
 * known, so every host but a waiting one sends to it. Only to hosts with a socket.
 */
export function relayCommands(plan: Pick<CompiledPlan, 'steps' | 'eventRefs' | 'stepRefs'>, hosts: readonly string[], sockets: ReadonlyMap<string, string>): Map<string, RelayCommand[]> {
  const out = new Map<string, RelayCommand[]>()
  const add = (from: string, ref: string, waiting: ReadonlySet<string>): void => {
    const to = [...waiting].filter((h) => h !== from).flatMap((h) => sockets.get(h) ?? [])
    if (to.length > 0) out.set(from, [...(out.get(from) ?? []), { op: 'relay', id: RELAY_ID, ref, to }])
  }
  for (const [ref, waiting] of plan.eventRefs) for (const from of hosts) add(from, ref, waiting)
  const hostOfStep = new Map(plan.steps.map((c) => [c.planStep, c.host]))
  for (const [k, waiting] of plan.stepRefs) {
    const from = hostOfStep.get(k)
    if (from !== undefined) add(from, `step:${k}`, waiting)
  }
  return out
}

/** Play the plan to the scenario's end. Throws StepError (with file:line:col) when a command of a step fails. */
export async function playPlan(o: PlayPlanOptions): Promise<PlayPlanResult> {
  const { plan, agents, timeline, loaded } = o
  let t0Us = 0
  const planned = new Map<string, () => void>()
  const s = loaded.scenario
  const byStep = new Map(plan.steps.map((c) => [c.planStep, c]))
  const fired = new Map<number, number>() // planStep -> actual t
  const done = new Map<number, number>() // planStep -> done t
  const lateMs: number[] = []
  const relayed = new Set<string>()
  const running = new Set<string>() // "host name" of user processes
  const counterLines = new Map<string, string[]>()
  const sockets = o.relayDir !== undefined ? relaySocketPaths(o.relayDir, [...agents.keys()]) : new Map<string, string>()
  const agentRelay: AgentRelayStats = { bound: 0, sent: 0, failed: 0, viaAgent: 0, viaRunner: 0 }
  let stopping = false
  let failure: StepError | undefined
  let progressUs = nowUs()
  let wake: (() => void) | undefined
  const poke = (): void => {
    progressUs = nowUs()
    wake?.()
  }
  const sec = (us: number): number => secondsSince(t0Us, us)

  const fail = (c: CompiledStep, message: string, hint?: string): void => {
    if (failure) return
    const pos = loaded.stepPos[c.index]
    failure = new StepError(`${loaded.file}:${pos?.line ?? 0}:${pos?.col ?? 0} steps[${c.index}]: ${message}`, hint ? { hint } : {})
    wake?.()
  }

  const relay = (from: string, ref: string, tUs: number, hostsWaiting: ReadonlySet<string> | undefined): void => {
    if (!hostsWaiting || relayed.has(ref)) return
    relayed.add(ref)
    for (const h of hostsWaiting) if (h !== from) void agents.get(h)?.send({ op: 'trigger', ref, tUs }).catch(() => undefined)
  }

  /** Per host, while the end waits for it: the agent answered `cancel`. */
  const cancelled = new Map<string, () => void>()
  const unlisten: Array<() => void> = []
  for (const [host, agent] of agents) {
    unlisten.push(agent.listen((ev: AgentEvent) => {
      const e = ev as AgentEvent & Record<string, unknown>
      // The agents' own relay (relayDir): counted, never on the timeline. A failed bind or send
      // changes nothing but the way: the runner's trigger still comes.
      if (e.id === RELAY_BIND_ID || e.id === RELAY_ID) {
        if (e.type === 'relay-bound') agentRelay.bound++
        return true
      }
      if (e.type === 'relayed') {
        agentRelay.sent += e.sent
        agentRelay.failed += e.failed.length
        return true
      }
      if (e.type === 'triggered' && e.first) {
        if (e.via === 'relay') agentRelay.viaAgent++
        else agentRelay.viaRunner++
      }
      // Cross-host gates: the first NAME.TYPE goes to the hosts waiting for it, stamped with its own time.
      if (e.name !== '') relay(host, `${e.name}.${e.type}`, e.t, plan.eventRefs.get(`${e.name}.${e.type}`))
      if (e.name === '') {
        if (e.type === 'step') {
          const c = byStep.get(Number(e.step))
          if (c) {
            fired.set(c.planStep, sec(Number(e.actualUs)))
            const late = Number(e.lateUs) / 1000
            if (c.sub === 0) {
              lateMs.push(late)
              timeline.add({
                kind: 'action', t: sec(Number(e.actualUs)), scheduledT: sec(Number(e.scheduledUs)), lateMs: Math.round(late * 1000) / 1000,
                step: c.index, host: c.host, action: c.action, detail: c.detail, target: c.target,
              })
            }
          }
          poke()
          return true
        }
        if (e.type === 'step-done') {
          const k = Number(e.step)
          done.set(k, sec(Number(e.doneUs)))
          relay(host, `step:${k}`, Number(e.doneUs), plan.stepRefs.get(k))
          poke()
          return true
        }
        if (e.type === 'planned') planned.get(host)?.()
        if (e.type === 'cancelled') cancelled.get(host)?.()
        // When `go` reached this agent against t0: a late go explains the lateness of the steps due before it.
        if (e.type === 'go' && typeof e.lateUs === 'number') {
          timeline.add({ kind: 'event', t: sec(e.t), host, source: 'agent', type: 'go', data: { lateMs: Math.round(e.lateUs) / 1000 } })
        }
        return e.type === 'planned' || e.type === 'go' || e.type === 'triggered' || e.type === 'cancelled'
      }
      const c = stepOfCommand(byStep, e.id)
      const internal = e.name.startsWith('.')
      if (c && e.type === 'error' && (internal || c.role === 'process')) {
        const argv = c.cmd.op === 'exec' ? c.cmd.argv.join(' ') : c.detail
        const missing = e.errno === 'ENOENT'
        fail(c, `cannot run ${argv} on ${host}: ${String(e.errno)}${missing ? ' (not installed on the host)' : ''}`, missing ? 'install it in the host, or check the command name' : undefined)
        return internal
      }
      if (!internal) {
        if (c?.role === 'process' && e.type === 'started') running.add(`${host} ${e.name}`)
        if (e.type === 'exited' && running.delete(`${host} ${e.name}`) && stopping) e.stoppedByRunner = true
        return false
      }
      // Internal commands (iptables, sysctl, ip link, tc, counters) never reach the timeline.
      if (c?.role === 'counters' && e.type === 'stdout') counterLines.set(e.name, [...(counterLines.get(e.name) ?? []), String(e.text)])
      if (c && e.type === 'exited') {
        if (c.role === 'counters') {
          for (const k of parseSaveCounters((counterLines.get(e.name) ?? []).join('\n'))) {
            timeline.add({ kind: 'counter', t: sec(e.t), host, name: k.name, value: k.packets, packets: k.packets, bytes: k.bytes })
          }
        } else if (e.code !== 0) {
          const how = typeof e.signal === 'string' ? `killed by ${e.signal}` : `exited with ${String(e.code)}`
          const stderr = String(e.stderrTail ?? '').trim().split('\n').slice(-3).join('\n  ')
          // As the user wrote it: iptables' -w (wait for the xtables lock) is ours.
          const argv = c.cmd.op === 'exec' ? c.cmd.argv.filter((a, i) => !(c.iptables && i === 1 && a === '-w')).join(' ') : c.detail
          fail(c, `${c.iptables ? `${c.iptables} rejected the rule on ${host}` : `command failed on ${host}`}: ${argv} ${how}${stderr ? `\n  ${stderr}` : ''}`,
            c.iptables ? 'check the rule against iptables(8) and iptables-extensions(8); it is passed as argv, without a shell' : undefined)
        }
      }
      return true
    }))
  }

  // Steps after a mark the agents cannot see by themselves: evaluated here as the events come, then
  // triggered on the waiting agents with the mark's own time (they add the delay on their clocks).
  if (plan.markRefs.size > 0) {
    const live = new LiveMarks(s.expect, [...plan.markRefs.values()].map((m) => m.mark), o.markContext ?? {
      hosts: new Map(), tolerance: DEFAULT_TOLERANCE, kernel: '', hasSysctl: () => false,
    })
    const triggerReached = (reached: ReturnType<LiveMarks['add']>): void => {
      for (const { ref, t } of reached) {
        const tUs = Math.round(timeline.t0Us + t * 1e6)
        for (const h of plan.markRefs.get(ref)?.hosts ?? []) void agents.get(h)?.send({ op: 'trigger', ref, tUs }).catch(() => undefined)
      }
    }
    // Held as they come, evaluated once per turn (live-mark-feed.ts): never between a sample's records.
    const feed = new LiveMarkFeed(live, triggerReached)
    unlisten.push(timeline.onAdd((r) => feed.push([r])), () => feed.stop())
    if (o.livePackets) unlisten.push(o.livePackets.on((recs) => feed.push(recs)))
  }

  const ruleHosts = new Set<`${IptablesCmd}:${string}`>()
  for (const c of plan.steps) if (c.iptables && c.role === 'command') ruleHosts.add(`${c.iptables}:${c.host}`)

  try {
    for (const host of plan.byHost.keys()) if (!agents.has(host)) throw new StepError(`no agent on ${host}`)
    // Each agent gets, in this order on its stdin: its relay socket, its relays, its steps, `go`. Every
    // socket is bound before its agent starts; one bound late (another agent fired first) only costs
    // that datagram (ENOENT), and the runner's relay still comes.
    const relays = relayCommands(plan, [...agents.keys()], sockets)
    await Promise.all([...agents].map(async ([host, agent]) => {
      const bind = sockets.get(host)
      if (bind !== undefined) await agent.send({ op: 'relayBind', id: RELAY_BIND_ID, path: bind })
      for (const r of relays.get(host) ?? []) await agent.send(r)
      const steps = plan.byHost.get(host)
      if (!steps) return
      const loadedPlan = new Promise<void>((resolve) => planned.set(host, resolve))
      await agent.send({ op: 'plan', steps: steps.map((c) => ({ step: c.planStep, gate: c.gate, cmd: c.cmd, waits: c.waits })) })
      await withTimeout(loadedPlan, PLAN_TIMEOUT_MS, `the agent on ${host} did not take its plan within ${PLAN_TIMEOUT_MS} ms`)
    }))
    // Every agent holds its plan: only now is t0 fixed, so no deadline passes in transit.
    t0Us = o.startClock()
    const wentOut = Promise.all([...plan.byHost.keys()].map((host) => agents.get(host)?.send({ op: 'go', t0Us })))
    o.clockStarted?.()
    await wentOut

    // Run to the end: `duration:`, or every step done plus the linger.
    const endUs = s.duration !== undefined ? t0Us + s.duration * 1000 : undefined
    for (;;) {
      if (failure) break
      if (o.signal.aborted) break
      const now = nowUs()
      const allDone = plan.steps.every((c) => done.has(c.planStep))
      let untilUs: number
      if (endUs !== undefined) {
        if (now >= endUs) break
        untilUs = endUs
      } else if (allDone) {
        const lastUs = t0Us + Math.max(0, ...[...fired.values()]) * 1e6
        const stopUs = Math.max(lastUs, progressUs) + o.lingerMs * 1000
        if (now >= stopUs) break
        untilUs = stopUs
      } else {
        if (now - progressUs >= o.idleTimeoutMs * 1000) break
        untilUs = progressUs + o.idleTimeoutMs * 1000
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, Math.max(1, (untilUs - now) / 1000))
        function done(): void {
          clearTimeout(timer)
          o.signal.removeEventListener('abort', done)
          wake = undefined
          resolve()
        }
        wake = done
        o.signal.addEventListener('abort', done, { once: true })
      })
    }
  } finally {
    // The end was reached on this process's clock, which lags the agents' when the machine is
    // busy: their events may still be on the way. `cancelled` comes after every event an agent
    // wrote before it, so once each agent's has arrived, `fired` is what the agents did.
    await Promise.all([...agents].map(([host, a]) => (a.hasExited ? undefined : cancelAndDrain(host, a, cancelled))))
  }
  if (failure) {
    for (const u of unlisten) u()
    throw failure
  }

  // Steps that never ran: their event (or the step before them) never came.
  const extra: ExpectationResult[] = []
  const reported = new Set<number>()
  for (const c of plan.steps) {
    if (fired.has(c.planStep) || reported.has(c.index)) continue
    reported.add(c.index)
    const step = s.steps[c.index]
    const pos = loaded.stepPos[c.index]
    const gate = c.gate
    const mark = 'on' in gate ? plan.markRefs.get(gate.on)?.mark : undefined
    const why = mark ? (mark.pick === 'first' ? `the mark ${mark.name} was never reached` : `the mark ${mark.name} never reached its moment #${mark.pick}`) : 'on' in gate ? `${gate.on} never happened` : 'afterStep' in gate ? `step ${Math.floor(gate.afterStep / STEP_STRIDE)} never finished` : 'its time never came'
    extra.push({
      index: -1 - c.index, kind: 'step', status: 'fail', description: `step ${c.index} could not run`,
      expected: step?.after ? `${step.after} happens` : 'the step runs', measured: `${why} (before the end at ${secondsSince(t0Us, nowUs()).toFixed(3)}s)`,
      line: pos?.line, col: pos?.col, t: secondsSince(t0Us, nowUs()),
    })
  }
  // A host-less `wait` starts when the step before it is done.
  for (const w of plan.waits) {
    const t = w.afterPlanStep === undefined ? 0 : done.get(w.afterPlanStep)
    if (t !== undefined) timeline.add({ kind: 'action', t, step: w.index, action: 'wait', detail: w.detail })
  }
  const sorted = [...lateMs].sort((a, b) => a - b)
  const q = (p: number): number => sorted.length === 0 ? 0 : (sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? 0)
  return {
    extra,
    ruleHosts,
    lateness: { n: sorted.length, p50: q(50), p99: q(99), max: sorted[sorted.length - 1] ?? 0 },
    markStopping() {
      stopping = true
    },
    agentRelay: o.relayDir !== undefined ? agentRelay : undefined,
  }
}

/** The compiled step a command id ("s17") belongs to. */
function stepOfCommand(byStep: ReadonlyMap<number, CompiledStep>, id: unknown): CompiledStep | undefined {
  if (typeof id !== 'string' || !id.startsWith('s')) return undefined
  return byStep.get(Number(id.slice(1)))
}

/** How long an agent may take to answer `cancel` at the end (it answers at once; only a dead or stuck one takes this). */
const CANCEL_DRAIN_MS = 10_000

/**
 * Send `cancel` and wait for its `cancelled` (the player's listener calls `cancelled.get(host)`):
 * every event the agent wrote before it has then been read.
 */
async function cancelAndDrain(host: string, agent: HostAgent, cancelled: Map<string, () => void>): Promise<void> {
  const answered = new Promise<void>((resolve) => cancelled.set(host, resolve))
  try {
    await agent.send({ op: 'cancel' })
    await withTimeout(answered, CANCEL_DRAIN_MS, `the agent on ${host} did not answer cancel within ${CANCEL_DRAIN_MS} ms`)
  } catch {
    // An agent that died or does not answer: what it said is all there is.
  } finally {
    cancelled.delete(host)
  }
}

/** How long an agent may take to acknowledge its plan (it is waiting for it: normally well under 1 ms). */
const PLAN_TIMEOUT_MS = 10_000

async function withTimeout(p: Promise<void>, ms: number, message: string): Promise<void> {
  let timer: NodeJS.Timeout | undefined
  try {
    await Promise.race([p, new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new StepError(message)), ms) })])
  } finally {
    clearTimeout(timer)
  }
}
