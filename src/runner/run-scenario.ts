// Play one scenario: build the lab, start the recorders, play the steps on one
// clock, stop everything, evaluate the expectations, write the results.
// Whatever happens (a failed step, Ctrl-C), the lab is torn down.

import { mkdir } from 'node:fs/promises'
import { removeOwnTempFilesSync, writeFileAtomic, writeFileAtomicSync, writeLinesAtomic } from '../util/atomic-write.js'
import { streamRecords, type RecordsStream } from '../recorder/records-stream.js'
import { onExitSync } from './exit-hooks.js'
import path from 'node:path'
import { newLabId, type Backend, type Host, type HostSpec, type Lab, type Proc } from '../lab/index.js'
import { loadScenarioKernelFacts, type KernelFacts } from './kernel.js'
import type { LoadedScenario } from '../scenario/loader.js'
import { stepTarget } from '../scenario/loader.js'
import { stepMarkOf, type StepMark } from '../scenario/marks.js'
import { LiveMarks, type LiveMarkContext } from '../expect/live-marks.js'
import type { HostFacts } from '../scenario/template.js'
import { nowUs, secondsSince, type ActionRecord, type EventRecord } from '../recorder/records.js'
import { Timeline } from '../recorder/timeline.js'
import type { SsSampler } from '../recorder/ss-sampler.js'
import { startSsStreamSampler } from '../recorder/ss-stream-sampler.js'
import { startCapture, type Capture, type CaptureOptions } from '../recorder/capture.js'
import { DEFAULT_TOLERANCE, RESULTS_FORMAT_VERSION, evaluateAll, statusOf, type ExpectationResult, type AgentSched, type ScenarioVerdict, type ToleranceRule } from '../expect/index.js'
import { ACTION_IMPLS, recordCounters, type AgentPort, type StepContext } from './actions.js'
import type { AgentPriority } from '../agent/index.js'
import { SAMPLE_CPU_BUDGET, startHostAgent, type HostAgent } from './agents.js'
import { annotateLateSteps } from './busy-machine.js'
import { collectBaseEnv, collectEnv, mergeSysctls, recordsSysctl } from './env.js'
import { InterruptedError, MissingToolError, ProcessError, StepError, TcplabError, TimeoutError } from '../util/errors.js'
import { sleep } from '../util/sleep.js'
import { Teardown } from '../util/teardown.js'
import { formatMs } from '../util/duration.js'
import type { IptablesCmd } from '../faults/iptables.js'
import { nameSockets, socketNames, declaredWatches, watchDeclaredSockets } from './name-sockets.js'
import { compilePlan, planUnsupported, resolveDeletes } from './plan.js'
import { playPlan, relayDirFor, type PlayPlanResult } from './play-plan.js'
import { LivePackets, packetMarkHosts } from './live-packets.js'
import { LiveMarkFeed } from './live-mark-feed.js'
import { writeScenarioReport } from '../report/index.js'
import { kernelEventRecords } from './kernel-events.js'

export interface RunScenarioOptions {
  backend: Backend
  /** The run's results directory; this scenario writes into <resultsDir>/<name>/. */
  resultsDir: string
  /** Default tolerance floor/percent when the scenario sets none (--tolerance). */
  tolerance?: Partial<ToleranceRule> | undefined
  /** Sysctls set on every host of every scenario (--sysctl KEY=VALUE). */
  sysctlOverrides?: Record<string, string> | undefined
  /** Ctrl-C: stop playing, tear down, return an interrupted verdict. */
  signal?: AbortSignal | undefined
  /** How the hosts' agents are scheduled (default 'fifo': their deadlines hold on a loaded machine). */
  agentPriority?: AgentPriority | undefined
  /** Progress callbacks (the pretty reporter). */
  onProgress?: ((msg: string) => void) | undefined
  /**
   * Each step played and endpoint event, as it is added to the timeline (the jsonl reporter
   * streams them). Records from before t0 come once the clock starts, re-stamped on it.
   */
  onRecord?: ((rec: ActionRecord | EventRecord, t0Us: number) => void) | undefined
  /** The scenario's t0 (epoch µs), told when the clock starts (the suite places the canary's stalls on the timeline). */
  onClock?: ((t0Us: number) => void) | undefined
}

// The agent samples every 10 ms by default (the ss loop, a fallback, at most every 100 ms: one ss run costs a few ms).
const DEFAULT_SAMPLE_MS = 10
const SS_LOOP_MIN_MS = 100
const END_LINGER_MS = 1000
/**
 * Agents run SCHED_FIFO 2 (above the lab commands they run, at 1) by default: on a loaded
 * machine a normal task waits behind other runnable ones for tens of ms
 * (bench/step-lateness.ts), and the agent's deadlines are the scenario's
 * timings. Programs it starts get the normal policy back.
 */
const DEFAULT_AGENT_PRIORITY: AgentPriority = 'fifo'
/** How far ahead of `go` t0 is put when the agents play (they already hold their plans; `go` reaches a waiting agent in µs). */
const GO_LEAD_MS = 5

/** TCPLAB_PHASES=1: print where each scenario's wall time went (stderr), to find overhead. */
const phase = process.env.TCPLAB_PHASES === '1'
  ? (() => { let last = performance.now(); return (name: string, what: string): void => { const now = performance.now(); process.stderr.write(`phase ${name} ${what} ${(now - last).toFixed(1)} ms\n`); last = now } })()
  : (_name: string, _what: string): void => undefined

/** Run one loaded scenario and write its results; never throws for scenario failures (they are the verdict). */
export async function runScenario(loaded: LoadedScenario, opts: RunScenarioOptions): Promise<ScenarioVerdict> {
  const s = loaded.scenario
  const startedAt = new Date()
  const dir = path.join(opts.resultsDir, s.name)
  await mkdir(dir, { recursive: true })
  await writeFileAtomic(path.join(dir, 'scenario.yaml'), loaded.source)
  const base = {
    formatVersion: RESULTS_FORMAT_VERSION, name: s.name, file: loaded.file, title: s.title, backend: opts.backend.name,
    ...(opts.backend.daemon !== undefined ? { daemon: opts.backend.daemon } : {}),
    startedAt: startedAt.toISOString(),
  }
  const labId = newLabId()
  const td = new Teardown()
  const signal = opts.signal ?? new AbortController().signal
  const verdictFile = path.join(dir, 'verdict.json')
  // How far the scenario got, for an interrupted verdict: t0 once the clock runs, the records stream.
  const progress: ScenarioProgress = {}
  const interruptedVerdict = (how: string): ScenarioVerdict => ({
    ...base, labId, status: 'interrupted', durationMs: Date.now() - startedAt.getTime(), results: [],
    interrupted: { at: new Date().toISOString(), atT: progress.t0Us === undefined ? undefined : secondsSince(progress.t0Us, nowUs()), how },
  })
  // Until the scenario ends, verdict.json says it did not: a run killed (SIGKILL) leaves a readable, partial result.
  await writeFileAtomic(verdictFile, `${JSON.stringify(interruptedVerdict('the tcplab process ended before the scenario did (killed, or crashed)'), null, 2)}\n`)
  const unhookExit = onExitSync(() => {
    progress.records?.close()
    removeOwnTempFilesSync(dir)
    writeFileAtomicSync(verdictFile, `${JSON.stringify(interruptedVerdict(signal.aborted ? 'Ctrl-C twice: everything was killed at once' : 'the tcplab process exited before the scenario ended'), null, 2)}\n`)
  })
  let verdict: ScenarioVerdict
  try {
    const hostSpecs: HostSpec[] = Object.entries(s.hosts).map(([name, h]) => ({
      name,
      isWire: h.role === 'wire',
      image: h.image,
      sysctls: mergeSysctls(s.sysctls, h.sysctls, opts.sysctlOverrides),
    }))
    phase(s.name, 'start')
    const labUp = (): Promise<Lab> => opts.backend.up({ labId, scenario: s.name, hosts: hostSpecs }, signal).then((lab) => {
      td.push(`tear down lab ${labId}`, () => lab.down())
      return lab
    })
    // A scenario that `requires:` a kernel or sysctls gets the kernel's facts before its lab: one
    // this kernel cannot run is skipped without creating anything (creating its hosts would fail
    // on a missing sysctl). Any other brings its lab up while the facts are read (~150 ms).
    const needsFacts = s.requires?.kernel !== undefined || (s.requires?.sysctls?.length ?? 0) > 0
    const early = needsFacts ? undefined : labUp()
    early?.catch(() => undefined) // handled: a failure is thrown where it is awaited below
    let baseEnv: Awaited<ReturnType<typeof collectEnv>>
    let kernelSysctls: Readonly<Record<string, string>>
    try {
      baseEnv = await collectEnv(opts.backend, hostSpecs, opts.sysctlOverrides ?? {}, signal)
      kernelSysctls = (await collectBaseEnv(opts.backend, signal)).defaultSysctls
    } catch (e: unknown) {
      await early?.catch(() => undefined) // so that teardown knows the lab, if it came up
      throw e
    }
    const kernel: KernelFacts = loadScenarioKernelFacts(baseEnv)
    const kernelSkip = kernelSkipReason(loaded, kernel, kernelSysctls)
    if (kernelSkip) {
      await early?.catch(() => undefined)
      await writeFileAtomic(path.join(dir, 'env.json'), `${JSON.stringify(baseEnv, null, 2)}\n`)
      verdict = { ...base, labId, status: 'skip', reason: kernelSkip, durationMs: Date.now() - startedAt.getTime(), results: [] }
    } else {
      const lab: Lab = await (early ?? labUp())
      phase(s.name, 'lab up')
      const env = { ...baseEnv, ...lab.envFacts }
      await writeFileAtomic(path.join(dir, 'env.json'), `${JSON.stringify(env, null, 2)}\n`)
      phase(s.name, 'env')
      const skip = await labSkipReason(loaded, lab)
      verdict = skip
        ? { ...base, labId, status: 'skip', reason: skip, durationMs: Date.now() - startedAt.getTime(), results: [] }
        : await play(loaded, lab, kernel, dir, td, signal, opts, base, labId, startedAt, progress)
    }
    // Ctrl-C: the player stops early and returns what it saw; the verdict is partial, and says so.
    if (signal.aborted) verdict = { ...verdict, status: 'interrupted', interrupted: interruptedVerdict('Ctrl-C').interrupted }
  } catch (e: unknown) {
    const err = e instanceof TcplabError ? e : undefined
    if (signal.aborted) {
      verdict = interruptedVerdict('Ctrl-C')
    } else {
      verdict = {
        ...base,
        labId,
        status: 'error',
        durationMs: Date.now() - startedAt.getTime(),
        results: [],
        error: {
          code: err?.code ?? 'E_INTERNAL',
          message: err ? err.message : e instanceof Error ? (e.stack ?? e.message) : String(e),
          hint: err?.hint,
          exitCode: err?.exitCode ?? 1,
        },
      }
    }
  } finally {
    try {
      await td.run()
    } catch (e: unknown) {
      opts.onProgress?.(`teardown of ${s.name}: ${(e as Error).message}`)
    }
    progress.records?.close()
  }
  verdict.durationMs = Date.now() - startedAt.getTime()
  phase(s.name, 'teardown')
  await writeFileAtomic(verdictFile, `${JSON.stringify(verdict, null, 2)}\n`)
  unhookExit()
  await writeScenarioReport(dir)
  phase(s.name, 'report')
  return verdict
}

/** How far a scenario got (for an interrupted verdict). */
interface ScenarioProgress {
  t0Us?: number | undefined
  records?: RecordsStream | undefined
}

async function play(
  loaded: LoadedScenario,
  lab: Lab,
  kernel: KernelFacts,
  dir: string,
  td: Teardown,
  signal: AbortSignal,
  opts: RunScenarioOptions,
  base: Omit<ScenarioVerdict, 'status' | 'durationMs' | 'results'>,
  labId: string,
  startedAt: Date,
  progress: ScenarioProgress,
): Promise<ScenarioVerdict> {
  const s = loaded.scenario
  const hosts = lab.hosts
  const hostOf = (name: string): Host => hosts.get(name) as Host
  const facts = new Map<string, HostFacts>([...hosts].map(([n, h]) => [n, { addr: h.addr, ifname: h.ifnames[0] ?? 'eth0' }]))

  // Recorders start before t0: captures must be capturing, so nothing is missed.
  // They come up (tcpdump says "listening") while the agents start and sample.
  const captures = new Map<string, Capture>()
  const capture = s.capture
  const livePackets = packetMarkHosts(s).size > 0 ? new LivePackets() : undefined // steps after packets marks: parse as tcpdump writes
  const capturesStarted = capture === false ? Promise.resolve() : Promise.all([...hosts].map(async ([name, h]) => {
    const cap = await startCapture(h, { file: path.join(dir, `${name}.pcap`), snaplen: capture?.snaplen, filter: capture?.filter, ...liveCapture(name) })
    captures.set(name, cap)
    td.push(`stop capture on ${name}`, () => cap.stop({ drainMs: 0 }))
  }))
  // Every host gets an agent before t0 (one takes ~100 ms to come up): it samples and plays the steps.
  const timeline = new Timeline(nowUs())
  // records.jsonl fills as the run goes (from t0, once records are stamped for good); replaced by the final one at the end.
  const recordsFile = path.join(dir, 'records.jsonl')
  progress.records = streamRecords(timeline, recordsFile)
  const feed = opts.onRecord ? feedRecords(timeline, opts.onRecord) : undefined
  const agents = new Map<string, Promise<HostAgent>>()
  // `sockets:` names: the first row that matches one is the event NAME.seen, which steps may wait for
  // (a program's listener exists, however long the program took to start); the agents hear it as a trigger.
  const hostAddrs = new Map([...hosts].map(([n, h]) => [n, addressesOf(h, s.hosts[n]?.role === 'wire', facts)]))
  // Names an agent watches itself (its `seen` comes as its own event, and its plan opens the gate).
  const agentWatched = new Set<string>()
  if (s.sockets) {
    const seen = watchDeclaredSockets(s.sockets, hostAddrs, (name, row) => {
      if (agentWatched.has(name)) return
      timeline.add({ kind: 'event', t: row.t, host: row.host, source: name, type: 'seen', data: { local: row.local, peer: row.peer, state: row.state } })
      const tUs = Math.round(timeline.t0Us + row.t * 1e6)
      for (const a of agents.values()) void a.then((x) => x.send({ op: 'trigger', ref: `${name}.seen`, tUs })).catch(() => undefined)
    })
    timeline.onAdd((r) => {
      if (r.kind === 'ss') seen(r)
    })
  }
  const agentFor = (name: string): Promise<AgentPort> => {
    let a = agents.get(name)
    if (!a) {
      a = startHostAgent(hostOf(name), timeline, opts.agentPriority ?? DEFAULT_AGENT_PRIORITY)
      agents.set(name, a)
      td.push(`stop agent on ${name}`, async () => (await a?.catch(() => undefined))?.close())
    }
    return a
  }
  // Every host's agent samples its sockets (sock_diag, agent/sockdiag.c) on its
  // own clock, started before t0 so the first samples are there at t0. Where it
  // cannot (netlink refused, no agent), the ss loop samples instead, from t0.
  const samplers: SsSampler[] = []
  const intervalMs = s.sample?.interval ?? DEFAULT_SAMPLE_MS
  const fallback: Array<{ host: Host; why: string }> = []
  const samplersStarted = Promise.all([...hosts].map(async ([name, h]) => {
    try {
      await agentFor(name)
      const agent = await (agents.get(name) as Promise<HostAgent>)
      const cpuBudget = s.sample?.interval === undefined ? SAMPLE_CPU_BUDGET : undefined
      // Before the first sample, so that no row goes by unwatched.
      for (const w of declaredWatches(s.sockets, hostAddrs, name)) {
        await agent.command(w, true)
        agentWatched.add(w.name)
      }
      const sampler = await agent.sample({ intervalMs, cpuBudget })
      samplers.push(sampler)
      td.push(`stop sampling on ${name}`, () => sampler.stop())
      if (sampler.intervalMs !== intervalMs) {
        opts.onProgress?.(`${name}: sampling every ${sampler.intervalMs} ms, not ${intervalMs} ms: a sock_diag dump costs ${sampler.dumpUs ?? '?'} µs here`)
      }
    } catch (e: unknown) {
      // The ss loop samples this host instead: the runner watches its rows.
      for (const w of declaredWatches(s.sockets, hostAddrs, name)) agentWatched.delete(w.name)
      fallback.push({ host: h, why: e instanceof Error ? e.message : String(e) })
    }
  }))
  // Both settle before either failure is thrown, so teardown finds everything that started.
  const [capOk] = await Promise.allSettled([capturesStarted, samplersStarted])
  phase(s.name, 'recorders+agents')
  if (capOk.status === 'rejected') throw capOk.reason
  // Who plays the steps: the agents (time-true), unless a host cannot run them there.
  const planHosts = new Map([...hosts].map(([n, h]) => [n, { ifnames: h.ifnames, setsSysctlsOutside: h.setSysctls !== undefined, hasUserImage: s.hosts[n]?.image !== undefined }]))
  const noPlan = process.env.TCPLAB_PLAYER === 'runner' ? 'TCPLAB_PLAYER=runner' : planUnsupported(s, planHosts)
  if (noPlan) timeline.add({ kind: 'event', t: 0, host: [...hosts.keys()][0] ?? '', source: 'runner', type: 'player', text: `steps played by the runner: ${noPlan}` })
  // With a plan, `at:` times are offsets: t0 is chosen once every agent holds its plan (startClock).
  let t0Us = nowUs()
  const plan = noPlan ? undefined : compilePlan(s, 0, facts, planHosts)
  const badDelete = plan ? resolveDeletes(plan) : undefined
  if (badDelete) throw new StepError(`${loaded.file}: ${badDelete}`)
  const startClock = (): number => {
    t0Us = nowUs() + (plan ? GO_LEAD_MS * 1000 : 0)
    timeline.rebase(t0Us)
    progress.t0Us = t0Us
    opts.onClock?.(t0Us)
    return t0Us
  }
  const clockStarted = (): void => {
    livePackets?.start(t0Us)
    progress.records?.start()
    feed?.start()
    startFallbackSamplers()
  }
  if (!plan) {
    startClock()
    clockStarted()
  }
  function startFallbackSamplers(): void {
  for (const { host: h, why } of fallback) {
    const note = `the agent cannot sample sockets on ${h.name} (${why}): sampling with the ss loop instead`
    opts.onProgress?.(note)
    timeline.add({ kind: 'event', t: 0, host: h.name, source: 'sampler', type: 'fallback', text: note })
    const sampler = startSsStreamSampler(h, {
      intervalMs: Math.max(intervalMs, SS_LOOP_MIN_MS),
      t0Us,
      onRecords: (recs) => {
        // The sample's own time: the records share it; an empty sample is stamped now.
        timeline.add({ kind: 'sample', t: recs[0]?.t ?? secondsSince(t0Us, nowUs()), host: h.name, sockets: recs.length })
        timeline.addAll(recs)
      },
    })
    samplers.push(sampler)
    td.push(`stop ss sampler on ${h.name}`, () => sampler.stop())
  }
  }

  const procs = new Map<string, { host: string; proc: Proc }>()
  const rules: StepContext['rules'] = new Map()
  let extra: ExpectationResult[] = []
  let planned: PlayPlanResult | undefined
  if (plan) {
    // The agents play the timeline on their own clocks (plan.ts, play-plan.ts).
    await Promise.all([...plan.byHost.keys()].map((h) => agentFor(h)))
    const ready = new Map(await Promise.all([...agents].map(async ([n, a]) => [n, await a] as const)))
    planned = await playPlan({
      loaded, plan, agents: ready, timeline, startClock, clockStarted, signal,
      idleTimeoutMs: Math.max(...s.steps.map((st) => st.timeout ?? (typeof st.wait === 'object' ? (st.wait.timeout ?? 0) : 0)), 60_000),
      lingerMs: END_LINGER_MS,
      relayDir: opts.backend.name === 'netns' ? await relayDirFor(labId, td) : undefined,
      markContext: markContext(),
      livePackets,
    })
    extra = planned.extra
  } else {
    extra = await playFromRunner()
  }
  /** The context the marks that steps wait for are evaluated in as the run goes: the end-of-run one, less the records. */
  function markContext(): LiveMarkContext {
    return {
      hosts: hostAddrs,
      tolerance: { ...DEFAULT_TOLERANCE, ...opts.tolerance, ...toleranceRule(s.tolerance) },
      kernel: kernel.release,
      hasSysctl: kernel.hasSysctl,
      sysctlValues: kernel.sysctlValues,
      nameSockets: { name: (recs) => nameSockets(recs, { declared: s.sockets, hosts: hostAddrs }), fromSs: s.sockets !== undefined },
    }
  }
  /** With steps after packets marks: each capture's packets as tcpdump writes them, for the live marks (live-packets.ts). */
  function liveCapture(host: string): Pick<CaptureOptions, 'onPackets' | 'onLiveError'> {
    if (!livePackets) return {}
    return {
      onPackets: (pkts, ifnames) => livePackets.push(host, pkts, ifnames),
      onLiveError: (e) => timeline.add({ kind: 'event', t: secondsSince(timeline.t0Us, nowUs()), host, source: 'capture', type: 'live-error', text: `packets of ${host} can no longer be followed as they come (steps after packets marks): ${e.message}` }),
    }
  }
  /** The runner plays the steps itself (hosts where the agent cannot, or TCPLAB_PLAYER=runner): steps bend with the runner's load. */
  async function playFromRunner(): Promise<ExpectationResult[]> {
  const extra: ExpectationResult[] = []
  const defaultTimeoutMs = Math.max(s.duration ?? 0, 60_000)

  // Steps after a mark (`after: zw.2`): the mark is evaluated as the events come (src/expect/live-marks.ts).
  const stepMarks = new Map<string, StepMark>()
  for (const st of s.steps) {
    for (const ref of [st.after, typeof st.wait === 'object' ? st.wait.for : undefined]) {
      const m = ref !== undefined ? stepMarkOf(ref, s.expect as unknown as Array<Record<string, unknown>>) : undefined
      if (ref !== undefined && typeof m === 'object') stepMarks.set(ref, m)
    }
  }
  const reached = new Map<string, number>()
  const reachedWaiters = new Set<() => void>()
  if (stepMarks.size > 0) {
    const live = new LiveMarks(s.expect, stepMarks.values(), markContext())
    const refOf = new Map([...stepMarks].map(([after, m]) => [m.gateRef, after]))
    const feed = new LiveMarkFeed(live, (moments) => {
      for (const { ref, t } of moments) reached.set(refOf.get(ref) ?? ref, t)
      for (const w of [...reachedWaiters]) w()
    })
    timeline.onAdd((r) => feed.push([r]))
    livePackets?.on((recs) => feed.push(recs))
  }
  /** Seconds since t0 of an event or a mark's moment, once it happens. */
  async function waitForMoment(after: string, timeoutMs: number): Promise<number> {
    if (!stepMarks.has(after)) return timeline.waitForEvent(after, timeoutMs, signal)
    const limitUs = nowUs() + timeoutMs * 1000
    for (;;) {
      const t = reached.get(after)
      if (t !== undefined) return t
      if (nowUs() >= limitUs) throw new TimeoutError(`waited ${timeoutMs / 1000}s for the mark ${after}, which was not reached`)
      await new Promise<void>((resolve, reject) => {
        const done = (): void => {
          clearTimeout(timer)
          reachedWaiters.delete(done)
          signal.removeEventListener('abort', done)
          if (signal.aborted) reject(new InterruptedError())
          else resolve()
        }
        const timer = setTimeout(done, Math.max(1, (limitUs - nowUs()) / 1000))
        reachedWaiters.add(done)
        signal.addEventListener('abort', done, { once: true })
      })
    }
  }

  // Play the steps in order.
  let lastStepEndT = 0
  for (const [i, step] of s.steps.entries()) {
    try {
      if (step.at !== undefined) {
        await sleepUntil(t0Us, step.at, signal)
      } else if (step.after !== undefined) {
        const t = await waitForMoment(step.after, step.timeout ?? defaultTimeoutMs)
        await sleepUntil(t0Us, t * 1000 + (step.delay ?? 0), signal)
      }
      const target = stepTarget(step)
      const now = secondsSince(t0Us, nowUs())
      if (!target) {
        // wait: DURATION | { for: EVENT, timeout }
        const w = step.wait
        if (typeof w === 'number') {
          timeline.add({ kind: 'action', t: now, step: i, action: 'wait', detail: formatMs(w) })
          await sleep(w, signal)
        } else if (w) {
          timeline.add({ kind: 'action', t: now, step: i, action: 'wait', detail: `for ${w.for}` })
          await waitForMoment(w.for, w.timeout ?? defaultTimeoutMs)
        }
      } else {
        const impl = ACTION_IMPLS[target.action] as (ctx: StepContext, a: unknown) => Promise<string>
        const ctx: StepContext = {
          stepIndex: i, hostName: target.host, host: hostOf(target.host), timeline, facts, procs, rules, agent: agentFor, signal,
        }
        opts.onProgress?.(`step ${i} ${target.host} ${target.action}`)
        const detail = await impl(ctx, target.args)
        timeline.add({ kind: 'action', t: now, step: i, host: target.host, action: target.action, detail, target: targetName(target.args) })
      }
      lastStepEndT = secondsSince(t0Us, nowUs())
    } catch (e: unknown) {
      if (e instanceof TimeoutError) {
        const pos = loaded.stepPos[i]
        extra.push({
          index: -1 - i, kind: 'step', status: 'fail', description: `step ${i} could not run`,
          expected: step.after ? `${step.after} happens` : 'the step runs', measured: e.message, line: pos?.line, col: pos?.col,
          t: secondsSince(t0Us, nowUs()),
        })
        break
      }
      // A step the lab refused (a link that cannot be set, a program that is not there): the scenario's, exit 2, at its line.
      if (e instanceof StepError || e instanceof ProcessError || e instanceof MissingToolError) {
        const pos = loaded.stepPos[i]
        throw new StepError(`${loaded.file}:${pos?.line ?? 0}:${pos?.col ?? 0} steps[${i}]: ${e.message}`, { hint: e.hint, cause: e })
      }
      throw e
    }
  }

  // Let the scenario run to its end.
  const endMs = s.duration ?? lastStepEndT * 1000 + END_LINGER_MS
  await sleepUntil(t0Us, endMs, signal)
  return extra
  }
  const endT = secondsSince(t0Us, nowUs())
  phase(s.name, 'played')

  // Counters of every rule still installed, then stop endpoints, samplers, captures.
  const ruleHosts = new Set<string>(planned?.ruleHosts ?? [])
  for (const [key, r] of rules) ruleHosts.add(`${key.split(':')[0] ?? 'iptables'}:${r.host}`)
  planned?.markStopping()
  await Promise.all([...ruleHosts].map(async (rh) => {
    const [cmd, host] = rh.split(':') as [IptablesCmd, string]
    await recordCounters({ host: hostOf(host), hostName: host, timeline }, cmd)
  }))
  // Endpoints, samplers and captures stop together: what happens after endT is outside every window.
  const stopEndpoints = (async (): Promise<void> => {
    await Promise.all([...agents.values()].map(async (a) => (await a.catch(() => undefined))?.close()))
    await Promise.all([...procs.values()].map(async ({ proc }) => {
      if (!proc.hasExited) {
        ;(proc as Proc & { stoppedByRunner?: boolean }).stoppedByRunner = true
        await proc.stop({ graceMs: 1000 })
      }
    }))
    if (procs.size > 0) await sleep(20) // the runner's own processes: let their exited events land
    await Promise.all(samplers.map((x) => x.stop()))
  })()
  const [stoppedCaptures] = await Promise.all([
    Promise.all([...captures].map(async ([name, cap]) => [name, await cap.stop({ t0Us })] as const)),
    stopEndpoints,
  ])
  for (const [name, { packets }] of stoppedCaptures) timeline.addAll(packets.map((p) => ({ ...p, host: name })))
  // Exact kernel times of state changes and retransmissions, where the backend traces them (vm).
  if (lab.kernelEvents) timeline.addAll(kernelEventRecords(await lab.kernelEvents().catch(() => []), hostAddrs, t0Us))
  phase(s.name, 'stop recorders')

  const records = nameSockets(timeline.sorted(), { declared: s.sockets, hosts: hostAddrs })
  const ctx = {
    records,
    endT,
    sockets: socketNames(records, s.sockets),
    hosts: hostAddrs,
    tolerance: { ...DEFAULT_TOLERANCE, ...opts.tolerance, ...toleranceRule(s.tolerance) },
    kernel: kernel.release,
    hasSysctl: kernel.hasSysctl,
    sysctlValues: kernel.sysctlValues,
  }
  const results = [...extra, ...evaluateAll(s.expect, ctx, loaded.expectPos)]
  const agentSched = await schedOf(agents, opts.agentPriority ?? DEFAULT_AGENT_PRIORITY)
  annotateLateSteps(results, records, agentSched)
  // The final records (sorted, sockets named) replace the streamed ones whole.
  progress.records?.close({ durable: false })
  progress.records = undefined
  await writeLinesAtomic(recordsFile, (function* () { for (const r of records) yield JSON.stringify(r) })())
  phase(s.name, 'evaluate+records')
  return {
    ...base, labId, status: statusOf(results), durationMs: Date.now() - startedAt.getTime(), endT, results,
    player: plan ? 'agent' : 'runner',
    ...(planned && planned.lateness.n > 0 ? { stepLateMs: { p50: planned.lateness.p50, p99: planned.lateness.p99, max: planned.lateness.max } } : {}),
    ...(agentSched ? { agentSched } : {}),
  }
}

/** How the agents that started are scheduled (undefined: none started). */
async function schedOf(agents: ReadonlyMap<string, Promise<HostAgent>>, asked: AgentPriority): Promise<AgentSched | undefined> {
  const hosts: AgentSched['hosts'] = {}
  let refused: string | undefined
  for (const [name, p] of agents) {
    const a = await p.catch(() => undefined)
    if (!a) continue
    hosts[name] = a.sched
    refused ??= a.schedError
  }
  return Object.keys(hosts).length === 0 ? undefined : { asked, hosts, ...(refused ? { refused } : {}) }
}

/**
 * Call `fn` with each action and event record added to `timeline`: held until start() (t0 is
 * chosen once the agents hold their plans, and rebase re-stamps what came before), then as added.
 */
function feedRecords(timeline: Timeline, fn: (rec: ActionRecord | EventRecord, t0Us: number) => void): { start(): void } {
  let held: Array<ActionRecord | EventRecord> | undefined = []
  const send = (r: ActionRecord | EventRecord): void => {
    try {
      fn(r, timeline.t0Us)
    } catch {
      // a reporter's failure is not the scenario's
    }
  }
  timeline.onAdd((r) => {
    if (r.kind !== 'action' && r.kind !== 'event') return
    if (held) held.push(r)
    else send(r)
  })
  return {
    start() {
      const h = held ?? []
      held = undefined
      for (const r of h) send(r)
    },
  }
}

/** All addresses of a host (a wire host has one per side). */
function addressesOf(h: Host, _isWire: boolean, facts: Map<string, HostFacts>): string[] {
  return [h.addr, ...(facts.get(h.name)?.addr !== h.addr ? [facts.get(h.name)?.addr ?? ''] : [])].filter(Boolean)
}

function toleranceRule(t: LoadedScenario['scenario']['tolerance']): Partial<ToleranceRule> {
  if (t === undefined) return {}
  if (typeof t === 'number') return { floorMs: t }
  return { ...(t.floor !== undefined ? { floorMs: t.floor } : {}), ...(t.percent !== undefined ? { percent: t.percent } : {}) }
}

function targetName(args: unknown): string | undefined {
  if (args && typeof args === 'object' && !Array.isArray(args)) {
    const a = args as Record<string, unknown>
    for (const k of ['name', 'to', 'socket', 'delete']) if (typeof a[k] === 'string') return a[k]
  }
  return undefined
}

async function sleepUntil(t0Us: number, atMs: number, signal: AbortSignal): Promise<void> {
  const waitMs = atMs - (nowUs() - t0Us) / 1000
  await sleep(waitMs, signal)
}

/** Why a scenario cannot run on this kernel (requires: kernel, sysctls), or undefined. */
function kernelSkipReason(loaded: LoadedScenario, kernel: KernelFacts, kernelSysctls: Readonly<Record<string, string>>): string | undefined {
  const req = loaded.scenario.requires
  if (!req) return undefined
  if (req.kernel && !kernel.satisfies(req.kernel)) return `needs kernel ${req.kernel}, this is ${kernel.release}`
  // The kernel's own keys, not the host's view (which names the scenario's own sysctls, existing or not).
  for (const k of req.sysctls ?? []) if (recordsSysctl(k) ? !(k in kernelSysctls) : !kernel.hasSysctl(k)) return `needs sysctl ${k}, which this kernel lacks`
  return undefined
}

/** Why a scenario cannot run in this lab (requires: qdiscs, tools), or undefined. */
async function labSkipReason(loaded: LoadedScenario, lab: Lab): Promise<string | undefined> {
  const req = loaded.scenario.requires
  if (!req) return undefined
  const first = [...lab.hosts.values()][0] as Host
  for (const q of req.qdiscs ?? []) {
    const r = await first.exec(['tc', 'qdisc', 'add', 'dev', 'lo', 'root', q], { reject: false })
    if (r.exitCode !== 0) return `needs the ${q} qdisc, which this kernel lacks (${r.stderr.trim().split('\n')[0] ?? ''})`
    await first.exec(['tc', 'qdisc', 'del', 'dev', 'lo', 'root'], { reject: false })
  }
  for (const tool of req.tools ?? []) {
    const r = await first.exec(['sh', '-c', 'command -v "$1"', 'sh', tool], { reject: false })
    if (r.exitCode !== 0) return `needs ${tool}, which is not installed`
  }
  return undefined
}

export type { EventRecord }
export { InterruptedError }

