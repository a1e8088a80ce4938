// One socket agent per host, started on the first socket step; every event it
// writes becomes an `event` record on the timeline (source = socket name).

import { startAgent, type AgentClient, type AgentPriority, type AgentCommand, type AgentEvent } from '../agent/index.js'
import type { Host } from '../lab/index.js'
import { secondsSince } from '../recorder/records.js'
import { DiagSampleExpander } from '../recorder/diag-sampler.js'
import type { SsSampler } from '../recorder/ss-sampler.js'
import type { Timeline } from '../recorder/timeline.js'
import { StepError } from '../util/errors.js'
import type { AgentPort } from './actions.js'

export interface HostAgent extends AgentPort {
  close(): Promise<void>
  /** Write one command without waiting for anything (the plan player). */
  send(cmd: AgentCommand): Promise<void>
  /**
   * See every event before it becomes a record; a listener that returns true
   * consumes it (it does not reach the timeline). Returns the unsubscribe.
   */
  listen(fn: (ev: AgentEvent) => boolean | void): () => void
  /** Whether the agent process has exited. */
  readonly hasExited: boolean
  /** How it runs: the priority asked for, or 'normal' where that was refused (schedError says why). */
  readonly sched: AgentPriority
  readonly schedError?: string | undefined
  /**
   * Sample the host's sockets in the agent (sock_diag, op `sample`): its `ss`
   * and `ss-destroy` events become `ss`/`sample` records (diag-sampler.ts)
   * instead of event records. Rejects when the agent cannot sample.
   */
  sample(opts: AgentSampleOptions): Promise<AgentSampler>
}

export interface AgentSampleOptions {
  intervalMs: number
  /** Every socket is repeated at least this often (default max(100, intervalMs)). */
  fullEveryMs?: number | undefined
  /**
   * When set, a dump that costs more than this share of a core at intervalMs
   * stretches the interval (a dump walks the namespace's whole TCP hash: ~1.4 ms
   * on a host with 262144 buckets, ~60 µs with a per-namespace one).
   */
  cpuBudget?: number | undefined
}

export interface AgentSampler extends SsSampler {
  /** The interval the agent runs at, after any stretching. */
  readonly intervalMs: number
  /** What one full dump cost, µs (the last one seen). */
  readonly dumpUs: number | undefined
  /** Whether `ss-destroy` (exact close times) is available. */
  readonly destroy: boolean
}

/**
 * Default share of a core one host's sampling may cost: 5 %, about what the old
 * ss loop cost at 100 ms. Where a dump is dear the interval is stretched to stay
 * within it: a namespace sharing the machine's big TCP hash (~1.2-1.5 ms a dump
 * with 262144 buckets: docker hosts, and netns hosts on kernels without
 * net.ipv4.tcp_child_ehash_entries or with TCPLAB_NETNS_CHILD_HASH=0). The netns
 * backend's hosts have their own 1024-bucket hash (~0.06-0.15 ms a dump, ~2 % of
 * a core at 10 ms on a loaded VM): 10 ms stays 10 ms (bench/sampling.ts).
 */
export const SAMPLE_CPU_BUDGET = 0.05

/** Sockets are repeated in full at least this often: the old sampler's cadence, so windows stay populated. */
export const FULL_EVERY_MS = 100

/** Start the agent on a host; its events go onto the timeline. */
export async function startHostAgent(host: Host, timeline: Timeline, priority?: AgentPriority): Promise<HostAgent> {
  let client: AgentClient
  let diag: DiagSampleExpander | undefined
  const listeners = new Set<(ev: AgentEvent) => boolean | void>()
  const onEvent = (ev: AgentEvent): void => {
    for (const fn of listeners) if (fn(ev) === true) return
    if (ev.type === 'ss' || ev.type === 'ss-destroy') {
      if (diag) timeline.addAll(diag.apply(ev, timeline.t0Us))
      return
    }
    if (ev.type === 'sampling' || ev.type === 'unsampled') return
    timeline.add(toEventRecord(ev, host.name, timeline.t0Us))
  }
  try {
    client = await startAgent(host, { onEvent, priority })
  } catch (e: unknown) {
    throw new StepError(`cannot start the socket agent on ${host.name}: ${(e as Error).message}`, {
      hint: 'build it with `make agent` (needs gcc and the static libc, package libc6-dev)',
      cause: e,
    })
  }
  let nextId = 1
  return {
    async command(cmd: AgentCommand, waitForResult: boolean): Promise<void> {
      // waitForResult: the action's definition says a later step may rely on its result (src/actions/).
      const c = { ...cmd, id: nextId++ }
      if (waitForResult) await client.request(c, { timeoutMs: 10_000 })
      else await client.send(c)
    },
    async send(cmd: AgentCommand): Promise<void> {
      await client.send(cmd)
    },
    listen(fn) {
      listeners.add(fn)
      return () => listeners.delete(fn)
    },
    get hasExited() {
      return client.proc.hasExited
    },
    sched: client.sched,
    schedError: client.schedError,
    async close(): Promise<void> {
      await client.close({ graceMs: 1000 })
    },
    async sample(opts: AgentSampleOptions): Promise<AgentSampler> {
      const expander = new DiagSampleExpander(host.name)
      diag = expander
      const fullEvery = (iv: number): number => opts.fullEveryMs ?? Math.max(FULL_EVERY_MS, iv)
      const start = async (iv: number): Promise<{ destroy: boolean; dumpUs: number | undefined }> => {
        const ev = await client.request({ op: 'sample', intervalMs: iv, fullEveryMs: fullEvery(iv) }, { timeoutMs: 10_000 })
        if (ev.type !== 'sampling') throw new Error(ev.type === 'error' ? `${ev.errno}: ${ev.message}` : `unexpected reply ${ev.type}`)
        return { destroy: ev.destroy, dumpUs: expander.lastFullDumpUs }
      }
      let intervalMs = opts.intervalMs
      let first = await start(intervalMs)
      if (opts.cpuBudget !== undefined) {
        // The first dump of a namespace runs on cold caches: measure a second one.
        const second = await start(intervalMs)
        const costUs = Math.min(first.dumpUs ?? Infinity, second.dumpUs ?? Infinity)
        const needMs = Math.ceil(costUs / 1000 / opts.cpuBudget)
        if (Number.isFinite(needMs) && needMs > intervalMs) {
          intervalMs = Math.min(60_000, needMs)
          first = await start(intervalMs)
        } else first = second
      }
      let stopped = false
      return {
        intervalMs,
        destroy: first.destroy,
        get dumpUs() {
          return expander.lastFullDumpUs
        },
        async stop() {
          if (stopped) return
          stopped = true
          // The agent may have exited already (it is closed before the samplers stop).
          if (!client.proc.hasExited) await client.request({ op: 'unsample' }, { timeoutMs: 2000 }).catch(() => undefined)
        },
        get errors() {
          return 0
        },
        get lastError() {
          return undefined
        },
        get samples() {
          return expander.samples
        },
        get skipped() {
          return expander.missed
        },
      }
    },
  }
}

/** An agent event as a timeline record: t in seconds since t0, errno and byte counts lifted. */
export function toEventRecord(ev: AgentEvent, host: string, t0Us: number) {
  const { t, name, type, id: _id, ...rest } = ev as AgentEvent & Record<string, unknown>
  const errno = typeof rest.errno === 'string' ? rest.errno : undefined
  const n = typeof rest.n === 'number' ? rest.n : undefined
  // Processes the agent runs (exec): exit status and output lines, as the records carry them.
  const code = type === 'exited' && typeof rest.code === 'number' ? rest.code : undefined
  const signal = type === 'exited' && typeof rest.signal === 'string' ? rest.signal : undefined
  const text = (type === 'stdout' || type === 'stderr') && typeof rest.text === 'string' ? rest.text : undefined
  // connecting: when connect() was issued, on the timeline's clock (socket naming starts there).
  if (typeof rest.issuedUs === 'number') rest.issuedT = secondsSince(t0Us, rest.issuedUs)
  return {
    kind: 'event' as const,
    t: secondsSince(t0Us, t),
    host,
    source: name === '' ? 'agent' : name,
    type,
    errno,
    n,
    ...(code !== undefined ? { code } : {}),
    ...(signal !== undefined ? { signal } : {}),
    ...(text !== undefined ? { text } : {}),
    data: rest,
  }
}
