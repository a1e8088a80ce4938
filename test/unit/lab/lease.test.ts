// Subnet leases and the lab registry (src/lab/lease.ts), in a temporary state
// directory: TCPLAB_STATE_DIR is read when the module loads, so it is set first
// and the module is imported afterwards.

import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'

const STATE = mkdtempSync(join(tmpdir(), 'tcplab-lease-test-'))
process.env.TCPLAB_STATE_DIR = STATE
const lease = await import('../../../src/lab/lease.js')
t.teardown(() => rmSync(STATE, { recursive: true, force: true }))

const LEASES = join(STATE, 'leases')
const LABS = join(STATE, 'labs')

/** A pid that surely belongs to no process: a child that has already exited. */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', ''])
  if (r.pid === undefined) throw new Error('could not start a child')
  return r.pid
}

function clearLeases(): void {
  rmSync(LEASES, { recursive: true, force: true })
  mkdirSync(LEASES, { recursive: true })
}

/** Fill every lease slot except `free` with a lease of `pid`. */
function fillLeases(pid: number, except: Record<number, number | 'free'> = {}): void {
  clearLeases()
  for (let i = 0; i < 512; i++) {
    const owner = except[i] ?? pid
    if (owner !== 'free') writeFileSync(join(LEASES, String(i)), JSON.stringify({ pid: owner, labId: `other-${i}` }))
  }
}

/** Run `fn` with Math.random returning the given values in turn (the lease's random start). */
async function withRandom<T>(values: number[], fn: () => Promise<T>): Promise<T> {
  const orig = Math.random
  let k = 0
  Math.random = () => values[k++ % values.length] as number
  try {
    return await fn()
  } finally {
    Math.random = orig
  }
}

t.test('the state directory is the one from TCPLAB_STATE_DIR', async (t) => {
  t.equal(lease.STATE_DIR, STATE)
})

t.test('subnets: 512 /24s of 198.18.0.0/15', async (t) => {
  t.equal(lease.subnetOf(0), '198.18.0')
  t.equal(lease.subnetOf(255), '198.18.255')
  t.equal(lease.subnetOf(256), '198.19.0')
  t.equal(lease.subnetOf(511), '198.19.255')
})

t.test('leases never collide, and a released one can be leased again', async (t) => {
  clearLeases()
  const many = await Promise.all(Array.from({ length: 40 }, (_, i) => lease.leaseSubnet(`lab${i}`)))
  const indexes = many.map((l) => l.index)
  t.equal(new Set(indexes).size, 40, 'forty concurrent leases, forty subnets')
  t.equal(new Set(many.map((l) => l.cidr)).size, 40)
  const first = many[0] as (typeof many)[number]
  t.equal(first.cidr, `${first.prefix24}.0/24`)
  t.equal(first.prefix24, lease.subnetOf(first.index))
  t.same(JSON.parse(readFileSync(join(LEASES, String(first.index)), 'utf8')), { pid: process.pid, labId: 'lab0' })
  t.equal(readdirSync(LEASES).length, 40)

  // Two leases that start their search at the same slot still get different ones.
  const [a, b] = await withRandom([0.5], () => Promise.all([lease.leaseSubnet('a'), lease.leaseSubnet('b')]))
  t.not(a.index, b.index)

  await first.release()
  t.notOk(existsSync(join(LEASES, String(first.index))), 'released')
  await first.release()
  t.pass('release is idempotent')
  const again = await withRandom([first.index / 512], () => lease.leaseSubnet('again'))
  t.equal(again.index, first.index, 'the freed slot is leased again')
  await Promise.all([...many, a, b, again].map((l) => l.release()))
  t.same(readdirSync(LEASES), [])
})

t.test('a lease held by a dead process is taken over; a live one is not', async (t) => {
  const dead = deadPid()
  t.notOk(lease.isAlive(dead), `pid ${dead} is gone`)
  t.ok(lease.isAlive(process.pid))
  fillLeases(process.pid, { 300: dead })
  const taken = await lease.leaseSubnet('new')
  t.equal(taken.index, 300, 'the only slot whose owner is dead')
  t.same(JSON.parse(readFileSync(join(LEASES, '300'), 'utf8')), { pid: process.pid, labId: 'new' })
  await t.rejects(lease.leaseSubnet('none-left'), { message: /all 512 lab subnets in 198\.18\.0\.0\/15 are leased/ }, 'every slot is live')

  // A lease file without a readable owner (being written right now) is left alone.
  fillLeases(process.pid, { 7: 'free' })
  writeFileSync(join(LEASES, '7'), '')
  await t.rejects(lease.leaseSubnet('x'), { message: /are leased/ })
  clearLeases()
})

t.test('two runs taking over the same stale lease do not both get it', async (t) => {
  // One stale slot (256); the two searches start one slot apart (255 and 256), so
  // they reach the stale lease one step apart. Repeated, as it depends on timing.
  const dead = deadPid()
  let collided: number[] | undefined
  for (let round = 0; round < 20 && !collided; round++) {
    fillLeases(process.pid, { 256: dead })
    const settled = await withRandom([256 / 512, 255 / 512], () => Promise.allSettled([lease.leaseSubnet('a'), lease.leaseSubnet('b')]))
    const won = settled.flatMap((s) => (s.status === 'fulfilled' ? [s.value.index] : []))
    if (won.length === 2) collided = won
  }
  t.equal(collided, undefined, `both took over slot ${collided?.join(' and ')}`)
  clearLeases()
})

t.test('lab registry: live labs are kept, stale state is pruned', async (t) => {
  rmSync(LABS, { recursive: true, force: true })
  const unregister = await lease.registerLab({ labId: 'abcd1234', backend: 'netns', scenario: 's' })
  const rec = JSON.parse(readFileSync(join(LABS, 'abcd1234.json'), 'utf8')) as { pid: number; labId: string; backend: string; createdAt: string }
  t.equal(rec.pid, process.pid)
  t.equal(rec.backend, 'netns')
  t.ok(!Number.isNaN(Date.parse(rec.createdAt)))
  t.notOk(await lease.isLabLive('abcd1234'), 'our own lab is not "another live run"')

  const dead = deadPid()
  const parent = process.ppid
  writeFileSync(join(LABS, 'deadbeef.json'), JSON.stringify({ labId: 'deadbeef', pid: dead, backend: 'netns', scenario: 's', createdAt: '' }))
  writeFileSync(join(LABS, 'feedface.json'), JSON.stringify({ labId: 'feedface', pid: parent, backend: 'netns', scenario: 's', createdAt: '' }))
  writeFileSync(join(LABS, 'garbage.json'), '{not json')
  t.ok(await lease.isLabLive('feedface'), 'a lab of another live process')
  t.notOk(await lease.isLabLive('deadbeef'))
  t.notOk(await lease.isLabLive('nosuchlab'))

  clearLeases()
  writeFileSync(join(LEASES, '5'), JSON.stringify({ pid: dead, labId: 'deadbeef' }))
  writeFileSync(join(LEASES, '6'), JSON.stringify({ pid: process.pid, labId: 'abcd1234' }))
  const removed = await lease.pruneStale()
  t.same(removed.sort(), [`state file ${join(LABS, 'deadbeef.json')}`, `state file ${join(LABS, 'garbage.json')}`, `state file ${join(LEASES, '5')}`].sort())
  t.same(readdirSync(LABS).sort(), ['abcd1234.json', 'feedface.json'])
  t.same(readdirSync(LEASES), ['6'])

  await unregister()
  t.notOk(existsSync(join(LABS, 'abcd1234.json')))
  rmSync(LABS, { recursive: true, force: true })
  t.same(await lease.pruneStale(), [], 'nothing to prune, missing directories are fine')
  clearLeases()
})
