// Socket names on timelines recorded from real runs (test/fixtures/naming/, made
// with `tcplab run` on netns from the scenario.yaml beside each records.jsonl):
// the names the runner gave are stripped, then given again by nameSockets and
// checked against the packets and rows, each case with a claim that must fail.
//   syn-sent-named      blocking (blk) and non-blocking (nb) connects into a silent server
//   synack-lost-named   SYN-ACKs lost on a wire host; the listener's never-accepted connection
//   naming-orphan-reuse accepted handshake, orphan FIN-WAIT-2 after close, 4-tuple reused by b / srv-conn-2
//   naming-vacuous      the reproduction: "cli sent no SYN" must fail
// plus seed-close-wait (nc, no agent) for `sockets:` namings.

import t from 'tap'
import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { DEFAULT_TOLERANCE, type EvalContext } from '../../../src/expect/context.js'
import { evaluateExpectation, type ExpectationResult } from '../../../src/expect/index.js'
import type { EventRecord, PktRecord, SsRecord, TimelineRecord } from '../../../src/recorder/records.js'
import { parseJsonl } from '../../../src/recorder/timeline.js'
import { nameSockets, socketNames, watchDeclaredSockets, type NameSocketsOptions } from '../../../src/runner/name-sockets.js'
import { Expectation } from '../../../src/scenario/schema.js'
import { hostAddresses, loadFixture } from '../expect/timeline-fixture.js'

const DIR = join(dirname(fileURLToPath(import.meta.url)), '../../fixtures/naming')

/** A recorded timeline with the runner's names taken off. */
function unnamed(name: string): TimelineRecord[] {
  const recs = parseJsonl(readFileSync(join(DIR, name, 'records.jsonl'), 'utf8'))
  return recs.map((r) => {
    if (r.kind !== 'ss' && r.kind !== 'pkt') return r
    const { socket: _s, listener: _l, ...rest } = r
    return rest as TimelineRecord
  })
}

function contextFor(records: TimelineRecord[], opts: NameSocketsOptions = {}): EvalContext {
  const named = nameSockets(records, { hosts: hostAddresses(records), ...opts })
  return {
    records: named,
    endT: named[named.length - 1]?.t ?? 0,
    hosts: hostAddresses(records),
    tolerance: DEFAULT_TOLERANCE,
    kernel: '6.18.0',
    hasSysctl: () => true,
    sockets: socketNames(named, opts.declared),
  }
}

const evaluate = (ctx: EvalContext, input: unknown): ExpectationResult => evaluateExpectation(Expectation.parse(input), 0, ctx)
const ss = (ctx: EvalContext): SsRecord[] => ctx.records.filter((r): r is SsRecord => r.kind === 'ss')
const pkts = (ctx: EvalContext): PktRecord[] => ctx.records.filter((r): r is PktRecord => r.kind === 'pkt')
const eventOf = (ctx: EvalContext, source: string, type: string): EventRecord => {
  const e = ctx.records.find((r): r is EventRecord => r.kind === 'event' && r.source === source && r.type === type)
  if (!e) throw new Error(`no ${source}.${type}`)
  return e
}

t.test('blocking connect that times out: named from connect() on', async (t) => {
  const ctx = contextFor(unnamed('syn-sent-named'))
  const ev = eventOf(ctx, 'blk', 'connecting')
  t.equal(ev.data?.blocking, true, 'the agent announces a blocking connect too')
  t.ok(typeof ev.data?.issuedT === 'number' && (ev.data.issuedT as number) <= ev.t, 'issued before the event was written')
  const lport = Number(ev.data?.lport)
  const syns = pkts(ctx).filter((p) => p.host === 'client' && p.dir === 'out' && p.sport === lport)
  t.equal(syns.length, 3, 'three SYNs from its port')
  t.same([...new Set(syns.map((p) => p.socket))], ['blk'], 'each carries the name, the first one included')
  t.ok(syns.every((p) => p.t >= (ev.data?.issuedT as number)), 'no SYN before connect() was issued')
  const rows = ss(ctx).filter((r) => r.host === 'client' && r.localPort === lport)
  t.ok(rows.length > 10)
  t.same([...new Set(rows.map((r) => r.socket))], ['blk'], 'SYN-SENT rows carry the name')
  t.equal(evaluate(ctx, { packets: { on: 'client', dir: 'out', socket: 'blk', flags: 'S', count: 3 } }).status, 'pass')
  t.equal(evaluate(ctx, { ss: { socket: 'blk', match: { state: 'SYN-SENT', timer: 'on' }, during: ['0.3s', '6.5s'], since: 'blk.connecting' } }).status, 'pass')
  const wrong = evaluate(ctx, { packets: { on: 'client', dir: 'out', socket: 'blk', flags: 'S', count: 0 } })
  t.equal(wrong.status, 'fail', 'must fail: blk did send SYNs')
  t.match(wrong.reached, /socket blk on client: \d+ ss rows, \d+ packets/, 'the verdict says what the selector reached')
})

t.test('non-blocking connect: named, and kept apart from the blocking one', async (t) => {
  const ctx = contextFor(unnamed('syn-sent-named'))
  const ev = eventOf(ctx, 'nb', 'connecting')
  t.equal(ev.data?.blocking, false)
  t.equal(ev.errno, 'EINPROGRESS')
  t.equal(pkts(ctx).filter((p) => p.socket === 'nb' && p.flags === 'S').length, 3)
  t.equal(evaluate(ctx, { states: { socket: 'nb', sequence: ['SYN-SENT', 'CLOSED'] } }).status, 'pass')
  t.equal(evaluate(ctx, { states: { socket: 'nb', sequence: ['ESTAB'] } }).status, 'fail', 'must fail: nb never connected')
  t.equal(evaluate(ctx, { packets: { on: 'client', socket: 'nb', flags: 'S', count: 6 } }).status, 'fail', "must fail: blk's SYNs are not nb's")
})

t.test('without the connecting event (an older agent) the name reaches nothing: error, never pass', async (t) => {
  const old = unnamed('syn-sent-named').filter((r) => !(r.kind === 'event' && r.type === 'connecting'))
  // The name is known (the failed connect's error event names it) but no row or packet carries it.
  const ctx = contextFor(old)
  const sockets = new Map(ctx.sockets)
  sockets.set('blk', { host: 'client', listener: false })
  const c = { ...ctx, sockets }
  const r = evaluate(c, { packets: { on: 'client', dir: 'out', socket: 'blk', flags: 'S', count: 0 } })
  t.equal(r.status, 'error', 'an absence claim about a socket never seen is an error')
  t.equal(r.reason, 'socket blk was never seen on client: no ss row, no packet')
  t.equal(evaluate(c, { ss: { socket: 'blk', match: { state: 'ESTAB' }, quantifier: 'never' } }).status, 'error', 'quantifier never as well')
  t.equal(evaluate(c, { event: { socket: 'blk', type: 'connected', count: 0 } }).status, 'error', 'and an event claim')
  t.equal(evaluate(ctx, { packets: { on: 'client', dir: 'out', socket: 'blk', flags: 'S', count: 0 } }).status, 'pass',
    'a name nobody gave is not judged here (the loader rejects it in a file)')
})

t.test("the issue's reproduction: an absence claim about a socket that did send fails", async (t) => {
  const ctx = contextFor(unnamed('naming-vacuous'))
  const r = evaluate(ctx, { packets: { on: 'client', dir: 'out', socket: 'cli', flags: 'S', count: 0 } })
  t.equal(r.status, 'fail')
  t.match(r.measured, /^4 packets at /)
  t.equal(evaluate(ctx, { packets: { on: 'client', dir: 'out', socket: 'cli', flags: 'S', count: '>=4' } }).status, 'pass')
  const recorded = JSON.parse(readFileSync(join(DIR, 'naming-vacuous', 'verdict.json'), 'utf8')) as { status: string }
  t.equal(recorded.status, 'fail', 'and the real run failed')
})

t.test("accepted socket: named from the SYN that created it", async (t) => {
  const ctx = contextFor(unnamed('naming-orphan-reuse'))
  const accepted = eventOf(ctx, 'srv-conn', 'accepted')
  const synIn = pkts(ctx).filter((p) => p.host === 'server' && p.dir === 'in' && p.flags === 'S')
  t.equal(synIn.length, 2, 'two connections on one 4-tuple')
  t.equal(synIn[0]?.socket, 'srv-conn')
  t.ok((synIn[0]?.t ?? Infinity) <= accepted.t, 'the SYN precedes accept()')
  const synack = pkts(ctx).find((p) => p.host === 'server' && p.dir === 'out' && p.flags === 'S.')
  t.equal(synack?.socket, 'srv-conn', 'and so does the SYN-ACK')
  t.equal(evaluate(ctx, { packets: { on: 'server', dir: 'in', socket: 'srv-conn', flags: 'S', count: 1 } }).status, 'pass')
  t.equal(evaluate(ctx, { packets: { on: 'server', dir: 'in', socket: 'srv-conn', flags: 'S', count: 2 } }).status, 'fail', 'must fail: the second SYN is not srv-conn\'s')
})

t.test('orphan after close keeps the name', async (t) => {
  const ctx = contextFor(unnamed('naming-orphan-reuse'))
  const closed = eventOf(ctx, 'srv-conn', 'closed')
  const orphan = ss(ctx).filter((r) => r.host === 'server' && r.state === 'FIN-WAIT-2')
  // A sample is stamped when it starts, so the first row may carry a time just before the event.
  t.ok(orphan.length > 1 && (orphan[orphan.length - 1]?.t ?? 0) > closed.t + 0.1, 'FIN-WAIT-2 rows after close()')
  t.same([...new Set(orphan.map((r) => r.socket))], ['srv-conn'])
  t.equal(evaluate(ctx, { ss: { socket: 'srv-conn', match: { state: 'FIN-WAIT-2' }, during: ['0.8s', '1.1s'] } }).status, 'pass')
  t.equal(evaluate(ctx, { ss: { socket: 'srv-conn', match: { state: 'FIN-WAIT-2' }, quantifier: 'never' } }).status, 'fail', 'must fail: the orphan was there')
})

t.test('a 4-tuple reused after close goes to the later name, on both hosts', async (t) => {
  const ctx = contextFor(unnamed('naming-orphan-reuse'))
  const bIssued = eventOf(ctx, 'b', 'connecting').data?.issuedT as number
  const client = pkts(ctx).filter((p) => p.host === 'client')
  t.ok(client.length > 8)
  for (const p of client) t.equal(p.socket, p.t >= bIssued ? 'b' : 'a', `${p.t.toFixed(3)} ${p.flags}`)
  t.equal(pkts(ctx).filter((p) => p.host === 'server' && p.socket === 'srv-conn-2' && p.flags === 'S').length, 1)
  t.equal(evaluate(ctx, { ss: { socket: 'b', match: { state: 'ESTAB' }, after: '1.8s' } }).status, 'pass')
  t.equal(evaluate(ctx, { packets: { on: 'client', dir: 'out', socket: 'a', flags: 'S', count: 2 } }).status, 'fail', "must fail: b's SYN is not a's")
  t.equal(evaluate(ctx, { ss: { socket: 'a', match: { state: 'ESTAB' }, after: '1.8s', quantifier: 'eventually' } }).status, 'fail', "must fail: a's name does not leak onto b")
})

t.test("a listener's never-accepted connections are selected through its name", async (t) => {
  const ctx = contextFor(unnamed('synack-lost-named'))
  const pending = ss(ctx).filter((r) => r.host === 'server' && r.state === 'SYN-RECV')
  t.ok(pending.length > 0)
  t.same([...new Set(pending.map((r) => r.listener))], ['srv'])
  t.same([...new Set(pending.map((r) => r.socket))], [undefined], 'no name of their own')
  t.equal(evaluate(ctx, { ss: { on: 'server', socket: { listener: 'srv' }, match: { state: 'SYN-RECV', timer: 'on' }, during: ['0.3s', '3s'], since: 'cli.connecting' } }).status, 'pass')
  t.equal(evaluate(ctx, { packets: { on: 'server', dir: 'out', socket: { listener: 'srv' }, flags: 'S.', count: '>=3' } }).status, 'pass')
  t.equal(evaluate(ctx, { ss: { on: 'server', socket: { listener: 'srv' }, match: { state: 'ESTAB' } } }).status, 'fail', 'must fail: it never got established')
  t.equal(evaluate(ctx, { packets: { on: 'server', dir: 'out', socket: { listener: 'srv' }, flags: 'S.', count: 0 } }).status, 'fail', 'must fail: SYN-ACKs were sent')
  t.equal(evaluate(ctx, { ss: { socket: 'cli', match: { state: 'SYN-SENT' } } }).status, 'pass', "the client's side by its own name")
})

t.test('sockets: names for command endpoints (nc, no agent)', async (t) => {
  const fx = loadFixture('seed-close-wait')
  const declared = {
    srv: { on: 'server', local: 8000, state: 'LISTEN' },
    conn: { on: 'server', local: 8000, peer: 'client' },
    cli: { on: 'client', peer: 'server:8000' },
  }
  const ctx = contextFor(fx.records.map((r) => (r.kind === 'ss' || r.kind === 'pkt' ? { ...r, socket: undefined } : r)), { declared })
  t.ok(ss(ctx).filter((r) => r.host === 'server' && r.state === 'LISTEN').every((r) => r.socket === 'srv'))
  t.ok(ss(ctx).filter((r) => r.host === 'server' && r.state === 'CLOSE-WAIT').every((r) => r.socket === 'conn'))
  const synIn = pkts(ctx).find((p) => p.host === 'server' && p.flags === 'S')
  t.equal(synIn?.socket, 'conn', 'named back to its SYN, before its first matching row')
  t.equal(evaluate(ctx, { ss: { socket: 'conn', match: { state: 'CLOSE-WAIT', timer: 'none' }, during: ['2s', 'end'] } }).status, 'pass')
  t.equal(evaluate(ctx, { states: { socket: 'cli', sequence: ['ESTAB', 'FIN-WAIT-2', 'CLOSED'] } }).status, 'pass')
  t.equal(evaluate(ctx, { packets: { on: 'server', dir: 'out', socket: 'conn', flags: 'F.', count: 1 } }).status, 'fail', 'must fail: the server never sends a FIN')
  const unseen = contextFor(fx.records, { declared: { ghost: { on: 'server', local: 9999 } } })
  t.equal(evaluate(unseen, { ss: { socket: 'ghost', match: { state: 'LISTEN' }, quantifier: 'never' } }).status, 'error', 'a declared name that matched nothing is an error')
})

t.test('sockets: NAME.seen is the first row that matches, once', async (t) => {
  const fx = loadFixture('seed-close-wait')
  const rows = fx.records.filter((r): r is SsRecord => r.kind === 'ss')
  const seen: Array<[string, number]> = []
  const watch = watchDeclaredSockets(
    { lsn: { on: 'server', local: 8000, state: 'LISTEN' }, cw: { on: 'server', local: 8000, state: 'CLOSE-WAIT' }, none: { on: 'client', local: 9999 } },
    hostAddresses(fx.records),
    (name, row) => seen.push([name, row.t]),
  )
  for (const r of rows) watch(r)
  const firstListen = rows.find((r) => r.host === 'server' && r.state === 'LISTEN')
  const firstCloseWait = rows.find((r) => r.host === 'server' && r.state === 'CLOSE-WAIT')
  t.same(seen.find(([n]) => n === 'lsn'), ['lsn', firstListen?.t])
  t.same(seen.find(([n]) => n === 'cw'), ['cw', firstCloseWait?.t])
  t.equal(seen.filter(([n]) => n === 'lsn').length, 1, 'once')
  t.notOk(seen.some(([n]) => n === 'none'), 'a selector nothing matches is never seen')
})
