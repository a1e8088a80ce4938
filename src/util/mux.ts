// The runner's end of a process multiplexer (agent/vminit/tcplab-vminit.c): one
// frame stream carries every process it starts: spawn, stdin, signals,
// stdout/stderr chunks, exits; and, for a vm guest, clock readings and the
// requests its init serves itself (delete namespaces, write files, configure
// links over rtnetlink), each answered by a DONE frame.
//   u32 len (bytes after this field), u8 type, u32 id, payload; little endian.
// Two ends use it: a vm guest's init over virtio-serial (src/lab/vm/mux.ts),
// and this machine's spawner over a pipe (spawner.ts).

import { constants as osConstants } from 'node:os'
import { LabError, MissingToolError, ProcessError } from './errors.js'
import type { ExecOptions, ExecResult, ExitInfo, Proc, SpawnOptions } from '../lab/types.js'

export const FRAME = {
  spawn: 1, stdin: 2, stdinEnd: 3, signal: 4, time: 5, setTime: 6, powerOff: 7, netnsDel: 8, write: 9, configure: 10,
  ready: 64, started: 65, stdout: 66, stderr: 67, exit: 68, spawnErr: 69, timeReply: 70, log: 71, done: 72,
} as const

/** A clock reading of the other end: CLOCK_REALTIME and CLOCK_MONOTONIC in ns, and when (our µs) we sent and received it. */
export interface GuestTime {
  realtimeNs: bigint
  monotonicNs: bigint
  sentUs: number
  receivedUs: number
}

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

/** An errno number's name (ENOENT), or "errno N". */
export function errnoName(n: number): string {
  return Object.entries(osConstants.errno).find(([, v]) => v === n)?.[0] ?? `errno ${n}`
}

/** NUL-terminated strings. */
function cstrings(xs: readonly string[]): Buffer {
  return Buffer.concat(xs.map((x) => Buffer.from(`${x}\0`, 'utf8')))
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

export interface MuxOptions {
  /** A program that cannot be started (errno name, e.g. ENOENT): the error for it. */
  spawnError?: (argv: readonly string[], errno: string, host: string) => Error
  /** Each process started (pid) and ended, e.g. to kill what is left at exit. */
  onStarted?: (pid: number) => void
  onEnded?: (pid: number) => void
  /** The first process or request of a busy spell starts / the last one ends (to ref and unref the transport). */
  onBusy?: () => void
  onIdle?: () => void
  /** Our clock, µs (clock readings are stamped with it; default Date.now()). */
  clockUs?: () => number
}

interface Pending {
  proc?: MuxProc
  time?: (t: GuestTime) => void
  sentUs?: number
  /** A DONE reply: one errno per item (0: done). */
  done?: (errnos: number[]) => void
  fail?: (e: Error) => void
}

export class Mux {
  private nextId = 1
  private readonly pending = new Map<number, Pending>()
  private tail: Buffer = Buffer.alloc(0)
  private closedError: Error | undefined
  /** READY: the kernel release where the processes run. */
  readonly ready: Promise<string>
  private onReady: (release: string) => void = () => undefined
  /** Where LOG frames go. */
  onLog: (text: string) => void = () => undefined

  constructor(private readonly transport: MuxTransport, readonly label: string, private readonly opts: MuxOptions = {}) {
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

  /** Every process and pending request fails: the other end is gone. */
  fail(e: Error): void {
    if (this.closedError) return
    this.closedError = e
    for (const [id, p] of this.pending) {
      this.pending.delete(id)
      p.proc?.onExit({ code: undefined, signal: 'SIGKILL' }, e)
      p.fail?.(e)
    }
    this.opts.onIdle?.()
  }

  send(type: number, id: number, payload?: Buffer): void {
    if (this.closedError) return
    this.transport.write(encodeFrame(type, id, payload))
  }

  private now(): number {
    return this.opts.clockUs?.() ?? Date.now() * 1000
  }

  private add(id: number, p: Pending): void {
    if (this.pending.size === 0) this.opts.onBusy?.()
    this.pending.set(id, p)
  }

  private remove(id: number): void {
    if (this.pending.delete(id) && this.pending.size === 0) this.opts.onIdle?.()
  }

  private dispatch(type: number, id: number, p: Buffer): void {
    if (type === FRAME.ready) return this.onReady(p.toString('utf8'))
    if (type === FRAME.log) return this.onLog(p.toString('utf8'))
    const pend = this.pending.get(id)
    if (!pend) return
    switch (type) {
      case FRAME.timeReply:
        this.remove(id)
        pend.time?.({ realtimeNs: p.readBigInt64LE(0), monotonicNs: p.readBigInt64LE(8), sentUs: pend.sentUs ?? 0, receivedUs: this.now() })
        return
      case FRAME.done: {
        this.remove(id)
        const errnos: number[] = []
        for (let off = 0; off + 4 <= p.length; off += 4) errnos.push(p.readInt32LE(off))
        pend.done?.(errnos)
        return
      }
      case FRAME.started:
        pend.proc?.onStarted(p.readUInt32LE(0))
        return
      case FRAME.spawnErr:
        this.remove(id)
        pend.proc?.onSpawnError(errnoName(p.readInt32LE(0)))
        return
      case FRAME.stdout:
        pend.proc?.onStdout(Buffer.from(p))
        return
      case FRAME.stderr:
        pend.proc?.onStderr(Buffer.from(p))
        return
      case FRAME.exit: {
        this.remove(id)
        const code = p.readInt32LE(0)
        const sig = p.readInt32LE(4)
        const signal = sig > 0 ? Object.entries(osConstants.signals).find(([, n]) => n === sig)?.[0] : undefined
        pend.proc?.onExit({ code: code >= 0 && sig === 0 ? code : undefined, signal })
        return
      }
      default:
    }
  }

  /** Read the other end's clocks (one round trip). */
  readTime(): Promise<GuestTime> {
    return this.timeRequest(FRAME.time)
  }

  /** Step the other end's CLOCK_REALTIME by `ns` (signed) and read it back (a vm guest only). */
  stepTime(ns: bigint): Promise<GuestTime> {
    const b = Buffer.alloc(8)
    b.writeBigInt64LE(ns)
    return this.timeRequest(FRAME.setTime, b)
  }

  private timeRequest(type: number, payload?: Buffer): Promise<GuestTime> {
    if (this.closedError) return Promise.reject(this.closedError)
    const id = this.nextId++
    return new Promise<GuestTime>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.remove(id)
        reject(new LabError(`${this.label}: no clock reading within 10 s`))
      }, 10_000)
      this.add(id, { time: (t) => { clearTimeout(timer); resolve(t) }, fail: (e) => { clearTimeout(timer); reject(e) }, sentUs: this.now() })
      this.send(type, id, payload)
    })
  }

  /**
   * Delete the named network namespaces (NETNS_RUN_DIR, as `ip netns add` made them), SIGKILLing
   * what runs in each first; done by the init itself, no program started. Missing ones are fine.
   * Resolves with a message per namespace that could not be deleted.
   */
  async deleteNetns(names: readonly string[]): Promise<string[]> {
    const errnos = await this.request(FRAME.netnsDel, cstrings(names), 'delete namespaces')
    return names.flatMap((n, i) => (errnos[i] ?? 0) !== 0 ? [`${n}: ${errnoName(errnos[i] as number)}`] : [])
  }

  /**
   * Write files from inside network namespace `netns` (its /proc/sys/net) or the init's own (""),
   * by the init: no program started. One errno per file (0: written).
   */
  writeFiles(netns: string, files: ReadonlyArray<readonly [path: string, data: string]>): Promise<number[]> {
    return this.request(FRAME.write, cstrings([netns, ...files.flat()]), 'write files')
  }

  /**
   * Run ip-batch lines (the forms src/lab/vm/mux.ts CONFIGURE_LINE matches) inside network namespace
   * `netns`, over rtnetlink by the init (no program started), in order, stopping at the first
   * failure. One errno per line (0: done; ECANCELED: not run after a failure).
   */
  configureNetns(netns: string, lines: readonly string[]): Promise<number[]> {
    return this.request(FRAME.configure, cstrings([netns, ...lines]), 'configure a namespace')
  }

  private request(type: number, payload: Buffer, what: string): Promise<number[]> {
    if (this.closedError) return Promise.reject(this.closedError)
    const id = this.nextId++
    return new Promise<number[]>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.remove(id)
        reject(new LabError(`${this.label}: could not ${what} within 30 s`))
      }, 30_000)
      this.add(id, {
        done: (r) => { clearTimeout(timer); resolve(r) },
        fail: (e) => { clearTimeout(timer); reject(e) },
      })
      this.send(type, id, payload)
    })
  }

  /**
   * Start a process (its own process group), in network namespace `netns` if given (entered by the
   * init, as `ip netns exec` would).
   */
  spawn(argv: readonly string[], opts: SpawnOptions & { onStderrData?: (b: Buffer) => void } = {}, host = this.label, netns?: string): Proc {
    const id = this.nextId++
    const proc = new MuxProc(this, id, argv, opts, host)
    if (this.closedError) {
      proc.onSpawnError(this.closedError.message)
      return proc
    }
    this.add(id, { proc })
    const flags = (opts.stdin ? 1 : 0) | (netns !== undefined ? 2 : 0)
    this.send(FRAME.spawn, id, Buffer.concat([Buffer.from([flags]), cstrings([...(netns !== undefined ? [netns] : []), ...argv])]))
    return proc
  }

  /** Run a command to completion (ProcessError on failure, the spawn error when it cannot start). */
  async exec(argv: readonly string[], opts: ExecOptions & { host?: string; netns?: string } = {}): Promise<ExecResult> {
    const out: Buffer[] = []
    const err: Buffer[] = []
    const host = opts.host ?? this.label
    const proc = this.spawn(argv, { stdin: opts.input !== undefined, onStdoutData: (b) => out.push(b), onStderrData: (b) => err.push(b) }, host, opts.netns)
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
  }

  spawnError(argv: readonly string[], errno: string, host: string): Error {
    if (this.opts.spawnError) return this.opts.spawnError(argv, errno, host)
    const file = argv[0] ?? ''
    if (errno === 'ENOENT') return new MissingToolError(file, PACKAGE_OF[file] ?? file)
    return new ProcessError({ argv, host, exitCode: undefined, signal: undefined, stderr: `cannot start: ${errno}` })
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
  private readonly outLines: ReturnType<typeof lineSplitter> | undefined
  private readonly errLines: ReturnType<typeof lineSplitter> | undefined

  constructor(
    private readonly mux: Mux,
    private readonly id: number,
    readonly argv: readonly string[],
    private readonly opts: SpawnOptions & { onStderrData?: (b: Buffer) => void },
    private readonly host: string,
  ) {
    this.stdinOpen = opts.stdin === true
    this.outLines = opts.onStdoutLine ? lineSplitter(opts.onStdoutLine) : undefined
    this.errLines = opts.onStderrLine ? lineSplitter(opts.onStderrLine) : undefined
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
    else this.outLines?.push(b)
  }

  onStderr(b: Buffer): void {
    if (this.opts.onStderrData) this.opts.onStderrData(b)
    else this.errLines?.push(b)
  }

  onExit(info: ExitInfo, err?: Error): void {
    if (err) this.rejectStarted(err)
    this.finish(info)
  }

  private finish(info: ExitInfo): void {
    if (this.hasExited) return
    this.outLines?.end()
    this.errLines?.end()
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
    this.stopping ??= stopGracefully(this, opts)
    return this.stopping
  }
}

/**
 * The stop sequence of a Proc (local, through the spawner, or in a vm guest): `sig` (default
 * SIGTERM) to its group, then SIGCONT (a stopped process cannot act on SIGTERM/SIGINT until
 * continued), then SIGKILL after `graceMs` (default 2000) unless it has exited; resolves with its exit.
 */
export async function stopGracefully(p: Pick<Proc, 'signal' | 'exited'>, opts: { sig?: NodeJS.Signals; graceMs?: number } = {}): Promise<ExitInfo> {
  await p.signal(opts.sig ?? 'SIGTERM')
  await p.signal('SIGCONT')
  const timer = setTimeout(() => void p.signal('SIGKILL'), opts.graceMs ?? 2000)
  try {
    return await p.exited
  } finally {
    clearTimeout(timer)
  }
}

/**
 * A line splitter: push() chunks, `onLine` gets each complete line (without \r\n); end() flushes
 * a trailing partial line.
 */
export function lineSplitter(onLine: (line: string) => void): { push(chunk: Buffer | string): void; end(): void } {
  let buf = ''
  return {
    push(chunk) {
      buf += chunk.toString()
      let i: number
      while ((i = buf.indexOf('\n')) >= 0) {
        onLine(buf.slice(0, i).replace(/\r$/, ''))
        buf = buf.slice(i + 1)
      }
    },
    end() {
      if (buf) onLine(buf)
      buf = ''
    },
  }
}
