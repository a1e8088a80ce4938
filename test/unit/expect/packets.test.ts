// packets expectations on captures recorded from real runs: count, a list of
// times, a single time, gaps, flags, length, direction, endpoints, socket names.

import t from 'tap'
import { normalizeFlags } from '../../../src/expect/packets.js'
import { nameSockets } from '../../../src/runner/name-sockets.js'
import { contextOf, evaluate, loadFixture, syntheticEvent } from './timeline-fixture.js'

const syn = loadFixture('seed-syn-drop-timeout')
const sendq = loadFixture('seed-sendq-ack-drop')
const recvq = loadFixture('seed-recvq-stalled-reader')

// seed-syn-drop-timeout: the client's SYNs at 0.475, 1.497, 2.521, 3.545, 5.561 s
// (cli.started at 0.465 s); the server drops them all and never answers.
const CLIENT_SYNS = { on: 'client', dir: 'out', to: 'server:8000', flags: 'S' }

t.test('count: exact and compared', async (t) => {
  const ctx = contextOf(syn)
  const ok = evaluate(ctx, { packets: { ...CLIENT_SYNS, count: 5 } })
  t.equal(ok.status, 'pass')
  t.equal(ok.expected, '[S] out to server:8000 on client, count = 5 during the whole run')
  t.equal(ok.measured, '5 packets at 0.475s, 1.497s, 2.521s, 3.545s, 5.561s')
  t.equal(ok.t, 0.475443)

  const bad = evaluate(ctx, { packets: { ...CLIENT_SYNS, count: 4 } })
  t.equal(bad.status, 'fail')
  t.equal(bad.measured, '5 packets at 0.475s, 1.497s, 2.521s, 3.545s, 5.561s')
  t.equal(evaluate(ctx, { packets: { ...CLIENT_SYNS, count: '>=5' } }).status, 'pass')
  t.equal(evaluate(ctx, { packets: { ...CLIENT_SYNS, count: '1..4' } }).status, 'fail')

  const silent = evaluate(ctx, { packets: { on: 'server', dir: 'out', flags: ['S.', 'R.'], count: 0 } })
  t.equal(silent.status, 'pass')
  t.equal(silent.expected, '[S.]|[R.] out on server, count = 0 during the whole run')
  t.equal(silent.measured, 'no matching packets')
  const heard = evaluate(ctx, { packets: { on: 'server', dir: 'in', flags: 'S', count: 0 } })
  t.equal(heard.status, 'fail', 'the server\'s capture sees the SYNs: iptables INPUT drops them after tcpdump')
  t.equal(heard.measured, '5 packets at 0.475s, 1.497s, 2.521s, 3.545s, 5.561s')
})

t.test('at: a list of times after an event', async (t) => {
  const ctx = contextOf(syn)
  const ok = evaluate(ctx, { packets: { ...CLIENT_SYNS, at: ['0s', '1s', '2s', '3s', '5s'], since: 'cli.started', tolerance: { floor: '100ms', percent: 10 } } })
  t.equal(ok.status, 'pass')
  t.equal(ok.expected, '[S] out to server:8000 on client at 0s, 1s, 2s, 3s, 5s after cli.started')
  t.equal(ok.measured, 'packets at 0.011s (+10.9ms), 1.033s (+22ms), 2.057s (+24ms), 3.081s (+24ms), 5.097s (+16ms)')
  t.equal(ok.deltaMs, 23.993, 'the item closest to its limit: the 4th SYN')
  t.equal(ok.toleranceMs, 100, 'its own tolerance (1 s interval, floor 100 ms)')

  // What a pre-6.5 kernel does (0, 1, 3 s): the wrong number of SYNs.
  const old = evaluate(ctx, { packets: { ...CLIENT_SYNS, at: ['0s', '1s', '3s'], since: 'cli.started', tolerance: { floor: '100ms', percent: 10 } } })
  t.equal(old.status, 'fail')
  t.equal(old.measured, '5 packets (expected 3) at 0.011s, 1.033s, 2.057s, 3.081s, 5.097s')

  // Every SYN expected 300 ms later: the first is 289 ms early, beyond its 100 ms floor.
  const shifted = evaluate(ctx, { packets: { ...CLIENT_SYNS, at: ['300ms', '1.3s', '2.3s', '3.3s', '5.3s'], since: 'cli.started', tolerance: { floor: '100ms', percent: 10 } } })
  t.equal(shifted.status, 'fail')
  t.equal(shifted.measured, 'packets at 0.011s (-289.1ms), 1.033s (+22ms), 2.057s (+24ms), 3.081s (+24ms), 5.097s (+16ms); #1 is outside its tolerance')
  t.equal(shifted.deltaMs, -289.131)
  t.equal(shifted.toleranceMs, 100, 'the first item\'s interval is 0: the floor')
  t.equal(shifted.t, 0.475443)

  // Backoff written as 1 s doubling (0, 1, 3, 7, 15 s) instead of the linear timeouts.
  const expo = evaluate(ctx, { packets: { ...CLIENT_SYNS, at: ['0s', '1s', '3s', '7s', '15s'], since: 'cli.started' } })
  t.equal(expo.status, 'fail')
  t.match(expo.measured, /; #3 is outside its tolerance$/)

  const never = evaluate(ctx, { packets: { ...CLIENT_SYNS, at: ['0s', '1s'], since: 'cli.connected' } })
  t.equal(never.status, 'fail')
  t.equal(never.reason, 'the reference event cli.connected never happened')
})

t.test('at: a single time is a window of ± its tolerance', async (t) => {
  const ctx = contextOf(syn)
  const ok = evaluate(ctx, { packets: { on: 'client', dir: 'out', flags: 'SYN', at: '2s', since: 'cli.started' } })
  t.equal(ok.status, 'pass')
  t.equal(ok.expected, '[S] out on client at 2s ±200ms after cli.started')
  t.equal(ok.measured, '1 packets at 2.057s')
  t.equal(ok.t, 2.521385)
  const bad = evaluate(ctx, { packets: { on: 'client', dir: 'out', flags: 'SYN', at: '4s', since: 'cli.started' } })
  t.equal(bad.status, 'fail', 'no SYN between 3.6 and 4.4 s after cli.started')
  // Every result shows its delta from the expectation (DESIGN: "not only pass/fail"),
  // a miss too: the nearest SYN is the 4th, 919 ms before 4 s.
  t.equal(bad.measured, 'no matching packet in the window; nearest at 3.081s')
  t.equal(bad.deltaMs, -919.196)
  t.equal(bad.toleranceMs, 400)
  t.equal(bad.t, 3.545378)
  t.equal(ok.deltaMs, 56.811)
  t.equal(ok.toleranceMs, 200)
  const nothing = evaluate(ctx, { packets: { on: 'client', dir: 'in', flags: 'S', at: '4s', since: 'cli.started' } })
  t.equal(nothing.measured, 'no matching packets', 'no such packet anywhere in the capture')
  t.equal(nothing.deltaMs, undefined)
})

t.test('gaps between matched packets', async (t) => {
  // seed-sendq-ack-drop: the server sends "12345\n" at 1.149 s and retransmits it while
  // the client's ACKs are dropped: gaps 207.9, 208, 440, 832, 1664 ms.
  const ctx = contextOf(sendq)
  const rtx = { on: 'server', dir: 'out', from: 'server:8000', len: 6 }
  const ok = evaluate(ctx, { packets: { ...rtx, gaps: ['200ms', '200ms', '400ms', '800ms', '1.6s'], tolerance: { floor: '60ms', percent: 15 } } })
  t.equal(ok.status, 'pass')
  t.equal(ok.expected, 'packets out from server:8000 len = 6 on server with gaps 200ms, 200ms, 400ms, 800ms, 1.6s during the whole run')
  t.equal(ok.measured, 'gaps 207.9ms, 208ms, 440ms, 832ms, 1.664s')
  t.equal(ok.deltaMs, 40.006, 'gap #3 is closest to its limit')
  t.equal(ok.toleranceMs, 60)

  const noTlp = evaluate(ctx, { packets: { ...rtx, gaps: ['200ms', '400ms', '800ms', '1.6s', '3.2s'], tolerance: { floor: '60ms', percent: 15 } } })
  t.equal(noTlp.status, 'fail')
  t.equal(noTlp.measured, 'gaps 207.9ms, 208ms, 440ms, 832ms, 1.664s; gap #2 is outside its tolerance')
  t.equal(noTlp.t, 1.565387)
  t.equal(noTlp.deltaMs, -191.998, 'the failing gap\'s delta ...')
  t.equal(noTlp.toleranceMs, 60, '... and its tolerance')

  const tooFew = evaluate(ctx, { packets: { ...rtx, gaps: ['200ms', '200ms', '400ms', '800ms'], before: '4s' } })
  t.equal(tooFew.status, 'pass', 'the fifth retransmission (4.501 s) is after the window')
  const count = evaluate(ctx, { packets: { ...rtx, gaps: ['200ms', '200ms', '400ms', '800ms'] } })
  t.equal(count.status, 'fail')
  t.equal(count.measured, '6 packets (expected 5); gaps 207.9ms, 208ms, 440ms, 832ms, 1.664s')
})

t.test('flags, len, dir, from/to', async (t) => {
  const ctx = contextOf(sendq)
  // The client's pure ACKs are dropped by its own OUTPUT rule (0.933 .. 4.011 s), before
  // tcpdump sees them; the first ACK after the rule is gone acknowledges the 5th retransmission.
  const acks = { on: 'client', dir: 'out', flags: 'ACK', len: 0 }
  const none = evaluate(ctx, { packets: { ...acks, count: 0, after: '1s', before: '4s' } })
  t.equal(none.status, 'pass')
  t.equal(none.expected, '[.] out len = 0 on client, count = 0 after 1s and before 4s (since t0)')
  const one = evaluate(ctx, { packets: { ...acks, count: 1, during: ['4s', '5s'] } })
  t.equal(one.status, 'pass')
  t.equal(one.measured, '1 packets at 4.501s')
  const toEnd = evaluate(ctx, { packets: { ...acks, count: 1, during: ['4s', 'end'] } })
  t.equal(toEnd.status, 'fail', 'the teardown\'s FIN exchange adds the ACK at 6.047 s')
  t.equal(toEnd.measured, '2 packets at 4.501s, 6.047s')

  t.equal(evaluate(ctx, { packets: { on: 'server', dir: 'in', flags: '.', len: 0, count: 1, during: ['4s', '5s'] } }).status, 'pass', 'the same ACK in the server\'s capture')
  t.equal(evaluate(ctx, { packets: { on: 'server', dir: 'out', flags: '.', len: 0, count: 1, during: ['4s', '5s'] } }).status, 'fail', 'the server sent no ACK then')
  t.equal(evaluate(ctx, { packets: { on: 'server', dir: 'any', len: 0, flags: '.', count: 1, during: ['4s', '5s'] } }).status, 'pass')

  const data = evaluate(ctx, { packets: { on: 'client', dir: 'in', len: '>0', count: 6 } })
  t.equal(data.status, 'pass')
  t.equal(data.expected, 'packets in len > 0 on client, count = 6 during the whole run')
  t.equal(evaluate(ctx, { packets: { on: 'client', dir: 'in', len: 7, count: '>0' } }).status, 'fail')
  t.equal(evaluate(ctx, { packets: { on: 'client', dir: 'in', len: '>0', count: 6, before: '4s' } }).status, 'fail', '5 before 4 s')

  t.equal(evaluate(ctx, { packets: { on: 'server', to: '198.19.244.1', len: 6, count: 6 } }).status, 'pass', 'a literal address')
  t.equal(evaluate(ctx, { packets: { on: 'server', to: 'client:40498', len: 6, count: 6 } }).status, 'pass', 'host:port')
  t.equal(evaluate(ctx, { packets: { on: 'server', from: ':8000', len: 6, count: 6 } }).status, 'pass', ':port')
  const wrongAddr = evaluate(ctx, { packets: { on: 'server', to: '198.19.244.9', len: 6, count: '>=1' } })
  t.equal(wrongAddr.status, 'fail')
  t.equal(wrongAddr.measured, '0 packets')
  t.equal(evaluate(ctx, { packets: { on: 'server', from: 'client', len: 6, count: '>=1' } }).status, 'fail', 'the data came from the server')

  t.equal(evaluate(ctx, { packets: { on: 'client', flags: 'F.', from: 'client' } }).status, 'pass', 'the teardown FIN')
  t.equal(evaluate(ctx, { packets: { on: 'client', flags: 'FIN,ACK', from: 'client', count: 1 } }).status, 'pass')
  const rst = evaluate(ctx, { packets: { on: 'client', flags: 'RST,ACK' } })
  t.equal(rst.status, 'fail')
  t.equal(rst.expected, '[R.] on client during the whole run')
  t.equal(rst.measured, 'no matching packets')
  t.equal(rst.t, 0, 'points at the start of the window')

  const noCapture = evaluate(ctx, { packets: { on: 'wire' } })
  t.equal(noCapture.status, 'fail', 'a host without a capture has no packets')
})

t.test('flag notations', async (t) => {
  const cases: Array<[string, string]> = [
    ['S', 'S'], ['SYN', 'S'], ['S.', 'S.'], ['.S', 'S.'], ['SYN,ACK', 'S.'], ['ACK', '.'], ['.', '.'],
    ['RST', 'R'], ['R.', 'R.'], ['RST,ACK', 'R.'], ['FIN+PSH+ACK', 'FP.'], ['P.', 'P.'], ['FP.', 'FP.'], ['S.E', 'S.E'],
  ]
  for (const [written, want] of cases) t.equal(normalizeFlags(written), want, written)
  // tcpdump prints an ECN-setup SYN as [SEW] (print-tcp.c), and so does the pcap parser.
  t.equal(normalizeFlags('SEW'), 'SEW', 'three capitals that are not a flag name are letters')
  t.equal(normalizeFlags('syn'), 'S', 'names in lower case')
  t.equal(normalizeFlags('syn+ack'), 'S.')
})

t.test('socket: packets of a named socket', async (t) => {
  // SYNTHETIC: a socket-agent "connected" event naming the client's real connection
  // (198.19.60.1:57472 -> :8000 in seed-recvq-stalled-reader, made by nc, not by the agent).
  const named = nameSockets([...contextOf(recvq, {}, [
    syntheticEvent({ t: 0.428, host: 'client', source: 'csock', type: 'connected', data: { lport: 57472, rport: 8000 } }),
  ]).records])
  const ctx = contextOf(recvq, { records: named })
  const data = evaluate(ctx, { packets: { on: 'client', socket: 'csock', dir: 'out', len: '>0', count: 1 } })
  t.equal(data.status, 'pass')
  t.equal(data.expected, 'packets out of csock len > 0 on client, count = 1 during the whole run')
  t.equal(data.measured, '1 packets at 1.069s')
  t.equal(evaluate(ctx, { packets: { on: 'client', socket: 'csock', count: 8 } }).status, 'pass', 'all 8 packets of the client\'s capture: handshake 3, data + ACK 2, FIN exchange 3')
  const otherHost = evaluate(ctx, { packets: { on: 'server', socket: 'csock', count: '>0' } })
  t.equal(otherHost.status, 'fail', 'the name belongs to the client\'s socket only')
  t.equal(evaluate(ctx, { packets: { on: 'client', socket: 'other', count: '>0' } }).status, 'fail')
})
