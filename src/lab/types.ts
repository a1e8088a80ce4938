// The Backend/Lab/Host contract. Backends (netns, docker, later vm) are the only
// code that knows what a host is; everything above uses these interfaces.

/** Result of a short command run to completion on a host. */
export interface ExecResult {
  exitCode: number
  stdout: string
  stderr: string
}

export interface ExecOptions {
  /** Text written to the command's stdin. */
  input?: string | undefined
  /** Kill the command after this long (default 30 s). */
  timeoutMs?: number | undefined
  /** Throw ProcessError on a non-zero exit (default true). */
  reject?: boolean | undefined
  /** Run it in the host's own image (HostSpec.image) instead of next to it with the lab tools; see SpawnOptions. */
  inUserImage?: boolean | undefined
}

/** How a spawned process ended. */
export interface ExitInfo {
  /** Exit code, or undefined when a signal ended it. */
  code: number | undefined
  /** Signal name ("SIGKILL") when a signal ended it. */
  signal: string | undefined
}

export interface SpawnOptions {
  /** Keep stdin open for write() (default false: stdin is /dev/null). */
  stdin?: boolean | undefined
  /** Called with each complete stdout line (without "\n"). Ignored when onStdoutData is set. */
  onStdoutLine?: ((line: string) => void) | undefined
  /** Called with raw stdout chunks (binary output such as `tcpdump -w -`). */
  onStdoutData?: ((chunk: Buffer) => void) | undefined
  /** Called with each complete stderr line. */
  onStderrLine?: ((line: string) => void) | undefined
  /**
   * Run it in the host's own image (HostSpec.image: the user's program is there) instead of with
   * the lab tools (the sidecar: recorders, faults, agent). A program the image lacks still runs,
   * with the lab tools. No effect on a host without its own image (default false).
   */
  inUserImage?: boolean | undefined
}

/** A long-running process on a host, in its own process group. */
export interface Proc {
  readonly argv: readonly string[]
  /** Resolves once the process is running (pid known); rejects if it could not start. */
  readonly started: Promise<void>
  /** Resolves when the process has exited and its stdout/stderr were fully delivered (never rejects). */
  readonly exited: Promise<ExitInfo>
  /** Whether it has exited. */
  readonly hasExited: boolean
  /** Write to stdin (spawned with stdin: true). */
  write(data: string | Buffer): Promise<void>
  /** Close stdin. */
  endStdin(): void
  /** Deliver a signal to the process (and its group), e.g. SIGSTOP, SIGCONT. */
  signal(sig: NodeJS.Signals): Promise<void>
  /**
   * Stop it: `sig` (default SIGTERM; SIGINT for tcpdump so it flushes), then SIGKILL
   * after `graceMs` (default 2000) if still running. Idempotent.
   */
  stop(opts?: { sig?: NodeJS.Signals; graceMs?: number }): Promise<ExitInfo>
}

/** One lab host (a network namespace, a container, later a VM). */
export interface Host {
  readonly name: string
  /** Primary IPv4 address on the lab network. */
  readonly addr: string
  /** Lab-facing interface names inside the host (first is the primary). */
  readonly ifnames: readonly string[]
  /**
   * How long a recorder or agent may take to come up on this host, when longer than their defaults
   * (a vm guest under TCG starts a process in hundreds of ms, seconds on a loaded machine).
   */
  readonly startTimeoutMs?: number | undefined
  /** Path of the static socket agent binary as seen from inside the host. */
  readonly agentPath: string
  /**
   * A directory the runner and processes in the host both reach by path (netns: one filesystem).
   * When set, the agent talks over a unix socket made there (agent/channel.ts), not its stdio.
   */
  readonly agentSocketDir?: string | undefined
  /** Run a command to completion inside the host (iptables, sysctl, ip, tc, ss). */
  exec(argv: readonly string[], opts?: ExecOptions): Promise<ExecResult>
  /** Start a long-running process inside the host (agent, tcpdump, nc, user programs). */
  spawn(argv: readonly string[], opts?: SpawnOptions): Proc
  /**
   * Start the socket agent, where it needs another way in than spawn() to run at a raised priority
   * (docker: from this machine into the container's namespaces, outside its cgroup, which has no
   * real-time budget). Absent: spawn().
   */
  spawnAgent?(argv: readonly string[], opts: SpawnOptions): Promise<Proc>
  /**
   * Set sysctls while the lab runs, where `sysctl -w` through exec cannot (a container's /proc/sys
   * is read-only). Keys prefixed "?" are optional. Absent: applySysctls uses `sysctl -w`.
   */
  setSysctls?(sysctls: Record<string, string>): Promise<void>
}

export interface HostSpec {
  name: string
  /** Sysctls applied inside the host before anything runs (key -> value). */
  sysctls: Record<string, string>
  /** Router between the other hosts (`role: wire`). */
  isWire: boolean
  /** docker backend: the user's image (lab tools then run in a sidecar). */
  image?: string | undefined
}

export interface LabSpec {
  /** Unique per scenario execution; names every resource (`tcplab-<labId>-<host>`). */
  labId: string
  /** Scenario name (labels, messages). */
  scenario: string
  hosts: HostSpec[]
}

/** A kernel tracepoint hit (vm backend, where the guest has tracefs), timed on the host's CLOCK_REALTIME. */
export interface KernelEvent {
  /** µs since the epoch. */
  tUs: number
  event: 'inet_sock_set_state' | 'tcp_retransmit_skb'
  saddr: string
  sport: number
  daddr: string
  dport: number
  oldstate?: string | undefined
  newstate?: string | undefined
  state?: string | undefined
}

export interface Lab {
  readonly labId: string
  readonly hosts: ReadonlyMap<string, Host>
  /** Facts env.json records for this lab (vm: the guest's kernel and clock offset). */
  readonly envFacts?: Record<string, unknown> | undefined
  /** Kernel tracepoint events of the lab's sockets, collected once the scenario stopped (vm backend). */
  kernelEvents?(): Promise<KernelEvent[]>
  /** Tear everything down (LIFO, idempotent, settles all, reports failures together). */
  down(): Promise<void>
}

export interface Backend {
  readonly name: string
  /**
   * docker: the daemon this backend's labs run on (its DOCKER_HOST-style address). Verdicts and
   * summaries carry it, so a run over several daemons (`--docker-host a,b`) says which ran what.
   */
  readonly daemon?: string | undefined
  /** Check the machine can run labs (privilege, tools, daemon); throws EnvironmentError with the fix. */
  check(): Promise<void>
  /** After a passing check(): one line on where labs run and with what, for `tcplab doctor`. */
  describe?(): Promise<string>
  /** Build the lab. If `signal` aborts (Ctrl-C) or anything fails, what was built is torn down before rejecting. */
  up(spec: LabSpec, signal?: AbortSignal): Promise<Lab>
  /** Remove leftovers of crashed runs (all of them, or one labId). Returns a line per removed thing. */
  gc(labId?: string): Promise<string[]>
  /**
   * Run `fn` against a throwaway host made for it (an empty network namespace, not connected to
   * anything) and remove it afterwards, whatever happens: what a lab host would find (its sysctls,
   * whether iptables takes a rule, which programs exist), without a lab. Absent: the backend cannot.
   */
  withScratchHost?<T>(fn: (host: ScratchHost) => Promise<T>): Promise<T>
  /**
   * Last resort, synchronous (second Ctrl-C, or `exit` without teardown): remove what labs of this
   * process left (processes, namespaces, containers) right now. Best effort, never throws.
   */
  removeOwnLabsNow?(): void | Promise<void>
  /**
   * The machine whose clock the labs keep, when it is not this one (a vm guest, whose CPUs are
   * threads of QEMU): its CPUs and how to start a program on it, for the suite's stall probes
   * (runner/canary.ts), which must see that machine stop. Absent: the labs run on this machine.
   */
  readonly probeMachine?: ProbeMachine | undefined
}

/** See Backend.probeMachine. */
export interface ProbeMachine {
  /** What to call it in a warning ("the guest on 6.1.0-50-cloud-amd64"). */
  readonly label: string
  readonly cpus: readonly number[]
  spawn(argv: readonly string[], opts: SpawnOptions): Proc
}

/** A throwaway host (Backend.withScratchHost): commands only. */
export interface ScratchHost {
  exec(argv: readonly string[], opts?: ExecOptions): Promise<ExecResult>
}
