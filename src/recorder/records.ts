// The one timeline: every source writes records with `t`, seconds since the
// scenario's t0 (CLOCK_REALTIME, microsecond resolution, shared by every
// namespace and container on one host). records.jsonl is these, one per line.

/** A step the runner played. */
export interface ActionRecord {
  kind: 'action'
  t: number
  /** Index of the step in the scenario's `steps`. */
  step: number
  /** Host it ran on; undefined for host-less steps (wait). */
  host?: string | undefined
  /** Action name: run, write, signal, iptables, sysctl, link, wait, listen, connect, ... */
  action: string
  /** Human-readable summary, e.g. "iptables -A OUTPUT ... -j DROP". */
  detail: string
  /** The step's own name or the object it acted on (process/socket/rule name). */
  target?: string | undefined
  /** When the step was due (its `at:`, or its event + delay), seconds since t0; `t` is when it ran. */
  scheduledT?: number | undefined
  /** t - scheduledT in ms: how late the step ran (load, or an earlier step it had to wait for). */
  lateMs?: number | undefined
}

/** ss timer field: `timer:(on,1.999ms,3)` -> { name: 'on', expiresMs: 1999, retrans: 3 }. See ss(8) -o. */
export interface SsTimer {
  /** on | keepalive | timewait | persist | unknown */
  name: string
  /** Milliseconds until the timer fires; undefined when ss printed no value. */
  expiresMs?: number | undefined
  /** Retransmissions/probes so far (third element). */
  retrans: number
}

/** skmem:(r..,rb..,t..,tb..,f..,w..,o..,bl..,d..) — see ss(8) and sock_diag(7) SK_MEMINFO_*. */
export interface SsSkmem {
  r: number; rb: number; t: number; tb: number; f: number; w: number; o: number; bl: number; d: number
}

/** One socket in one ss sample (one line pair of `ss -tanoiem`). */
export interface SsRecord {
  kind: 'ss'
  t: number
  host: string
  /** Name of the socket (from an agent event or a `sockets:` naming), when known. */
  socket?: string | undefined
  /** For a connection nobody accepted (SYN-RECV, accept queue): the name of the listener it arrived at. */
  listener?: string | undefined
  /** ss state names as ss prints them: LISTEN ESTAB SYN-SENT SYN-RECV FIN-WAIT-1 FIN-WAIT-2 TIME-WAIT CLOSE-WAIT LAST-ACK CLOSING CLOSED UNCONN */
  state: string
  recvQ: number
  sendQ: number
  /** "198.18.0.1:8000", "[::1]:8000", "*:8000" */
  local: string
  peer: string
  localPort: number
  peerPort: number
  timer?: SsTimer | undefined
  skmem?: SsSkmem | undefined
  /** inode, uid, sk (from -e) */
  ino?: number | undefined
  /**
   * tcp_info fields as ss prints them, parsed: numbers where the value is a
   * number (rto: 204, rtt: 0.033 with rttvar: 0.017, cwnd: 10, bytes_acked: 1,
   * lastsnd: 1234), booleans for flags (app_limited, ts, sack, ecn),
   * strings otherwise (cc: "cubic", wscale: "7,7", retrans: "0/3").
   * Derived fields: retrans_now and retrans_total from "retrans:X/Y",
   * snd_wscale and rcv_wscale from "wscale:a,b", rttvar from "rtt:a/b".
   */
  info: Record<string, number | string | boolean>
}

/** TCP flags in tcpdump's notation: "S", "S.", ".", "P.", "F.", "R", "R.", "FP.", "S.E" (order F S R P . U E W, print-tcp.c). */
export type TcpFlagsText = string

/** One captured TCP packet. */
export interface PktRecord {
  kind: 'pkt'
  t: number
  /** Host whose capture this came from. */
  host: string
  /** Interface name at capture time ("any" captures carry it in the SLL2 header). */
  ifname?: string | undefined
  /** out: sent by this host; in: received; unknown when the link type does not say. */
  dir: 'in' | 'out' | 'unknown'
  family: 4 | 6
  src: string
  sport: number
  dst: string
  dport: number
  flags: TcpFlagsText
  /** Raw TCP sequence/ack numbers (not relative). */
  seq: number
  ack: number
  win: number
  /** TCP payload length in bytes. */
  len: number
  /** Options as tcpdump names them: mss 1460, sackOK, TS val 1 ecr 0, nop, wscale 7. */
  options?: Record<string, number | string | boolean> | undefined
  /** Socket name, when the runner knows which named socket sent/received it. */
  socket?: string | undefined
  /** For a connection nobody accepted: the name of the listener it arrived at. */
  listener?: string | undefined
}

/**
 * Something an endpoint did: a process started/exited/printed, an agent socket
 * connected/errored. `source` is the name given in the scenario (process or socket).
 */
export interface EventRecord {
  kind: 'event'
  t: number
  host: string
  source: string
  /**
   * Process: started, stdout, stderr, exited.
   * Agent sockets: listening, connected, accepted, sent, read, eof, error, closed, polled, info, ...
   */
  type: string
  /** errno name for failures (ETIMEDOUT, ECONNRESET, ...). */
  errno?: string | undefined
  /** Exit code (exited). */
  code?: number | undefined
  /** Signal that ended the process (exited), e.g. SIGKILL. */
  signal?: string | undefined
  /** Bytes (sent/read), or the text line (stdout/stderr). */
  n?: number | undefined
  text?: string | undefined
  /** Anything else the source reported (local/peer addresses, getsockopt values, tcp_info). */
  data?: Record<string, unknown> | undefined
}

/** An iptables rule counter, nstat counter, or similar. */
export interface CounterRecord {
  kind: 'counter'
  t: number
  host: string
  /** Rule name from the scenario, or the nstat counter name (TcpExtTCPTimeouts). */
  name: string
  value: number
  packets?: number | undefined
  bytes?: number | undefined
}

/** One ss sample of one host was taken (also when it found no socket), so "the socket is gone" is observable. */
export interface SampleRecord {
  kind: 'sample'
  t: number
  host: string
  /** Sockets in the sample. */
  sockets: number
}

export type TimelineRecord = ActionRecord | SsRecord | PktRecord | EventRecord | CounterRecord | SampleRecord
export type RecordKind = TimelineRecord['kind']
export type RecordOf<K extends RecordKind> = Extract<TimelineRecord, { kind: K }>

/** Every record kind, for exhaustive renderers (`satisfies Record<RecordKind, ...>`). */
export const RECORD_KINDS = ['action', 'ss', 'pkt', 'event', 'counter', 'sample'] as const satisfies readonly RecordKind[]

let wallOffsetMs: number | undefined

/**
 * Microseconds since the epoch on CLOCK_REALTIME (what pcap, the agent and
 * bash's $EPOCHREALTIME use), with sub-millisecond resolution. performance.now()
 * gives the resolution but is monotonic: its origin is fixed at start-up, so
 * when the wall clock is stepped (VMs do this) it drifts from CLOCK_REALTIME.
 * Re-anchor on Date.now() whenever the two disagree by more than a millisecond.
 */
export function nowUs(): number {
  const mono = performance.now()
  const wall = Date.now()
  if (wallOffsetMs === undefined || Math.abs(wall - (wallOffsetMs + mono)) > 1) wallOffsetMs = wall - mono
  return Math.round((wallOffsetMs + mono) * 1000)
}

/** Seconds since t0 with microsecond resolution. */
export function secondsSince(t0Us: number, us: number): number {
  return Math.round(us - t0Us) / 1e6
}
