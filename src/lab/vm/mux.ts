// The runner's end of the guest's command multiplexer (agent/vminit/tcplab-vminit.c):
// frames over the virtio-serial port, which QEMU connects to a unix socket we listen on.
//   u32 len (bytes after this field), u8 type, u32 id, payload; little endian.
// One frame stream carries every process of the guest: spawn, stdin, signals,
// stdout/stderr chunks, exits, and clock readings.

import type { Socket } from 'node:net'
import { constants as osConstants } from 'node:os'
import { LabError, ProcessError } from '../../util/errors.js'
import { lineSplitter, stopGracefully } from '../../util/proc.js'
import { hostRealtimeUs as hostNowUs } from './clock.js'
import type { ExecOptions, ExecResult, ExitInfo, Proc, SpawnOptions } from '../types.js'

export const FRAME = {
  spawn: 1, stdin: 2, stdinEnd: 3, signal: 4, time: 5, setTime: 6, powerOff: 7, netnsDel: 8, write: 9, configure: 10,
  ready: 64, started: 65, stdout: 66, stderr: 67, exit: 68, spawnErr: 69, timeReply: 70, log: 71, done: 72,
} as const

/** A guest clock reading: CLOCK_REALTIME and CLOCK_MONOTONIC in ns, and when (host µs) we sent and received it. */
export interface GuestTime {
  realtimeNs: bigint
  monotonicNs: bigint
  sentUs: number
  receivedUs: number
}

interface Pending {
  proc?: MuxProc
  time?: (t: GuestTime) => void
  sentUs?: number
  /** A DONE reply: one errno per item (0: done). */
  done?: (errnos: number[]) => void
  fail?: (e: Error) => void
}

/** The ip-batch lines the guest's init does itself (CONFIGURE): those of a lab plan's namespaces (lab/netns planLab). */
export const CONFIGURE_LINE = /^(link set \S+ up|link set \S+ master \S+ up|link add \S+ type bridge|addr add [\d.]+\/\d+ dev \S+|route add [\d.]+\/\d+ via [\d.]+)$/

/** An errno number's name (ENOENT), or "errno N". */
export function errnoName(n: number): string {
  return Object.entries(osConstants.errno).find(([, v]) => v === n)?.[0] ?? `errno ${n}`
}

/** NUL-terminated strings. */
function cstrings(xs: readonly string[]): Buffer {
  return Buffer.concat(xs.map((x) => Buffer.from(`${x}\0`, 'utf8')))
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
    if (len < 5) throw new LabError(`guest multiplexer: bad frame length ${len}`)
    if (buf.length - off < 4 + len) break
    onFrame(buf.readUInt8(off + 4), buf.readUInt32LE(off + 5), buf.subarray(off + 9, off + 4 + len))
    off += 4 + len
  }
  return buf.subarray(off)
}

export class Mux {
  private nextId = 1
  private readonly pending = new Map<number, Pending>()
  private tail: Buffer = Buffer.alloc(0)
  private closedError: Error | undefined
  /** The guest's READY: its kernel release. */
  readonly ready: Promise<string>
  private onReady: (release: string) => void = () => undefined
  /** Where guest LOG frames go. */
  onLog: (text: string) => void = () => undefined

  constructor(private readonly sock: Socket, private readonly label: string) {
    this.ready = new Promise((resolve) => {
      this.onReady = resolve
    })
    sock.on('data', (chunk: Buffer) => {
      this.tail = decodeFrames(this.tail.length === 0 ? chunk : Buffer.concat([this.tail, chunk]), (t, id, p) => this.dispatch(t, id, p))
    })
    const close = (): void => this.fail(new LabError(`${label}: the guest's connection closed`))
    sock.on('close', close)
    sock.on('error', close)
  }

  get isClosed(): boolean {
    return this.closedError !== undefined
  }

  /** Every process and pending request fails: the guest is gone. */
  fail(e: Error): void {
    if (this.closedError) return
    this.closedError = e
    for (const [id, p] of this.pending) {
      p.proc?.onExit({ code: undefined, signal: 'SIGKILL' }, e)
      p.fail?.(e)
      this.pending.delete(id)
    }
  }

  send(type: number, id: number, payload?: Buffer): void {
    if (this.closedError) return
    this.sock.write(encodeFrame(type, id, payload))
  }

  private dispatch(type: number, id: number, p: Buffer): void {
    if (type === FRAME.ready) return this.onReady(p.toString('utf8'))
    if (type === FRAME.log) return this.onLog(p.toString('utf8'))
    const pend = this.pending.get(id)
    if (!pend) return
    switch (type) {
      case FRAME.timeReply:
        this.pending.delete(id)
        pend.time?.({ realtimeNs: p.readBigInt64LE(0), monotonicNs: p.readBigInt64LE(8), sentUs: pend.sentUs ?? 0, receivedUs: hostNowUs() })
        return
      case FRAME.done: {
        this.pending.delete(id)
        const errnos: number[] = []
        for (let off = 0; off + 4 <= p.length; off += 4) errnos.push(p.readInt32LE(off))
        pend.done?.(errnos)
        return
      }
      case FRAME.started:
        pend.proc?.onStarted(p.readUInt32LE(0))
        return
      case FRAME.spawnErr: {
        this.pending.delete(id)
        pend.proc?.onSpawnError(errnoName(p.readInt32LE(0)))
        return
      }
      case FRAME.stdout:
        pend.proc?.onStdout(Buffer.from(p))
        return
      case FRAME.stderr:
        pend.proc?.onStderr(Buffer.from(p))
        return
      case FRAME.exit: {
        this.pending.delete(id)
        const code = p.readInt32LE(0)
        const sig = p.readInt32LE(4)
        const signal = sig > 0 ? Object.entries(osConstants.signals).find(([, n]) => n === sig)?.[0] : undefined
        pend.proc?.onExit({ code: code >= 0 && sig === 0 ? code : undefined, signal })
        return
      }
      default:
    }
  }

  /** Read the guest's clocks (one round trip). */
  readTime(): Promise<GuestTime> {
    return this.timeRequest(FRAME.time)
  }

  /** Step the guest's CLOCK_REALTIME by `ns` (signed) and read it back. */
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
        this.pending.delete(id)
        reject(new LabError(`${this.label}: no clock reading from the guest within 10 s`))
      }, 10_000)
      this.pending.set(id, { time: (t) => { clearTimeout(timer); resolve(t) }, sentUs: hostNowUs() })
      this.send(type, id, payload)
    })
  }

  /**
   * Delete the guest's named network namespaces (NETNS_RUN_DIR, as `ip netns add` made them),
   * SIGKILLing what runs in each first; done by the guest's init, no program started. Missing ones
   * are fine. Resolves with a message per namespace that could not be deleted.
   */
  async deleteNetns(names: readonly string[]): Promise<string[]> {
    const errnos = await this.request(FRAME.netnsDel, cstrings(names), 'delete namespaces')
    return names.flatMap((n, i) => (errnos[i] ?? 0) !== 0 ? [`${n}: ${errnoName(errnos[i] as number)}`] : [])
  }

  /**
   * Write files in the guest, from inside network namespace `netns` (its /proc/sys/net) or the
   * guest's own (""), by the guest's init: no program started. One errno per file (0: written).
   */
  writeFiles(netns: string, files: ReadonlyArray<readonly [path: string, data: string]>): Promise<number[]> {
    return this.request(FRAME.write, cstrings([netns, ...files.flat()]), 'write files')
  }

  /**
   * Run ip-batch lines of the forms CONFIGURE_LINE matches inside network namespace `netns`, over
   * rtnetlink by the guest's init (no program started), in order, stopping at the first failure.
   * One errno per line (0: done; ECANCELED: not run after a failure).
   */
  configureNetns(netns: string, lines: readonly string[]): Promise<number[]> {
    return this.request(FRAME.configure, cstrings([netns, ...lines]), 'configure a namespace')
  }

  private request(type: number, payload: Buffer, what: string): Promise<number[]> {
    if (this.closedError) return Promise.reject(this.closedError)
    const id = this.nextId++
    return new Promise<number[]>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id)
        reject(new LabError(`${this.label}: the guest did not ${what} within 30 s`))
      }, 30_000)
      this.pending.set(id, {
        done: (r) => { clearTimeout(timer); resolve(r) },
        fail: (e) => { clearTimeout(timer); reject(e) },
      })
      this.send(type, id, payload)
    })
  }

  /** Start a process in the guest (its own process group there), in network namespace `netns` if given (entered by the guest's init, as `ip netns exec` would). */
  spawn(argv: readonly string[], opts: SpawnOptions = {}, host = this.label, netns?: string): Proc {
    const id = this.nextId++
    const proc = new MuxProc(this, id, argv, opts, host)
    if (this.closedError) {
      proc.onSpawnError(this.closedError.message)
      return proc
    }
    this.pending.set(id, { proc })
    const flags = (opts.stdin ? 1 : 0) | (netns !== undefined ? 2 : 0)
    const parts = [Buffer.from([flags]), cstrings([...(netns !== undefined ? [netns] : []), ...argv])]
    this.send(FRAME.spawn, id, Buffer.concat(parts))
    return proc
  }

  /** Run a command in the guest to completion (ProcessError on failure, like util/proc runCommand). */
  async exec(argv: readonly string[], opts: ExecOptions & { host?: string; netns?: string } = {}): Promise<ExecResult> {
    const out: Buffer[] = []
    const err: Buffer[] = []
    const proc = this.spawn(argv, { stdin: opts.input !== undefined, onStdoutData: (b) => out.push(b), onStderrData: (b: Buffer) => err.push(b) } as SpawnOptions, opts.host, opts.netns)
    let timedOut = false
    const timer = setTimeout(() => {
      timedOut = true
      void proc.stop({ graceMs: 2000 })
    }, opts.timeoutMs ?? 30_000)
    try {
      await proc.started.catch((e: unknown) => {
        throw new ProcessError({ argv, host: opts.host ?? this.label, exitCode: undefined, signal: undefined, stderr: (e as Error).message }, { cause: e })
      })
      if (opts.input !== undefined) {
        await proc.write(opts.input)
        proc.endStdin()
      }
      const info = await proc.exited
      const result: ExecResult = { exitCode: info.code ?? -1, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') }
      if ((opts.reject ?? true) && (info.code !== 0 || info.signal)) {
        throw new ProcessError({ argv, host: opts.host ?? this.label, exitCode: info.code, signal: timedOut ? 'timeout' : info.signal, stderr: result.stderr })
      }
      return result
    } finally {
      clearTimeout(timer)
    }
  }
}

/** A process in the guest, seen through the multiplexer. */
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
    this.resolveStarted()
  }

  onSpawnError(why: string): void {
    const e = new ProcessError({ argv: this.argv, host: this.host, exitCode: undefined, signal: undefined, stderr: `cannot start in the guest: ${why}` }, {
      hint: why === 'ENOENT' ? `"${this.argv[0] ?? ''}" is not installed (the vm guest runs this machine's programs, through its shared root)` : undefined,
    })
    this.rejectStarted(e)
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
    this.resolveExited(info)
  }

  async write(data: string | Buffer): Promise<void> {
    if (!this.stdinOpen || this.hasExited) throw new Error(`stdin of "${this.argv.join(' ')}" is closed`)
    const b = typeof data === 'string' ? Buffer.from(data, 'utf8') : data
    // Frames stay well under the guest's 4 MiB limit.
    for (let off = 0; off < b.length; off += 1 << 20) this.mux.send(FRAME.stdin, this.id, b.subarray(off, off + (1 << 20)))
  }

  endStdin(): void {
    if (!this.stdinOpen) return
    this.stdinOpen = false
    this.mux.send(FRAME.stdinEnd, this.id)
  }

  async signal(sig: NodeJS.Signals): Promise<void> {
    if (this.hasExited) return
    const n = osConstants.signals[sig]
    const b = Buffer.alloc(4)
    b.writeUInt32LE(n)
    this.mux.send(FRAME.signal, this.id, b)
  }

  stop(opts: { sig?: NodeJS.Signals; graceMs?: number } = {}): Promise<ExitInfo> {
    if (this.hasExited) return this.exited
    this.stopping ??= stopGracefully(this, opts)
    return this.stopping
  }
}
