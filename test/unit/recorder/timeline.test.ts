// The in-memory timeline: waiting for events (at once for past ones, later for
// future ones, timeout, abort), stable time order, rebase, and records.jsonl
// written and read back, on a recorded run.

import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import type { EventRecord, TimelineRecord } from '../../../src/recorder/records.js'
import { Timeline, parseJsonl } from '../../../src/recorder/timeline.js'
import { InterruptedError, TimeoutError } from '../../../src/util/errors.js'
import { TIMELINES, loadFixture } from '../expect/timeline-fixture.js'

const fx = loadFixture('seed-recvq-stalled-reader')
const ev = (t: number, source: string, type: string): EventRecord => ({ kind: 'event', t, host: 'client', source, type })

/** Settle a promise within `ms`, or say it is still pending. */
async function within<T>(p: Promise<T>, ms: number): Promise<{ value?: T; error?: unknown; pending?: true }> {
  let timer: NodeJS.Timeout | undefined
  const pending = new Promise<{ pending: true }>((r) => { timer = setTimeout(() => r({ pending: true }), ms) })
  try {
    return await Promise.race([p.then((value) => ({ value }), (error: unknown) => ({ error })), pending])
  } finally {
    clearTimeout(timer)
  }
}

t.test('waitForEvent resolves at once with the time of an event that already happened', async (t) => {
  const tl = new Timeline(1_000_000)
  tl.addAll(fx.records)
  const started = Date.now()
  t.equal(await tl.waitForEvent('srv.started', 10), 0.160472)
  t.equal(await tl.waitForEvent('srv.stdout', 0), 3.108694, 'even with a zero timeout')
  t.ok(Date.now() - started < 50)
  const aborted = AbortSignal.abort()
  t.equal(await tl.waitForEvent('cli.started', 10, aborted), 0.413026, 'a past event wins over an aborted signal')
})

t.test('waitForEvent waits for a future event and resolves with its time', async (t) => {
  const tl = new Timeline(0)
  tl.add(ev(0.1, 'cli', 'connecting'))
  const p = tl.waitForEvent('cli.connected', 5000)
  const other = tl.waitForEvent('srv.accepted', 5000)
  t.ok((await within(p, 30)).pending, 'pending until it happens')
  tl.add(ev(0.2, 'cli', 'error'))
  tl.add(ev(0.25, 'srv', 'connected'))
  t.ok((await within(p, 30)).pending, 'other types and other sources do not wake it')
  tl.add(ev(0.3, 'cli', 'connected'))
  t.equal(await p, 0.3)
  tl.add(ev(0.4, 'srv', 'accepted'))
  t.equal(await other, 0.4)
  const twice = [tl.waitForEvent('x.done', 5000), tl.waitForEvent('x.done', 5000)]
  tl.add(ev(0.5, 'x', 'done'))
  t.same(await Promise.all(twice), [0.5, 0.5], 'every waiter is woken')
  t.equal(tl.findEvent('cli.connected'), 0.3)
  t.equal(tl.findEvent('my.sock.connected'), undefined)
  const dotted = tl.waitForEvent('my.sock.connected', 5000)
  tl.add(ev(0.6, 'my.sock', 'connected'))
  t.equal(await dotted, 0.6, 'the type is after the last dot')
})

t.test('waitForEvent times out with a TimeoutError that names the event', async (t) => {
  const tl = new Timeline(0)
  tl.addAll(fx.records)
  const started = Date.now()
  const err = await tl.waitForEvent('srv.accepted', 80).then(() => undefined, (e: unknown) => e)
  const took = Date.now() - started
  t.ok(err instanceof TimeoutError, 'TimeoutError')
  const e = err as TimeoutError
  t.equal(e.code, 'E_TIMEOUT')
  t.equal(e.message, 'waited 0.08s for srv.accepted, which did not happen')
  t.equal(e.hint, 'check that srv really produces "accepted" (see records.jsonl), or raise the step\'s timeout')
  t.ok(took >= 75 && took < 1000, `after ${took} ms`)
  tl.add(ev(9, 'srv', 'accepted'))
  t.pass('an event after the timeout is harmless')
})

t.test('waitForEvent rejects with InterruptedError when aborted', async (t) => {
  const tl = new Timeline(0)
  const ac = new AbortController()
  const p = tl.waitForEvent('cli.connected', 5000, ac.signal)
  setTimeout(() => ac.abort(), 20)
  const r = await within(p, 1000)
  t.ok(r.error instanceof InterruptedError, 'InterruptedError')
  t.equal((r.error as InterruptedError).exitCode, 130)
  tl.add(ev(1, 'cli', 'connected'))
  t.pass('an event after the abort is harmless')

  // A signal that is already aborted (Ctrl-C during the previous step).
  const early = await within(tl.waitForEvent('srv.accepted', 2000, AbortSignal.abort()), 300)
  t.ok(early.error instanceof InterruptedError, 'rejects at once')
})

t.test('a resolved or aborted wait leaves no timer behind (the process can exit)', async (t) => {
  // In a separate Node process: wait with a 20 s timeout, resolve after 50 ms. If the
  // timer were not cleared, the process would live for 20 s.
  const src = new URL('../../../src/recorder/timeline.ts', import.meta.url).pathname
  const script = `
    import { Timeline } from ${JSON.stringify(src)}
    const tl = new Timeline(0)
    const ac = new AbortController()
    tl.waitForEvent('a.done', 20000).then((t) => console.log('resolved', t))
    tl.waitForEvent('b.done', 20000, ac.signal).catch((e) => console.log('aborted', e.name))
    setTimeout(() => { tl.add({ kind: 'event', t: 1.5, host: 'h', source: 'a', type: 'done' }); ac.abort() }, 50)
  `
  const started = Date.now()
  const out = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 15_000 })
  const took = Date.now() - started
  t.equal(out, 'resolved 1.5\naborted InterruptedError\n')
  t.ok(took < 10_000, `exited after ${took} ms`)
})

t.test('sorted(): by time, stable for equal times; rebase re-stamps', async (t) => {
  const tl = new Timeline(5_000_000)
  const a = ev(2, 'a', 'x')
  const b = ev(1, 'b', 'x')
  const c = ev(2, 'c', 'x')
  const d = ev(1, 'd', 'x')
  tl.addAll([a, b, c, d])
  t.same(tl.sorted().map((r) => (r as EventRecord).source), ['b', 'd', 'a', 'c'])
  t.same(tl.records.map((r) => (r as EventRecord).source), ['a', 'b', 'c', 'd'], 'records stay in insertion order')

  tl.rebase(6_000_000)
  t.equal(tl.t0Us, 6_000_000)
  t.same(tl.sorted().map((r) => r.t), [0, 0, 1, 1], 'one second later t0: every t is one second less')
  tl.rebase(5_500_000)
  t.same(tl.sorted().map((r) => r.t), [0.5, 0.5, 1.5, 1.5])
  tl.rebase(7_000_000)
  t.same(tl.sorted().map((r) => r.t), [-1, -1, 0, 0], 'set-up before t0 gets negative times')
  tl.rebase(7_000_000.4)
  t.same(tl.sorted().map((r) => r.t), [-1, -1, 0, 0], 'rounded to microseconds')

  // The recorded run: sample and ss records share the sampler's timestamp and keep their order.
  const rec = new Timeline(0)
  const shuffled = [...fx.records].reverse()
  rec.addAll(shuffled)
  const sorted = rec.sorted()
  t.same(sorted.map((r) => r.t), [...fx.records.map((r) => r.t)].sort((x, y) => x - y))
  const ties = fx.records.filter((r) => r.t === 0.823561)
  t.ok(ties.length >= 2, `${ties.length} records at 0.823561`)
  t.same(sorted.filter((r) => r.t === 0.823561), [...ties].reverse(), 'equal times keep insertion order')
})

t.test('writeJsonl / parseJsonl round-trip a recorded run', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'tcplab-timeline-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const original = readFileSync(join(TIMELINES, 'seed-recvq-stalled-reader', 'records.jsonl'), 'utf8')
  const parsed = parseJsonl(original)
  t.equal(parsed.length, original.trim().split('\n').length)
  t.same(parsed.map((r) => r.kind).filter((k, i, a) => a.indexOf(k) === i).sort(), ['action', 'event', 'pkt', 'sample', 'ss'])

  const tl = new Timeline(0)
  tl.addAll([...parsed].reverse())
  const file = join(dir, 'records.jsonl')
  await tl.writeJsonl(file)
  const written = readFileSync(file, 'utf8')
  t.ok(written.endsWith('}\n'), 'one record per line, newline-terminated')
  t.same(parseJsonl(written), tl.sorted(), 'read back: the sorted records')
  t.same(parseJsonl(written).map((r) => r.t), parsed.map((r) => r.t), 'the recorded file was already in time order')

  // Many records (exercises the stream's back-pressure) and blank/CRLF lines on reading.
  const big = new Timeline(0)
  const many: TimelineRecord[] = Array.from({ length: 50_000 }, (_, i) => ({ kind: 'sample', t: (50_000 - i) / 1000, host: 'h', sockets: i }))
  big.addAll(many)
  const bigFile = join(dir, 'big.jsonl')
  await big.writeJsonl(bigFile)
  const back = parseJsonl(readFileSync(bigFile, 'utf8'))
  t.equal(back.length, 50_000)
  t.equal(back[0]?.t, 0.001)
  t.same(parseJsonl('\n{"kind":"sample","t":1,"host":"h","sockets":0}\r\n\n  \n'), [{ kind: 'sample', t: 1, host: 'h', sockets: 0 }])
  t.same(parseJsonl(''), [])
  t.throws(() => parseJsonl('{"kind":'), SyntaxError, 'a truncated line is an error, not silently dropped')
})
