// A live lab (`tcplab up`): the lab of a scenario kept up between commands,
// for teaching and poking, in the way of containerlab and Mininet. Its owner
// process (cli/lab-owner.ts) holds it: the hosts, one agent per host, and the
// compiled plan (plan.ts).
//
// - start: build the lab, start the agents, play the timeline up to a point
//   (steps [0, untilStep) with their own timing, as `tcplab run` would, or
//   the whole timeline for untilMs, then stop what has not fired);
// - step: play the next step now, whatever its `at:` or `after:` (the person
//   at the keyboard is the clock), and say what happened since the last time;
// - exec: run a command on a host (ss, ip, iptables, tcpdump -c ...);
// - down: stop the agents (and the programs they run), tear the lab down.
//
// The agents play the steps exactly as in a run: plans are additive (agent/
// plan.c), so each `step` loads that step's commands with a gate that is
// already open. The owner relays what crosses hosts (there is no agent relay
// here: the owner lives as long as the lab).

import { type Backend, type Host, type HostSpec, type Lab, newLabId } from '../lab/index.js'
import type { AgentEvent } from '../agent/index.js'
import type { LoadedScenario } from '../scenario/loader.js'
import type { HostFacts } from '../scenario/template.js'
import { nowUs, secondsSince, type TimelineRecord } from '../recorder/records.js'
import { Timeline } from '../recorder/timeline.js'
import { LabError, StepError, UsageError } from '../util/errors.js'
import { formatMs } from '../util/duration.js'
import { sleep } from '../util/sleep.js'
import { Teardown } from '../util/teardown.js'
import { startHostAgent, type HostAgent } from './agents.js'
import { compilePlan, planUnsupported, resolveDeletes, type CompiledPlan, type CompiledStep } from './plan.js'
import type { ExecResult } from '../lab/index.js'

export interface LiveLabOptions {
  loaded: LoadedScenario
  backend: Backend
  /** Play steps [0, untilStep) on the scenario's own timing before handing over. */
  untilStep?: number | undefined
  /** Or play the timeline for this long, then keep what has not fired for `step`. */
  untilMs?: number | undefined
  signal: AbortSignal
  /** Progress for the owner's log. */
  log(msg: string): void
}

/** What a `step` did, and everything that happened since the previous report. */
export interface LiveStepReport {
  index: number
  lines: string[]
  next: number
}

/** How long `up` waits for a step of the prefix that makes no progress (an event that never comes). */
const PREFIX_IDLE_MS = 60_000
/** After a step is done, events it causes (a connect's `connected`) usually follow within this. */
const SETTLE_MS = 250
const DEFAULT_STEP_TIMEOUT_MS = 30_000

export class LiveLab {
  /** Index of the next step `step` plays. */
  next = 0
  private readonly fired = new Map<number, number>()
  private readonly done = new Set<number>()
  private readonly failures = new Map<number, string>()
  private cursor = 0
  private readonly seen: TimelineRecord[] = []
  private wake: (() => void) | undefined
  private busy = false

  private constructor(
    readonly loaded: LoadedScenario,
    readonly lab: Lab,
    private readonly agents: ReadonlyMap<string, HostAgent>,
    private readonly plan: CompiledPlan,
    private readonly timeline: Timeline,
    private readonly td: Teardown,
  ) {
    timeline.onAdd((r) => {
      if (r.kind !== 'ss' && r.kind !== 'sample') this.seen.push(r)
    })
  }

  get labId(): string {
    return this.lab.labId
  }

  get stepCount(): number {
    return this.loaded.scenario.steps.length
  }

  get hosts(): Array<{ name: string; addr: string }> {
    return [...this.lab.hosts.values()].map((h) => ({ name: h.name, addr: h.addr }))
  }

  /** Build the lab and play its prefix. On failure everything built is torn down before the error is thrown. */
  static async start(o: LiveLabOptions): Promise<LiveLab> {
    const s = o.loaded.scenario
    if (o.untilStep !== undefined && (o.untilStep < 0 || o.untilStep > s.steps.length)) {
      throw new UsageError(`--until ${o.untilStep}: ${s.name} has steps 0 to ${s.steps.length - 1} (use ${s.steps.length} or "end" to play them all)`)
    }
    const td = new Teardown()
    try {
      const hostSpecs: HostSpec[] = Object.entries(s.hosts).map(([name, h]) => ({
        name, isWire: h.role === 'wire', image: h.image, sysctls: { ...s.sysctls, ...h.sysctls },
      }))
      const labId = newLabId()
      o.log(`building lab ${labId} (${o.backend.name}, ${hostSpecs.length} hosts)`)
      const lab = await o.backend.up({ labId, scenario: s.name, hosts: hostSpecs }, o.signal)
      td.push(`tear down lab ${labId}`, () => lab.down())
      const planHosts = new Map([...lab.hosts].map(([n, h]) => [n, { ifnames: h.ifnames, setsSysctlsOutside: h.setSysctls !== undefined, hasUserImage: s.hosts[n]?.image !== undefined }]))
      const why = planUnsupported(s, planHosts)
      if (why !== undefined) throw new UsageError(`${o.loaded.file}: a live lab plays its steps through the agents, and ${why}`, { hint: 'use `tcplab run` for this scenario' })
      const facts = new Map<string, HostFacts>([...lab.hosts].map(([n, h]) => [n, { addr: h.addr, ifname: h.ifnames[0] ?? 'eth0' }]))
      const plan = compilePlan(s, 0, facts, planHosts)
      const badDelete = resolveDeletes(plan)
      if (badDelete) throw new StepError(`${o.loaded.file}: ${badDelete}`)
      const timeline = new Timeline(nowUs())
      const agents = new Map<string, HostAgent>()
      await Promise.all([...lab.hosts].map(async ([name, h]: [string, Host]) => {
        const a = await startHostAgent(h, timeline, 'fifo')
        agents.set(name, a)
        td.push(`stop agent on ${name}`, () => a.close())
      }))
      const live = new LiveLab(o.loaded, lab, agents, plan, timeline, td)
      live.listen()
      await live.playPrefix(o)
      return live
    } catch (e: unknown) {
      await td.run().catch((te: unknown) => o.log(`teardown: ${(te as Error).message}`))
      throw e
    }
  }

  /** Lines for what happened since the last call (action records, events). */
  drainLines(): string[] {
    const recs = this.seen.slice(this.cursor).sort((a, b) => a.t - b.t)
    this.cursor = this.seen.length
    return recs.flatMap((r) => formatLiveRecord(r) ?? [])
  }

  /** Play the next step now. */
  async step(signal: AbortSignal): Promise<LiveStepReport> {
    if (this.busy) throw new LabError('a step is already being played on this lab')
    const s = this.loaded.scenario
    const index = this.next
    if (index >= s.steps.length) throw new UsageError(`the timeline of ${s.name} is played (${s.steps.length} steps); nothing left to step`, { hint: '`tcplab down` the lab, or `tcplab exec` to look around' })
    this.busy = true
    try {
      const step = s.steps[index]
      const subs = this.plan.steps.filter((c) => c.index === index && !this.fired.has(c.planStep))
      if (subs.length === 0) {
        // A host-less `wait`: it is the clock; honour it.
        const w = step?.wait
        const t = secondsSince(this.timeline.t0Us, nowUs())
        if (typeof w === 'number') {
          this.timeline.add({ kind: 'action', t, step: index, action: 'wait', detail: formatMs(w) })
          await sleep(w, signal)
        } else if (w) {
          this.timeline.add({ kind: 'action', t, step: index, action: 'wait', detail: `for ${w.for}` })
          await this.timeline.waitForEvent(w.for, w.timeout ?? DEFAULT_STEP_TIMEOUT_MS, signal)
        }
      } else {
        const nowAt = nowUs()
        const byHost = new Map<string, CompiledStep[]>()
        for (const [k, c] of subs.entries()) byHost.set(c.host, [...(byHost.get(c.host) ?? []), k === 0 ? { ...c, gate: { atUs: nowAt } } : c])
        await this.loadSteps(byHost)
        const timeoutMs = step?.timeout ?? DEFAULT_STEP_TIMEOUT_MS
        const ok = await this.waitFor(() => subs.every((c) => this.done.has(c.planStep)) || this.failures.has(index), timeoutMs, signal)
        const failure = this.failures.get(index)
        if (failure !== undefined) {
          this.next = index + 1
          throw new StepError(failure)
        }
        if (!ok) throw new LabError(`step ${index} did not finish within ${formatMs(timeoutMs)}`)
      }
      this.next = index + 1
      await sleep(SETTLE_MS, signal)
      return { index, lines: this.drainLines(), next: this.next }
    } finally {
      this.busy = false
    }
  }

  /** Run a command to completion on a host. */
  async exec(hostName: string, argv: string[], timeoutMs: number): Promise<ExecResult> {
    const h = this.lab.hosts.get(hostName)
    if (!h) throw new UsageError(`no host "${hostName}" in this lab (hosts: ${[...this.lab.hosts.keys()].join(', ')})`)
    if (argv.length === 0) throw new UsageError('exec expects a command after the host: tcplab exec LAB HOST -- ss -tanoi')
    return h.exec(argv, { reject: false, timeoutMs })
  }

  /** Stop the agents and their programs, tear the lab down. */
  async down(): Promise<void> {
    await Promise.all([...this.agents.values()].map((a) => (a.hasExited ? undefined : a.send({ op: 'cancel' }).catch(() => undefined))))
    await this.td.run()
  }

  // Steps [0, untilStep) on their own timing, or everything for untilMs.
  private async playPrefix(o: LiveLabOptions): Promise<void> {
    const until = o.untilMs !== undefined ? this.stepCount : (o.untilStep ?? 0)
    const prefix = this.plan.steps.filter((c) => c.index < until)
    const byHost = new Map<string, CompiledStep[]>()
    for (const c of prefix) byHost.set(c.host, [...(byHost.get(c.host) ?? []), c])
    await this.loadSteps(byHost)
    const t0Us = nowUs() + 5000
    this.timeline.rebase(t0Us)
    await Promise.all([...this.agents.values()].map((a) => a.send({ op: 'go', t0Us })))
    if (prefix.length === 0 && o.untilMs === undefined) return
    o.log(o.untilMs !== undefined ? `playing the timeline for ${formatMs(o.untilMs)}` : `playing steps 0 to ${until - 1}`)
    const failed = (): number | undefined => [...this.failures.keys()][0]
    if (o.untilMs !== undefined) {
      await sleep(Math.max(0, o.untilMs - (nowUs() - t0Us) / 1000), o.signal)
      // What has not fired stays for `step` (cancel keeps what is in flight).
      await Promise.all([...this.agents.values()].map((a) => a.send({ op: 'cancel' })))
      await sleep(SETTLE_MS, o.signal)
    } else {
      for (;;) {
        const before = this.done.size + this.fired.size
        const allDone = await this.waitFor(() => prefix.every((c) => this.done.has(c.planStep)) || failed() !== undefined, PREFIX_IDLE_MS, o.signal)
        if (allDone || this.done.size + this.fired.size === before) break
      }
      await sleep(SETTLE_MS, o.signal)
    }
    const f = failed()
    if (f !== undefined) throw new StepError(this.failures.get(f) ?? `step ${f} failed`)
    const firstUnfired = this.plan.steps.find((c) => !this.fired.has(c.planStep))
    const stepsPlayed = firstUnfired ? firstUnfired.index : this.stepCount
    this.next = o.untilMs !== undefined ? stepsPlayed : Math.min(until, stepsPlayed)
    // Host-less waits before the first unplayed step count as played.
    if (o.untilMs === undefined && this.next < until) {
      const missing = this.plan.steps.find((c) => c.index >= this.next && c.index < until && !this.fired.has(c.planStep))
      if (missing) {
        const step = this.loaded.scenario.steps[missing.index]
        await Promise.all([...this.agents.values()].map((a) => a.send({ op: 'cancel' })))
        o.log(`step ${missing.index} did not run within ${formatMs(PREFIX_IDLE_MS)}${step?.after ? ` (${step.after} never happened)` : ''}; the lab stops before it`)
      }
    }
  }

  private async loadSteps(byHost: ReadonlyMap<string, CompiledStep[]>): Promise<void> {
    await Promise.all([...byHost].map(async ([host, steps]) => {
      const a = this.agents.get(host)
      if (!a) throw new StepError(`no agent on ${host}`)
      await a.send({ op: 'plan', steps: steps.map((c) => ({ step: c.planStep, gate: c.gate, cmd: c.cmd, waits: c.waits })) })
    }))
  }

  private async waitFor(cond: () => boolean, timeoutMs: number, signal: AbortSignal): Promise<boolean> {
    const endMs = Date.now() + timeoutMs
    while (!cond()) {
      const left = endMs - Date.now()
      if (left <= 0 || signal.aborted) return false
      await new Promise<void>((resolve) => {
        const timer = setTimeout(finish, left)
        function finish(): void {
          clearTimeout(timer)
          signal.removeEventListener('abort', finish)
          resolve()
        }
        this.wake = finish
        signal.addEventListener('abort', finish, { once: true })
      })
      this.wake = undefined
    }
    return true
  }

  // The runner's part of play-plan.ts, for a lab that lives: action records, relays, failures.
  private listen(): void {
    const byStep = new Map(this.plan.steps.map((c) => [c.planStep, c]))
    const stepOf = (id: unknown): CompiledStep | undefined => typeof id === 'string' && id.startsWith('s') ? byStep.get(Number(id.slice(1))) : undefined
    const poke = (): void => this.wake?.()
    const sec = (us: number): number => secondsSince(this.timeline.t0Us, us)
    const trigger = (from: string, ref: string, tUs: number, waiting: ReadonlySet<string> | undefined): void => {
      for (const h of waiting ?? []) if (h !== from) void this.agents.get(h)?.send({ op: 'trigger', ref, tUs }).catch(() => undefined)
    }
    for (const [host, agent] of this.agents) {
      agent.listen((ev: AgentEvent) => {
        const e = ev as AgentEvent & Record<string, unknown>
        if (e.name !== '') trigger(host, `${e.name}.${e.type}`, e.t, this.plan.eventRefs.get(`${e.name}.${e.type}`))
        if (e.name === '') {
          if (e.type === 'step') {
            const c = byStep.get(Number(e.step))
            if (c) {
              this.fired.set(c.planStep, sec(Number(e.actualUs)))
              if (c.sub === 0) {
                this.timeline.add({
                  kind: 'action', t: sec(Number(e.actualUs)), scheduledT: sec(Number(e.scheduledUs)), lateMs: Math.round(Number(e.lateUs)) / 1000,
                  step: c.index, host: c.host, action: c.action, detail: c.detail, target: c.target,
                })
              }
            }
            poke()
            return true
          }
          if (e.type === 'step-done') {
            const k = Number(e.step)
            this.done.add(k)
            trigger(host, `step:${k}`, Number(e.doneUs), this.plan.stepRefs.get(k))
            poke()
            return true
          }
          return e.type === 'planned' || e.type === 'go' || e.type === 'triggered' || e.type === 'cancelled'
        }
        const c = stepOf(e.id)
        const internal = e.name.startsWith('.')
        const pos = c ? this.loaded.stepPos[c.index] : undefined
        const where = c ? `${this.loaded.file}:${pos?.line ?? 0}:${pos?.col ?? 0} steps[${c.index}]` : ''
        if (c && e.type === 'error' && (internal || c.role === 'process')) {
          const argv = c.cmd.op === 'exec' ? c.cmd.argv.join(' ') : c.detail
          if (!this.failures.has(c.index)) this.failures.set(c.index, `${where}: cannot run ${argv} on ${host}: ${String(e.errno)}`)
          poke()
          return internal
        }
        if (!internal) return false
        if (c && e.type === 'exited' && c.role !== 'counters' && e.code !== 0) {
          const how = typeof e.signal === 'string' ? `killed by ${e.signal}` : `exited with ${String(e.code)}`
          const stderr = String(e.stderrTail ?? '').trim().split('\n').slice(-3).join('\n  ')
          const argv = c.cmd.op === 'exec' ? c.cmd.argv.join(' ') : c.detail
          if (!this.failures.has(c.index)) this.failures.set(c.index, `${where}: command failed on ${host}: ${argv} ${how}${stderr ? `\n  ${stderr}` : ''}`)
          poke()
        }
        return true
      })
    }
  }
}

/** One timeline record as a line for the terminal, or undefined for records not worth a line. */
export function formatLiveRecord(r: TimelineRecord): string | undefined {
  const t = `${r.t >= 0 ? '+' : ''}${r.t.toFixed(3)}s`
  switch (r.kind) {
    case 'action':
      return `${t}  step ${r.step}  ${r.host ?? '-'}  ${r.action}${r.detail ? ` ${r.detail}` : ''}`
    case 'event': {
      if (r.source === 'agent') return undefined
      const extra = [r.errno, r.text !== undefined ? JSON.stringify(r.text) : undefined, r.code !== undefined ? `code ${r.code}` : undefined, r.signal, r.n !== undefined ? `${r.n} bytes` : undefined]
        .filter((x) => x !== undefined).join(' ')
      return `${t}  ${r.host}  ${r.source} ${r.type}${extra ? ` ${extra}` : ''}`
    }
    case 'counter':
      return `${t}  ${r.host}  counter ${r.name} = ${r.value}`
    case 'pkt':
    case 'ss':
    case 'sample':
      return undefined
  }
}
