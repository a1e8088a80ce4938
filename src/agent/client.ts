// The socket agent's client: starts agent/build/tcplab-agent on a lab host,
// writes commands as JSON lines and delivers its events (protocol.ts).

import { ProcessError, TimeoutError } from '../util/errors.js'
import type { ExitInfo, Host, Proc, SpawnOptions } from '../lab/types.js'
import type { AgentCommand, AgentEvent, AgentPriority } from './protocol.js'
export type { AgentPriority } from './protocol.js'
import type net from 'node:net'
import { listenForAgent } from './channel.js'
import { lineSplitter } from '../util/mux.js'
export { agentBinaryPath } from '../lab/agent-path.js'


export interface StartAgentOptions {
  /** Every event the agent writes, in order (called before any `request` resolves with it). Must not throw. */
  onEvent(ev: AgentEvent): void
  /** Each line the agent writes to stderr (it only writes there when something is badly wrong). */
  onStderrLine?: ((line: string) => void) | undefined
  /**
   * The agent's scheduling (tcplab-agent --priority, agent/plan.c): 'fifo' (SCHED_FIFO 2: wakes
   * ahead of every normal task, so deadlines hold on a busy machine), 'nice' (nice -5), or
   * 'normal'. Where it is not permitted the agent says so on stderr and runs normally.
   */
  priority?: AgentPriority | undefined
  /** How long to wait for the agent's `ready` event (default 5000 ms). */
  readyTimeoutMs?: number | undefined
}

export interface RequestOptions {
  /** Resolve with the first event for which this is true (default: isFinalEventFor(cmd, ev)). */
  until?: ((ev: AgentEvent) => boolean) | undefined
  /** Reject with TimeoutError after this long (default 10000 ms). */
  timeoutMs?: number | undefined
}

/** A running agent. */
export interface AgentClient {
  readonly host: Host
  readonly proc: Proc
  /** The agent's pid (from its `ready` event). */
  readonly pid: number
  /** How it runs (from `ready`): the priority asked for, or 'normal' where it was refused (then schedError says why). */
  readonly sched: AgentPriority
  readonly schedError?: string | undefined
  /** Write one command (no waiting for its events). */
  send(cmd: AgentCommand): Promise<void>
  /** Write a command (given an id "r<N>" if it has none) and resolve with the first matching event. */
  request(cmd: AgentCommand, opts?: RequestOptions): Promise<AgentEvent>
  /** Resolve with the first event from now on for which `until` is true. */
  waitFor(until: (ev: AgentEvent) => boolean, timeoutMs?: number): Promise<AgentEvent>
  /** Close stdin (the agent closes its sockets and exits 0); SIGTERM, then SIGKILL, after `graceMs` (default 2000). */
  close(opts?: { graceMs?: number }): Promise<ExitInfo>
}

const DEFAULT_REQUEST_TIMEOUT_MS = 10_000
const DEFAULT_READY_TIMEOUT_MS = 5_000
const STDERR_LINES_KEPT = 20

/** Parse one stdout line of the agent; undefined when it is not an event. */
export function parseAgentEvent(line: string): AgentEvent | undefined {
  let v: unknown
  try {
    v = JSON.parse(line)
  } catch {
    return undefined
  }
  if (typeof v !== 'object' || v === null) return undefined
  const o = v as Record<string, unknown>
  if (typeof o.t !== 'number' || typeof o.name !== 'string' || typeof o.type !== 'string') return undefined
  return v as AgentEvent
}

/** Whether `ev` is the event that completes `cmd` (same id; for send the one with done; for exec `exited`; errors unless done is false). Mirrored by observe() in agent/plan.c. */
export function isFinalEventFor(cmd: AgentCommand, ev: AgentEvent): boolean {
  if (cmd.id === undefined || ev.id !== cmd.id) return false
  if (ev.type === 'error') return ev.done !== false
  switch (cmd.op) {
    case 'send':
      return ev.type === 'sent' && ev.done === true
    case 'connect':
      return ev.type === 'connected' || (cmd.nonblock === true && ev.type === 'connecting')
    case 'accept':
      return ev.type === 'accepted'
    case 'exec':
      // started, stdout and stderr come before; a failed exec ends with its error.
      return ev.type === 'exited'
    default:
      return true
  }
}

interface Waiter {
  until(ev: AgentEvent): boolean
  resolve(ev: AgentEvent): void
  reject(e: Error): void
  timer: NodeJS.Timeout
}

/** Start the agent on a host and wait until it is ready. */
export async function startAgent(host: Host, opts: StartAgentOptions): Promise<AgentClient> {
  const waiters = new Set<Waiter>()
  const stderrTail: string[] = []
  const keepStderr = (line: string): void => {
    stderrTail.push(line)
    if (stderrTail.length > STDERR_LINES_KEPT) stderrTail.shift()
  }
  // Its own socket where the host can reach one by path (channel.ts); stdin and stdout otherwise.
  const channel = host.agentSocketDir !== undefined ? await listenForAgent(host.agentSocketDir) : undefined
  const argv = [
    host.agentPath,
    ...(opts.priority === undefined || opts.priority === 'normal' ? [] : [`--priority=${opts.priority}`]),
    ...(channel ? [`--connect=${channel.path}`] : []),
  ]
  const onLine = (line: string): void => {
      const ev = parseAgentEvent(line)
      if (ev === undefined) {
        keepStderr(`unparseable stdout line: ${line}`)
        opts.onStderrLine?.(`unparseable stdout line: ${line}`)
        return
      }
      opts.onEvent(ev)
      for (const w of waiters) {
        if (w.until(ev)) {
          waiters.delete(w)
          clearTimeout(w.timer)
          w.resolve(ev)
        }
      }
  }
  const spawnOpts: SpawnOptions = {
    stdin: channel === undefined,
    onStdoutLine: channel === undefined ? onLine : (line) => keepStderr(`stdout: ${line}`),
    onStderrLine: (line) => {
      keepStderr(line)
      opts.onStderrLine?.(line)
    },
  }
  let proc: Proc
  try {
    proc = host.spawnAgent ? await host.spawnAgent(argv, spawnOpts) : host.spawn(argv, spawnOpts)
  } catch (e: unknown) {
    channel?.abandon()
    throw e
  }
  const failureOf = (info: ExitInfo | undefined): ProcessError =>
    new ProcessError({
      argv, host: host.name, exitCode: info?.code, signal: info?.signal, stderr: stderrTail.join('\n'),
    }, { hint: info === undefined ? undefined : 'the socket agent exited; its stderr (above) says why' })

  const waitFor = (until: (ev: AgentEvent) => boolean, timeoutMs: number, what: string): Promise<AgentEvent> =>
    new Promise<AgentEvent>((resolve, reject) => {
      if (proc.hasExited) {
        reject(failureOf(undefined))
        return
      }
      const w: Waiter = {
        until, resolve, reject,
        timer: setTimeout(() => {
          waiters.delete(w)
          reject(new TimeoutError(`socket agent on ${host.name}: ${what} did not happen within ${timeoutMs} ms`))
        }, timeoutMs),
      }
      waiters.add(w)
    })

  // With its own socket, the agent's last events may still be in it when the process is reaped.
  let sock: net.Socket | undefined
  let sockClosed: Promise<void> = Promise.resolve()
  if (channel) {
    void proc.exited.then(() => channel.abandon())
    channel.connected.then((s) => {
      sock = s
      s.setEncoding('utf8')
      const lines = lineSplitter(onLine)
      s.on('data', (chunk: string) => lines.push(chunk))
      s.on('error', () => undefined) // the close that follows says it; the process's exit says why
      sockClosed = new Promise<void>((resolve) => s.once('close', () => {
        lines.end()
        resolve()
      }))
    }, () => undefined)
  }
  void proc.exited.then(async (info) => {
    await sockClosed
    for (const w of waiters) {
      clearTimeout(w.timer)
      w.reject(failureOf(info))
    }
    waiters.clear()
  })

  const ready = waitFor((ev) => ev.type === 'ready', opts.readyTimeoutMs ?? Math.max(DEFAULT_READY_TIMEOUT_MS, host.startTimeoutMs ?? 0), 'start-up (ready event)')
  // Handled from now on: it may time out while the start below is still pending (a slow docker
  // exec), and an unhandled rejection ends the process. Awaiting it later still throws.
  ready.catch(() => undefined)
  await proc.started
  let pid: number
  let sched: AgentPriority = 'normal'
  let schedError: string | undefined
  try {
    const ev = await ready
    pid = ev.type === 'ready' ? ev.pid : 0
    if (ev.type === 'ready') {
      sched = ev.sched ?? 'normal'
      schedError = ev.schedError
    }
  } catch (e: unknown) {
    await proc.stop({ graceMs: 500 })
    throw e
  }

  let nextId = 1
  const send = (cmd: AgentCommand): Promise<void> => {
    const line = `${JSON.stringify(cmd)}\n`
    if (!channel) return proc.write(line)
    const s = sock
    if (s === undefined || s.destroyed || !s.writable) return Promise.reject(new Error(`socket agent on ${host.name}: its socket is closed`))
    return new Promise<void>((resolve, reject) => s.write(line, (e) => (e ? reject(e) : resolve())))
  }

  return {
    host,
    proc,
    pid,
    sched,
    schedError,
    send,
    async request(cmd, ropts = {}) {
      // String ids cannot collide with numeric ids a caller gives to send().
      const withId: AgentCommand = cmd.id === undefined ? { ...cmd, id: `r${nextId++}` } : cmd
      const until = ropts.until ?? ((ev: AgentEvent) => isFinalEventFor(withId, ev))
      const label = `${withId.op}${'name' in withId ? ` ${withId.name}` : ''} (id ${String(withId.id)})`
      const pending = waitFor(until, ropts.timeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS, `the reply to ${label}`)
      try {
        await send(withId)
      } catch (e: unknown) {
        pending.catch(() => undefined)
        throw e
      }
      return pending
    },
    waitFor(until, timeoutMs = DEFAULT_REQUEST_TIMEOUT_MS) {
      return waitFor(until, timeoutMs, 'the awaited event')
    },
    async close(copts = {}) {
      if (proc.hasExited) return proc.exited
      const graceMs = copts.graceMs ?? 2000
      if (sock) sock.end()
      else proc.endStdin()
      let timer: NodeJS.Timeout | undefined
      const late = new Promise<'late'>((resolve) => { timer = setTimeout(() => resolve('late'), graceMs) })
      const first = await Promise.race([proc.exited, late])
      clearTimeout(timer)
      if (first !== 'late') return first
      return proc.stop({ sig: 'SIGTERM', graceMs })
    },
  }
}
