// Commands inside lab containers through the Docker exec API (never the docker
// CLI, never the local /proc: it must work against a remote daemon).
//
// A process started with `docker exec` is not killed by killing the client, and
// the API has no "signal this exec". So every command runs under a small bash
// launcher (LAUNCHER, `docker exec bash -c LAUNCHER`) that reports its pid and
// reads requests from its stdin: a header line, then the argv NUL-separated
// (never interpolated). Two modes:
//
// - spawn (p): the launcher checks the program exists, prints its pid and
//   exec()s it in place. `docker exec` made it a session and process-group
//   leader, so signal()/stop() run `kill -SIG -- -PID` inside the container and
//   reach the whole group.
// - exec (x): the launcher runs the command to completion, then ends stdout
//   with the request's token and stderr with "tcplab-exit RC TOKEN"; the result
//   is complete when both arrive, without waiting for the daemon to notice an
//   exit and close the connection (50-200 ms more). The launcher then reads the
//   next request: one launcher serves many commands, one at a time.
//
// Why: a `docker exec` costs 50-150 ms (HTTP, containerd, runc entering the
// namespaces), more on a busy machine, which on a scenario's timeline is a late
// SYN or a late iptables rule. Each lab container keeps launchers started ahead
// of time (LauncherPool): a command takes one and runs within milliseconds.
// With none ready, a launcher is started for it (the plain `docker exec` cost).
// stdout and stderr arrive multiplexed on one hijacked connection
// (docker.modem.demuxStream); the launcher's own lines are on stderr.

import type Docker from 'dockerode'
import { randomBytes } from 'node:crypto'
import { Writable, type Duplex } from 'node:stream'
import { constants as osConstants } from 'node:os'
import { StringDecoder } from 'node:string_decoder'
import { LabError, ProcessError } from '../../util/errors.js'
import { sleep } from '../../util/sleep.js'
import type { ExecOptions, ExecResult, ExitInfo, Proc, SpawnOptions } from '../types.js'
import { statusOf, toLabError } from './client.js'

/** A container and what to call it in messages. */
export interface ContainerRef {
  docker: Docker
  container: Docker.Container
  /** Lab host name ("client"). */
  host: string
  /** Launchers started ahead of time (containers of the lab image only: the launcher needs bash). */
  pool?: LauncherPool | undefined
  /** Open exec connections into this container (dropped when it dies: see dropConnections). */
  live?: Set<Duplex> | undefined
}

/**
 * Drop every open exec connection into a container that died. The daemon does not always close
 * them itself (a sidecar whose pid namespace went away with its host's program), and a command
 * would otherwise wait for its timeout.
 */
export function dropConnections(ref: ContainerRef): void {
  ref.pool?.close()
  for (const s of ref.live ?? []) s.destroy()
}

const READY_TAG = 'tcplab-ready '
const PID_TAG = 'tcplab-pid '
const MISSING_TAG = 'tcplab-missing '
const EXIT_TAG = 'tcplab-exit '

// bash's `read` takes a pipe one byte at a time, so a program's stdin starts right after its argv.
// `command -v` first so that a missing program is told apart from one that exits 127 itself.
// An exec with input (stdin 1) reads the launcher's stdin to its end, so the loop ends after it.
const LAUNCHER = [
  `printf '${READY_TAG}%s\\n' "$$" >&2`,
  'while IFS=" " read -r argc wantin mode tok; do',
  '  a=()',
  '  for ((i = 0; i < argc; i++)); do IFS= read -r -d "" x || exit 0; a+=("$x"); done',
  '  if ! command -v -- "${a[0]}" >/dev/null 2>&1; then',
  `    [ "$mode" = x ] || { printf '${MISSING_TAG}%s\\n' "\${a[0]}" >&2; exit 127; }`,
  `    printf "%s" "$tok"; printf '${MISSING_TAG}%s %s\\n' "\${a[0]}" "$tok" >&2; continue`,
  '  fi',
  '  if [ "$mode" != x ]; then',
  `    printf '${PID_TAG}%s\\n' "$$" >&2`,
  '    [ "$wantin" = 1 ] || exec </dev/null',
  '    exec "${a[@]}"',
  '  fi',
  '  if [ "$wantin" = 1 ]; then "${a[@]}"; else "${a[@]}" </dev/null; fi; rc=$?',
  '  printf "%s" "$tok"',
  `  printf '${EXIT_TAG}%s %s\\n' "$rc" "$tok" >&2`,
  'done',
].join('\n')

/**
 * The launcher's argv and environment: the script comes in a variable (unset before any command
 * runs), so that `ps` in a lab host shows a short `bash ... -c eval "$TCPLAB_LAUNCHER" tcplab-launch`.
 */
// --norc: bash reads ~/.bashrc even non-interactively when its stdin is a socket ("run by rshd").
export const LAUNCHER_ARGV: readonly string[] = ['bash', '--norc', '--noprofile', '-c', 'eval "$TCPLAB_LAUNCHER"', 'tcplab-launch']
export const LAUNCHER_ENV: readonly string[] = [`TCPLAB_LAUNCHER=unset TCPLAB_LAUNCHER\n${LAUNCHER}`]

/** What the launcher reads: a header line (argc, stdin 0|1, mode p|x, token), then each argument NUL-terminated. */
export function launchRequest(argv: readonly string[], wantStdin: boolean, endToken?: string): Buffer {
  if (argv.some((a) => a.includes('\0'))) throw new LabError(`an argument contains a NUL byte: ${JSON.stringify(argv)}`)
  const mode = endToken === undefined ? 'p -' : `x ${endToken}`
  return Buffer.from(`${argv.length} ${wantStdin ? 1 : 0} ${mode}\n${argv.map((a) => `${a}\0`).join('')}`)
}

/** An exec attached through the API. */
export interface Attached {
  exec: Docker.Exec
  stream: Duplex
  /** Resolves when the connection is closed (the process and everything holding its stdout/stderr exited). */
  closed: Promise<void>
}

/** Create and start an exec, demultiplexing its output into the two callbacks. */
export async function attachExec(ref: ContainerRef, create: { Cmd: string[]; Env?: string[]; User?: string; stdin: boolean },
  onStdout: (b: Buffer) => void, onStderr: (b: Buffer) => void): Promise<Attached> {
  const exec = await ref.container.exec({
    Cmd: create.Cmd,
    ...(create.Env ? { Env: create.Env } : {}),
    ...(create.User !== undefined ? { User: create.User } : {}),
    AttachStdin: create.stdin, AttachStdout: true, AttachStderr: true, Tty: false,
  })
  const stream = await exec.start({ hijack: true, stdin: create.stdin })
  const closed = new Promise<void>((resolve) => {
    stream.once('close', () => resolve())
    // Always listened to: a write to a connection the daemon closed must not become an uncaught error.
    stream.on('error', () => resolve())
  })
  ref.docker.modem.demuxStream(stream, sink(onStdout), sink(onStderr))
  ref.live?.add(stream)
  void closed.then(() => ref.live?.delete(stream))
  return { exec, stream, closed }
}

function sink(fn: (b: Buffer) => void): Writable {
  return new Writable({
    write(chunk: Buffer, _enc, cb) {
      fn(chunk)
      cb()
    },
  })
}

/** Exit code of a finished exec; the daemon may need a moment to record it after the stream closes. */
export async function exitCodeOf(exec: Docker.Exec): Promise<number | undefined> {
  for (let i = 0; i < 50; i++) {
    const info = await exec.inspect()
    if (!info.Running) return info.ExitCode ?? undefined
    await sleep(i < 10 ? 5 : 20)
  }
  return undefined
}

/** Splits the spawn-mode launcher's line (pid or missing program) off the head of stderr. */
class SpawnHeader {
  private buf: Buffer | undefined = Buffer.alloc(0)
  private evidence = Buffer.alloc(0)
  pid: number | undefined
  missing: string | undefined
  readonly done: Promise<void>
  private onDone: () => void = () => undefined
  constructor(private readonly onRest: (b: Buffer) => void) {
    this.done = new Promise<void>((r) => (this.onDone = r))
  }

  push(chunk: Buffer): void {
    if (this.buf === undefined) {
      this.onRest(chunk)
      return
    }
    this.buf = Buffer.concat([this.buf, chunk])
    const nl = this.buf.indexOf(10)
    if (nl < 0) return
    const line = this.buf.subarray(0, nl).toString()
    const rest = this.buf.subarray(nl + 1)
    this.buf = undefined
    if (line.startsWith(PID_TAG)) this.pid = Number(line.slice(PID_TAG.length))
    else if (line.startsWith(MISSING_TAG)) this.missing = line.slice(MISSING_TAG.length)
    else {
      // Not ours (bash itself failed): keep it as evidence, for the error and the process's stderr.
      this.evidence = Buffer.from(`${line}\n`)
      this.onRest(this.evidence)
    }
    this.onDone()
    if (rest.length > 0) this.onRest(rest)
  }

  /** What came instead of the line, or was buffered when it never came (the launcher ended first). */
  leftover(): Buffer {
    return this.buf ?? this.evidence
  }
}

/** One launcher: a bash in the container, attached, waiting for requests on its stdin. */
class Launcher {
  /** Where output goes now (the current request's sinks). */
  stdout: (b: Buffer) => void = () => undefined
  stderr: (b: Buffer) => void = () => undefined
  /** bash's pid (the process group of exec-mode commands), from its READY line. */
  pid: number | undefined
  /** Resolves when the launcher said it is ready, or its connection closed. */
  readonly ready: Promise<void>
  private readyNow: () => void = () => undefined
  private stdinOpen = true
  /** stderr until the READY line is complete; then undefined and stderr goes to the sink. */
  private head: Buffer | undefined = Buffer.alloc(0)
  private conn: Attached | undefined

  private constructor() {
    this.ready = new Promise<void>((r) => (this.readyNow = r))
  }

  get attached(): Attached {
    if (!this.conn) throw new Error('launcher not attached')
    return this.conn
  }

  /** Start a launcher in `ref` (as `user`, default the container's). */
  static async attach(ref: ContainerRef, user?: string): Promise<Launcher> {
    const l = new Launcher()
    l.conn = await attachExec(ref, { Cmd: [...LAUNCHER_ARGV], Env: [...LAUNCHER_ENV], stdin: true, ...(user !== undefined ? { User: user } : {}) },
      (b) => l.stdout(b), (b) => l.onStderr(b))
    void l.conn.closed.then(() => l.readyNow())
    return l
  }

  private onStderr(b: Buffer): void {
    if (this.head === undefined) {
      this.stderr(b)
      return
    }
    this.head = Buffer.concat([this.head, b])
    const nl = this.head.indexOf(10)
    if (nl < 0) return
    const line = this.head.subarray(0, nl).toString()
    const rest = this.head.subarray(nl + 1)
    this.head = undefined
    if (line.startsWith(READY_TAG)) this.pid = Number(line.slice(READY_TAG.length))
    else this.stderr(Buffer.from(`${line}\n`)) // not ours (bash itself failed): keep it as evidence
    this.readyNow()
    if (rest.length > 0) this.stderr(rest)
  }

  /** Whether it can take another request (exec mode without input leaves it waiting for one). */
  get isReusable(): boolean {
    return this.stdinOpen && this.pid !== undefined && !this.attached.stream.destroyed
  }

  /** Send a request; without stdin the command gets /dev/null (and a spawn's launcher sees EOF). */
  send(argv: readonly string[], wantStdin: boolean, endToken: string | undefined): void {
    this.attached.stream.write(launchRequest(argv, wantStdin, endToken))
    if (endToken === undefined && !wantStdin) this.endStdin()
  }

  endStdin(data?: string): void {
    this.stdinOpen = false
    this.attached.stream.end(data)
  }

  /** Let a launcher go (EOF instead of a request: it exits 0); drop the connection if the daemon does not close it (container gone). */
  dismiss(): void {
    this.endStdin()
    setTimeout(() => this.attached.stream.destroy(), 1000).unref()
  }
}

/**
 * Launchers started ahead of time in one container. take() hands out a ready one (or none) and
 * starts replacements; give() takes back one that finished an exec; close() dismisses the idle
 * ones. Failures only mean "none ready": the caller then starts its own, which reports the real error.
 */
export class LauncherPool {
  private readonly idle: Launcher[] = []
  /** Every launcher this pool started and did not hand out (close() drops them all). */
  private readonly own = new Set<Launcher>()
  private starting = 0
  private failures = 0
  private closed = false
  /** fill() was called: its host needs no more setup commands (before, a take() starts no launchers: they would slow the setup). */
  private opened = false

  /** `size` ready at most; `parallel` starting at once (each start is a `docker exec`: many at once slow the daemon for everyone). */
  constructor(private readonly ref: ContainerRef, private readonly size = 4, private readonly parallel = 2) {}

  /** Start launchers up to the pool's size. */
  fill(): void {
    this.opened = true
    while (!this.closed && this.failures < 3 && this.starting < this.parallel && this.idle.length + this.starting < this.size) {
      this.starting++
      void Launcher.attach(this.ref).then(async (l) => {
        this.own.add(l)
        void l.attached.closed.then(() => this.own.delete(l))
        await l.ready
        this.starting--
        if (l.pid === undefined) {
          this.failures++
          l.dismiss()
        } else {
          this.failures = 0
          this.give(l)
        }
        this.fill()
      }, () => {
        this.starting--
        this.failures++
        this.fill()
      })
    }
  }

  /** A ready launcher, or undefined; replacements are started either way. */
  take(): Launcher | undefined {
    let l: Launcher | undefined
    while ((l = this.idle.shift()) && !l.isReusable) l.dismiss()
    if (l) this.own.delete(l)
    if (this.opened) this.fill()
    return l
  }

  /** Keep a launcher that is waiting for a request (or let it go when full or closed). */
  give(l: Launcher): void {
    if (this.closed || !l.isReusable || this.idle.length >= this.size) {
      l.dismiss()
      return
    }
    l.stdout = () => undefined
    l.stderr = () => undefined
    this.own.add(l)
    this.idle.push(l)
    void l.attached.closed.then(() => {
      const i = this.idle.indexOf(l)
      if (i >= 0) this.idle.splice(i, 1)
    })
  }

  /** Dismiss the idle launchers and start no more. */
  close(): void {
    this.closed = true
    this.idle.splice(0)
    for (const l of this.own) l.dismiss()
  }
}

/** A program that is not in the container (exit code 127 without running anything). */
export class MissingProgramError extends ProcessError {
  constructor(readonly ref: ContainerRef, argv: readonly string[], readonly program: string, hint?: string) {
    super({ argv, host: ref.host, exitCode: 127, signal: undefined, stderr: `${program}: not found` }, {
      hint: hint ?? `"${program}" is not installed in the image of ${ref.host} (the lab image has iproute2, iptables, tcpdump, nc, procps and the agent)`,
    })
  }
}

/** Raw output sinks of a process (exec() collects bytes; spawn() splits lines). */
export interface ProcSinks {
  stdout(b: Buffer): void
  stderr(b: Buffer): void
}

/** A process that got going: its exec, and its pid in the container (undefined: it ended before the pid was known). */
export interface StartedExec {
  attached: Attached
  pid: number | undefined
}

/** How a process gets started; throws (ProcessError, LabError) when it could not start. */
export type ProcStarter = (sinks: ProcSinks) => Promise<StartedExec>

/** Options of a start: run as `user` (a launcher of its own then, not a pooled one), and the hint for a missing program. */
export interface StartOptions {
  user?: string | undefined
  missingHint?: string | undefined
}

/** A pooled launcher, or a new one. */
async function launcherFor(ref: ContainerRef, argv: readonly string[], user?: string): Promise<Launcher> {
  const pooled = user === undefined ? ref.pool?.take() : undefined
  if (pooled) return pooled
  try {
    return await Launcher.attach(ref, user)
  } catch (e: unknown) {
    throw toLabError(e, `cannot start "${argv.join(' ')}" on ${ref.host}`)
  }
}

/** Start `argv` through a launcher in `ref`, which becomes the program (spawn mode). */
export function launcherStarter(ref: ContainerRef, argv: readonly string[], wantStdin: boolean, opts: StartOptions = {}): ProcStarter {
  if (argv.length === 0) throw new Error('launcherStarter: empty argv')
  return async (sinks) => {
    const l = await launcherFor(ref, argv, opts.user)
    const header = new SpawnHeader(sinks.stderr)
    l.stdout = sinks.stdout
    l.stderr = (b) => header.push(b)
    l.send(argv, wantStdin, undefined)
    await Promise.race([header.done, l.attached.closed])
    if (header.missing !== undefined) throw new MissingProgramError(ref, argv, header.missing, opts.missingHint)
    if (header.pid === undefined) {
      const code = await exitCodeOf(l.attached.exec).catch(() => undefined)
      throw new ProcessError({ argv, host: ref.host, exitCode: code, signal: undefined, stderr: header.leftover().toString() })
    }
    return { attached: l.attached, pid: header.pid }
  }
}

/** Deliver `sig` to process group `pid` inside the container. Resolves whether or not the group still exists. */
export async function signalInContainer(ref: ContainerRef, pid: number, sig: NodeJS.Signals | 'SIGKILL'): Promise<void> {
  // `kill -NAME -- -PGID` (bash's builtin here): the same form works with procps-ng, util-linux and busybox.
  const argv = ['kill', `-${sig.replace(/^SIG/, '')}`, '--', `-${pid}`]
  try {
    const r = await execInContainer(ref, argv, { reject: false, timeoutMs: 10_000 })
    if (r.exitCode !== 0 && !/No such process/i.test(r.stderr)) {
      throw new ProcessError({ argv, host: ref.host, exitCode: r.exitCode, signal: undefined, stderr: r.stderr })
    }
  } catch (e: unknown) {
    // The container is gone or stopped (lab torn down): nothing left to signal.
    const s = statusOf(e instanceof LabError ? e.cause : e)
    if (s === 404 || s === 409) return
    throw toLabError(e, `cannot signal process ${pid} on ${ref.host}`)
  }
}

/** Run a command to completion inside a container (iptables, sysctl, ip, tc, ss), through a launcher in exec mode. */
export async function execInContainer(ref: ContainerRef, argv: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
  if (argv.length === 0) throw new Error('execInContainer: empty argv')
  const l = await launcherFor(ref, argv)
  const out = new Collector()
  const err = new Collector()
  const token = `tcplab-end-${randomBytes(8).toString('hex')}`
  // The launcher's marks after the command: stdout ends with the token, stderr with a line naming it.
  const errEnd = new RegExp(`${EXIT_TAG}(\\d+) ${token}\\n$|${MISSING_TAG}(.*) ${token}\\n$`)
  const errTailBytes = 4096
  const isMarked = (): boolean => out.tail(token.length).toString() === token && errEnd.test(err.tail(errTailBytes).toString())
  const marked = new Promise<void>((resolve) => {
    const check = (): void => {
      if (isMarked()) resolve()
    }
    out.onPush = check
    err.onPush = check
  })
  l.stdout = (b) => out.push(b)
  l.stderr = (b) => err.push(b)
  l.send(argv, opts.input !== undefined, token)
  if (opts.input !== undefined) l.endStdin(opts.input)

  // On timeout: kill the launcher's group inside (the client going away would not), then stop waiting.
  let timedOut = false
  const timer = setTimeout(() => {
    timedOut = true
    if (l.pid !== undefined) void signalInContainer(ref, l.pid, 'SIGKILL').catch(() => undefined)
    setTimeout(() => l.attached.stream.destroy(), 2000).unref()
  }, opts.timeoutMs ?? 30_000)
  try {
    await Promise.race([l.attached.closed, marked])
  } finally {
    clearTimeout(timer)
  }
  let stdout = out.text()
  let stderr = err.text()
  const end = isMarked() ? errEnd.exec(stderr) : null
  if (end) {
    stdout = stdout.slice(0, stdout.length - token.length)
    stderr = stderr.slice(0, end.index)
    ref.pool?.give(l)
  }
  if (end?.[2] !== undefined) {
    const missing = new MissingProgramError(ref, argv, end[2])
    if (opts.reject ?? true) throw missing
    return { exitCode: 127, stdout: '', stderr: `${missing.failure.stderr}\n` }
  }
  // No marks: the launcher ended (killed on timeout, or the container went away).
  let exitCode: number | undefined
  try {
    exitCode = timedOut ? undefined : end ? Number(end[1]) : await exitCodeOf(l.attached.exec)
  } catch (e: unknown) {
    throw toLabError(e, `cannot read the exit code of "${argv.join(' ')}" on ${ref.host}`)
  }
  const result: ExecResult = { exitCode: exitCode ?? -1, stdout, stderr }
  if ((opts.reject ?? true) && (timedOut || exitCode !== 0)) {
    throw new ProcessError({ argv, host: ref.host, exitCode, signal: timedOut ? 'timeout' : undefined, stderr: result.stderr })
  }
  return result
}

/** exec() on top of any starter (a user's image): collect the output, feed the input, kill on timeout through `signalRef`. */
export async function execWith(signalRef: ContainerRef, argv: readonly string[], opts: ExecOptions, start: ProcStarter): Promise<ExecResult> {
  const out = new Collector()
  const err = new Collector()
  let started: StartedExec
  try {
    started = await start({ stdout: (b) => out.push(b), stderr: (b) => err.push(b) })
  } catch (e: unknown) {
    if (e instanceof MissingProgramError && !(opts.reject ?? true)) return { exitCode: 127, stdout: '', stderr: `${e.failure.stderr}\n` }
    throw e
  }
  const a = started.attached
  if (opts.input !== undefined) a.stream.end(opts.input)
  let timedOut = false
  const timer = setTimeout(() => {
    timedOut = true
    if (started.pid !== undefined) void signalInContainer(signalRef, started.pid, 'SIGKILL').catch(() => undefined)
    setTimeout(() => a.stream.destroy(), 2000).unref()
  }, opts.timeoutMs ?? 30_000)
  try {
    await a.closed
  } finally {
    clearTimeout(timer)
  }
  let exitCode: number | undefined
  try {
    exitCode = timedOut ? undefined : await exitCodeOf(a.exec)
  } catch (e: unknown) {
    throw toLabError(e, `cannot read the exit code of "${argv.join(' ')}" on ${signalRef.host}`)
  }
  const result: ExecResult = { exitCode: exitCode ?? -1, stdout: out.text(), stderr: err.text() }
  if ((opts.reject ?? true) && (timedOut || exitCode !== 0)) {
    throw new ProcessError({ argv, host: signalRef.host, exitCode, signal: timedOut ? 'timeout' : undefined, stderr: result.stderr })
  }
  return result
}

/** Output bytes collected in chunks, with cheap checks on the tail. */
class Collector {
  private readonly chunks: Buffer[] = []
  onPush: () => void = () => undefined
  push(b: Buffer): void {
    this.chunks.push(b)
    this.onPush()
  }
  /** The last `n` bytes (fewer when there are fewer). */
  tail(n: number): Buffer {
    const parts: Buffer[] = []
    let have = 0
    for (let i = this.chunks.length - 1; i >= 0 && have < n; i--) {
      const c = this.chunks[i] as Buffer
      parts.unshift(c)
      have += c.length
    }
    const all = Buffer.concat(parts)
    return all.subarray(Math.max(0, all.length - n))
  }
  text(): string {
    return Buffer.concat(this.chunks).toString()
  }
}

/** Start a long-running process inside a container (agent, tcpdump, nc, user programs). */
export function spawnInContainer(ref: ContainerRef, argv: readonly string[], opts: SpawnOptions = {}, start?: StartOptions): Proc {
  return new DockerProc(ref, argv, opts, launcherStarter(ref, argv, opts.stdin === true, start))
}

/** Exit code as docker reports it -> ExitInfo: 128+N is death by signal N (what the runtime reports for it). */
export function toExitInfo(code: number | undefined): ExitInfo {
  if (code !== undefined && code > 128 && code <= 128 + 31) {
    const name = Object.entries(osConstants.signals).find(([, n]) => n === code - 128)?.[0]
    if (name) return { code: undefined, signal: name }
  }
  return { code, signal: undefined }
}

/** A process started through the exec API; signals go through `signalRef` (the container with `kill`). */
export class DockerProc implements Proc {
  readonly argv: readonly string[]
  readonly started: Promise<void>
  readonly exited: Promise<ExitInfo>
  hasExited = false
  private readonly ref: ContainerRef
  private attached: Attached | undefined
  private pid: number | undefined
  private stopping: Promise<ExitInfo> | undefined

  constructor(signalRef: ContainerRef, argv: readonly string[], opts: SpawnOptions, start: ProcStarter) {
    if (argv.length === 0) throw new Error('DockerProc: empty argv')
    this.ref = signalRef
    this.argv = argv
    const stdoutLines = opts.onStdoutData || !opts.onStdoutLine ? undefined : new LineBuffer(opts.onStdoutLine)
    const stderrLines = opts.onStderrLine ? new LineBuffer(opts.onStderrLine) : undefined
    const sinks: ProcSinks = {
      stdout: (b) => {
        if (opts.onStdoutData) opts.onStdoutData(b)
        else stdoutLines?.push(b)
      },
      stderr: (b) => stderrLines?.push(b),
    }
    let startCode: number | undefined
    const started = (async () => {
      try {
        const s = await start(sinks)
        this.attached = s.attached
        this.pid = s.pid
      } catch (e: unknown) {
        startCode = e instanceof ProcessError ? e.failure.exitCode : undefined
        throw e
      }
    })()
    started.catch(() => undefined)
    this.started = started

    this.exited = (async (): Promise<ExitInfo> => {
      try {
        await started
      } catch {
        return { code: startCode, signal: undefined }
      }
      const a = this.attached as Attached
      await a.closed
      stdoutLines?.flush()
      stderrLines?.flush()
      try {
        return toExitInfo(await exitCodeOf(a.exec))
      } catch (e: unknown) {
        // The container was removed under it (lab torn down): it was killed.
        return statusOf(e) === 404 ? { code: undefined, signal: 'SIGKILL' } : { code: undefined, signal: undefined }
      }
    })().then((info) => {
      this.hasExited = true
      return info
    })
  }

  async write(data: string | Buffer): Promise<void> {
    await this.started
    const s = this.attached?.stream
    if (!s || s.destroyed || s.writableEnded) throw new Error(`stdin of "${this.argv.join(' ')}" on ${this.ref.host} is closed`)
    await new Promise<void>((resolve, reject) => s.write(data, (e) => (e ? reject(e) : resolve())))
  }

  endStdin(): void {
    void this.started.then(() => this.attached?.stream.end(), () => undefined)
  }

  async signal(sig: NodeJS.Signals): Promise<void> {
    try {
      await this.started
    } catch {
      return
    }
    if (this.hasExited) return
    if (this.pid === undefined) {
      throw new LabError(`cannot signal "${this.argv.join(' ')}" on ${this.ref.host}: its pid in the container is not known`, {
        hint: 'a program in a host\'s own image is found by its environment; one that changes user or clears its environment cannot be signalled',
      })
    }
    await signalInContainer(this.ref, this.pid, sig)
  }

  stop(opts: { sig?: NodeJS.Signals; graceMs?: number } = {}): Promise<ExitInfo> {
    if (this.hasExited) return this.exited
    this.stopping ??= (async () => {
      const sig = opts.sig ?? 'SIGTERM'
      const graceMs = opts.graceMs ?? 2000
      // A stopped process cannot act on SIGTERM/SIGINT until continued.
      await this.signal(sig).catch(() => undefined)
      await this.signal('SIGCONT').catch(() => undefined)
      const timers: NodeJS.Timeout[] = []
      timers.push(setTimeout(() => {
        void this.signal('SIGKILL').catch(() => undefined)
        // Still no end after that (something else holds its output open): stop waiting for the connection.
        timers.push(setTimeout(() => this.attached?.stream.destroy(), 2000))
      }, graceMs))
      try {
        return await this.exited
      } finally {
        for (const t of timers) clearTimeout(t)
      }
    })()
    return this.stopping
  }
}

/** Calls `onLine` for each complete line; flush() delivers a trailing partial line. */
class LineBuffer {
  private buf = ''
  // A UTF-8 character may be split between two chunks.
  private readonly decoder = new StringDecoder('utf8')
  constructor(private readonly onLine: (line: string) => void) {}
  push(chunk: Buffer): void {
    this.buf += this.decoder.write(chunk)
    let i: number
    while ((i = this.buf.indexOf('\n')) >= 0) {
      this.onLine(this.buf.slice(0, i).replace(/\r$/, ''))
      this.buf = this.buf.slice(i + 1)
    }
  }
  flush(): void {
    this.buf += this.decoder.end()
    if (this.buf) this.onLine(this.buf)
    this.buf = ''
  }
}
