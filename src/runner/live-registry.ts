// The registry of live labs (`tcplab up`): labs kept up between commands by
// an owner process, so that `exec`, `step`, `down` and `ls` can reach them.
//
// Each live lab has, under <STATE_DIR>/live/:
//   <name>.json  who owns it (pid), what it runs, its state and next step
//   <name>.sock  the owner's unix socket (one JSON request, one JSON reply)
//   <name>.log   the owner's stdout/stderr
// The lab's resources are registered like any run's (lab/lease.ts, with the
// owner's pid), so `tcplab gc` leaves a live lab alone while its owner lives
// and collects it once the owner is gone; `gc --all` and `down` ask owners to
// tear their labs down.

import { mkdir, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises'
import net from 'node:net'
import path from 'node:path'
import { STATE_DIR } from '../lab/index.js'
import { isAlive } from '../lab/lease.js'
import { LabError } from '../util/errors.js'

export const LIVE_DIR = path.join(STATE_DIR, 'live')

/** A lab name: what `tcplab exec NAME ...` takes; also a file name under LIVE_DIR. */
export const LAB_NAME_RE = /^[a-z0-9][a-z0-9_.-]{0,62}$/

export type LiveLabState = 'building' | 'playing' | 'ready' | 'stepping' | 'failed' | 'stopping'

export interface LiveLabRecord {
  name: string
  labId: string
  /** The owner process: it holds the agents and tears the lab down. */
  pid: number
  backend: string
  scenario: string
  file: string
  state: LiveLabState
  /** Index of the next step `tcplab step` plays; equal to `steps` once the timeline is played. */
  next: number
  steps: number
  hosts: Array<{ name: string; addr: string }>
  createdAt: string
  /** What happened while `up` played the timeline (lines for the terminal). */
  played?: string[] | undefined
  /** state failed: why (the formatted error) and the exit code `up` should return. */
  error?: string | undefined
  exitCode?: number | undefined
}

export interface LiveLabEntry extends LiveLabRecord {
  /** Whether the owner process is alive (a dead owner's lab is for `tcplab gc`). */
  alive: boolean
}

export const liveFile = (name: string, ext: 'json' | 'sock' | 'log'): string => path.join(LIVE_DIR, `${name}.${ext}`)

/** Write a lab's record atomically (readers never see half a file). */
export async function writeLiveRecord(rec: LiveLabRecord): Promise<void> {
  await mkdir(LIVE_DIR, { recursive: true, mode: 0o700 })
  const tmp = `${liveFile(rec.name, 'json')}.${process.pid}.tmp`
  await writeFile(tmp, `${JSON.stringify(rec, null, 2)}\n`)
  await rename(tmp, liveFile(rec.name, 'json'))
}

export async function readLiveRecord(name: string): Promise<LiveLabEntry | undefined> {
  try {
    const rec = JSON.parse(await readFile(liveFile(name, 'json'), 'utf8')) as LiveLabRecord
    return { ...rec, alive: isAlive(rec.pid) }
  } catch {
    return undefined
  }
}

/** Every live lab on the machine, by name. */
export async function listLiveLabs(): Promise<LiveLabEntry[]> {
  let names: string[]
  try {
    names = await readdir(LIVE_DIR)
  } catch {
    return []
  }
  const out: LiveLabEntry[] = []
  for (const f of names.filter((n) => n.endsWith('.json')).sort()) {
    const rec = await readLiveRecord(f.slice(0, -'.json'.length))
    if (rec) out.push(rec)
  }
  return out
}

/** Remove a lab's registry files (its resources are the backend's to remove). */
export async function removeLiveFiles(name: string): Promise<void> {
  await Promise.all((['json', 'sock', 'log'] as const).map((ext) => rm(liveFile(name, ext), { force: true })))
}

export interface LiveRequest {
  op: 'status' | 'exec' | 'step' | 'down'
  host?: string | undefined
  argv?: string[] | undefined
  timeoutMs?: number | undefined
}

export type LiveReply = { ok: true } & Record<string, unknown> | { ok: false; error: string; exitCode?: number | undefined }

/** Send one request to a live lab's owner and return its reply. */
export function requestLiveLab(name: string, req: LiveRequest, timeoutMs: number): Promise<LiveReply> {
  return new Promise((resolve, reject) => {
    const sock = net.connect(liveFile(name, 'sock'))
    let buf = ''
    const timer = setTimeout(() => {
      sock.destroy()
      reject(new LabError(`lab ${name} did not answer "${req.op}" within ${timeoutMs} ms`, { hint: `see ${liveFile(name, 'log')}` }))
    }, timeoutMs)
    sock.setEncoding('utf8')
    sock.on('connect', () => sock.write(`${JSON.stringify(req)}\n`))
    sock.on('data', (d: string) => {
      buf += d
      const nl = buf.indexOf('\n')
      if (nl < 0) return
      clearTimeout(timer)
      sock.end()
      try {
        resolve(JSON.parse(buf.slice(0, nl)) as LiveReply)
      } catch (e: unknown) {
        reject(new LabError(`lab ${name} sent a bad reply: ${(e as Error).message}`))
      }
    })
    sock.on('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer)
      reject(new LabError(`cannot reach lab ${name} (${e.code ?? e.message})`, { hint: 'is it up? see `tcplab ls`', cause: e }))
    })
    sock.on('close', () => {
      clearTimeout(timer)
      if (!buf.includes('\n')) reject(new LabError(`lab ${name} closed the connection without answering "${req.op}"`, { hint: `see ${liveFile(name, 'log')}` }))
    })
  })
}

/** Serve requests on a lab's socket (the owner side). One request per connection. */
export async function serveLiveLab(name: string, handle: (req: LiveRequest) => Promise<LiveReply>): Promise<net.Server> {
  await mkdir(LIVE_DIR, { recursive: true, mode: 0o700 })
  const file = liveFile(name, 'sock')
  await rm(file, { force: true })
  const server = net.createServer((sock) => {
    let buf = ''
    sock.setEncoding('utf8')
    sock.on('error', () => undefined)
    sock.on('data', (d: string) => {
      buf += d
      const nl = buf.indexOf('\n')
      if (nl < 0) return
      const line = buf.slice(0, nl)
      buf = ''
      let req: LiveRequest
      try {
        req = JSON.parse(line) as LiveRequest
      } catch {
        sock.end(`${JSON.stringify({ ok: false, error: 'bad request' })}\n`)
        return
      }
      handle(req).then(
        (reply) => sock.end(`${JSON.stringify(reply)}\n`),
        (e: unknown) => sock.end(`${JSON.stringify({ ok: false, error: e instanceof Error ? e.message : String(e) })}\n`),
      )
    })
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(file, () => resolve())
  })
  return server
}
