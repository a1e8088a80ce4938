// tcpdump on a lab host, streamed to a local pcap file. tcpdump runs inside the
// host (Host.spawn) and writes the pcap to its stdout (`-w -`); we copy the
// chunks into a local file, so the same code records a namespace, a local
// container, or a container on a remote Docker daemon. Interface indexes in an
// `-i any` (LINUX_SLL2) capture are per network namespace, so the host's
// ifindex -> name map is read with `ip -o link` when the capture starts.
//
// With `onPackets` the same chunks are also parsed as they come (the pcap
// parser's stream form), for steps that wait for a packets mark: the file is
// written exactly as without it, and the end-of-run records still come from
// the file.

import { open, readFile, type FileHandle } from 'node:fs/promises'
import type { ExitInfo, Host, Proc } from '../lab/types.js'
import { MissingToolError, ProcessError, TimeoutError, stderrTail } from '../util/errors.js'
import { sleep } from '../util/sleep.js'
import { parsePcap, PcapStreamParser, toPktRecords, type PcapPacket } from './pcap.js'
import { nowUs, type PktRecord } from './records.js'

/** Enough for SLL2 (20) + IPv6 with extension headers + TCP with 40 bytes of options; no payload. */
export const DEFAULT_SNAPLEN = 262
export const DEFAULT_FILTER: readonly string[] = ['tcp']
/** How long tcpdump may take to print `listening on ...`. */
export const DEFAULT_START_TIMEOUT_MS = 5000
/**
 * Before SIGINT the capture must have settled, or the last packets (often the RST being asserted)
 * are lost: tcpdump's stdout quiet for SETTLE_MS since both the stop request and the last chunk,
 * while our own timers run on time (a machine that starves us starves tcpdump too, so a quiet
 * stream then proves nothing). DEFAULT_DRAIN_MS bounds the wait (traffic that never stops).
 */
export const DEFAULT_DRAIN_MS = 1000
export const DEFAULT_SETTLE_MS = 40
/** Settle ticks: a tick later than TICK_LATE_MS resets the count of on-time ticks. */
const TICK_MS = 10
const TICK_LATE_MS = 5
const ON_TIME_TICKS = 3

export interface CaptureOptions {
  /** Local path of the pcap file to write. */
  file: string
  /** Scenario t0 (µs since the epoch) for the records' `t`; stop() may pass it instead. */
  t0Us?: number | undefined
  /** tcpdump -s (default 262: headers only). */
  snaplen?: number | undefined
  /** pcap-filter(7) expression as argv words (default ["tcp"]). */
  filter?: readonly string[] | undefined
  /** Time allowed until tcpdump says it is listening (default 5000). */
  startTimeoutMs?: number | undefined
  /**
   * Called with the TCP segments of each chunk of the stream as it arrives
   * (from the moment the capture is known to be capturing; earlier ones are
   * held until then), with the host's ifindex -> name map.
   */
  onPackets?: ((pkts: PcapPacket[], ifnames: ReadonlyMap<number, string>) => void) | undefined
  /** The stream could not be parsed as it came (the file is still written): live packets stop. */
  onLiveError?: ((e: Error) => void) | undefined
}

export interface CaptureStopOptions {
  /** Wait at most this long for the capture to settle before SIGINT (default 1000; 0: at once). */
  drainMs?: number | undefined
  /** Quiet time that counts as settled (default 40). */
  settleMs?: number | undefined
  /** t0 for the records; overrides the one given to startCapture. */
  t0Us?: number | undefined
  /** SIGKILL tcpdump if it has not exited this long after SIGINT (default 2000). */
  graceMs?: number | undefined
}

export interface CaptureResult {
  file: string
  /** Every TCP packet of the capture as timeline records of this host, in capture order. */
  packets: PktRecord[]
  /** Bytes written to the file. */
  bytes: number
  /** tcpdump's "N packets dropped by kernel" at exit (undefined when it did not say). */
  kernelDrops?: number | undefined
  /** tcpdump's "N packets captured" and "N packets received by filter" at exit (undefined when it did not say). */
  captured?: number | undefined
  receivedByFilter?: number | undefined
  /** How long stop() waited for the capture to settle before SIGINT, in ms. */
  settledAfterMs: number
  /** How tcpdump ended (code 0 after SIGINT is the normal case). */
  exit: ExitInfo
}

/** A running tcpdump on one host. */
export interface Capture {
  readonly host: string
  readonly file: string
  readonly argv: readonly string[]
  /** Link type tcpdump reported, e.g. "LINUX_SLL2". */
  readonly linkType: string
  /** When it was known to be capturing (µs since the epoch); the t0 fallback. */
  readonly capturingSinceUs: number
  /** ifindex -> name inside the host at capture start. */
  readonly ifnames: ReadonlyMap<number, string>
  /** Drain, SIGINT (tcpdump flushes on it), wait for exit, close and parse the file. Idempotent. */
  stop(opts?: CaptureStopOptions): Promise<CaptureResult>
}

/** tcpdump argv: every interface, numeric, packet-buffered, no kernel batching, pcap on stdout. */
export function buildTcpdumpArgv(snaplen: number, filter: readonly string[]): string[] {
  return ['tcpdump', '-i', 'any', '-n', '-U', '--immediate-mode', '-s', String(snaplen), '-w', '-', ...filter]
}

/** tcpdump's ready line on stderr: "listening on any, link-type LINUX_SLL2 (Linux cooked v2), snapshot length 262 bytes". */
const LISTENING = /listening on (\S+), link-type (\S+)/
/** tcpdump's statistics at exit (tcpdump.c info()). */
const KERNEL_DROPS = /(\d+) packets? dropped by kernel/
const CAPTURED = /(\d+) packets? captured/
const RECEIVED = /(\d+) packets? received by filter/
/** How each way of running a command in a host says the program is not there. */
const NOT_FOUND = /exec of "tcpdump" failed|"tcpdump": executable file not found|tcpdump: (?:command )?not found/
const STDERR_KEPT_LINES = 50

/** Start tcpdump on `host`; resolves once it is capturing, with the file being written. */
export async function startCapture(host: Host, opts: CaptureOptions): Promise<Capture> {
  const argv = buildTcpdumpArgv(opts.snaplen ?? DEFAULT_SNAPLEN, opts.filter ?? DEFAULT_FILTER)
  const fileHandle = await open(opts.file, 'w')
  const sink = createSink(fileHandle)
  const activity = { lastChunkMs: performance.now() }
  const stderrLines: string[] = []
  let onListening: ((linkType: string) => void) | undefined
  const listening = new Promise<string>((resolve) => {
    onListening = resolve
  })
  const live = opts.onPackets ? liveParser(opts.onPackets, opts.onLiveError) : undefined
  const proc = host.spawn(argv, {
    onStdoutData: (chunk) => {
      activity.lastChunkMs = performance.now()
      sink.write(chunk)
      live?.push(chunk)
    },
    onStderrLine: (line) => {
      stderrLines.push(line)
      if (stderrLines.length > STDERR_KEPT_LINES) stderrLines.shift()
      const m = LISTENING.exec(line)
      if (m) onListening?.(m[2] ?? 'unknown')
    },
  })
  const ifnamesPromise = readIfnames(host)
  const failure = (exit: ExitInfo | undefined, cause?: unknown): Error => {
    const stderr = stderrLines.join('\n')
    if (NOT_FOUND.test(stderr) || exit?.code === 127 || cause instanceof MissingToolError) {
      return new MissingToolError('tcpdump', 'tcpdump', {
        cause,
        hint: `install tcpdump in ${host.name} (apt-get install -y tcpdump; the lab image has it)`,
      })
    }
    return new ProcessError({ argv, host: host.name, exitCode: exit?.code, signal: exit?.signal, stderr }, { cause })
  }

  // Both settle after the race too (tcpdump exits when stopped): mark them handled.
  const couldNotStart = proc.started.then(() => new Promise<never>(() => undefined), (e: unknown) => Promise.reject(failure(undefined, e)))
  const exitedEarly = proc.exited.then((exit) => Promise.reject(failure(exit)))
  couldNotStart.catch(() => undefined)
  exitedEarly.catch(() => undefined)
  let linkType: string
  const timeoutMs = opts.startTimeoutMs ?? Math.max(DEFAULT_START_TIMEOUT_MS, host.startTimeoutMs ?? 0)
  let timer: NodeJS.Timeout | undefined
  try {
    linkType = await Promise.race([
      listening,
      couldNotStart,
      exitedEarly,
      new Promise<never>((_resolve, reject) => {
        timer = setTimeout(() => reject(new TimeoutError(
          `tcpdump on ${host.name} did not start capturing within ${timeoutMs} ms` +
            `\n  command: ${argv.join(' ')}\n  stderr: ${stderrTail(stderrLines.join('\n')) || '(nothing)'}`,
          { hint: `run \`${argv.slice(0, -2).join(' ')} -c 1\` inside ${host.name} to see why` },
        )), timeoutMs)
      }),
    ])
  } catch (e: unknown) {
    if (!proc.hasExited) await proc.stop({ sig: 'SIGINT', graceMs: 500 })
    await sink.close().catch(() => undefined)
    throw e
  } finally {
    clearTimeout(timer)
  }
  const capturingSinceUs = nowUs()
  const ifnames = await ifnamesPromise
  live?.start(ifnames)

  let stopping: Promise<CaptureResult> | undefined
  const stop = (stopOpts: CaptureStopOptions = {}): Promise<CaptureResult> => {
    stopping ??= stopCapture(host, proc, sink, ifnames, stderrLines, activity, {
      file: opts.file,
      drainMs: stopOpts.drainMs ?? DEFAULT_DRAIN_MS,
      settleMs: stopOpts.settleMs ?? DEFAULT_SETTLE_MS,
      graceMs: stopOpts.graceMs ?? 2000,
      t0Us: stopOpts.t0Us ?? opts.t0Us ?? capturingSinceUs,
    })
    return stopping
  }
  return { host: host.name, file: opts.file, argv, linkType, capturingSinceUs, ifnames, stop }
}

interface StopPlan {
  file: string
  drainMs: number
  settleMs: number
  graceMs: number
  t0Us: number
}

async function stopCapture(
  host: Host, proc: Proc, sink: Sink, ifnames: Map<number, string>, stderrLines: readonly string[],
  activity: { lastChunkMs: number }, plan: StopPlan,
): Promise<CaptureResult> {
  const settledAfterMs = await waitUntilSettled(proc, activity, plan)
  // SIGINT: tcpdump's cleanup handler flushes the dump and prints its statistics (tcpdump(1)).
  const exit = await proc.stop({ sig: 'SIGINT', graceMs: plan.graceMs })
  const bytes = await sink.close()
  const pkts = parsePcap(await readFile(plan.file))
  // An interface created during the scenario is not in the start-time map: read it again.
  if (pkts.some((p) => p.ifindex !== undefined && !ifnames.has(p.ifindex))) {
    for (const [index, name] of await readIfnames(host)) if (!ifnames.has(index)) ifnames.set(index, name)
  }
  const stderr = stderrLines.join('\n')
  const num = (re: RegExp): number | undefined => {
    const m = re.exec(stderr)
    return m ? Number(m[1]) : undefined
  }
  return {
    file: plan.file,
    packets: toPktRecords(pkts, { host: host.name, t0Us: plan.t0Us, ifnames }),
    bytes,
    kernelDrops: num(KERNEL_DROPS),
    captured: num(CAPTURED),
    receivedByFilter: num(RECEIVED),
    settledAfterMs,
    exit,
  }
}

/**
 * Wait until tcpdump's output has been quiet for settleMs, counted from the later of the stop
 * request and the last chunk, with our timers on time for the last few ticks; at most drainMs.
 * Returns the time waited (ms).
 */
async function waitUntilSettled(proc: Proc, activity: { lastChunkMs: number }, plan: StopPlan): Promise<number> {
  const requestedMs = performance.now()
  let onTime = 0
  while (!proc.hasExited) {
    const now = performance.now()
    if (now - requestedMs >= plan.drainMs) break
    if (now - Math.max(requestedMs, activity.lastChunkMs) >= plan.settleMs && onTime >= ON_TIME_TICKS) break
    await sleep(TICK_MS)
    const lateMs = performance.now() - now - TICK_MS
    onTime = lateMs <= TICK_LATE_MS ? onTime + 1 : 0
  }
  return performance.now() - requestedMs
}

/** Parse the stream as it comes; deliver from start() on (what came before is held until then). */
function liveParser(
  onPackets: NonNullable<CaptureOptions['onPackets']>, onError: CaptureOptions['onLiveError'],
): { push(chunk: Buffer): void; start(ifnames: ReadonlyMap<number, string>): void } {
  const parser = new PcapStreamParser()
  let held: PcapPacket[] | undefined = []
  let ifnames: ReadonlyMap<number, string> = new Map()
  let failed = false
  // Neither a stream that cannot be parsed nor a consumer that throws may stop the file being written.
  const guarded = (fn: () => void): void => {
    if (failed) return
    try {
      fn()
    } catch (e: unknown) {
      failed = true
      held = undefined
      onError?.(e instanceof Error ? e : new Error(String(e)))
    }
  }
  return {
    push(chunk) {
      guarded(() => {
        const pkts = parser.push(chunk)
        if (pkts.length === 0) return
        if (held) held.push(...pkts)
        else onPackets(pkts, ifnames)
      })
    },
    start(names) {
      ifnames = names
      const h = held
      held = undefined
      if (h && h.length > 0) guarded(() => onPackets(h, ifnames))
    },
  }
}

/** ifindex -> name inside the host; empty when `ip` cannot tell (records then lack ifname). */
async function readIfnames(host: Host): Promise<Map<number, string>> {
  try {
    const r = await host.exec(['ip', '-o', 'link'], { reject: false, timeoutMs: 5000 })
    return r.exitCode === 0 ? parseIpLinkNames(r.stdout) : new Map()
  } catch {
    return new Map()
  }
}

/**
 * Parse `ip -o link` (one line per link, ip-link(8)): "2: eth0@if5: <BROADCAST,...> mtu 1500 ...".
 * The "@if5" / "@peer" suffix names the link's parent or peer, not the interface.
 */
export function parseIpLinkNames(text: string): Map<number, string> {
  const names = new Map<number, string>()
  for (const line of text.split('\n')) {
    const m = /^(\d+):\s+([^:@\s]+)(?:@[^:\s]*)?:/.exec(line)
    if (m) names.set(Number(m[1]), m[2] as string)
  }
  return names
}

/** Ordered, non-blocking writes of stdout chunks into the file. */
interface Sink {
  write(chunk: Buffer): void
  /** Wait for pending writes, close, and return the bytes written; rejects with the first write error. */
  close(): Promise<number>
}

function createSink(fh: FileHandle): Sink {
  let chain: Promise<void> = Promise.resolve()
  let bytes = 0
  let error: unknown
  let closed: Promise<number> | undefined
  return {
    write(chunk) {
      if (closed) return
      chain = chain.then(async () => {
        if (error !== undefined) return
        try {
          await fh.write(chunk)
          bytes += chunk.length
        } catch (e: unknown) {
          error = e
        }
      })
    },
    close() {
      closed ??= (async () => {
        await chain
        await fh.close()
        if (error !== undefined) throw error
        return bytes
      })()
      return closed
    },
  }
}
