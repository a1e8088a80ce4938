// Moments shared across expectations (`mark:` and `since:` a mark), on real
// SYN timeouts: seed-syn-drop-timeout (tcp_syn_linear_timeouts=2: SYNs at 0.475,
// 1.497, 2.521, 3.545, 5.561 s, ETIMEDOUT at 9.843 s) and the same scenario run
// with --sysctl net.ipv4.tcp_syn_linear_timeouts=0 (test/fixtures/runs/linear-0:
// SYNs at 0.308, 1.310, 3.326 s, ETIMEDOUT at 7.361 s).

import { join } from 'node:path'
import t from 'tap'
import { evaluationOrder } from '../../../src/expect/marks.js'
import { contextOf, evaluate, evaluateList, loadFixture, TIMELINES } from './timeline-fixture.js'

const syn = loadFixture('seed-syn-drop-timeout')
const lin0 = loadFixture('seed-syn-drop-timeout', join(TIMELINES, '../runs/linear-0/seed-syn-drop-timeout'))
const SYN_MARK = { packets: { on: 'client', dir: 'out', to: 'server:8000', flags: 'S', mark: 'syn' } }

t.test('ETIMEDOUT 4 s after the last SYN, in one line, on both schedules', async (t) => {
  for (const fx of [syn, lin0]) {
    const [proc, pk] = evaluateList(contextOf(fx), [{ process: { name: 'cli', exit: 1, at: '4s', since: 'syn.last' } }, SYN_MARK])
    t.equal(proc?.status, 'pass', `${fx.name}: ${proc?.measured}`)
    t.equal(proc?.toleranceMs, 400, 'the default 10 % of the 4 s since the mark: no floor worked out by hand')
    t.same(pk?.mark?.name, 'syn')
  }
  const [a] = evaluateList(contextOf(syn), [{ process: { name: 'cli', exit: 1, at: '4s', since: 'syn.last' } }, SYN_MARK])
  t.equal(a?.expected, 'cli exits with 1 at 4s ±400ms after mark syn (last) at 5.561s', 'the user comes before the mark in the file: marks are evaluated first')
  t.equal(a?.deltaMs, 281.722)
  const [b] = evaluateList(contextOf(lin0), [{ process: { name: 'cli', exit: 1, at: '4s', since: 'syn.last' } }, SYN_MARK])
  t.equal(b?.expected, 'cli exits with 1 at 4s ±400ms after mark syn (last) at 3.326s')
  t.equal(b?.deltaMs, 35.246)
})

t.test('since: a mark fails with a readable delta when its value is changed', async (t) => {
  const [early] = evaluateList(contextOf(syn), [{ process: { name: 'cli', exit: 1, at: '3.5s', since: 'syn.last' } }, SYN_MARK])
  t.equal(early?.status, 'fail')
  t.equal(early?.measured, 'exited with 1 at 9.843s, outside the window (4.282s after the reference: +781.7ms off, tolerance ±350ms)')
  t.equal(early?.deltaMs, 781.722)
  // From the first SYN instead of the last: 9.4 s off.
  const [first] = evaluateList(contextOf(syn), [{ process: { name: 'cli', exit: 1, at: '4s', since: 'syn' } }, SYN_MARK])
  t.equal(first?.status, 'fail')
  t.match(first?.expected, /after mark syn \(first\) at 0\.475s$/)
})

t.test('nth moment of a mark; a mark without that many moments; a mark that matched nothing', async (t) => {
  const ctx = contextOf(lin0)
  const [third] = evaluateList(ctx, [{ event: { source: 'cli', type: 'exited', at: '4s', since: 'syn.3' } }, SYN_MARK])
  t.equal(third?.status, 'pass', 'the 3rd of 3 SYNs is the last')
  const [fourth] = evaluateList(ctx, [{ event: { source: 'cli', type: 'exited', at: '4s', since: 'syn.4' } }, SYN_MARK])
  t.equal(fourth?.status, 'fail')
  t.equal(fourth?.measured, 'the mark syn has 3 moments, not 4')
  const [none] = evaluateList(ctx, [
    { process: { name: 'cli', exit: 1, at: '4s', since: 'synack' } },
    { packets: { on: 'client', dir: 'in', flags: 'S.', mark: 'synack', count: 0 } },
  ])
  t.equal(none?.status, 'fail')
  t.equal(none?.measured, 'the mark synack has no moment (expectation #2 matched nothing)')
})

t.test('a mark set only by skipped expectations skips its users; the first one that ran sets it', async (t) => {
  const guarded = (when: unknown, gaps: string[]): unknown => ({ packets: { on: 'client', dir: 'out', flags: 'S', gaps, tolerance: { floor: '100ms', percent: 10 }, mark: 'syn', when } })
  const list = [
    guarded({ sysctl: 'net.ipv4.tcp_syn_linear_timeouts=2' }, ['1s', '1s', '1s', '2s']),
    guarded({ noSysctl: 'net.ipv4.tcp_syn_linear_timeouts>0' }, ['1s', '2s']),
    { process: { name: 'cli', exit: 1, at: '4s', since: 'syn.last' } },
  ]
  for (const fx of [syn, lin0]) {
    const r = evaluateList(contextOf(fx), list)
    t.same(r.map((x) => x.status), fx === syn ? ['pass', 'skip', 'pass'] : ['skip', 'pass', 'pass'], fx.name)
  }
  const r = evaluateList(contextOf(syn), [guarded({ kernel: '<5.0' }, ['1s', '2s']), { process: { name: 'cli', exit: 1, at: '4s', since: 'syn.last' } }])
  t.equal(r[1]?.status, 'skip')
  t.match(r[1]?.reason, /^measured since the mark syn: expectation #1, which sets it, was skipped: needs kernel <5\.0/)
})

t.test('marks of every kind: events, exits, ss samples, state transitions', async (t) => {
  const ctx = contextOf(syn)
  const r = evaluateList(ctx, [
    { process: { name: 'cli', exit: 1, mark: 'exit' } },
    { ss: { on: 'client', socket: { peer: 8000 }, match: { state: 'SYN-SENT' }, mark: 'synsent' } },
    { states: { on: 'client', socket: { peer: 8000 }, sequence: ['SYN-SENT', 'CLOSED'], mark: 'st' } },
    { event: { source: 'cli', type: 'started', mark: 'start' } },
    { event: { source: 'cli', type: 'exited', at: '0s', since: 'exit' } },
    { packets: { on: 'client', dir: 'out', flags: 'S', at: '0s', since: 'synsent', tolerance: '50ms' } },
    { event: { source: 'cli', type: 'exited', at: '0s', since: 'st.2', tolerance: '120ms' } },
  ])
  t.same(r[0]?.mark, { name: 'exit', t: [9.84312] })
  t.equal(r[1]?.mark?.t[0], r[1]?.t, 'ss: the matching samples')
  t.equal(r[2]?.mark?.t.length, 2, 'states: one moment per state of the sequence')
  t.equal(r[4]?.status, 'pass')
  t.equal(r[4]?.deltaMs, 0)
  // This run sampled every ~0.4 s: its first SYN-SENT sample came 332 ms after the SYN, and the miss says so.
  t.equal(r[5]?.status, 'fail')
  t.equal(r[5]?.measured, 'no matching packet in the window; nearest at -0.332s')
  t.equal(r[5]?.deltaMs, -331.8)
  t.equal(r[6]?.status, 'pass', `the socket is gone right after the exit: ${r[6]?.measured}`)
})

t.test('evaluation order: marks before their users, file order otherwise; cycles are reported', async (t) => {
  t.same(evaluationOrder([{ since: 'a.last' }, { mark: 'a' }, {}]).order, [1, 0, 2])
  t.same(evaluationOrder([{ mark: 'a', since: 'b' }, { mark: 'b', since: 'a' }]).cycle, [0, 1, 0])
  t.same(evaluationOrder([{ since: 'cli.sent' }, { mark: 'x' }]).order, [0, 1], 'an event reference is no mark')
})

t.test('since: an event stamped after its syscall returns counts from when the call was issued (zero-window: send untilFull)', async (t) => {
  // cli.sent at 0.500435 s, issued at 0.500290 s; the two data segments it produced left at 0.500318 and 0.500370 s.
  const zw = loadFixture('zero-window')
  const ctx = contextOf(zw)
  const r = evaluate(ctx, { packets: { on: 'client', dir: 'out', socket: 'cli', len: '>0', since: 'cli.sent', before: '100ms', count: 2 } })
  t.equal(r.status, 'pass', r.measured)
  t.equal(r.expected, 'packets out of cli len > 0 on client, count = 2 before 100ms after cli.sent (its call issued at 0.500s, 145us before the event)')
  // Without the issued time (the event's own t) the window would miss both: shown by dropping issuedT.
  const stripped = contextOf(zw, {}, []).records.map((x) => (x.kind === 'event' && x.type === 'sent' ? { ...x, data: { ...x.data, issuedT: undefined } } : x))
  const old = evaluate({ ...ctx, records: stripped }, { packets: { on: 'client', dir: 'out', socket: 'cli', len: '>0', since: 'cli.sent', before: '100ms', count: 2 } })
  t.equal(old.status, 'fail', 'from the event\'s own time, the packets its send() produced are left out')
  t.equal(old.measured, '0 packets')
})
