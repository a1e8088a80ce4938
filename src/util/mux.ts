// The runner's end of a process multiplexer (agent/vminit/tcplab-vminit.c): one
// frame stream carries every process it starts: spawn, stdin, signals,
// stdout/stderr chunks, exits (and, for a vm guest, clock readings).
//   u32 len (bytes after this field), u8 type, u32 id, payload; little endian.
// Two ends use it: a vm guest's init over virtio-serial (src/lab/vm/), and
// this machine's spawner over a pipe (spawner.ts).

import { constants as osConstants } from 'node:os'
import { LabError, MissingToolError, ProcessError } from './errors.js'
import type { ExecOptions, ExecResult, ExitInfo, Proc, SpawnOptions } from '../lab/types.js'

export const FRAME = {
  spawn: 1, stdin: 2, stdinEnd: 3, signal: 4, time: 5, setTime: 6, powerOff: 7,
  ready: 64, started: 65, stdout: 66, stderr: 67, exit: 68, spawnErr: 69, timeReply: 70, log: 71,
} as const

/** Encode one frame. */
export function encodeFrame(type: number, id: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const b = Buffer.allocUnsafe(9 + payload.length)
  b.writeUInt32LE(payload.length + 5, 0)
  b.writeUInt8(type, 4)
  b.writeUInt32LE(id >>> 0, 5)
  payload.copy(b, 9)
  return b
}

/** Split a byte stream into frames; returns the unconsumed tail. */
export function decodeFrames(buf: Buffer, onFrame: (type: number, id: number, payload: Buffer) => void): Buffer {
  let off = 0
  while (buf.length - off >= 9) {
    const len = buf.readUInt32LE(off)
    if (len < 5) throw new LabError(`process multiplexer: bad frame length ${len}`)
    if (buf.length - off < 4 + len) break
    onFrame(buf.readUInt8(off + 4), buf.readUInt32LE(off + 5), buf.subarray(off + 9, off + 4 + len))
    off += 4 + len
  }
  return buf.subarray(off)
}

/** The two directions of the frame stream. */
export interface MuxTransport {
  write(frame: Buffer): void
  onData(fn: (chunk: Buffer) => void): void
  onClose(fn: () => void): void
}

/** Debian package of each tool we may need, for the "apt-get install" hint. */
export const PACKAGE_OF: Record<string, string> = {
  ip: 'iproute2', ss: 'iproute2', tc: 'iproute2', iptables: 'iptables', ip6tables: 'iptables',
  tcpdump: 'tcpdump', nc: 'netcat-openbsd', telnet: 'telnet', sysctl: 'procps', nsenter: 'util-linux',
}

/** SIGKILL a timed-out command this long after its SIGTERM. */
export const FORCE_KILL_AFTER_MS = 5000

interface MuxOptions {
  /** Names where the processes run, for errors ("the guest", "this machine"). */
  where: string
  /** A program that cannot be started: the error for it. */
  spawnError?: (argv: readonly string[], errno: string, host: string) => Error
  /** Each process started (pid) and ended, e.g. to kill what is left at exit. */
  onStarted?: (pid: number) => void
  onEnded?: (pid: number) => void
  /** The first process of a busy spell starts / the last one ends (e.g. to ref and unref the transport). */
  onBusy?: () => void
  onIdle?: () => void
  /** Frames the multiplexer does not handle itself (a guest's clock replies, logs). */
  onOtherFrame?: (type: number, id: number, payload: Buffer) => boolean
}

export class Mux {
  private nextId = 1
  private readonly procs = new Map<number, MuxProc>()
  private tail: Buffer = Buffer.alloc(0)
  private closedError: Error | undefined
  /** READY: the kernel release where the processes run. */
  readonly ready: Promise<string>
  private onReady: (release: string) => void = () => undefined

  constructor(private readonly transport: MuxTransport, readonly label: string, private readonly opts: MuxOptions) {
    this.ready = new Promise((resolve) => {
      this.onReady = resolve
    })
    transport.onData((chunk) => {
      this.tail = decodeFrames(this.tail.length === 0 ? chunk : Buffer.concat([this.tail, chunk]), (t, id, p) => this.dispatch(t, id, p))
    })
    transport.onClose(() => this.fail(new LabError(`${label}: the multiplexer's connection closed`)))
  }

  get isClosed(): boolean {
    return this.closedError !== undefined
  }

  /** How many processes have not ended yet. */
  get live(): number {
    return this.procs.size
  }

  /** A new request id (for frames the caller exchanges itself, e.g. clock readings). */
  newId(): number {
    return this.nextId++
  }

  /** Every process fails: the other end is gone. */
  fail(e: Error): void {
    if (this.closedError) return
    this.closedError = e
    for (const [id, p] of this.procs) {
      p.onExit({ code: undefined, signal: 'SIGKILL' }, e)
      this.procs.delete(id)
    }
  }

  send(type: number, id: number, payload?: Buffer): void {
    if (this.closedError) return
    this.transport.write(encodeFrame(type, id, payload))
  }

  private dispatch(type: number, id: number, p: Buffer): void {
    if (type === FRAME.ready) return this.onReady(p.toString('utf8'))
    const proc = this.procs.get(id)
    if (!proc) {
      this.opts.onOtherFrame?.(type, id, p)
      return
    }
    switch (type) {
      case FRAME.started:
        proc.onStarted(p.readUInt32LE(0))
        return
      case FRAME.spawnErr: {
        this.procs.delete(id)
        const errno = p.readInt32LE(0)
        proc.onSpawnError(Object.entries(osConstants.errno).find(([, n]) => n === errno)?.[0] ?? `errno ${errno}`)
        return
      }
      case FRAME.stdout:
        proc.onStdout(Buffer.from(p))
        return
      case FRAME.stderr:
        proc.onStderr(Buffer.from(p))
        return
      case FRAME.exit: {
        this.procs.delete(id)
        const code = p.readInt32LE(0)
        const sig = p.readInt32LE(4)
        const signal = sig > 0 ? Object.entries(osConstants.signals).find(([, n]) => n === sig)?.[0] : undefined
        proc.onExit({ code: code >= 0 && sig === 0 ? code : undefined, signal })
        return
      }
      default:
        this.opts.onOtherFrame?.(type, id, p)
    }
  }

  /** Start a process (it leads its own process group). */
  spawn(argv: readonly string[], opts: SpawnOptions & { onStderrData?: (b: Buffer) => void } = {}, host = this.label): Proc {
    const id = this.nextId++
    const proc = new MuxProc(this, id, argv, opts, host)
    if (this.closedError) {
      proc.onSpawnError(this.closedError.message)
      return proc
    }
    if (this.procs.size === 0) this.opts.onBusy?.()
    this.procs.set(id, proc)
    const parts = [Buffer.from([opts.stdin ? 1 : 0]), ...argv.map((a) => Buffer.from(`${a}\0`, 'utf8'))]
    this.send(FRAME.spawn, id, Buffer.concat(parts))
    return proc
  }

  /** Run a command to completion (ProcessError on failure, MissingToolError when it is not there). */
  async exec(argv: readonly string[], opts: ExecOptions & { host?: string } = {}): Promise<ExecResult> {
    const out: Buffer[] = []
    const err: Buffer[] = []
    const host = opts.host ?? this.label
    const proc = this.spawn(argv, { stdin: opts.input !== undefined, onStdoutData: (b) => out.push(b), onStderrData: (b) => err.push(b) }, host)
    let timedOut = false
    const timer = setTimeout(() => {
      timedOut = true
      void proc.stop({ graceMs: FORCE_KILL_AFTER_MS })
    }, opts.timeoutMs ?? 30_000)
    try {
      await proc.started
      if (opts.input !== undefined) {
        await proc.write(opts.input)
        proc.endStdin()
      }
      const info = await proc.exited
      const result: ExecResult = { exitCode: info.code ?? -1, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') }
      if ((opts.reject ?? true) && (info.code !== 0 || info.signal)) {
        throw new ProcessError({ argv, host, exitCode: info.code, signal: timedOut ? 'timeout' : info.signal, stderr: result.stderr })
      }
      return result
    } finally {
      clearTimeout(timer)
    }
  }

  /** For MuxProc: a process started or ended. */
  started(pid: number): void {
    this.opts.onStarted?.(pid)
  }

  ended(pid: number | undefined): void {
    if (pid !== undefined) this.opts.onEnded?.(pid)
    if (this.procs.size === 0) this.opts.onIdle?.()
  }

  spawnError(argv: readonly string[], errno: string, host: string): Error {
    if (this.opts.spawnError) return this.opts.spawnError(argv, errno, host)
    const file = argv[0] ?? ''
    if (errno === 'ENOENT') return new MissingToolError(file, PACKAGE_OF[file] ?? file)
    return new ProcessError({ argv, host, exitCode: undefined, signal: undefined, stderr: `cannot start ${this.opts.where}: ${errno}` })
  }
}

/** A process seen through the multiplexer. */
class MuxProc implements Proc {
  readonly started: Promise<void>
  readonly exited: Promise<ExitInfo>
  hasExited = false
  pid: number | undefined
  private resolveStarted: () => void = () => undefined
  private rejectStarted: (e: Error) => void = () => undefined
  private resolveExited: (i: ExitInfo) => void = () => undefined
  private stdinOpen: boolean
  private stopping: Promise<ExitInfo> | undefined
  private outTail = ''
  private errTail = ''

  constructor(
    private readonly mux: Mux,
    private readonly id: number,
    readonly argv: readonly string[],
    private readonly opts: SpawnOptions & { onStderrData?: (b: Buffer) => void },
    private readonly host: string,
  ) {
    this.stdinOpen = opts.stdin === true
    this.started = new Promise((resolve, reject) => {
      this.resolveStarted = resolve
      this.rejectStarted = reject
    })
    this.started.catch(() => undefined)
    this.exited = new Promise((resolve) => {
      this.resolveExited = resolve
    })
  }

  onStarted(pid: number): void {
    this.pid = pid
    this.mux.started(pid)
    this.resolveStarted()
  }

  onSpawnError(why: string): void {
    this.rejectStarted(this.mux.spawnError(this.argv, why, this.host))
    this.finish({ code: undefined, signal: undefined })
  }

  onStdout(b: Buffer): void {
    if (this.opts.onStdoutData) this.opts.onStdoutData(b)
    else if (this.opts.onStdoutLine) this.outTail = emitLines(this.outTail + b.toString('utf8'), this.opts.onStdoutLine)
  }

  onStderr(b: Buffer): void {
    if (this.opts.onStderrData) this.opts.onStderrData(b)
    else if (this.opts.onStderrLine) this.errTail = emitLines(this.errTail + b.toString('utf8'), this.opts.onStderrLine)
  }

  onExit(info: ExitInfo, err?: Error): void {
    if (err) this.rejectStarted(err)
    this.finish(info)
  }

  private finish(info: ExitInfo): void {
    if (this.hasExited) return
    if (this.outTail && this.opts.onStdoutLine) this.opts.onStdoutLine(this.outTail)
    if (this.errTail && this.opts.onStderrLine) this.opts.onStderrLine(this.errTail)
    this.outTail = ''
    this.errTail = ''
    this.hasExited = true
    this.mux.ended(this.pid)
    this.resolveExited(info)
  }

  async write(data: string | Buffer): Promise<void> {
    if (!this.stdinOpen || this.hasExited) throw new Error(`stdin of "${this.argv.join(' ')}" is closed`)
    const b = typeof data === 'string' ? Buffer.from(data, 'utf8') : data
    // Frames stay well under the other end's 4 MiB limit.
    for (let off = 0; off < b.length; off += 1 << 20) this.mux.send(FRAME.stdin, this.id, b.subarray(off, off + (1 << 20)))
  }

  endStdin(): void {
    if (!this.stdinOpen) return
    this.stdinOpen = false
    this.mux.send(FRAME.stdinEnd, this.id)
  }

  async signal(sig: NodeJS.Signals): Promise<void> {
    if (this.hasExited) return
    const b = Buffer.alloc(4)
    b.writeUInt32LE(osConstants.signals[sig])
    this.mux.send(FRAME.signal, this.id, b)
  }

  stop(opts: { sig?: NodeJS.Signals; graceMs?: number } = {}): Promise<ExitInfo> {
    if (this.hasExited) return this.exited
    this.stopping ??= stopProcess(this, opts)
    return this.stopping
  }
}

/**
 * Stop a process: `sig` (default SIGTERM), SIGCONT (a stopped process cannot act on it until
 * continued), SIGKILL after `graceMs` (default 2000) if it is still running.
 */
export async function stopProcess(p: Pick<Proc, 'signal' | 'exited'>, opts: { sig?: NodeJS.Signals; graceMs?: number } = {}): Promise<ExitInfo> {
  await p.signal(opts.sig ?? 'SIGTERM')
  await p.signal('SIGCONT')
  const timer = setTimeout(() => void p.signal('SIGKILL'), opts.graceMs ?? 2000)
  try {
    return await p.exited
  } finally {
    clearTimeout(timer)
  }
}

/** Call onLine for each complete line of `text`; returns the partial last line. */
export function emitLines(text: string, onLine: (l: string) => void): string {
  let i: number
  while ((i = text.indexOf('\n')) >= 0) {
    onLine(text.slice(0, i).replace(/\r$/, ''))
    text = text.slice(i + 1)
  }
  return text
}
