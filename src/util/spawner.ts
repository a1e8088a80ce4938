// This machine's spawner: agent/build/tcplab-vminit --stdio, one small static
// process that starts every other process for the runner, over the frame
// protocol of mux.ts. Node starts a process by forking itself (libuv), and the
// fork blocks the event loop while the kernel copies its page tables: 12 ms at
// 50 MB and 67 ms at 700 MB on a loaded VM, per spawn. With a few dozen
// scenarios at once that was most of the runner's time (a CPU profile of
// --jobs 33: 20 s of 58 s in ChildProcess.spawn), so events queued behind it
// and start-up timeouts fired. Through the spawner a spawn costs the runner one
// write. It is started once, on the first spawn, in its own session (Ctrl-C
// reaches the runner, which tears down through it); when the runner's end of
// its stdin closes, it SIGKILLs every process group it started and exits.
//
// TCPLAB_SPAWNER=0 (or no agent build): processes start from Node as before.

import { existsSync } from 'node:fs'
import type { Socket } from 'node:net'
import { fileURLToPath } from 'node:url'
import { Mux } from './mux.js'

/** Local path of the spawner binary (built by `make agent`); undefined where it is not to be used. */
export function spawnerBinary(): string | undefined {
  if (process.env.TCPLAB_SPAWNER === '0') return undefined
  const bin = process.env.TCPLAB_SPAWNER_BIN ?? fileURLToPath(new URL('../../agent/build/tcplab-vminit', import.meta.url))
  return existsSync(bin) ? bin : undefined
}

/** What attachSpawner needs of the started child (a ChildProcess; proc.ts starts it). */
export interface SpawnedChild {
  stdin: unknown
  stdout: unknown
  ref(): void
  unref(): void
  on(event: 'error' | 'exit', fn: () => void): unknown
}

/** The arguments that make the binary a spawner. */
export const SPAWNER_ARGS = ['--stdio'] as const

/**
 * The multiplexer over a started spawner (util/proc.ts starts it: `detached`, stdio pipe, pipe,
 * inherit). `onGone` runs once if it dies or its pipes close.
 */
export function attachSpawner(child: SpawnedChild, hooks: { onStarted: (pid: number) => void; onEnded: (pid: number) => void; onGone: () => void }): Mux {
  const input = child.stdin as Socket
  const output = child.stdout as Socket
  const closed: Array<() => void> = []
  // Only a busy spawner keeps the runner alive: idle, its pipes and the process are unref'd.
  const setRef = (on: boolean): void => {
    for (const s of [input, output]) if (on) s.ref(); else s.unref()
    if (on) child.ref(); else child.unref()
  }
  const mux = new Mux({
    write: (frame) => input.write(frame),
    onData: (fn) => output.on('data', fn),
    onClose: (fn) => closed.push(fn),
  }, 'local', { onStarted: hooks.onStarted, onEnded: hooks.onEnded, onBusy: () => setRef(true), onIdle: () => setRef(false) })
  let wentAway = false
  const gone = (): void => {
    if (wentAway) return
    wentAway = true
    hooks.onGone()
    for (const fn of closed) fn()
  }
  input.on('error', () => undefined) // EPIPE after it died: `exit` says so
  child.on('error', gone)
  child.on('exit', gone)
  output.on('close', gone)
  setRef(false)
  return mux
}
