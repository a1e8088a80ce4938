// Kernel tracepoints in the guest: sock:inet_sock_set_state and
// tcp:tcp_retransmit_skb give the exact kernel time of every TCP state change
// and retransmission (Documentation/trace/events.rst). Each lab gets its own
// ftrace instance (instances/tcplab-<labId>, so concurrent labs do not share a
// buffer) on the `mono` trace clock; `cat trace_pipe` streams its lines to the
// runner, which keeps those whose addresses are the lab's and turns mono times
// into the host's realtime with the guest's clock measurement.

import { LabError } from '../../util/errors.js'
import type { KernelEvent, Proc } from '../types.js'
import type { ClockOffset } from './clock.js'
import type { Mux } from './mux.js'

export const TRACE_EVENTS = ['sock/inet_sock_set_state', 'tcp/tcp_retransmit_skb'] as const
const TRACEFS = '/sys/kernel/tracing'

/** One tracepoint hit, timed on the host's CLOCK_REALTIME (the Lab contract's KernelEvent). */
export type TraceEvent = KernelEvent

/**
 * Parse one trace_pipe line, e.g.
 *   `<idle>-0 [001] ..s2. 52.000123: inet_sock_set_state: family=AF_INET protocol=IPPROTO_TCP sport=8000 dport=40120 saddr=198.18.7.2 daddr=198.18.7.1 saddrv6=... daddrv6=... oldstate=TCP_SYN_RECV newstate=TCP_ESTABLISHED`
 * (the formats in include/trace/events/sock.h and tcp.h). Times are on the mono clock: tUs is
 * filled by the caller. undefined for other lines and non-TCP sockets.
 */
export function parseTraceLine(line: string): (Omit<TraceEvent, 'tUs'> & { monoUs: number }) | undefined {
  const m = /\s(\d+)\.(\d{6}):\s+(inet_sock_set_state|tcp_retransmit_skb):\s(.*)$/.exec(line)
  if (!m) return undefined
  const f: Record<string, string> = {}
  for (const kv of (m[4] as string).split(/\s+/)) {
    const i = kv.indexOf('=')
    if (i > 0) f[kv.slice(0, i)] = kv.slice(i + 1)
  }
  if (m[3] === 'inet_sock_set_state' && f.protocol !== 'IPPROTO_TCP') return undefined
  if (f.saddr === undefined || f.daddr === undefined) return undefined
  return {
    monoUs: Number(m[1]) * 1e6 + Number(m[2]),
    event: m[3] as TraceEvent['event'],
    saddr: f.saddr,
    sport: Number(f.sport),
    daddr: f.daddr,
    dport: Number(f.dport),
    ...(f.oldstate !== undefined ? { oldstate: f.oldstate.replace(/^TCP_/, '') } : {}),
    ...(f.newstate !== undefined ? { newstate: f.newstate.replace(/^TCP_/, '') } : {}),
    ...(f.state !== undefined ? { state: f.state.replace(/^TCP_/, '') } : {}),
  }
}

/** Convert a mono trace time to host realtime µs with a clock measurement. */
export function traceTimeUs(monoUs: number, clock: ClockOffset): number {
  return Math.round(monoUs + Number(clock.realtimeMinusMonotonicNs / 1000n) - clock.offsetUs)
}

export interface TraceRecorder {
  /** Stop tracing, remove the instance, and return the events whose addresses are in `keep`. */
  stop(): Promise<TraceEvent[]>
}

/** Whether the guest has tracefs with both events (checked once per guest by the caller). */
export async function hasTracepoints(mux: Mux): Promise<boolean> {
  const r = await mux.exec(['sh', '-c', `test -d ${TRACEFS}/instances && ${TRACE_EVENTS.map((e) => `test -d ${TRACEFS}/events/${e}`).join(' && ')}`], { reject: false })
  return r.exitCode === 0
}

/** Start an ftrace instance for one lab; keeps events of sockets whose local address satisfies `isLabAddr`. */
export async function startTrace(mux: Mux, labId: string, clock: () => ClockOffset, isLabAddr: (addr: string) => boolean): Promise<TraceRecorder> {
  if (!/^[0-9a-z]+$/.test(labId)) throw new LabError(`bad lab id ${labId}`)
  const dir = `${TRACEFS}/instances/tcplab-${labId}`
  // A small buffer per CPU is plenty for one scenario's state changes.
  const setup = [`mkdir ${dir}`, `echo mono > ${dir}/trace_clock`, `echo 256 > ${dir}/buffer_size_kb`,
    ...TRACE_EVENTS.map((e) => `echo 1 > ${dir}/events/${e}/enable`)].join(' && ')
  await mux.exec(['sh', '-c', setup])
  const lines: Array<Omit<TraceEvent, 'tUs'> & { monoUs: number }> = []
  const reader: Proc = mux.spawn(['cat', `${dir}/trace_pipe`], {
    onStdoutLine: (l) => {
      const e = parseTraceLine(l)
      if (e && isLabAddr(e.saddr)) lines.push(e)
    },
  })
  await reader.started
  let stopped: Promise<TraceEvent[]> | undefined
  return {
    stop() {
      stopped ??= (async () => {
        // Stop the events, give the reader a moment to drain the pipe, then remove the instance.
        await mux.exec(['sh', '-c', TRACE_EVENTS.map((e) => `echo 0 > ${dir}/events/${e}/enable`).join('; ')], { reject: false })
        await new Promise((r) => setTimeout(r, 50))
        await reader.stop({ sig: 'SIGKILL', graceMs: 500 })
        await mux.exec(['rmdir', dir], { reject: false })
        const c = clock()
        return lines.map(({ monoUs, ...rest }) => ({ ...rest, tUs: traceTimeUs(monoUs, c) }))
      })()
      return stopped
    },
  }
}
