// Leases on lab subnets and the registry of live labs, shared by every tcplab
// process on the machine (two `tcplab run` at once must not collide).
//
// The lab range is 198.18.0.0/15 (RFC 2544, benchmarking), cut into 512 /24s.
// A lease is a file /run/tcplab/leases/<index> created with O_EXCL holding
// {pid, labId}; a lease whose pid is gone is stale and may be taken over.
// /run/tcplab/labs/<labId>.json says which process owns a lab, so `tcplab gc`
// leaves labs of live runs alone.

import { mkdir, open, readFile, readdir, rm, writeFile } from 'node:fs/promises'
import { readFileSync } from 'node:fs'
import path from 'node:path'

export const STATE_DIR = process.env.TCPLAB_STATE_DIR ?? '/run/tcplab'
/** A lab's unix sockets (the agents' own channels and relay sockets): reachable by path from every namespace of a netns lab. */
export const relayDirOf = (labId: string): string => path.join(STATE_DIR, 'relay', labId)
const LEASES = path.join(STATE_DIR, 'leases')
const LABS = path.join(STATE_DIR, 'labs')
const SUBNETS = 512

export interface SubnetLease {
  index: number
  /** "198.18.7" : the first three octets of the /24. */
  prefix24: string
  /** "198.18.7.0/24" */
  cidr: string
  release(): Promise<void>
}

export interface LabRecord {
  labId: string
  pid: number
  backend: string
  scenario: string
  createdAt: string
}

/** The /24 for lease `index` (0..511) in 198.18.0.0/15. */
export function subnetOf(index: number): string {
  return `198.${18 + (index >> 8)}.${index & 255}`
}

/** Lease a /24 that no live lab uses. */
export async function leaseSubnet(labId: string): Promise<SubnetLease> {
  await mkdir(LEASES, { recursive: true })
  const start = Math.floor(Math.random() * SUBNETS)
  for (let k = 0; k < SUBNETS; k++) {
    const index = (start + k) % SUBNETS
    const file = path.join(LEASES, String(index))
    if (await tryCreate(file, JSON.stringify({ pid: process.pid, labId }))) {
      return makeLease(index, file)
    }
    // Held: take it over if its owner is dead, under a lock so that two
    // processes that both saw the dead owner cannot both remove and re-create it.
    const owner = await readJson<{ pid: number }>(file)
    if (owner && !isAlive(owner.pid)) {
      const lock = `${file}.takeover`
      if (!(await tryCreate(lock, JSON.stringify({ pid: process.pid })))) continue
      try {
        const again = await readJson<{ pid: number }>(file)
        if (again === undefined || again.pid === owner.pid) {
          await rm(file, { force: true })
          if (await tryCreate(file, JSON.stringify({ pid: process.pid, labId }))) return makeLease(index, file)
        }
      } finally {
        await rm(lock, { force: true })
      }
    }
  }
  throw new Error('all 512 lab subnets in 198.18.0.0/15 are leased (too many concurrent labs, or run `tcplab gc`)')
}

/** Record that this process owns lab `labId`. */
export async function registerLab(rec: Omit<LabRecord, 'pid' | 'createdAt'>): Promise<() => Promise<void>> {
  await mkdir(LABS, { recursive: true })
  const file = path.join(LABS, `${rec.labId}.json`)
  const full: LabRecord = { ...rec, pid: process.pid, createdAt: new Date().toISOString() }
  await writeFile(file, JSON.stringify(full))
  return () => rm(file, { force: true })
}

/** Whether lab `labId` belongs to a live process (then gc must leave it alone). */
export async function isLabLive(labId: string): Promise<boolean> {
  const rec = await readJson<LabRecord>(path.join(LABS, `${labId}.json`))
  return rec !== undefined && rec.pid !== process.pid && isAlive(rec.pid)
}

/** Forget registry entries and leases of dead processes. Returns what was removed. */
export async function pruneStale(): Promise<string[]> {
  const removed: string[] = []
  for (const dir of [LEASES, LABS]) {
    let names: string[]
    try {
      names = await readdir(dir)
    } catch {
      continue
    }
    for (const n of names) {
      const f = path.join(dir, n)
      const rec = await readJson<{ pid: number }>(f)
      if (!rec || !isAlive(rec.pid)) {
        await rm(f, { force: true })
        removed.push(`state file ${f}`)
      }
    }
  }
  return removed
}

/**
 * Whether a process is alive: it exists (signal 0) and is not a zombie. A killed owner whose
 * parent has not reaped it yet (a detached live-lab owner reparented to a busy or absent
 * reaper) still answers signal 0, but it is dead: its labs may be collected.
 */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
  } catch (e: unknown) {
    return (e as NodeJS.ErrnoException).code === 'EPERM'
  }
  return !isZombie(pid)
}

/** proc(5): the state after the command's closing parenthesis is Z for a zombie, X when dead. */
function isZombie(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3)
    return state === 'Z' || state === 'X'
  } catch {
    return false
  }
}

function makeLease(index: number, file: string): SubnetLease {
  const prefix24 = subnetOf(index)
  return { index, prefix24, cidr: `${prefix24}.0/24`, release: () => rm(file, { force: true }) }
}

async function tryCreate(file: string, content: string): Promise<boolean> {
  try {
    const fh = await open(file, 'wx')
    await fh.writeFile(content)
    await fh.close()
    return true
  } catch (e: unknown) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false
    throw e
  }
}

async function readJson<T>(file: string): Promise<T | undefined> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as T
  } catch {
    return undefined
  }
}
