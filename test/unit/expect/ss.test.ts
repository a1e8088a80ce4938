// ss and states expectations on timelines recorded from real runs of the seed
// scenarios (test/fixtures/timelines). Every expectation kind and quantifier
// has a case that passes and one that must fail on the same recording, with
// the measured text checked, not only the status.

import t from 'tap'
import { contextOf, evaluate, loadFixture } from './timeline-fixture.js'

const recvq = loadFixture('seed-recvq-stalled-reader')
const closeWait = loadFixture('seed-close-wait')
const acceptQ = loadFixture('seed-accept-queue')

// seed-recvq-stalled-reader, server's ESTAB socket (198.19.60.2:8000): recvQ 0 at
// 0.824s; 6 at 1.197, 1.769, 2.182, 2.592, 3.009s (nc stopped); 0 at 3.409, 3.911,
// 4.378, 4.618, 4.942s (nc read the 6 bytes after SIGCONT at 3.063s).
const SERVER_ESTAB = { on: 'server', socket: { local: 8000, state: 'ESTAB' } }

t.test('ss always: holds on every sample of the window, fails on the first that differs', async (t) => {
  const ctx = contextOf(recvq)
  const ok = evaluate(ctx, { ss: { ...SERVER_ESTAB, match: { recvQ: 6 }, during: ['1.3s', '2.9s'] } })
  t.equal(ok.status, 'pass')
  t.equal(ok.expected, 'on server local 8000 ESTAB: recvQ = 6 always during [1.3s, 2.9s]')
  t.equal(ok.measured, '3 of 3 samples matched (seen: recvQ: 6×3)')
  t.equal(ok.t, 1.769148)

  // The brief's example: recvQ 6 always, during a window where the reader had drained it.
  const bad = evaluate(ctx, { ss: { ...SERVER_ESTAB, match: { recvQ: 6 }, during: ['3.5s', 'end'] } })
  t.equal(bad.status, 'fail')
  t.equal(bad.expected, 'on server local 8000 ESTAB: recvQ = 6 always during [3.5s, end]')
  t.equal(bad.measured, '0 of 4 samples matched; first mismatch at 3.911s: recvQ=0 (seen: recvQ: 0×4)')
  t.equal(bad.t, 3.911439, 'points at the first violating sample')

  // One bad sample among good ones is enough.
  const mixed = evaluate(ctx, { ss: { ...SERVER_ESTAB, match: { recvQ: 6 }, during: ['1s', '3.2s'] } })
  t.equal(mixed.status, 'pass', '1.197 .. 3.009 s are all 6')
  const mixed2 = evaluate(ctx, { ss: { ...SERVER_ESTAB, match: { recvQ: 6 }, during: ['1s', '3.5s'] } })
  t.equal(mixed2.status, 'fail')
  t.equal(mixed2.measured, '5 of 6 samples matched; first mismatch at 3.409s: recvQ=0 (seen: recvQ: 6×5, 0×1)')
})

t.test('ss eventually: one matching sample is enough; none fails', async (t) => {
  const ctx = contextOf(recvq)
  const ok = evaluate(ctx, { ss: { ...SERVER_ESTAB, match: { recvQ: 6 }, quantifier: 'eventually' } })
  t.equal(ok.status, 'pass')
  t.equal(ok.expected, 'on server local 8000 ESTAB: recvQ = 6 eventually during the whole run')
  t.equal(ok.measured, 'first at 1.197s; 5 of 11 samples matched (seen: recvQ: 0×6, 6×5)')
  t.equal(ok.t, 1.196854)

  const bad = evaluate(ctx, { ss: { ...SERVER_ESTAB, match: { recvQ: 7 }, quantifier: 'eventually' } })
  t.equal(bad.status, 'fail')
  t.equal(bad.measured, '0 of 11 samples matched (seen: recvQ: 0×6, 6×5)')

  t.equal(evaluate(ctx, { ss: { ...SERVER_ESTAB, match: { recvQ: 6 } } }).expected, 'on server local 8000 ESTAB: recvQ = 6 eventually during the whole run',
    'without a window or quantifier, eventually is the default')
})

t.test('ss never: passes when no sample matches, fails at the first that does', async (t) => {
  const ctx = contextOf(recvq)
  const ok = evaluate(ctx, { ss: { ...SERVER_ESTAB, match: { recvQ: '>6' }, quantifier: 'never' } })
  t.equal(ok.status, 'pass')
  t.equal(ok.expected, 'on server local 8000 ESTAB: recvQ > 6 never during the whole run')
  t.equal(ok.measured, '0 of 11 samples matched (seen: recvQ: 0×6, 6×5)')

  const bad = evaluate(ctx, { ss: { ...SERVER_ESTAB, match: { recvQ: 6 }, quantifier: 'never' } })
  t.equal(bad.status, 'fail')
  t.equal(bad.measured, '5 of 11 samples matched; first at 1.197s (seen: recvQ: 0×6, 6×5)')
  t.equal(bad.t, 1.196854)
})

t.test('ss with no samples in the window: never holds, always and eventually fail', async (t) => {
  // seed-close-wait: the client's orphaned FIN-WAIT-2 socket is last sampled at
  // 6.797s; tcp_fin_timeout (5s) removed it before the sample at 7.174s.
  const ctx = contextOf(closeWait)
  const gone = { on: 'client', socket: { peer: 8000 }, match: { state: 'FIN-WAIT-2' }, after: '7.2s' }
  const never = evaluate(ctx, { ss: { ...gone, quantifier: 'never' } })
  t.equal(never.status, 'pass')
  t.equal(never.measured, 'no samples of the socket in the window')
  t.equal(never.t, 7.2)
  for (const quantifier of ['always', 'eventually'] as const) {
    const r = evaluate(ctx, { ss: { ...gone, quantifier } })
    t.equal(r.status, 'fail', quantifier)
    t.equal(r.measured, 'no samples of the socket in the window')
  }
  // ... while before 6.8s the socket was there in FIN-WAIT-2:
  t.equal(evaluate(ctx, { ss: { ...gone, after: '6s', before: '6.8s', quantifier: 'never' } }).status, 'fail')
})

t.test('ss fields: timer name and expiry, tcp_info, skmem, regex state', async (t) => {
  const ctx = contextOf(closeWait)
  const fw2 = { on: 'client', socket: { peer: 8000, state: 'FIN-WAIT-2' } }
  const ok = evaluate(ctx, { ss: { ...fw2, match: { timer: 'timewait', 'timer.expiresMs': '<=5000' }, during: ['1.7s', '6s'] } })
  t.equal(ok.status, 'pass')
  t.equal(ok.expected, 'on client peer 8000 FIN-WAIT-2: timer = timewait, timer.expiresMs <= 5000 always during [1.7s, 6s]')
  t.equal(ok.measured, '12 of 12 samples matched (seen: timer: timewait×12; timer.expiresMs: 4968×1, 4524×1, 4120×1, 3688×1, 3264×1, 2716×1, 2312×1, 2128×1, ...)')

  const tighter = evaluate(ctx, { ss: { ...fw2, match: { 'timer.expiresMs': '<=4000' }, during: ['1.7s', '6s'] } })
  t.equal(tighter.status, 'fail')
  t.match(tighter.measured, /^9 of 12 samples matched; first mismatch at 1\.813s: timer\.expiresMs=4968 /)

  // At 6.797s ss printed the timer without a time ("timer:(timewait,,0)" style): the
  // timer is due (the kernel clamps what is left to 0), so it reads 0: within "<= 5000",
  // not within ">= 100".
  const toEnd = evaluate(ctx, { ss: { ...fw2, match: { 'timer.expiresMs': '<=5000' }, during: ['6.5s', 'end'] } })
  t.equal(toEnd.status, 'pass')
  t.equal(toEnd.measured, '2 of 2 samples matched (seen: timer.expiresMs: 144×1, 0×1)')
  const dueFails = evaluate(ctx, { ss: { ...fw2, match: { 'timer.expiresMs': '>=100' }, during: ['6.5s', 'end'] } })
  t.equal(dueFails.status, 'fail')
  t.equal(dueFails.measured, '1 of 2 samples matched; first mismatch at 6.797s: timer.expiresMs=0 (seen: timer.expiresMs: 144×1, 0×1)')

  const cw = { on: 'server', socket: { local: 8000, state: 'CLOSE-WAIT' } }
  const quiet = evaluate(ctx, { ss: { ...cw, match: { timer: 'none', rto: 204, 'skmem.r': '>0', recvQ: 1 }, during: ['2s', 'end'] } })
  t.equal(quiet.status, 'pass')
  t.equal(quiet.measured, '24 of 24 samples matched (seen: timer: none×24; rto: 204×24; skmem.r: 832×24; recvQ: 1×24)')
  const timerOn = evaluate(ctx, { ss: { ...cw, match: { timer: 'on' }, during: ['2s', 'end'] } })
  t.equal(timerOn.status, 'fail')
  t.equal(timerOn.measured, '0 of 24 samples matched; first mismatch at 2.333s: timer=none (seen: timer: none×24)')

  const re = evaluate(ctx, { ss: { on: 'client', socket: { peer: 8000 }, match: { state: '/^FIN-WAIT/' }, after: '1.8s', before: '6.8s' } })
  t.equal(re.status, 'pass')
  t.equal(re.expected, 'on client peer 8000: state ~ /^FIN-WAIT/ always after 1.8s and before 6.8s (since t0)')
  const re2 = evaluate(ctx, { ss: { on: 'client', socket: { peer: 8000 }, match: { state: '/^FIN-WAIT/' }, after: '1s', before: '6.8s' } })
  t.equal(re2.status, 'fail')
  t.match(re2.measured, /first mismatch at 1\.042s: state=ESTAB/)
})

t.test('ss selectors: by host name, host:port, state list; a bare port', async (t) => {
  const ctx = contextOf(recvq)
  const byHost = evaluate(ctx, { ss: { on: 'client', socket: { peer: 'server:8000', local: 'client' }, match: { sendQ: 0 }, during: ['1.3s', '2.9s'] } })
  t.equal(byHost.status, 'pass')
  t.equal(byHost.expected, 'on client local client peer server:8000: sendQ = 0 always during [1.3s, 2.9s]')
  t.equal(byHost.measured, '3 of 3 samples matched (seen: sendQ: 0×3)')
  const wrongPeer = evaluate(ctx, { ss: { on: 'client', socket: { peer: 'client:8000' }, match: { sendQ: 0 }, during: ['1.3s', '2.9s'] } })
  t.equal(wrongPeer.status, 'fail')
  t.equal(wrongPeer.measured, 'no samples of the socket in the window')

  // seed-accept-queue: LISTEN Recv-Q counts the accept queue: 1, then 2 after c2's handshake at 1.243s.
  const aq = contextOf(acceptQ)
  const listen = { on: 'server', socket: { local: 8000, state: 'LISTEN' } }
  t.equal(evaluate(aq, { ss: { ...listen, match: { recvQ: '<=2', sendQ: 1 }, quantifier: 'always' } }).status, 'pass')
  const full = evaluate(aq, { ss: { ...listen, match: { recvQ: 2 }, during: ['1.25s', 'end'] } })
  t.equal(full.status, 'fail', 'the LISTEN sample at 1.270s still shows 1 (the handshake at 1.243s is not in it)')
  t.match(full.measured, /first mismatch at 1\.270s: recvQ=1/)
  t.equal(evaluate(aq, { ss: { ...listen, match: { recvQ: 2 }, during: ['1.5s', 'end'] } }).status, 'pass')

  const states = evaluate(aq, { ss: { on: 'client', socket: { peer: 8000, state: ['SYN-SENT', 'FIN-WAIT-2'] }, match: { state: 'SYN-SENT' }, after: '2.5s', quantifier: 'eventually' } })
  t.equal(states.status, 'pass')
  t.equal(states.expected, 'on client peer 8000 SYN-SENT|FIN-WAIT-2: state = SYN-SENT eventually after 2.5s (since t0)')
  const onlyFw2 = evaluate(aq, { ss: { on: 'client', socket: { peer: 8000, state: ['SYN-SENT', 'FIN-WAIT-2'] }, match: { state: 'SYN-SENT' }, after: '2.5s' } })
  t.equal(onlyFw2.status, 'fail', 'always: the FIN-WAIT-2 socket of c1 is selected too')
})

t.test('ss on a LISTEN socket selected by host:port (ss prints 0.0.0.0:8000 for a wildcard bind)', async (t) => {
  const ctx = contextOf(recvq)
  const r = evaluate(ctx, { ss: { on: 'server', socket: { local: 'server:8000', state: 'LISTEN' }, match: { sendQ: 1 }, quantifier: 'always' } })
  t.equal(r.status, 'pass', 'a listener on 0.0.0.0 listens on the server\'s address')
  t.match(r.measured, /^(\d+) of \1 samples matched \(seen: sendQ: 1×\1\)$/)
  const other = evaluate(ctx, { ss: { on: 'server', socket: { local: 'server:8001', state: 'LISTEN' }, match: { sendQ: 1 } } })
  t.equal(other.status, 'fail', 'but only on its own port')
  t.equal(other.measured, 'no samples of the socket in the window')
  const clientAddr = evaluate(ctx, { ss: { on: 'server', socket: { local: 'client:8000', state: 'LISTEN' }, match: { sendQ: 1 } } })
  t.equal(clientAddr.status, 'pass', 'a wildcard bind matches any host\'s address (the rule does not check the host)')
})

t.test('ss windows: at with tolerance, before/after, since, since that never happened', async (t) => {
  const ctx = contextOf(recvq)
  const at = evaluate(ctx, { ss: { ...SERVER_ESTAB, match: { recvQ: 6 }, at: '2s' } })
  t.equal(at.status, 'pass')
  t.equal(at.expected, 'on server local 8000 ESTAB: recvQ = 6 eventually at 2s ±200ms')
  t.equal(at.measured, 'first at 2.182s; 1 of 1 samples matched (seen: recvQ: 6×1)')
  const atLate = evaluate(ctx, { ss: { ...SERVER_ESTAB, match: { recvQ: 6 }, at: '4s' } })
  t.equal(atLate.status, 'fail')
  t.equal(atLate.measured, '0 of 2 samples matched (seen: recvQ: 0×2)')

  const before = evaluate(ctx, { ss: { ...SERVER_ESTAB, match: { recvQ: 0 }, before: '1s' } })
  t.equal(before.status, 'pass')
  t.equal(before.expected, 'on server local 8000 ESTAB: recvQ = 0 always before 1s (since t0)')
  t.equal(before.measured, '1 of 1 samples matched (seen: recvQ: 0×1)')
  const before2 = evaluate(ctx, { ss: { ...SERVER_ESTAB, match: { recvQ: 0 }, before: '1.3s' } })
  t.equal(before2.status, 'fail')
  t.equal(before2.measured, '1 of 2 samples matched; first mismatch at 1.197s: recvQ=6 (seen: recvQ: 0×1, 6×1)')

  const after = evaluate(ctx, { ss: { ...SERVER_ESTAB, match: { recvQ: 0 }, after: '3.2s' } })
  t.equal(after.status, 'pass')
  t.equal(after.measured, '5 of 5 samples matched (seen: recvQ: 0×5)')
  t.equal(evaluate(ctx, { ss: { ...SERVER_ESTAB, match: { recvQ: 0 }, after: '3s' } }).status, 'fail', '3.009s still shows 6')

  // since shifts the window by the event's time: srv.started is at 0.160s.
  const plain = evaluate(ctx, { ss: { ...SERVER_ESTAB, match: { recvQ: 0 }, during: ['0.7s', '1.1s'] } })
  t.equal(plain.status, 'pass', '[0.7, 1.1] holds only the 0.824s sample')
  const shifted = evaluate(ctx, { ss: { ...SERVER_ESTAB, match: { recvQ: 0 }, during: ['0.7s', '1.1s'], since: 'srv.started' } })
  t.equal(shifted.status, 'fail', '[0.860, 1.260] holds only the 1.197s sample')
  t.equal(shifted.expected, 'on server local 8000 ESTAB: recvQ = 0 always during [700ms, 1.1s] after srv.started')
  t.equal(shifted.measured, '0 of 1 samples matched; first mismatch at 1.197s: recvQ=6 (seen: recvQ: 6×1)')

  const never = evaluate(ctx, { ss: { ...SERVER_ESTAB, match: { recvQ: 6 }, since: 'cli.connected' } })
  t.equal(never.status, 'fail')
  t.equal(never.measured, 'the reference event cli.connected never happened')
  t.equal(never.reason, 'the reference event cli.connected never happened')
  const neverNever = evaluate(ctx, { ss: { ...SERVER_ESTAB, match: { recvQ: 6 }, quantifier: 'never', since: 'cli.connected' } })
  t.equal(neverNever.status, 'fail', 'even "never" fails when its reference is missing: nothing was checked')
})

t.test('states: subsequence, exact, CLOSED when the socket disappears', async (t) => {
  const ctx = contextOf(closeWait)
  const client = { on: 'client', socket: { peer: 8000 } }
  const sub = evaluate(ctx, { states: { ...client, sequence: ['ESTAB', 'CLOSED'] } })
  t.equal(sub.status, 'pass', 'other states may come between')
  t.equal(sub.expected, 'on client peer 8000 goes through ESTAB → CLOSED during the whole run')
  t.equal(sub.measured, 'ESTAB → FIN-WAIT-2 → CLOSED')
  t.equal(sub.t, 1.041659, 'points at the first sample of the socket')

  const exact = evaluate(ctx, { states: { ...client, sequence: ['ESTAB', 'FIN-WAIT-2', 'CLOSED'], exact: true } })
  t.equal(exact.status, 'pass')
  t.equal(exact.expected, 'on client peer 8000 goes through ESTAB → FIN-WAIT-2 → CLOSED (exactly) during the whole run')
  const notExact = evaluate(ctx, { states: { ...client, sequence: ['ESTAB', 'CLOSED'], exact: true } })
  t.equal(notExact.status, 'fail')
  t.equal(notExact.measured, 'observed ESTAB → FIN-WAIT-2 → CLOSED')

  const timeWait = evaluate(ctx, { states: { ...client, sequence: ['ESTAB', 'FIN-WAIT-2', 'TIME-WAIT'] } })
  t.equal(timeWait.status, 'fail', 'the peer never sent its FIN, so no TIME-WAIT')
  t.equal(timeWait.measured, 'observed ESTAB → FIN-WAIT-2 → CLOSED')
  const order = evaluate(ctx, { states: { ...client, sequence: ['FIN-WAIT-2', 'ESTAB'] } })
  t.equal(order.status, 'fail', 'order matters')

  const window = evaluate(ctx, { states: { on: 'client', socket: { peer: 'server:8000' }, sequence: ['FIN-WAIT-2', 'CLOSED'], exact: true, after: '1.5s' } })
  t.equal(window.status, 'pass', 'only the states inside the window count')
  t.equal(window.measured, 'FIN-WAIT-2 → CLOSED')

  // The server's socket stays in CLOSE-WAIT while its owner is stopped.
  const server = { on: 'server', socket: { peer: 'client' } }
  const stuck = evaluate(ctx, { states: { ...server, sequence: ['CLOSE-WAIT', 'CLOSED'], during: ['2s', '8s'] } })
  t.equal(stuck.status, 'fail')
  t.equal(stuck.measured, 'observed CLOSE-WAIT')

  const none = evaluate(ctx, { states: { on: 'server', socket: { peer: 'server' }, sequence: ['ESTAB'] } })
  t.equal(none.status, 'fail')
  t.equal(none.measured, 'no samples of the socket in the window')

  const since = evaluate(ctx, { states: { ...client, sequence: ['FIN-WAIT-2'], since: 'cli.connected' } })
  t.equal(since.status, 'fail')
  t.equal(since.reason, 'the reference event cli.connected never happened')
})

t.test('states: one sequence per socket; any of them may match', async (t) => {
  // seed-accept-queue, client: c1 (:34648) ESTAB → FIN-WAIT-2, c2 (:34652) ESTAB,
  // c3 and c4 stay in SYN-SENT; the runner's teardown then removes them all.
  const ctx = contextOf(acceptQ)
  const r = evaluate(ctx, { states: { on: 'client', socket: { peer: 8000 }, sequence: ['ESTAB', 'FIN-WAIT-2'], before: '5s' } })
  t.equal(r.status, 'pass')
  t.equal(r.measured, 'ESTAB → FIN-WAIT-2; ESTAB; SYN-SENT; SYN-SENT', 'all four were still there at 5.027s, after the window')
  const bad = evaluate(ctx, { states: { on: 'client', socket: { peer: 8000 }, sequence: ['SYN-SENT', 'ESTAB'], before: '5s' } })
  t.equal(bad.status, 'fail', 'no single socket went SYN-SENT → ESTAB in the samples')
  t.equal(bad.measured, 'observed ESTAB → FIN-WAIT-2; ESTAB; SYN-SENT; SYN-SENT')
  // Over the whole run: the client sample at 5.416s (after the teardown's RSTs) finds none of them.
  const all = evaluate(ctx, { states: { on: 'client', socket: { peer: 8000 }, sequence: ['SYN-SENT', 'CLOSED'] } })
  t.equal(all.status, 'pass')
  t.equal(all.measured, 'ESTAB → FIN-WAIT-2 → CLOSED; ESTAB → CLOSED; SYN-SENT → CLOSED; SYN-SENT → CLOSED')
})

t.test('states: CLOSED only when the disappearance is observed inside the window', async (t) => {
  const ctx = contextOf(closeWait)
  // The server's CLOSE-WAIT socket is last sampled at 8.893s; the runner kills nc at
  // about 9.07s (RST at 9.069s) and the next server sample (9.155s) finds nothing.
  // Within [1s, 9s] the socket went ESTAB → CLOSE-WAIT and stayed there.
  const r = evaluate(ctx, { states: { on: 'server', socket: { peer: 'client' }, sequence: ['ESTAB', 'CLOSE-WAIT'], exact: true, during: ['1s', '9s'] } })
  t.equal(r.status, 'pass', 'the teardown\'s disappearance (seen at 9.155s) is after the window')
  t.equal(r.measured, 'ESTAB → CLOSE-WAIT')
  // The client's FIN-WAIT-2 socket: last seen at 6.797s, found gone at 7.174s. During
  // [1s, 7s] it had not been seen gone yet.
  const early = evaluate(ctx, { states: { on: 'client', socket: { peer: 8000 }, sequence: ['FIN-WAIT-2', 'CLOSED'], during: ['1s', '7s'] } })
  t.equal(early.status, 'fail', 'the disappearance is dated by the next host sample (7.174s), after the window')
  t.equal(early.measured, 'observed ESTAB → FIN-WAIT-2')
  const late = evaluate(ctx, { states: { on: 'client', socket: { peer: 8000 }, sequence: ['FIN-WAIT-2', 'CLOSED'], during: ['1s', '7.2s'] } })
  t.equal(late.status, 'pass', 'observed gone at 7.174s, inside [1s, 7.2s]')
})
