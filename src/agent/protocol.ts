// The socket agent's wire protocol (agent/tcplab-agent.c): one JSON command per
// line on its stdin, one JSON event per line on its stdout. Keep this file and
// the C program in step; test/unit/agent checks the C tables against it.

/** How a socket's incoming data is consumed. */
export type ReadMode =
  /** The agent reads whatever arrives (emits `read` coalesced per wakeup, `eof` once, `error` op "read"). */
  | 'auto'
  /** Nothing is read: the kernel queues data (Recv-Q grows, the window closes); errors stay pending for `poll`/`read`. */
  | 'pause'

/** When a listener accepts. */
export type AcceptMode =
  /** As soon as the kernel has a connection. */
  | 'auto'
  /** Only on an `accept` command (connections wait in the accept queue: LISTEN Recv-Q). */
  | 'manual'
  /** Never (the accept queue fills up to the backlog). */
  | 'never'

/** poll(2) event names. */
export type PollFlag = 'in' | 'pri' | 'out' | 'err' | 'hup' | 'rdhup' | 'nval'

/** shutdown(2) directions. */
export type ShutdownHow = 'rd' | 'wr' | 'rdwr'

/** Symbolic errno name ("ETIMEDOUT"), or "E<number>" for one the agent has no name for. */
export type ErrnoName = `E${string}`

/**
 * Socket options, set in the order written; see socket(7), tcp(7), ipv6(7).
 * Events report what the kernel reads back (SO_RCVBUF doubled, TCP_DEFER_ACCEPT
 * rounded to a SYN-ACK retransmission count, TCP_MAXSEG clamped...).
 */
export interface SocketOptions {
  /** SO_RCVBUF in bytes (the kernel doubles it). Set before listen/connect to shape the window. */
  rcvbuf?: number
  /** SO_SNDBUF in bytes (the kernel doubles it). */
  sndbuf?: number
  /** SO_KEEPALIVE. */
  keepalive?: boolean
  /** TCP_KEEPIDLE: idle seconds before the first keepalive probe. */
  keepidle?: number
  /** TCP_KEEPINTVL: seconds between probes. */
  keepintvl?: number
  /** TCP_KEEPCNT: unanswered probes before ETIMEDOUT. */
  keepcnt?: number
  /** TCP_USER_TIMEOUT: ms that sent data may stay unacknowledged before ETIMEDOUT (0: the kernel default). */
  userTimeoutMs?: number
  /** TCP_NODELAY: disable Nagle. */
  nodelay?: boolean
  /** TCP_DEFER_ACCEPT (listener): seconds to wait for data before accept() sees a connection. */
  deferAccept?: number
  /** TCP_SYNCNT: SYN retransmissions before connect fails with ETIMEDOUT. */
  syncnt?: number
  /** SO_LINGER: seconds, or -1 for off; 0 makes close() send a RST. */
  linger?: number
  /** SO_REUSEADDR (listen defaults to true). */
  reuseaddr?: boolean
  /** SO_REUSEPORT. */
  reuseport?: boolean
  /** IPV6_V6ONLY (IPv6 sockets only). */
  v6only?: boolean
  /** TCP_QUICKACK. */
  quickack?: boolean
  /** TCP_CORK. */
  cork?: boolean
  /** TCP_MAXSEG: MSS for outgoing segments. */
  maxseg?: number
  /** TCP_NOTSENT_LOWAT: bytes of unsent data above which the socket is not writable. */
  notsentLowat?: number
  /** TCP_WINDOW_CLAMP: bound on the advertised window. */
  windowClamp?: number
  /** TCP_CONGESTION: "cubic", "reno", "bbr"... */
  congestion?: string
}

/** Option names, as in `opts` and `getsockopt`. */
export type SocketOptionName = keyof SocketOptions

/** Read-back values (null where the kernel refused the getsockopt, e.g. v6only on IPv4). */
export type SocketOptionValues = { [K in SocketOptionName]?: SocketOptions[K] | null }

/** Every option name, in the agent's table order (agent/options.c). */
export const SOCKET_OPTION_NAMES = [
  'rcvbuf', 'sndbuf', 'keepalive', 'keepidle', 'keepintvl', 'keepcnt', 'userTimeoutMs', 'nodelay',
  'deferAccept', 'syncnt', 'linger', 'reuseaddr', 'reuseport', 'v6only', 'quickack', 'cork', 'maxseg',
  'notsentLowat', 'windowClamp', 'congestion',
] as const satisfies readonly SocketOptionName[]

/** Fields every command may carry. */
interface CommandBase {
  /** Echoed by every event the command produces. */
  id?: string | number | undefined
}

/**
 * Create a listening socket: socket, options (SO_REUSEADDR on unless given),
 * bind, listen. Event `listening`, or `error` (op "listen", with `syscall`).
 * Accepted sockets are named `as` (default `<name>-conn`), then `<as>-2`, `<as>-3`...
 */
export interface ListenCommand extends CommandBase {
  op: 'listen'
  name: string
  /** 0 picks a free port (see `lport`). */
  port: number
  /** IPv4 or IPv6 literal; default 0.0.0.0. */
  addr?: string | undefined
  /** listen(2) backlog; default 128. */
  backlog?: number | undefined
  /** Default "auto". */
  accept?: AcceptMode | undefined
  /** Name of accepted sockets; default `<name>-conn`. */
  as?: string | undefined
  /** Read mode given to accepted sockets; default "auto". */
  read?: ReadMode | undefined
  /** Set before listen(); accepted sockets inherit what the kernel makes them inherit. */
  opts?: SocketOptions | undefined
}

/**
 * Connect (options set before connect, source port bound when `sport` is given).
 * Blocking semantics by default: `connected`, or `error` op "connect" (ECONNREFUSED,
 * ETIMEDOUT...), after a `connecting` event with the 4-tuple. With `nonblock`,
 * `connecting` carries errno EINPROGRESS (what connect() returned);
 * `connected` follows on success, while a failure is left pending in the socket
 * (SO_ERROR) for `poll`, `getsockopt SO_ERROR`, `read` or `send` to find.
 * The name exists from connect() on, whatever its outcome (close it to reuse it).
 */
export interface ConnectCommand extends CommandBase {
  op: 'connect'
  name: string
  /** IPv4 or IPv6 literal (no name lookup). */
  host: string
  port: number
  /** Source port, bound before connect. */
  sport?: number | undefined
  nonblock?: boolean | undefined
  /** Default "auto". */
  read?: ReadMode | undefined
  opts?: SocketOptions | undefined
}

/**
 * Accept one connection on a listener created with accept "manual"; waits (inside
 * the agent's loop) until the kernel has one. Event `accepted` on the new socket's name.
 */
export interface AcceptCommand extends CommandBase {
  op: 'accept'
  /** The listener. */
  name: string
  /** Name of the accepted socket (suffixed -2, -3... if taken). */
  as?: string | undefined
}

/**
 * Write `data` (a string) or `bytes` filler bytes ('x'), `count` times, starting a
 * repeat every `everyMs`. Blocking semantics: the rest of a partial write waits for
 * POLLOUT, and sends queue behind each other. Each write(2) emits `sent` {n, total};
 * the last one has `done: true`. A failure emits `error` op "send" (EPIPE, ECONNRESET,
 * ETIMEDOUT...) with the `total` written so far; it ends the command (`done: true`)
 * unless `continueOnError`, where each later repeat is still attempted at its time
 * (a write loop that ignores errors: ETIMEDOUT, then EPIPE, EPIPE...).
 * `untilFull` writes non-blocking until EAGAIN and emits one `sent` with `full: true`
 * (`full: false` if it stopped at its safety bound: 1 GiB or 5 s).
 */
export interface SendCommand extends CommandBase {
  op: 'send'
  name: string
  data?: string | undefined
  bytes?: number | undefined
  /** Default 1. */
  count?: number | undefined
  /** Interval between the starts of two repeats; default 0. */
  everyMs?: number | undefined
  untilFull?: boolean | undefined
  /** Keep repeating after a failed write (default false). */
  continueOnError?: boolean | undefined
}

/**
 * One-shot read now (never waits): one recv(2) of up to `bytes`, or (`all`, the
 * default) recv(2) until the queue is empty. Events: `read` {n}, then `eof` at
 * end of stream, or `error` op "read"; `read` {n: 0, errno: "EAGAIN"} when nothing is there.
 */
export interface ReadCommand extends CommandBase {
  op: 'read'
  name: string
  bytes?: number | undefined
  all?: boolean | undefined
}

/** Stop reading (read mode "pause"). Event `paused`. */
export interface PauseCommand extends CommandBase {
  op: 'pause'
  name: string
}

/** Read whatever arrives (read mode "auto"). Event `resumed`. */
export interface ResumeCommand extends CommandBase {
  op: 'resume'
  name: string
}

/**
 * poll(2) emulated inside the loop (never blocks other sockets): waits until the
 * socket reports one of `events` (default ["in"]; err and hup are always reported)
 * or `timeoutMs` passes (default: no timeout). Event `polled`. On a closed
 * socket: `polled` {revents: ["nval"]} at once. One poll per socket at a time (else EALREADY).
 */
export interface PollCommand extends CommandBase {
  op: 'poll'
  name: string
  events?: PollFlag[] | undefined
  timeoutMs?: number | undefined
}

/** What `getsockopt` can read. */
export type GetsockoptName =
  /** SO_ERROR (reading it clears it, as for an application). Event `sockopt` with `errno` when non-zero. */
  | 'SO_ERROR'
  /** struct tcp_info. Event `tcpinfo`. */
  | 'TCP_INFO'
  /** ioctl(2) queue sizes (tcp(7) "Ioctls"): unread bytes, unsent+unacked bytes, unsent bytes. Event `sockopt`. */
  | 'SIOCINQ' | 'SIOCOUTQ' | 'SIOCOUTQNSD'
  /** Every option of the table. Event `opts`. */
  | 'all'
  /** One option. Event `sockopt`. */
  | SocketOptionName

/** Read something back from the kernel. Failures: `error` op "getsockopt" with `opt`. */
export interface GetsockoptCommand extends CommandBase {
  op: 'getsockopt'
  name: string
  opt: GetsockoptName
}

/** Set options (in order; stops at the first failure: `error` with `opt`). Event `opts` with the read-back values. */
export interface SetsockoptCommand extends CommandBase {
  op: 'setsockopt'
  name: string
  opts: SocketOptions
}

/** shutdown(2). Event `shutdown`, or `error` op "shutdown". */
export interface ShutdownCommand extends CommandBase {
  op: 'shutdown'
  name: string
  /** Default "rdwr". */
  how?: ShutdownHow | undefined
}

/**
 * close(2). Event `closed`. The name stays known: later operations on it run on
 * fd -1 and get EBADF from the kernel (like an application using its closed fd).
 * Operations still pending (send, accept, poll, blocking connect) end with
 * `error` errno ECANCELED first.
 */
export interface CloseCommand extends CommandBase {
  op: 'close'
  name: string
}

/** SO_LINGER {1, 0} then close(2): the kernel sends a RST. Event `closed` {abort: true}. */
export interface AbortCommand extends CommandBase {
  op: 'abort'
  name: string
}

/** Event `sockets` describing every socket the agent knows. */
export interface ListCommand extends CommandBase {
  op: 'list'
}

// ------------------------------------------------------------ processes
// agent/procs.c. Processes and sockets share one namespace of names: a name
// held by an open socket or a running process cannot be taken by the other.

/**
 * fork/exec a program inside the agent's namespace (execvp: PATH is searched).
 * The child leads its own process group, gets default signal dispositions and
 * an empty signal mask, stdin from /dev/null (or a pipe with `stdin`), and is
 * SIGKILLed if the agent dies. Events (all echo the id): `started` (t = the
 * child's CLOCK_REALTIME right before execvp), `stdout`/`stderr` one per line,
 * then `exited` once the child is reaped AND its output pipes reached EOF (or
 * 500 ms after the exit, when a grandchild keeps them open). A failed execvp
 * is `error` op "exec" (ENOENT, EACCES...) and nothing else. EEXIST: the name
 * belongs to a running process or an open socket; an exited process's name can be reused.
 */
export interface ExecCommand extends CommandBase {
  op: 'exec'
  name: string
  argv: string[]
  /** Keep a pipe to the program's stdin for `write`/`endStdin` (default false: /dev/null). */
  stdin?: boolean | undefined
  /** Emit `stdout`/`stderr` line events (default true); the tails in `exited` are kept either way. */
  lines?: boolean | undefined
  /**
   * Run at the agent's own (raised) priority, under its RLIMIT_RTTIME guard, instead of the normal
   * policy programs get back (default false). For the lab's own short commands (iptables, tc,
   * sysctl, ip link): their duration is the step's lateness, not the subject of the scenario.
   */
  keepPriority?: boolean | undefined
}

/** Queue bytes for the process's stdin (non-blocking). Event `written` once all of them are in the pipe, or `error` op "write" (EPIPE, EBADF without `stdin: true`). */
export interface WriteCommand extends CommandBase {
  op: 'write'
  name: string
  data: string
}

/** Close the process's stdin after the queued writes. Event `stdin-closed`, or `error` op "endStdin". */
export interface EndStdinCommand extends CommandBase {
  op: 'endStdin'
  name: string
}

/** Signal names the agent knows ("TERM" or "SIGTERM"; the same list as agent/procs.c). */
export type SignalName =
  | 'HUP' | 'INT' | 'QUIT' | 'ILL' | 'TRAP' | 'ABRT' | 'BUS' | 'FPE' | 'KILL' | 'USR1' | 'SEGV' | 'USR2'
  | 'PIPE' | 'ALRM' | 'TERM' | 'CHLD' | 'CONT' | 'STOP' | 'TSTP' | 'TTIN' | 'TTOU' | 'URG' | 'XCPU'
  | 'XFSZ' | 'VTALRM' | 'PROF' | 'WINCH' | 'SYS'

/** kill(2) the process's group. Event `signalled`, or `error` op "signal" (ESRCH once it has exited). */
export interface SignalCommand extends CommandBase {
  op: 'signal'
  name: string
  signal: SignalName | `SIG${SignalName}`
}

// ----------------------------------------------------------------- plan
// agent/plan.c: the agent runs its host's timeline itself.

/** When a step's gate opens. */
export type PlanGate =
  /**
   * At this CLOCK_REALTIME time (µs since the epoch), or this offset from `go`'s t0Us; with
   * `notBefore`, not before those steps (of other hosts, known from `trigger` "step:K") are done.
   * The step is still due at atUs: its lateness says how long it waited for them.
   */
  | { atUs: number; notBefore?: number[] | undefined }
  /**
   * `delayMs` (default 0) after the `t` of the first event NAME.TYPE this agent
   * writes after the step was loaded ("c1.connected", "srv.exited"; agent-wide
   * events have the name "": ".sockets"), or after `tUs` of a `trigger` with that ref.
   */
  | { on: string; delayMs?: number | undefined }
  /** `delayMs` (default 0) after step K is done: a local step, or `trigger` {ref: "step:K"} from another host. */
  | { afterStep: number; delayMs?: number | undefined }

/**
 * One step. Ordering on a host: a step fires only when its gate is open AND
 * every step of this host with a lower number has fired and, where that step
 * has `waits: true`, is done. Done: with `waits: true`, the command's final
 * event (as isFinalEventFor: `exited` for exec, `sent` done for send,
 * `connected` for a blocking connect, any `error` that is not done: false...);
 * with `waits: false` (the default), the firing itself. A gate that never
 * opens leaves the step (and the ones after it) pending.
 */
export interface PlanStep {
  /** Unique on this agent; steps fire in this order. */
  step: number
  gate: PlanGate
  /** Any command but plan/go/cancel/relayBind/relay. Without an `id` it gets "step-<step>"; its events echo it. */
  cmd: AgentCommand
  waits?: boolean | undefined
}

/**
 * Load steps (may be sent several times, before or after `go`; all or nothing:
 * one invalid step loads none, a step number already loaded is EEXIST).
 * Event `planned`. When a step fires the agent takes CLOCK_REALTIME, runs the
 * command through the same dispatcher as stdin, then writes `step`; when it is
 * done, `step-done`. Deadlines use a CLOCK_REALTIME timerfd (TFD_TIMER_ABSTIME).
 */
export interface PlanCommand extends CommandBase {
  op: 'plan'
  steps: PlanStep[]
}

/**
 * A cross-host event relayed by the runner: "NAME.TYPE" opens `on` gates,
 * "step:K" marks step K (of another host) done, both at `tUs` (the original
 * event's time, so relaying late costs nothing while it is within delayMs).
 * The first time for a ref wins. Event `triggered`.
 */
export interface TriggerCommand extends CommandBase {
  op: 'trigger'
  ref: string
  tUs: number
}

/** Start firing steps (loaded before or after). Event `go`. */
export interface GoCommand extends CommandBase {
  op: 'go'
  /**
   * With t0Us, every `atUs` gate not fired yet is an offset from it (0 = t0): the runner loads the
   * plans first and fixes t0 only once every agent holds its own, so no deadline passes in transit.
   */
  t0Us?: number | undefined
}

/** Drop every step not fired yet, every trigger and every `relay`; stop until the next `go`. Steps in flight still report `step-done`. Event `cancelled`. */
export interface CancelCommand extends CommandBase {
  op: 'cancel'
}

// agent/relay.c: cross-host gates straight from agent to agent, where the
// agents share a filesystem (the netns backend). The runner's relay over stdin
// (`trigger`) stays: where both arrive, the first one wins, the other is a no-op.

/**
 * Bind an AF_UNIX SOCK_DGRAM socket to `path` (a filesystem path of at most
 * 107 bytes: filesystem unix sockets are reached across network namespaces,
 * abstract ones are not). Each datagram {ref, tUs} read from it is handled as
 * a `trigger` command (its `triggered` has via: "relay"; a malformed one is an
 * `error` with op "relay"). Once per agent (EALREADY); the path must not exist
 * (EADDRINUSE); the agent unlinks it when it exits. Event `relay-bound`.
 */
export interface RelayBindCommand extends CommandBase {
  op: 'relayBind'
  path: string
}

/**
 * The moment this agent writes the first event NAME.TYPE (ref "NAME.TYPE") or
 * marks step K done (ref "step:K") after this command, send the datagram
 * {ref, tUs} (tUs: the event's t, or the done time) to each socket path in
 * `to` (1..64), with sendto(MSG_DONTWAIT): never blocks, never retries. What
 * was sent and what failed comes right after in a `relayed` event. Each
 * command relays once; `cancel` drops them. Event `relaying`.
 */
export interface RelayCommand extends CommandBase {
  op: 'relay'
  ref: string
  to: string[]
}

// ------------------------------------------------------------ socket sampling
// agent/sockdiag.c: NETLINK_SOCK_DIAG dumps of every TCP socket of the agent's
// namespace (what `ss -tanoiem` reads), taken by the agent on its own clock.

/**
 * Sample sockets every `intervalMs` (1..60000, default 10; 0 stops) on an
 * absolute CLOCK_MONOTONIC timerfd schedule (a slow dump does not shift later
 * ticks; missed ticks are counted). Restarts with the new settings when already
 * sampling. A first full `ss` event comes at once, then `sampling`; later `ss`
 * events carry only what changed, plus every socket each `fullEveryMs` (default
 * 1000). `ss-destroy` events tell exact ends where the agent may join
 * SKNLGRP_INET_TCP_DESTROY (CAP_NET_ADMIN). Failure: `error` op "sample".
 */
export interface SampleCommand extends CommandBase {
  op: 'sample'
  intervalMs?: number | undefined
  fullEveryMs?: number | undefined
}

/** Stop sampling (idempotent). Event `unsampled`. */
export interface UnsampleCommand extends CommandBase {
  op: 'unsample'
}

/** An endpoint of a `watch`: any of these addresses (as ss prints them, no brackets) and/or this port. */
export interface WatchEndpoint {
  addrs?: string[] | undefined
  port?: number | undefined
}

/**
 * The first sampled row that matches (every given field; a listener bound to any
 * address matches `local.addrs`) is the event NAME `seen` {local, peer, state},
 * stamped with its dump's time and observed by the plan like the agent's own
 * events: a step `after: NAME.seen` fires without a round trip through the
 * runner, and the event is relayed to other hosts. Reply `watching`. A watch of
 * the same name replaces the older one. The scenario's `sockets:` names.
 */
export interface WatchCommand extends CommandBase {
  op: 'watch'
  name: string
  /** ss state names (ESTAB, LISTEN, ...); absent: any. */
  states?: string[] | undefined
  local?: WatchEndpoint | undefined
  peer?: WatchEndpoint | undefined
}

/** Every command, discriminated on `op`. */
export type AgentCommand =
  | ListenCommand | ConnectCommand | AcceptCommand | SendCommand | ReadCommand | PauseCommand
  | ResumeCommand | PollCommand | GetsockoptCommand | SetsockoptCommand | ShutdownCommand
  | CloseCommand | AbortCommand | ListCommand | ExecCommand | WriteCommand | EndStdinCommand
  | SignalCommand | PlanCommand | TriggerCommand | GoCommand | CancelCommand
  | RelayBindCommand | RelayCommand | SampleCommand | UnsampleCommand | WatchCommand

export type AgentOp = AgentCommand['op']

/** Every op, in the agent's dispatch-table order. */
export const AGENT_OPS = [
  'exec', 'write', 'endStdin', 'signal', 'plan', 'trigger', 'go', 'cancel', 'relayBind', 'relay', 'listen', 'connect', 'accept', 'send', 'read', 'pause', 'resume', 'poll', 'getsockopt',
  'setsockopt', 'shutdown', 'close', 'abort', 'list', 'sample', 'unsample', 'watch',
] as const satisfies readonly AgentOp[]

// ---------------------------------------------------------------- events

/** Fields of every event. */
interface EventBase {
  /** CLOCK_REALTIME, microseconds since the epoch, taken when the event was written. */
  t: number
  /** Socket name; "" for agent-wide events (ready, exit, sockets, unparseable command). */
  name: string
  /** The `id` of the command that caused it; absent for events the loop produced by itself. */
  id?: string | number | undefined
}

/** Local endpoint, as ss(8) prints it: "198.18.0.1:8000", "[::1]:8000". */
interface LocalEndpoint {
  local: string
  lport: number
}

/** Both endpoints of a connected socket. */
interface Endpoints extends LocalEndpoint {
  peer: string
  rport: number
}

/** How an agent is scheduled (tcplab-agent --priority; agent/plan.c plan_raise_priority). */
export type AgentPriority = 'fifo' | 'nice' | 'normal'

/** The agent is running (first line it writes). */
export interface ReadyEvent extends EventBase {
  type: 'ready'
  pid: number
  /** Protocol version (1). */
  version: number
  /** How it is scheduled: what --priority asked for, or 'normal' where that was refused (absent from agents before it). */
  sched?: AgentPriority | undefined
  /** Why the priority asked for was refused (strerror: "Operation not permitted"). */
  schedError?: string | undefined
}

/** The agent is exiting after closing every socket (exit code 0). */
export interface ExitEvent extends EventBase {
  type: 'exit'
  reason: 'stdin' | 'signal'
  signal?: 'SIGTERM' | 'SIGINT' | undefined
  /** Sockets it closed. */
  closed: number
  /** Processes that were still running: each got SIGTERM (SIGKILL 1 s later) and reported `exited` first. */
  processes: number
}

export interface ListeningEvent extends EventBase, LocalEndpoint {
  type: 'listening'
  opts: SocketOptionValues
}

/**
 * A connect is in progress: the SYN is on the wire. Every connect that does not
 * complete at once says so, blocking or not, with the full 4-tuple (the peer is
 * the target), so the handshake carries the socket's name even when it never
 * completes. Only a nonblock connect returned EINPROGRESS to its caller (errno).
 */
export interface ConnectingEvent extends EventBase, LocalEndpoint {
  type: 'connecting'
  /** The target, "198.18.0.2:8000" / "[::1]:8000". */
  peer?: string | undefined
  rport?: number | undefined
  /** CLOCK_REALTIME µs taken right before connect(): the earliest time the 4-tuple can be on the wire. */
  issuedUs: number
  /** Whether the caller blocks in connect() (true) or got EINPROGRESS (false). */
  blocking: boolean
  errno?: 'EINPROGRESS' | undefined
  message?: string | undefined
  opts: SocketOptionValues
}

export interface ConnectedEvent extends EventBase, Endpoints {
  type: 'connected'
  opts: SocketOptionValues
}

/** A new socket (this event's `name`) accepted on `listener`. */
export interface AcceptedEvent extends EventBase, Endpoints {
  type: 'accepted'
  listener: string
  /** Read-back of the options set on the listener, as the accepted socket has them. */
  opts: SocketOptionValues
}

/** One write(2) (or one untilFull run). */
export interface SentEvent extends EventBase {
  type: 'sent'
  /** Bytes the kernel accepted in this call (untilFull: in the whole run). */
  n: number
  /** Bytes written by this command so far. */
  total: number
  /** Last event of the command. */
  done?: boolean | undefined
  /** untilFull: whether the run ended on EAGAIN (the send buffer is full). */
  full?: boolean | undefined
  /**
   * CLOCK_REALTIME µs taken right before send() (untilFull: before the first send() of the run):
   * the segment a send() transmits leaves inside the call, before the event's own time.
   */
  issuedUs?: number | undefined
}

/** Bytes read (auto mode: coalesced per wakeup; read command: that call). */
export interface ReadEvent extends EventBase {
  type: 'read'
  n: number
  /** Bytes read from this socket so far. */
  total: number
  /** "EAGAIN" when a read command found nothing. */
  errno?: 'EAGAIN' | undefined
  message?: string | undefined
}

/** recv(2) returned 0: the peer's FIN (or our own shutdown rd). */
export interface EofEvent extends EventBase {
  type: 'eof'
}

/** A failure: the errno of a system call, or EINVAL for a command the agent rejects. */
export interface ErrorEvent extends EventBase {
  type: 'error'
  /** The command's op, or "read"/"accept" for failures the loop met by itself ("" for an unparseable line). */
  op: AgentOp | ''
  errno: ErrnoName
  /** strerror(3), or the agent's explanation for EINVAL/EEXIST/EALREADY/ECANCELED. */
  message: string
  /** Which call failed when an op makes several (socket, setsockopt, bind, listen, connect). */
  syscall?: string | undefined
  /** The option concerned (setsockopt/getsockopt failures). */
  opt?: string | undefined
  /** send: bytes written before the failure. */
  total?: number | undefined
  /** send: whether the command ends with this error (false: continueOnError and repeats remain). */
  done?: boolean | undefined
  /** accept: automatic accepting stopped after this error. */
  stopped?: boolean | undefined
  /** exec: the program that could not be executed. */
  argv0?: string | undefined
  /** write: bytes of this write that reached the pipe before the failure. */
  n?: number | undefined
}

export interface PolledEvent extends EventBase {
  type: 'polled'
  /** What poll(2) reported (empty on timeout). */
  revents: PollFlag[]
  /** Time from the poll command to this event, in ms (microsecond resolution). */
  elapsedMs: number
  timeout?: boolean | undefined
}

/** getsockopt of one value (SO_ERROR, an ioctl queue size, or an option). */
export interface SockoptEvent extends EventBase {
  type: 'sockopt'
  opt: string
  value: number | boolean | string
  /** SO_ERROR: the name of a non-zero value. */
  errno?: ErrnoName | undefined
  message?: string | undefined
}

/**
 * struct tcp_info (include/uapi/linux/tcp.h) with the tcpi_ prefix dropped. Units
 * are the kernel's: rto, ato, rtt, rttvar, min_rtt, rcv_rtt in µs; last_* in ms;
 * rates in bytes/s. Fields the running kernel does not fill are absent.
 */
export interface TcpInfo {
  /** ss(8) state name: ESTAB, SYN-SENT, SYN-RECV, FIN-WAIT-1, FIN-WAIT-2, TIME-WAIT, UNCONN, CLOSE-WAIT, LAST-ACK, LISTEN, CLOSING. */
  state: string
  /** Open, Disorder, CWR, Recovery, Loss. */
  ca_state: string
  [field: string]: number | string | undefined
}

export interface TcpInfoEvent extends EventBase {
  type: 'tcpinfo'
  info: TcpInfo
}

/** Option read-backs (setsockopt, getsockopt "all"). */
export interface OptsEvent extends EventBase {
  type: 'opts'
  opts: SocketOptionValues
}

export interface ShutdownEvent extends EventBase {
  type: 'shutdown'
  how: ShutdownHow
  /** CLOCK_REALTIME µs right before shutdown(): the FIN leaves inside the call. */
  issuedUs?: number | undefined
}

export interface ClosedEvent extends EventBase {
  type: 'closed'
  /** Closed with a RST (abort). */
  abort?: boolean | undefined
  /** CLOCK_REALTIME µs right before close(): a FIN or RST leaves inside the call. */
  issuedUs?: number | undefined
}

export interface PausedEvent extends EventBase {
  type: 'paused'
  read: 'pause'
}

export interface ResumedEvent extends EventBase {
  type: 'resumed'
  read: 'auto'
}

/** One socket in a `sockets` event. */
export interface SocketSummary {
  name: string
  /** -1 once closed. */
  fd: number
  kind: 'listener' | 'stream'
  state: 'listening' | 'connecting' | 'connected' | 'failed' | 'closed' | 'open'
  /** Read mode (listeners: the one given to accepted sockets). */
  read: ReadMode
  accept?: AcceptMode | undefined
  local?: string | undefined
  lport?: number | undefined
  peer?: string | undefined
  rport?: number | undefined
}

export interface SocketsEvent extends EventBase {
  type: 'sockets'
  sockets: SocketSummary[]
}

/** exec succeeded. `t` is the child's CLOCK_REALTIME right before execvp. */
export interface StartedEvent extends EventBase {
  type: 'started'
  pid: number
  argv: string[]
}

/** One line of the program's stdout (without the newline; lines over 64 KiB come in pieces). `t`: when the agent read it. */
export interface StdoutEvent extends EventBase {
  type: 'stdout'
  text: string
}

/** One line of the program's stderr. */
export interface StderrEvent extends EventBase {
  type: 'stderr'
  text: string
}

/** The process ended (after its last output line). `t`: when the agent reaped it. */
export interface ExitedEvent extends EventBase {
  type: 'exited'
  pid: number
  /** Exit status, when it exited. */
  code?: number | undefined
  /** The signal that killed it ("SIGKILL"), when it was killed. */
  signal?: string | undefined
  core?: boolean | undefined
  /** The last 2 KiB of its stdout and stderr (for error messages). */
  stdoutTail: string
  stderrTail: string
}

export interface WrittenEvent extends EventBase {
  type: 'written'
  /** Bytes of this write command, all in the pipe. */
  n: number
}

export interface StdinClosedEvent extends EventBase {
  type: 'stdin-closed'
}

export interface SignalledEvent extends EventBase {
  type: 'signalled'
  signal: string
  pid: number
}

export interface PlannedEvent extends EventBase {
  type: 'planned'
  /** Steps this command added. */
  added: number
  /** Steps not fired yet. */
  pending: number
}

export interface GoEvent extends EventBase {
  type: 'go'
  pending: number
  /** With t0Us: when `go` was read, relative to t0 (µs; negative = before t0, as it should be). */
  lateUs?: number
}

export interface CancelledEvent extends EventBase {
  type: 'cancelled'
  dropped: number
}

export interface TriggeredEvent extends EventBase {
  type: 'triggered'
  ref: string
  tUs: number
  /** Whether this trigger set the ref's time (false: an earlier one for the same ref won). */
  first: boolean
  /** "relay": a datagram from another agent (relayBind); absent for the `trigger` command. */
  via?: 'relay' | undefined
}

/** The relay socket is bound (reply to `relayBind`). Name "". */
export interface RelayBoundEvent extends EventBase {
  type: 'relay-bound'
  path: string
}

/** A relay is set up (reply to `relay`). Name "". */
export interface RelayingEvent extends EventBase {
  type: 'relaying'
  ref: string
  /** Number of socket paths. */
  to: number
}

/** A relay's datagrams were sent (written right after the event or step-done that set them off). Name "", no id. */
export interface RelayedEvent extends EventBase {
  type: 'relayed'
  ref: string
  tUs: number
  /** Datagrams the kernel took. */
  sent: number
  /** The others: ENOENT (no socket at that path), ECONNREFUSED (nobody bound to it any more), EAGAIN (the receiver's queue is full). */
  failed: Array<{ path: string; errno: string; message: string }>
}

/** A step fired (written after its command ran; the command's own events come first). Name "". */
export interface StepEvent extends EventBase {
  type: 'step'
  step: number
  op: AgentOp
  /** When the gate opened: atUs, or the event/trigger time + delayMs, or step K's done time + delayMs. */
  scheduledUs: number
  /** CLOCK_REALTIME taken right before the command ran. */
  actualUs: number
  /** actualUs - scheduledUs (late by ordering or load; large when the gate was already past at go). */
  lateUs: number
}

/** A step is done (see PlanStep). Name "". Relay it as `trigger` {ref: "step:K", tUs: doneUs} to hosts waiting on it. */
export interface StepDoneEvent extends EventBase {
  type: 'step-done'
  step: number
  /** The final event's t (waits: true) or the firing time (waits: false). */
  doneUs: number
}

/** Sampling runs (reply to `sample`, after the first full `ss` event). */
export interface SamplingEvent extends EventBase {
  type: 'sampling'
  intervalMs: number
  fullEveryMs: number
  /** "tcpdiag": one TCPDIAG_GETSOCK walk for IPv4 and IPv6; "inet+inet6": two SOCK_DIAG_BY_FAMILY dumps. */
  dumps: 'tcpdiag' | 'inet+inet6'
  /** Whether exact close times (`ss-destroy`) are available (joining SKNLGRP_INET_TCP_DESTROY needs CAP_NET_ADMIN). */
  destroy: boolean
  /**
   * How the sampler waits for its ticks: "deadline", the wait itself ends at the tick (epoll_pwait2,
   * Linux 5.11); "timerfd", a periodic timerfd (older kernels, or TCPLAB_SAMPLER_TIMERFD set in the
   * agent's environment). Absent from agents before this field.
   */
  wait?: 'deadline' | 'timerfd' | undefined
}

/** A `watch` is in place (`sampling`: whether rows are being sampled yet). */
export interface WatchingEvent extends EventBase {
  type: 'watching'
  sampling: boolean
}

/** The first sampled row a `watch` matched (t: its dump's time). */
export interface SeenEvent extends EventBase {
  type: 'seen'
  local: string
  peer: string
  state: string
}

/** Sampling stopped. */
export interface UnsampledEvent extends EventBase {
  type: 'unsampled'
  /** Dumps taken since the agent started. */
  n: number
  /** Timer ticks missed because a dump overran the interval. */
  missed: number
  /** Dumps that failed. */
  errors: number
}

/**
 * One socket as a sock_diag dump reports it (struct inet_diag_msg and its
 * attributes, sock_diag(7)); text fields are formatted the way `ss -tanoiem` prints them.
 */
export interface SockDiagRow {
  /** The socket's cookie in hex, as ss -e prints `sk:` (a TIME-WAIT socket keeps its full socket's). The key of `gone`. */
  sk: string
  /** ss(8) state name: ESTAB SYN-SENT SYN-RECV FIN-WAIT-1 FIN-WAIT-2 TIME-WAIT UNCONN CLOSE-WAIT LAST-ACK LISTEN CLOSING. */
  state: string
  /** idiag_rqueue/idiag_wqueue: ss's Recv-Q/Send-Q (LISTEN: accept queue length / backlog). */
  recvQ: number
  sendQ: number
  /** "198.18.0.1:8000", "[::1]:8000", "*:8000" (IPv6 wildcard of a dual-stack socket), port 0 as "*". */
  local: string
  peer: string
  lport: number
  rport: number
  /** Device of a socket bound to one (SO_BINDTODEVICE): name, or index when unknown. */
  dev?: string | number | undefined
  ino: number
  uid: number
  /** idiag_timer/idiag_expires/idiag_retrans; absent when no timer runs. */
  timer?: { name: 'on' | 'keepalive' | 'timewait' | 'persist' | 'unknown'; expiresMs: number; retrans: number } | undefined
  /** INET_DIAG_SHUTDOWN mask: 1 = SHUT_RD seen, 2 = SHUT_WR seen. Full sockets only. */
  shutdown?: number | undefined
  /** INET_DIAG_SKV6ONLY (IPv6 sockets). */
  v6only?: number | undefined
  /** INET_DIAG_SKMEMINFO (bl and d only from kernels that report them). */
  skmem?: { r: number; rb: number; t: number; tb: number; f: number; w: number; o: number; bl?: number; d?: number } | undefined
  /** INET_DIAG_CONG. */
  cc?: string | undefined
  /** INET_DIAG_BBRINFO: bw in bytes/s, min_rtt in µs, gains in 1/256. */
  bbr?: { bw: number; min_rtt: number; pacing_gain: number; cwnd_gain: number } | undefined
  /**
   * INET_DIAG_INFO: struct tcp_info with the tcpi_ prefix dropped, in kernel
   * units (µs for rto/ato/rtt/rttvar/min_rtt/rcv_rtt/busy_time..., ms for
   * last_*, bytes/s for rates), numeric (state, ca_state as numbers). Zero
   * fields are left out: absent means 0. pacing_rate/max_pacing_rate -1: unlimited (~0).
   */
  tcpInfo?: Record<string, number> | undefined
}

/**
 * One dump that had something to say: every socket when `full` (every
 * fullEveryMs, also with no socket at all: the heartbeat), else the sockets
 * that appeared or changed (state, queues, timer name/retrans, inode, skmem,
 * cc, tcp_info other than the last_* ages and busy-time counters: a socket that
 * only aged is not repeated) and the cookies of those that disappeared.
 * `t` is CLOCK_REALTIME right before the dump request.
 */
export interface SsEvent extends EventBase {
  type: 'ss'
  /** Dump number (1, 2, ...): dumps with nothing to say are not written, so gaps are normal. */
  n: number
  full: boolean
  rows: SockDiagRow[]
  gone?: string[] | undefined
  /** What the dump cost (µs of CLOCK_MONOTONIC). */
  dumpUs: number
  /** The dump's CPU time (the sampler thread's), µs: its cost, whatever the machine's load. Full dumps only. */
  dumpCpuUs?: number | undefined
  /** Timer ticks missed so far. */
  missed: number
}

/**
 * The kernel freed a socket (SKNLGRP_INET_TCP_DESTROY): its last diag message,
 * read at `t`. Not written when the socket lives on as TIME-WAIT.
 */
export interface SsDestroyEvent extends EventBase, SockDiagRow {
  type: 'ss-destroy'
}

/** Every event, discriminated on `type`. */
export type AgentEvent =
  | ReadyEvent | ExitEvent | ListeningEvent | ConnectingEvent | ConnectedEvent | AcceptedEvent
  | SentEvent | ReadEvent | EofEvent | ErrorEvent | PolledEvent | SockoptEvent | TcpInfoEvent
  | OptsEvent | ShutdownEvent | ClosedEvent | PausedEvent | ResumedEvent | SocketsEvent
  | StartedEvent | StdoutEvent | StderrEvent | ExitedEvent | WrittenEvent | StdinClosedEvent
  | SignalledEvent | PlannedEvent | GoEvent | CancelledEvent | TriggeredEvent | StepEvent | StepDoneEvent
  | RelayBoundEvent | RelayingEvent | RelayedEvent
  | SamplingEvent | UnsampledEvent | SsEvent | SsDestroyEvent | WatchingEvent | SeenEvent

export type AgentEventType = AgentEvent['type']

/** The event of a given type. */
export type AgentEventOf<T extends AgentEventType> = Extract<AgentEvent, { type: T }>

/** Every event type, for exhaustive handling (`satisfies Record<AgentEventType, ...>`). */
export const AGENT_EVENT_TYPES = [
  'ready', 'exit', 'listening', 'connecting', 'connected', 'accepted', 'sent', 'read', 'eof', 'error',
  'polled', 'sockopt', 'tcpinfo', 'opts', 'shutdown', 'closed', 'paused', 'resumed', 'sockets',
  'started', 'stdout', 'stderr', 'exited', 'written', 'stdin-closed', 'signalled', 'planned', 'go',
  'cancelled', 'triggered', 'step', 'step-done', 'relay-bound', 'relaying', 'relayed', 'sampling', 'unsampled', 'ss', 'ss-destroy',
  'watching', 'seen',
] as const satisfies readonly AgentEventType[]
