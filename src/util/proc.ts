// The one module that starts local processes. argv arrays only. They start
// through the spawner (spawner.ts: a small static process that forks for us,
// so Node's event loop never blocks in fork), or from Node (child_process and
// execa 9) where there is none. Every child leads its own process group, so a
// signal reaches the whole group (like a shell's job control) and a second
// Ctrl-C can kill every group at once (killAllNow).

import { spawn, spawnSync } from 'node:child_process'
import { closeSync, openSync } from 'node:fs'
import { execa, type ResultPromise } from 'execa'
import { constants as osConstants } from 'node:os'
import { ProcessError, MissingToolError } from './errors.js'
import { FORCE_KILL_AFTER_MS, lineSplitter, PACKAGE_OF, stopGracefully, type Mux } from './mux.js'

export { lineSplitter, stopGracefully }
import { attachSpawner, SPAWNER_ARGS, spawnerBinary } from './spawner.js'
import type { ExecOptions, ExecResult, ExitInfo, Proc, SpawnOptions } from '../lab/types.js'

/** Every live process group we started, for killAllNow(). */
const liveGroups = new Set<number>()

/** undefined: not started yet; null: none (no agent build, TCPLAB_SPAWNER=0, or it died). */
let theSpawner: Mux | null | undefined

/** The spawner (spawner.ts), started on first use; its processes count in liveGroups too. */
function spawner(): Mux | undefined {
  if (theSpawner !== undefined) return theSpawner ?? undefined
  const bin = spawnerBinary()
  if (bin === undefined) {
    theSpawner = null
    return undefined
  }
  const child = spawn(bin, SPAWNER_ARGS, { detached: true, stdio: ['pipe', 'pipe', 'inherit'] })
  const mux = attachSpawner(child, {
    onStarted: (pid) => {
      installExitHook()
      liveGroups.add(pid)
    },
    onEnded: (pid) => liveGroups.delete(pid),
    onGone: () => {
      if (theSpawner === mux) theSpawner = null // later processes start from Node
    },
  })
  theSpawner = mux
  return mux
}

/**
 * Run a command to completion; throws ProcessError (with the stderr tail and a hint) on failure.
 * Plain child_process.spawn rather than execa: a short command is on every lab's setup path and
 * every host.exec, and execa's per-call cost (~5-15 ms on a loaded machine) doubled a spawn's.
 */
export function runCommand(argv: readonly string[], opts: ExecOptions & { host?: string } = {}): Promise<ExecResult> {
  const [file, ...args] = argv
  if (file === undefined) return Promise.reject(new Error('runCommand: empty argv'))
  const mux = spawner()
  if (mux) return mux.exec(argv, { ...opts, host: opts.host ?? 'local' })
  return new Promise<ExecResult>((resolve, reject) => {
    const child = spawn(file, args, { stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] })
    const out: Buffer[] = []
    const err: Buffer[] = []
    child.stdout?.on('data', (b: Buffer) => out.push(b))
    child.stderr?.on('data', (b: Buffer) => err.push(b))
    let timedOut = false
    let killTimer: NodeJS.Timeout | undefined
    const timer = setTimeout(() => {
      timedOut = true
      child.kill('SIGTERM')
      killTimer = setTimeout(() => child.kill('SIGKILL'), FORCE_KILL_AFTER_MS)
    }, opts.timeoutMs ?? 30_000)
    let settled = false
    const finish = (): void => {
      settled = true
      clearTimeout(timer)
      clearTimeout(killTimer)
    }
    child.once('error', (e: NodeJS.ErrnoException) => {
      if (settled) return
      finish()
      // Could not start at all.
      if (e.code === 'ENOENT') reject(new MissingToolError(file, PACKAGE_OF[file] ?? file, { cause: e }))
      else reject(new ProcessError({ argv, host: opts.host ?? 'local', exitCode: undefined, signal: undefined, stderr: e.message }, { cause: e }))
    })
    child.once('close', (code: number | null, sig: NodeJS.Signals | null) => {
      if (settled) return
      finish()
      const result: ExecResult = { exitCode: code ?? -1, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') }
      if ((opts.reject ?? true) && (code !== 0 || sig)) {
        reject(new ProcessError({
          argv, host: opts.host ?? 'local', exitCode: code ?? undefined, signal: timedOut ? 'timeout' : (sig ?? undefined), stderr: result.stderr,
        }))
        return
      }
      resolve(result)
    })
    if (opts.input !== undefined && child.stdin) {
      child.stdin.on('error', () => undefined) // EPIPE: the command did not read its input; its exit says why
      child.stdin.end(opts.input)
    }
  })
}

/**
 * Run a command synchronously (the emergency paths only: an `exit` hook or a second Ctrl-C, where
 * nothing asynchronous runs any more). Never throws; a command that cannot start reads as exit 127.
 */
export function runCommandSync(argv: readonly string[], opts: { input?: string; timeoutMs?: number } = {}): ExecResult {
  const [file, ...args] = argv
  if (file === undefined) return { exitCode: 127, stdout: '', stderr: 'empty argv' }
  const r = spawnSync(file, args, { input: opts.input, encoding: 'utf8', timeout: opts.timeoutMs ?? 10_000, stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] })
  return { exitCode: r.error ? 127 : (r.status ?? -1), stdout: r.stdout ?? '', stderr: r.stderr ?? (r.error?.message ?? '') }
}

/** Start a long-running process in its own process group. */
export function spawnProcess(argv: readonly string[], opts: SpawnOptions = {}): Proc {
  if (argv.length === 0) throw new Error('spawnProcess: empty argv')
  return spawner()?.spawn(argv, opts, 'local') ?? new LocalProc(argv, opts)
}

/**
 * SIGKILL every process group still alive (second Ctrl-C, or exit). Also installed as a
 * process `exit` hook on the first spawn (Playwright's processLauncher does the same): an
 * uncaught exception or a process.exit() without teardown must not leave detached groups
 * (tcpdump, agents, nc) running. Synchronous, as `exit` hooks must be.
 */
export function killAllNow(): void {
  for (const pgid of liveGroups) {
    try {
      process.kill(-pgid, 'SIGKILL')
    } catch {
      // already gone
    }
  }
  liveGroups.clear()
}

let exitHookInstalled = false
function installExitHook(): void {
  if (exitHookInstalled) return
  exitHookInstalled = true
  process.on('exit', killAllNow)
}

/** Signal name for a number (execa reports names already; this covers raw codes). */
export function signalName(sig: number | string | undefined): string | undefined {
  if (sig === undefined) return undefined
  if (typeof sig === 'string') return sig
  return Object.entries(osConstants.signals).find(([, n]) => n === sig)?.[0]
}

class LocalProc implements Proc {
  readonly argv: readonly string[]
  readonly started: Promise<void>
  readonly exited: Promise<ExitInfo>
  hasExited = false
  private readonly child: ResultPromise
  private pgid: number | undefined
  private stopping: Promise<ExitInfo> | undefined

  constructor(argv: readonly string[], opts: SpawnOptions) {
    installExitHook()
    this.argv = argv
    const [file, ...args] = argv
    if (file === undefined) throw new Error('spawnProcess: empty argv')
    this.child = execa(file, args, {
      detached: true,
      stdin: opts.stdin ? 'pipe' : 'ignore',
      stdout: 'pipe',
      stderr: 'pipe',
      buffer: false,
      reject: false,
      encoding: 'buffer',
      cleanup: true,
    })
    this.pgid = this.child.pid
    if (this.pgid !== undefined) liveGroups.add(this.pgid)
    this.started = new Promise<void>((resolve, reject) => {
      this.child.once('spawn', () => resolve())
      this.child.once('error', (e) => reject(/ENOENT/.test(String(e)) ? new MissingToolError(file, PACKAGE_OF[file] ?? file, { cause: e }) : e))
    })
    this.started.catch(() => undefined)
    if (opts.onStdoutData) this.child.stdout?.on('data', (b: Buffer) => opts.onStdoutData?.(b))
    else if (opts.onStdoutLine) splitLines(this.child.stdout, opts.onStdoutLine)
    else this.child.stdout?.resume()
    if (opts.onStderrLine) splitLines(this.child.stderr, opts.onStderrLine)
    else this.child.stderr?.resume()
    this.exited = this.child.then(
      (r) => ({ code: r.signal ? undefined : r.exitCode, signal: r.signal ?? undefined }),
      () => ({ code: undefined, signal: undefined }),
    ).then((info) => {
      this.hasExited = true
      if (this.pgid !== undefined) liveGroups.delete(this.pgid)
      return info
    })
  }

  async write(data: string | Buffer): Promise<void> {
    const stdin = this.child.stdin
    if (!stdin || stdin.destroyed || stdin.writableEnded) throw new Error(`stdin of "${this.argv.join(' ')}" is closed`)
    await new Promise<void>((resolve, reject) => stdin.write(data, (e) => (e ? reject(e) : resolve())))
  }

  endStdin(): void {
    this.child.stdin?.end()
  }

  async signal(sig: NodeJS.Signals): Promise<void> {
    if (this.hasExited || this.pgid === undefined) return
    try {
      process.kill(-this.pgid, sig)
    } catch (e: unknown) {
      if ((e as NodeJS.ErrnoException).code !== 'ESRCH') throw e
    }
  }

  stop(opts: { sig?: NodeJS.Signals; graceMs?: number } = {}): Promise<ExitInfo> {
    if (this.hasExited) return this.exited
    this.stopping ??= stopGracefully(this, opts)
    return this.stopping
  }
}

/** Call `onLine` for each complete line of a stream (a trailing partial line is flushed at end). */
function splitLines(stream: NodeJS.ReadableStream | null | undefined, onLine: (line: string) => void): void {
  if (!stream) return
  const lines = lineSplitter(onLine)
  stream.on('data', (chunk: Buffer | string) => lines.push(chunk))
  stream.on('end', () => lines.end())
}

/**
 * Start a process that outlives this one (a live lab's owner): its own session,
 * no stdin, stdout and stderr appended to `logFile`. Returns its pid.
 */
export function spawnDetached(argv: readonly string[], opts: { logFile: string; env?: NodeJS.ProcessEnv | undefined }): number {
  const [file, ...args] = argv
  if (file === undefined) throw new Error('spawnDetached: empty argv')
  const fd = openSync(opts.logFile, 'a', 0o600)
  try {
    const child = spawn(file, args, { detached: true, stdio: ['ignore', fd, fd], env: opts.env ?? process.env })
    child.unref()
    if (child.pid === undefined) throw new ProcessError({ argv, host: 'local', exitCode: undefined, signal: undefined, stderr: 'could not start' })
    return child.pid
  } finally {
    closeSync(fd)
  }
}
