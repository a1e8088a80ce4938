// process, event and counter expectations on recorded timelines. The runner
// records process events (started, stdout, stderr, exited) for nc; socket-agent
// events (connecting, error + errno, sent n, ...) do not occur in the seed
// recordings, so the few cases that need them add agent-style records that are
// marked SYNTHETIC (data.synthetic = true) next to the real ones.

import t from 'tap'
import { Expectation } from '../../../src/scenario/schema.js'
import type { CounterRecord } from '../../../src/recorder/records.js'
import { contextOf, evaluate, loadFixture, syntheticEvent, timeOf } from './timeline-fixture.js'

const syn = loadFixture('seed-syn-drop-timeout')
const acceptQ = loadFixture('seed-accept-queue')
const recvq = loadFixture('seed-recvq-stalled-reader')
const sendq = loadFixture('seed-sendq-ack-drop')

t.test('process: exit code', async (t) => {
  // seed-syn-drop-timeout: `nc -v` gives up on its connect() at 9.843 s with exit code 1.
  const ctx = contextOf(syn)
  const ok = evaluate(ctx, { process: { name: 'cli', exit: 1 } })
  t.equal(ok.status, 'pass')
  t.equal(ok.expected, 'cli exits with 1')
  t.equal(ok.measured, 'exited with 1 at 9.843s')
  t.equal(ok.t, 9.84312)
  const bad = evaluate(ctx, { process: { name: 'cli', exit: 0 } })
  t.equal(bad.status, 'fail')
  t.equal(bad.measured, 'exited with 1 at 9.843s')
  const sig = evaluate(ctx, { process: { name: 'cli', exit: 'KILL' } })
  t.equal(sig.status, 'fail')
  t.equal(sig.expected, 'cli killed by SIGKILL')
  t.equal(sig.measured, 'exited with 1 at 9.843s')
})

t.test('process: signal', async (t) => {
  // seed-accept-queue: c1 is interrupted (SIGINT) at 1.736 s and exits at 1.903 s.
  const ctx = contextOf(acceptQ)
  for (const exit of ['INT', 'SIGINT']) {
    const r = evaluate(ctx, { process: { name: 'c1', exit } })
    t.equal(r.status, 'pass', exit)
    t.equal(r.expected, 'c1 killed by SIGINT')
    t.equal(r.measured, 'killed by SIGINT at 1.903s')
  }
  const term = evaluate(ctx, { process: { name: 'c1', exit: 'TERM' } })
  t.equal(term.status, 'fail')
  t.equal(term.measured, 'killed by SIGINT at 1.903s')
  t.equal(evaluate(ctx, { process: { name: 'c1', exit: 0 } }).status, 'fail', 'a signal is not an exit code')
})

t.test('process: still running at the end (stopped by the runner does not count as an exit)', async (t) => {
  const ctx = contextOf(acceptQ)
  const running = evaluate(ctx, { process: { name: 'c2', exit: 'running' } })
  t.equal(running.status, 'pass')
  t.equal(running.expected, 'c2 still running at the end')
  t.equal(running.measured, 'still running at the end')
  const exited = evaluate(ctx, { process: { name: 'c1', exit: 'running' } })
  t.equal(exited.status, 'fail')
  t.equal(exited.measured, 'killed by SIGINT at 1.903s')
  const wantExit = evaluate(ctx, { process: { name: 'c2', exit: 0 } })
  t.equal(wantExit.status, 'fail')
  t.equal(wantExit.measured, 'still running at the end')
  const ghost = evaluate(ctx, { process: { name: 'ghost', exit: 0 } })
  t.equal(ghost.status, 'fail')
  t.equal(ghost.measured, 'never started', 'not "still running at the end"')
  t.equal(evaluate(ctx, { process: { name: 'ghost', exit: 'running' } }).status, 'fail', 'a process that never started is not running either')
})

t.test('process: stdout and stderr, literal or /regex/', async (t) => {
  const ctx = contextOf(recvq)
  for (const stdout of ['12345', '234', '/^12345$/']) {
    const r = evaluate(ctx, { process: { name: 'srv', stdout } })
    t.equal(r.status, 'pass', stdout)
    t.equal(r.expected, `srv prints ${stdout} on stdout`)
  }
  const bad = evaluate(ctx, { process: { name: 'srv', stdout: '54321' } })
  t.equal(bad.status, 'fail')
  t.equal(bad.measured, 'stdout was "12345"')
  const anchored = evaluate(ctx, { process: { name: 'srv', stdout: '/^2345/' } })
  t.equal(anchored.status, 'fail')
  const silent = evaluate(ctx, { process: { name: 'cli', stdout: '12345' } })
  t.equal(silent.status, 'fail', 'the client printed nothing')
  t.equal(silent.measured, 'stdout was ""')

  const synCtx = contextOf(syn)
  const err = evaluate(synCtx, { process: { name: 'cli', exit: 1, stderr: '/timed out/' } })
  t.equal(err.status, 'pass')
  t.equal(err.expected, 'cli exits with 1, prints /timed out/ on stderr')
  const refused = evaluate(synCtx, { process: { name: 'cli', exit: 1, stderr: '/refused/' } })
  t.equal(refused.status, 'fail')
  t.equal(refused.measured, 'stderr was "nc: connect to 198.18.18.2 port 8000 (tcp) failed: Connection timed out"')
  const both = evaluate(synCtx, { process: { name: 'cli', exit: 0, stderr: '/refused/' } })
  t.equal(both.measured, 'exited with 1 at 9.843s; stderr was "nc: connect to 198.18.18.2 port 8000 (tcp) failed: Connection timed out"', 'every problem is listed')
})

t.test('process: time of exit', async (t) => {
  const ctx = contextOf(syn)
  // cli.started at 0.464574 s, exit at 9.84312 s: 9378.546 ms later.
  const rule = { floor: '200ms', percent: 5 }
  const ok = evaluate(ctx, { process: { name: 'cli', exit: 1, at: '9s', since: 'cli.started', tolerance: rule } })
  t.equal(ok.status, 'pass')
  t.equal(ok.expected, 'cli exits with 1 at 9s ±450ms after cli.started')
  t.equal(ok.measured, 'exited with 1 at 9.843s')
  t.equal(ok.deltaMs, 378.546)
  t.equal(ok.toleranceMs, 450)
  const early = evaluate(ctx, { process: { name: 'cli', exit: 1, at: '8.9s', since: 'cli.started', tolerance: rule } })
  t.equal(early.status, 'fail', '478.546 ms late, tolerance 445 ms')
  t.equal(early.measured, 'exited with 1 at 9.843s, outside the window (9.379s after the reference: +478.5ms off, tolerance ±445ms)', 'the miss says how far off the exit was')
  t.equal(early.deltaMs, 478.546)
  t.equal(early.toleranceMs, 445)
  // An older kernel's expectation (7 s) on this kernel.
  t.equal(evaluate(ctx, { process: { name: 'cli', exit: 1, at: '7s', since: 'cli.started', tolerance: rule } }).status, 'fail')

  const since = evaluate(ctx, { process: { name: 'cli', exit: 1, at: '9s', since: 'cli.connected' } })
  t.equal(since.status, 'fail')
  t.equal(since.reason, 'the reference event cli.connected never happened')

  // The schema accepts a list for every kind's `at`; for a process it must not be ignored
  // (the loader rejects it; evaluated anyway, it fails with the reason).
  const list = evaluate(ctx, { process: { name: 'cli', exit: 1, at: ['1s'] } })
  t.equal(list.status, 'fail', 'an exit at 9.8 s does not pass at: [1s]')
  t.equal(list.reason, 'a list of times (at: [...]) applies to packets and event expectations only')
})

t.test('event: type, count, other events listed on failure', async (t) => {
  const ctx = contextOf(acceptQ)
  const ok = evaluate(ctx, { event: { source: 'c1', type: 'exited' } })
  t.equal(ok.status, 'pass')
  t.equal(ok.expected, 'c1 exited during the whole run')
  t.equal(ok.measured, '1 at 1.903s')
  t.equal(ok.t, 1.903262)

  const r = contextOf(recvq)
  const one = evaluate(r, { event: { source: 'srv', type: 'stdout', count: 1 } })
  t.equal(one.status, 'pass')
  t.equal(one.expected, 'srv stdout, count = 1 during the whole run')
  const two = evaluate(r, { event: { source: 'srv', type: 'stdout', count: 2 } })
  t.equal(two.status, 'fail')
  t.equal(two.measured, '1 matching events at 3.109s; other events: started@0.160s, exited@5.129s')
  const none = evaluate(r, { event: { source: 'srv', type: 'stderr' } })
  t.equal(none.status, 'fail')
  t.equal(none.measured, '0 matching events; other events: started@0.160s, stdout@3.109s, exited@5.129s')
  t.equal(evaluate(r, { event: { source: 'srv', type: 'stderr', count: 0 } }).status, 'pass')
  const window = evaluate(r, { event: { source: 'srv', type: 'stdout', before: '3s' } })
  t.equal(window.status, 'fail', 'nc printed only after SIGCONT at 3.063 s')
  t.equal(window.measured, '0 matching events; other events: started@0.160s')
})

t.test('event: a list of times, and a single time', async (t) => {
  // c1 started at 0.641457 s and exited 1261.805 ms later.
  const ctx = contextOf(acceptQ)
  const ok = evaluate(ctx, { event: { source: 'c1', at: ['0s', '1.2s'], since: 'c1.started' } })
  t.equal(ok.status, 'pass', '+61.8 ms, tolerance 10 % of 1.2 s')
  t.equal(ok.expected, 'c1 event at 0s, 1.2s after c1.started')
  t.equal(ok.measured, 'events at 0.000s (+0s), 1.262s (+61.8ms)')
  t.equal(ok.deltaMs, 61.805)
  t.equal(ok.toleranceMs, 120)
  const bad = evaluate(ctx, { event: { source: 'c1', at: ['0s', '1s'], since: 'c1.started' } })
  t.equal(bad.status, 'fail')
  t.equal(bad.measured, 'events at 0.000s (+0s), 1.262s (+261.8ms); #2 is outside its tolerance')
  t.equal(bad.deltaMs, 261.805)
  t.equal(bad.toleranceMs, 100)
  t.equal(evaluate(ctx, { event: { source: 'c1', at: ['0s'], since: 'c1.started' } }).status, 'fail', 'two events, one time')

  const s = contextOf(syn)
  const single = evaluate(s, { event: { source: 'cli', type: 'exited', at: '9.4s', since: 'cli.started' } })
  t.equal(single.status, 'pass')
  t.equal(single.expected, 'cli exited at 9.4s ±940ms after cli.started')
  t.equal(single.deltaMs, -21.454)
  t.equal(single.toleranceMs, 940)
  const missed = evaluate(s, { event: { source: 'cli', type: 'exited', at: '7s', since: 'cli.started' } })
  t.equal(missed.status, 'fail')
  // A single `at:` that misses reports the nearest matching event and its delta (it said "0 matching events").
  t.equal(missed.measured, 'no matching event in the window; nearest: exited@9.843s, 9.379s after the reference (+2.379s off)')
  t.equal(missed.deltaMs, 2378.546)
  t.equal(missed.toleranceMs, 700)
  t.equal(missed.t, 9.84312, 'points at the nearest event')
  const none = evaluate(s, { event: { source: 'cli', type: 'error', at: '7s', since: 'cli.started' } })
  t.equal(none.measured, '0 matching events', 'no such event at all: nothing to be near')
})

t.test('event: sequence in order', async (t) => {
  const ctx = contextOf(acceptQ)
  const ok = evaluate(ctx, { event: { source: 'c1', sequence: [{ type: 'started' }, { type: 'exited' }] } })
  t.equal(ok.status, 'pass')
  t.equal(ok.expected, 'c1 event in order: started → exited during the whole run')
  t.equal(ok.measured, 'started@0.641s, exited@1.903s')
  t.equal(ok.t, 0.641457)
  const bad = evaluate(ctx, { event: { source: 'c1', sequence: [{ type: 'exited' }, { type: 'started' }] } })
  t.equal(bad.status, 'fail')
  t.equal(bad.measured, 'got started@0.641s, exited@1.903s (matched 1 of 2)')
})

// SYNTHETIC agent-style events on the real seed-syn-drop-timeout timeline: a socket
// `asock` that connects when nc did and fails with ETIMEDOUT when nc reported it.
const AGENT = [
  syntheticEvent({ t: 0.464574, host: 'client', source: 'asock', type: 'connecting' }),
  syntheticEvent({ t: 9.831095, host: 'client', source: 'asock', type: 'error', errno: 'ETIMEDOUT' }),
  syntheticEvent({ t: 9.8312, host: 'client', source: 'asock', type: 'closed' }),
]

t.test('event: errno (synthetic agent events)', async (t) => {
  const ctx = contextOf(syn, {}, AGENT)
  t.same(AGENT.map((e) => e.data), [{ synthetic: true }, { synthetic: true }, { synthetic: true }])
  const ok = evaluate(ctx, { event: { socket: 'asock', type: 'error', errno: 'ETIMEDOUT', at: '9.4s', since: 'asock.connecting', tolerance: '200ms' } })
  t.equal(ok.status, 'pass')
  t.equal(ok.expected, 'asock error ETIMEDOUT at 9.4s ±940ms after asock.connecting')
  t.equal(ok.measured, '1 at 9.367s')
  t.equal(ok.deltaMs, -33.479)
  t.equal(ok.toleranceMs, 940)
  const refused = evaluate(ctx, { event: { socket: 'asock', errno: 'ECONNREFUSED' } })
  t.equal(refused.status, 'fail')
  t.equal(refused.expected, 'asock event ECONNREFUSED during the whole run')
  t.equal(refused.measured, '0 matching events; other events: connecting@0.465s, error ETIMEDOUT@9.831s, closed@9.831s')
  const early = evaluate(ctx, { event: { socket: 'asock', errno: 'ETIMEDOUT', at: '7s', since: 'asock.connecting' } })
  t.equal(early.status, 'fail', 'a pre-6.5 kernel gives up at 7 s')
  t.equal(evaluate(ctx, { event: { socket: 'asock', errno: 'ETIMEDOUT', count: 1 } }).status, 'pass')
  t.equal(evaluate(ctx, { event: { socket: 'asock', type: 'error', count: 0 } }).status, 'fail')
})

t.test('event: sequence with errno and byte counts (synthetic agent events)', async (t) => {
  const ctx = contextOf(syn, {}, AGENT)
  const ok = evaluate(ctx, { event: { socket: 'asock', sequence: [{ type: 'connecting' }, { type: 'error', errno: 'ETIMEDOUT' }, { type: 'closed' }] } })
  t.equal(ok.status, 'pass')
  t.equal(ok.expected, 'asock event in order: connecting → error ETIMEDOUT → closed during the whole run')
  const connected = evaluate(ctx, { event: { socket: 'asock', sequence: [{ type: 'connecting' }, { type: 'connected' }] } })
  t.equal(connected.status, 'fail')
  t.equal(connected.measured, 'got connecting@0.465s, error ETIMEDOUT@9.831s, closed@9.831s (matched 1 of 2)')
  t.equal(connected.t?.toFixed(3), '0.465', 'no event of the type due next: its moment is the first event\'s')
  const wrongErrno = evaluate(ctx, { event: { socket: 'asock', sequence: [{ type: 'connecting' }, { type: 'error', errno: 'ECONNRESET' }] } })
  t.equal(wrongErrno.status, 'fail')
  t.equal(wrongErrno.t?.toFixed(3), '9.831', 'its moment is where it broke: the error due next, with another errno')

  // SYNTHETIC: the server side of seed-sendq-ack-drop as the agent would report it:
  // 6 bytes sent when nc wrote them, acknowledged only after the rule was removed.
  const sent = contextOf(sendq, {}, [
    syntheticEvent({ t: 1.149461, host: 'server', source: 'ssock', type: 'sent', n: 6 }),
    syntheticEvent({ t: 4.501432, host: 'server', source: 'ssock', type: 'info', data: { unacked: 0 } }),
  ])
  const n = evaluate(sent, { event: { socket: 'ssock', sequence: [{ type: 'sent', n: 6 }, { type: 'info' }] } })
  t.equal(n.status, 'pass')
  t.equal(n.measured, 'sent 6@1.149s, info@4.501s')
  const more = evaluate(sent, { event: { socket: 'ssock', sequence: [{ type: 'sent', n: '>6' }, { type: 'info' }] } })
  t.equal(more.status, 'fail')
  t.equal(more.measured, 'got sent 6@1.149s, info@4.501s (matched 0 of 2)')
  t.equal(more.t, 1.149461, 'where it broke: the send due first, of another size')
})

t.test('event: an expectation naming neither socket nor source matches nothing', async (t) => {
  // The schema lets it through (the loader rejects it, see index.test.ts); evaluated, it fails.
  t.equal(Expectation.safeParse({ event: { type: 'exited' } }).success, true)
  const ctx = contextOf(acceptQ)
  t.equal(evaluate(ctx, { event: { type: 'exited' } }).status, 'fail', 'even though four processes exited')
})

t.test('counter: the last recorded value of a named rule', async (t) => {
  // seed-syn-drop-timeout: drop-syn on the server counted 5 packets, 300 bytes.
  const ctx = contextOf(syn)
  const ok = evaluate(ctx, { counter: { on: 'server', name: 'drop-syn', packets: 5, bytes: 300 } })
  t.equal(ok.status, 'pass')
  t.equal(ok.expected, 'counter drop-syn on server: packets = 5, bytes = 300')
  t.equal(ok.measured, 'packets=5, bytes=300')
  t.equal(ok.t, 10.031216)
  const three = evaluate(ctx, { counter: { on: 'server', name: 'drop-syn', packets: 3 } })
  t.equal(three.status, 'fail', 'what a pre-6.5 kernel drops')
  t.equal(three.measured, 'packets=5')
  t.equal(evaluate(ctx, { counter: { on: 'server', name: 'drop-syn', value: '>=5' } }).status, 'pass')
  t.equal(evaluate(ctx, { counter: { on: 'server', name: 'drop-syn', value: '<5' } }).status, 'fail')
  const wrongHost = evaluate(ctx, { counter: { on: 'client', name: 'drop-syn', packets: 5 } })
  t.equal(wrongHost.status, 'fail')
  t.equal(wrongHost.measured, 'no counter named drop-syn was recorded on client')
  t.equal(evaluate(ctx, { counter: { on: 'server', name: 'drop-acks', packets: 0 } }).status, 'fail', 'no such rule here')

  const s = contextOf(sendq)
  const acks = evaluate(s, { counter: { on: 'client', name: 'drop-acks', packets: '>=4', bytes: 308 } })
  t.equal(acks.status, 'pass')
  t.equal(acks.measured, 'packets=5, bytes=308')

  // SYNTHETIC: a later reading of the same rule wins.
  const later: CounterRecord = { kind: 'counter', t: 10.04, host: 'server', name: 'drop-syn', value: 6, packets: 6, bytes: 360 }
  const twice = contextOf(syn, {}, [later])
  t.equal(evaluate(twice, { counter: { on: 'server', name: 'drop-syn', packets: 5 } }).status, 'fail')
  t.equal(evaluate(twice, { counter: { on: 'server', name: 'drop-syn', packets: 6 } }).measured, 'packets=6')
  t.equal(timeOf(syn, 'srv', 'exited'), 10.053589)
})
