// ss expectations across rows and samples: the number of sockets matching a
// selector in each sample (sockets:) and trends of a field over a socket's
// samples (trend:), on timelines recorded from real runs.

import t from 'tap'
import { checkTrend } from '../../../src/expect/trends.js'
import { Expectation } from '../../../src/scenario/schema.js'
import { loadFieldsFixture } from './fields-fixture.js'
import { contextOf, evaluate, loadFixture } from './timeline-fixture.js'

const keepalive = contextOf(loadFieldsFixture('keepalive'))
const zero = contextOf(loadFieldsFixture('zero-window'))
const closeWait = contextOf(loadFixture('seed-close-wait'))

t.test('sockets: exactly one CLOSE-WAIT row', async (t) => {
  // seed-close-wait: the server's connection is in CLOSE-WAIT from about 4 s until nc is killed at 9.07 s.
  const ok = evaluate(closeWait, { ss: { on: 'server', socket: { state: 'CLOSE-WAIT' }, sockets: 1, during: ['5s', '8s'] } })
  t.equal(ok.status, 'pass')
  t.equal(ok.expected, 'on server CLOSE-WAIT: sockets = 1 always during [5s, 8s]')
  t.equal(ok.measured, '12 of 12 samples matched (1 socket in 12)')
  const two = evaluate(closeWait, { ss: { on: 'server', socket: { state: 'CLOSE-WAIT' }, sockets: 2, during: ['5s', '8s'] } })
  t.equal(two.status, 'fail')
  t.equal(two.measured, '0 of 12 samples matched (1 socket in 12); first mismatch at 5.089s: 1 socket')
  // Over the whole run some samples have none (before the FIN, after the kill).
  const whole = evaluate(closeWait, { ss: { on: 'server', socket: { state: 'CLOSE-WAIT' }, sockets: 1, quantifier: 'always' } })
  t.equal(whole.status, 'fail')
  t.match(whole.measured, /^25 of 30 samples matched \(0 sockets in 5, 1 socket in 25\); first mismatch at/)
  t.equal(evaluate(closeWait, { ss: { on: 'server', socket: { state: 'CLOSE-WAIT' }, sockets: 0, quantifier: 'eventually' } }).status, 'pass')
  t.equal(evaluate(closeWait, { ss: { on: 'server', socket: { state: 'CLOSE-WAIT' }, sockets: '>1', quantifier: 'never' } }).status, 'pass')
  const never = evaluate(closeWait, { ss: { on: 'server', socket: { state: 'CLOSE-WAIT' }, sockets: 1, quantifier: 'never' } })
  t.equal(never.status, 'fail')
  t.match(never.measured, /first match at \d+\.\d+s: 1 socket$/)
  // With match: rows counted only when their fields match too.
  t.equal(evaluate(closeWait, { ss: { on: 'server', socket: { state: 'CLOSE-WAIT' }, match: { recvQ: '>0' }, sockets: 1, during: ['5s', '8s'] } }).status, 'pass')
  t.equal(evaluate(closeWait, { ss: { on: 'server', socket: { state: 'CLOSE-WAIT' }, match: { recvQ: 0 }, sockets: 1, during: ['5s', '8s'] } }).status, 'fail')
})

t.test('trend: increases, decreases, constant', async (t) => {
  // keepalive: ss counts the unanswered probes 0, 1, 2, 3.
  const probes = { on: 'client', socket: 'cli', since: 'cli.connected', during: ['1s', '4.8s'] }
  const up = evaluate(keepalive, { ss: { ...probes, trend: { 'timer.retrans': 'increases' } } })
  t.equal(up.status, 'pass')
  t.equal(up.expected, 'socket cli: timer.retrans increases during [1s, 4.8s] after cli.connected')
  t.equal(up.measured, 'timer.retrans 0×10 → 1×11 → 2×11 → 3×8')
  const flat = evaluate(keepalive, { ss: { ...probes, trend: { 'timer.retrans': 'constant' } } })
  t.equal(flat.status, 'fail')
  t.equal(flat.measured, 'timer.retrans went from 0 to 1 at 2.218s (timer.retrans 0×10 → 1×11 → 2×11 → 3×8)')
  t.equal(evaluate(keepalive, { ss: { ...probes, trend: { 'timer.retrans': 'decreases' } } }).status, 'fail')

  // zero-window: the persist backoff grows on the client; the stalled server's rcv_space and skmem.rb do not move.
  const backoff = evaluate(zero, { ss: { on: 'client', socket: 'cli', trend: { backoff: 'increases' }, during: ['0.6s', '5.9s'] } })
  t.equal(backoff.status, 'pass')
  t.equal(backoff.measured, 'backoff 1×5 → 2×10 → 3×17 → 4×22')
  const stalled = evaluate(zero, { ss: { on: 'server', socket: 'srv-conn', trend: { rcv_space: 'constant', 'skmem.rb': 'constant' }, during: ['0.7s', '5.7s'] } })
  t.equal(stalled.status, 'pass')
  t.equal(stalled.measured, 'rcv_space 1152×54; skmem.rb 2304×54')
  const grows = evaluate(zero, { ss: { on: 'server', socket: 'srv-conn', trend: { rcv_space: 'increases' }, during: ['0.7s', '5.7s'] } })
  t.equal(grows.status, 'fail')
  t.equal(grows.measured, 'rcv_space never rose: 1152 throughout (rcv_space 1152×54)')
  const missing = evaluate(zero, { ss: { on: 'server', socket: 'srv-conn', trend: { nosuchfield: 'constant' }, during: ['0.7s', '5.7s'] } })
  t.equal(missing.status, 'fail')
  t.equal(missing.measured, 'nosuchfield: 0 samples with a value (a trend needs 2)')
  const nothing = evaluate(zero, { ss: { on: 'server', socket: 'srv-conn', trend: { rcv_space: 'constant' }, during: ['8s', '9s'] } })
  t.equal(nothing.status, 'fail')
  t.equal(nothing.measured, 'no samples of the socket in the window')
})

t.test('checkTrend on its own', async (t) => {
  const pts = (vs: number[]) => vs.map((value, i) => ({ t: i, value }))
  t.ok(checkTrend('x', 'decreases', pts([3, 3, 2, 1])).pass)
  t.notOk(checkTrend('x', 'decreases', pts([3, 3, 3])).pass)
  t.equal(checkTrend('x', 'decreases', pts([3, 4])).text, 'x went from 3 to 4 at 1.000s (x 3×1 → 4×1)')
})

t.test('the schema wants match, sockets or trend in an ss expectation', async (t) => {
  const r = Expectation.safeParse({ ss: { on: 'server' } })
  t.notOk(r.success)
  t.match(r.success ? '' : r.error.issues[0]?.message, /expected `match`, `sockets` or `trend`/)
  t.notOk(Expectation.safeParse({ ss: { on: 'server', trend: { cwnd: 'grows' } } }).success)
  t.ok(Expectation.safeParse({ ss: { on: 'server', sockets: 1 } }).success)
})
