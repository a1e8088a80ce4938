// Commands inside lab containers through the Docker exec API (never the docker
// CLI, never the local /proc: it must work against a remote daemon).
//
// A process started with `docker exec` is not killed by killing the client, and
// the API has no "signal this exec". So every command runs under a tiny wrapper
// that reports its pid first and then exec()s the command in place:
//
//   sh -c '<WRAPPER>' sh ARGV...        (ARGV as separate arguments, never interpolated)
//
// The pid is the container-side pid of the command itself, which `docker exec`
// makes a session and process-group leader, so signal()/stop() run
// `kill -s SIG -- -PID` inside the container and reach the whole group.
// stdout and stderr arrive multiplexed on one hijacked connection
// (docker.modem.demuxStream); the wrapper's line is the first one on stderr.

import type Docker from 'dockerode'
import { Writable, type Duplex } from 'node:stream'
import { constants as osConstants } from 'node:os'
import { ProcessError } from '../../util/errors.js'
import { sleep } from '../../util/sleep.js'
import type { ExecOptions, ExecResult, ExitInfo, Proc, SpawnOptions } from '../types.js'
import { statusOf, toLabError } from './client.js'

/** A lab container and what to call it in messages. */
export interface ContainerRef {
  docker: Docker
  container: Docker.Container
  /** Lab host name ("client"). */
  host: string
}

const PID_TAG = 'tcplab-pid '
const MISSING_TAG = 'tcplab-missing '
// `command -v` first so that a missing program is told apart from one that exits 127 itself.
const WRAPPER = `command -v -- "$1" >/dev/null 2>&1 || { printf '${MISSING_TAG}%s\\n' "$1" >&2; exit 127; }; printf '${PID_TAG}%s\\n' "$$" >&2; exec "$@"`

/** The wrapped argv: reports the pid on stderr, then becomes ARGV. */
export function wrapArgv(argv: readonly string[]): string[] {
  return ['sh', '-c', WRAPPER, 'sh', ...argv]
}

interface Attached {
  exec: Docker.Exec
  stream: Duplex
  /** Resolves when the connection is closed (the process and everything holding its stdout/stderr exited). */
  closed: Promise<void>
}

/** Create and start an exec, demultiplexing its output into the two callbacks. */
async function attachExec(ref: ContainerRef, cmd: string[], withStdin: boolean,
  onStdout: (b: Buffer) => void, onStderr: (b: Buffer) => void): Promise<Attached> {
  const exec = await ref.container.exec({ Cmd: cmd, AttachStdin: withStdin, AttachStdout: true, AttachStderr: true, Tty: false })
  const stream = await exec.start({ hijack: true, stdin: withStdin })
  const closed = new Promise<void>((resolve) => {
    stream.once('close', () => resolve())
    stream.once('error', () => resolve())
  })
  ref.docker.modem.demuxStream(stream, sink(onStdout), sink(onStderr))
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
async function exitCodeOf(exec: Docker.Exec): Promise<number | undefined> {
  for (let i = 0; i < 50; i++) {
    const info = await exec.inspect()
    if (!info.Running) return info.ExitCode ?? undefined
    await sleep(i < 10 ? 5 : 20)
  }
  return undefined
}

/** Splits the wrapper's first stderr line off the command's own stderr. */
class WrapperHeader {
  private buf: Buffer | undefined = Buffer.alloc(0)
  pid: number | undefined
  missing: string | undefined
  constructor(private readonly onHeader: () => void, private readonly onRest: (b: Buffer) => void) {}

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
    else this.onRest(Buffer.from(`${line}\n`)) // not ours (sh itself failed): keep it as evidence
    this.onHeader()
    if (rest.length > 0) this.onRest(rest)
  }

  /** Whatever was buffered when no header ever came (the wrapper could not even start). */
  leftover(): Buffer {
    return this.buf ?? Buffer.alloc(0)
  }
}

/** The error for a program that is not in the container. */
function missingProgramError(ref: ContainerRef, argv: readonly string[], program: string): ProcessError {
  return new ProcessError({ argv, host: ref.host, exitCode: 127, signal: undefined, stderr: `${program}: not found` }, {
    hint: `"${program}" is not installed in the image of ${ref.host} (the lab image has iproute2, iptables, tcpdump, nc, procps and the agent)`,
  })
}

/** Deliver `sig` to process group `pid` inside the container. Resolves whether or not the group still exists. */
export async function signalInContainer(ref: ContainerRef, pid: number, sig: NodeJS.Signals | 'SIGKILL'): Promise<void> {
  // `kill -NAME -- -PGID`: procps-ng 4.0.2 rejects `-s NAME --`; this form works there, in util-linux and busybox.
  const argv = ['kill', `-${sig.replace(/^SIG/, '')}`, '--', `-${pid}`]
  const stderr: Buffer[] = []
  try {
    const a = await attachExec(ref, argv, false, () => undefined, (b) => stderr.push(b))
    await a.closed
    const code = await exitCodeOf(a.exec)
    const text = Buffer.concat(stderr).toString()
    if (code !== 0 && !/No such process/i.test(text)) {
      throw new ProcessError({ argv, host: ref.host, exitCode: code, signal: undefined, stderr: text })
    }
  } catch (e: unknown) {
    // The container is gone or stopped (lab torn down): nothing left to signal.
    const s = statusOf(e)
    if (s === 404 || s === 409) return
    throw toLabError(e, `cannot signal process ${pid} on ${ref.host}`)
  }
}

/** Run a command to completion inside a container (iptables, sysctl, ip, tc, ss). */
export async function execInContainer(ref: ContainerRef, argv: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
  if (argv.length === 0) throw new Error('execInContainer: empty argv')
  const out: Buffer[] = []
  const err: Buffer[] = []
  let resolveHeader!: () => void
  const headerSeen = new Promise<void>((resolve) => (resolveHeader = resolve))
  const header = new WrapperHeader(() => resolveHeader(), (b) => err.push(b))
  let a: Attached
  try {
    a = await attachExec(ref, wrapArgv(argv), opts.input !== undefined, (b) => out.push(b), (b) => header.push(b))
  } catch (e: unknown) {
    throw toLabError(e, `cannot run "${argv.join(' ')}" on ${ref.host}`)
  }
  if (opts.input !== undefined) a.stream.end(opts.input)

  // On timeout: kill the command inside (the client going away would not), then stop waiting.
  let timedOut = false
  const timeoutMs = opts.timeoutMs ?? 30_000
  const timer = setTimeout(() => {
    timedOut = true
    void headerSeen.then(async () => {
      if (header.pid !== undefined) await signalInContainer(ref, header.pid, 'SIGKILL')
    }).catch(() => undefined)
    setTimeout(() => a.stream.destroy(), 2000).unref()
  }, timeoutMs)
  try {
    await a.closed
  } finally {
    clearTimeout(timer)
  }
  resolveHeader() // no header at all: the wrapper never ran
  if (header.missing !== undefined) {
    if (opts.reject ?? true) throw missingProgramError(ref, argv, header.missing)
    return { exitCode: 127, stdout: '', stderr: `${header.missing}: not found\n` }
  }
  let exitCode: number | undefined
  try {
    exitCode = timedOut ? undefined : await exitCodeOf(a.exec)
  } catch (e: unknown) {
    throw toLabError(e, `cannot read the exit code of "${argv.join(' ')}" on ${ref.host}`)
  }
  const result: ExecResult = {
    exitCode: exitCode ?? -1,
    stdout: Buffer.concat(out).toString(),
    stderr: Buffer.concat([...err, header.leftover()]).toString(),
  }
  if ((opts.reject ?? true) && (timedOut || exitCode !== 0)) {
    throw new ProcessError({ argv, host: ref.host, exitCode, signal: timedOut ? 'timeout' : undefined, stderr: result.stderr })
  }
  return result
}

/** Start a long-running process inside a container (agent, tcpdump, nc, user programs). */
export function spawnInContainer(ref: ContainerRef, argv: readonly string[], opts: SpawnOptions = {}): Proc {
  return new DockerProc(ref, argv, opts)
}

/** Exit code as docker reports it -> ExitInfo: 128+N is death by signal N (what the runtime reports for it). */
export function toExitInfo(code: number | undefined): ExitInfo {
  if (code !== undefined && code > 128 && code <= 128 + 31) {
    const name = Object.entries(osConstants.signals).find(([, n]) => n === code - 128)?.[0]
    if (name) return { code: undefined, signal: name }
  }
  return { code, signal: undefined }
}

class DockerProc implements Proc {
  readonly argv: readonly string[]
  readonly started: Promise<void>
  readonly exited: Promise<ExitInfo>
  hasExited = false
  private readonly ref: ContainerRef
  private attached: Attached | undefined
  private pid: number | undefined
  private stopping: Promise<ExitInfo> | undefined

  constructor(ref: ContainerRef, argv: readonly string[], opts: SpawnOptions) {
    if (argv.length === 0) throw new Error('spawnInContainer: empty argv')
    this.ref = ref
    this.argv = argv
    const stdoutLines = opts.onStdoutData || !opts.onStdoutLine ? undefined : new LineBuffer(opts.onStdoutLine)
    const stderrLines = opts.onStderrLine ? new LineBuffer(opts.onStderrLine) : undefined
    const onStdout = (b: Buffer): void => {
      if (opts.onStdoutData) opts.onStdoutData(b)
      else stdoutLines?.push(b)
    }
    let headerDone!: () => void
    const headerSeen = new Promise<void>((resolve) => (headerDone = resolve))
    const header = new WrapperHeader(() => headerDone(), (b) => stderrLines?.push(b))

    const attaching = attachExec(ref, wrapArgv(argv), opts.stdin === true, onStdout, (b) => header.push(b))
    const started = (async () => {
      try {
        this.attached = await attaching
      } catch (e: unknown) {
        throw toLabError(e, `cannot start "${argv.join(' ')}" on ${ref.host}`)
      }
      await Promise.race([headerSeen, this.attached.closed])
      if (header.missing !== undefined) throw missingProgramError(ref, argv, header.missing)
      if (header.pid === undefined) {
        const stderr = header.leftover().toString()
        const code = await exitCodeOf(this.attached.exec).catch(() => undefined)
        throw new ProcessError({ argv, host: ref.host, exitCode: code, signal: undefined, stderr })
      }
      this.pid = header.pid
    })()
    started.catch(() => undefined)
    this.started = started

    this.exited = (async (): Promise<ExitInfo> => {
      try {
        await started
      } catch {
        return { code: header.missing !== undefined ? 127 : undefined, signal: undefined }
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
    if (this.hasExited || this.pid === undefined) return
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
  constructor(private readonly onLine: (line: string) => void) {}
  push(chunk: Buffer): void {
    this.buf += chunk.toString()
    let i: number
    while ((i = this.buf.indexOf('\n')) >= 0) {
      this.onLine(this.buf.slice(0, i).replace(/\r$/, ''))
      this.buf = this.buf.slice(i + 1)
    }
  }
  flush(): void {
    if (this.buf) this.onLine(this.buf)
    this.buf = ''
  }
}
