// Kernel tracepoints in the guest: sock:inet_sock_set_state and
// tcp:tcp_retransmit_skb give the exact kernel time of every TCP state change
// and retransmission (Documentation/trace/events.rst). Each guest gets one
// ftrace instance on the `mono` trace clock and one `cat trace_pipe` that
// streams its lines to the runner for the guest's life; each lab subscribes,
// keeps the lines whose addresses are its own (every lab of a guest has its own
// /24) and turns mono times into the host's realtime with the guest's clock
// measurement. A lab's stop writes a marker to the instance and waits for it to
// come back: every event before it has then been read.

import { LabError } from '../../util/errors.js'
import type { KernelEvent, Proc } from '../types.js'
import type { ClockOffset } from './clock.js'
import type { Mux } from './mux.js'
import { hostRealtimeUs as hostRealtimeUsNow } from './clock.js'

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
  /** Stop keeping events and return those kept (idempotent). */
  stop(): Promise<TraceEvent[]>
}

/** The guest's one trace reader: every lab of the guest subscribes to it. */
export interface GuestTrace {
  /** Keep the events from now on whose local address satisfies `isLabAddr`, timed with `clock()` when stopped. */
  subscribe(clock: () => ClockOffset, isLabAddr: (addr: string) => boolean): TraceRecorder
}

/** How long a lab's stop waits for the reader to pass its flush marker. */
const FLUSH_TIMEOUT_MS = 2000

/**
 * Start the guest's trace reader: one ftrace instance (instances/<name>, so nothing else in the
 * guest shares its buffer) with both events on, on the `mono` trace clock, and one `cat
 * trace_pipe` streaming it for the guest's life. Made once per guest, not per lab: creating an
 * instance builds a tracefs directory per event of the kernel, ~0.5-1.4 s under TCG. undefined
 * where the guest has no tracefs or no such events.
 */
export async function openGuestTrace(mux: Mux, name: string): Promise<GuestTrace | undefined> {
  if (!/^[0-9a-z-]+$/.test(name)) throw new LabError(`bad trace instance name ${name}`)
  const dir = `${TRACEFS}/instances/${name}`
  const check = [`test -d ${TRACEFS}/instances`, ...TRACE_EVENTS.map((e) => `test -d ${TRACEFS}/events/${e}`)].join(' && ')
  // A buffer per CPU that holds several labs' state changes between two reads.
  const setup = [`mkdir ${dir}`, `echo mono > ${dir}/trace_clock`, `echo 1024 > ${dir}/buffer_size_kb`,
    ...TRACE_EVENTS.map((e) => `echo 1 > ${dir}/events/${e}/enable`)].join(' && ')
  const r = await mux.exec(['sh', '-c', `${check} || exit 100\n${setup}`], { reject: false })
  if (r.exitCode === 100) return undefined
  if (r.exitCode !== 0) throw new LabError(`cannot set up tracing in the guest: ${r.stderr.trim()}`)
  const subscribers = new Set<(e: Omit<TraceEvent, 'tUs'> & { monoUs: number }) => void>()
  const markers = new Map<string, () => void>()
  const reader: Proc = mux.spawn(['cat', `${dir}/trace_pipe`], {
    onStdoutLine: (l) => {
      const mark = /tracing_mark_write: (tcplab-flush-\d+)/.exec(l)
      if (mark) return markers.get(mark[1] as string)?.()
      const e = parseTraceLine(l)
      if (e) for (const s of subscribers) s(e)
    },
  })
  await reader.started
  let nextMark = 1
  /** Resolves once the reader has passed every event recorded before now (a marker written to the instance comes back through the pipe after them). */
  const flush = async (): Promise<void> => {
    if (reader.hasExited) return
    const mark = `tcplab-flush-${nextMark++}`
    const seen = new Promise<void>((resolve) => markers.set(mark, resolve))
    let timer: NodeJS.Timeout | undefined
    try {
      const [errno] = await mux.writeFiles('', [[`${dir}/trace_marker`, mark]])
      if (errno !== 0) return
      await Promise.race([seen, new Promise<void>((resolve) => { timer = setTimeout(resolve, FLUSH_TIMEOUT_MS) })])
    } finally {
      clearTimeout(timer)
      markers.delete(mark)
    }
  }
  return {
    subscribe(clock, isLabAddr) {
      const kept: Array<Omit<TraceEvent, 'tUs'> & { monoUs: number }> = []
      // Events from before the lab (a closing socket of an earlier lab on the same subnet) are not its own.
      const c0 = clock()
      const fromMonoUs = Number(hostRealtimeUsNow() + c0.offsetUs) - Number(c0.realtimeMinusMonotonicNs / 1000n)
      const keep = (e: Omit<TraceEvent, 'tUs'> & { monoUs: number }): void => {
        if (e.monoUs >= fromMonoUs && isLabAddr(e.saddr)) kept.push(e)
      }
      subscribers.add(keep)
      let stopped: Promise<TraceEvent[]> | undefined
      return {
        stop() {
          stopped ??= (async () => {
            await flush().catch(() => undefined)
            subscribers.delete(keep)
            const c = clock()
            return kept.map(({ monoUs, ...rest }) => ({ ...rest, tUs: traceTimeUs(monoUs, c) }))
          })()
          return stopped
        },
      }
    },
  }
}
