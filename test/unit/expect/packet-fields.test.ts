// Packet header fields and options in packets expectations (seq/ack relative,
// symbolic and absolute, win and winBytes, mss/wscale/sackOK/sack/ts, each:,
// sum/min/max), on captures recorded from real runs: keepalive and
// zero-window (test/fixtures/fields/) and seed-sendq-ack-drop.

import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { parsePcap, toPktRecords } from '../../../src/recorder/pcap.js'
import { derivePacketStates } from '../../../src/expect/packet-fields.js'
import type { PktRecord } from '../../../src/recorder/records.js'
import { Expectation } from '../../../src/scenario/schema.js'
import { loadFieldsFixture } from './fields-fixture.js'
import { contextOf, evaluate, loadFixture } from './timeline-fixture.js'

const keepalive = contextOf(loadFieldsFixture('keepalive'))
const zero = contextOf(loadFieldsFixture('zero-window'))
const sendq = contextOf(loadFixture('seed-sendq-ack-drop'))

// keepalive: after the handshake the wire drops everything; the client sends three
// probes (ACK, no data, seq = ISN = snd_una-1) at 2.013, 3.037, 4.061 s after
// cli.connected, then a RST with seq snd_una.
const PROBES = { on: 'client', dir: 'out', socket: 'cli', flags: '.', len: 0, since: 'cli.connected', after: '1s' }

t.test('seq: symbolic snd_una-1 as a filter, with the values seen on a miss', async (t) => {
  const ok = evaluate(keepalive, { packets: { ...PROBES, seq: 'snd_una-1', count: 3 } })
  t.equal(ok.status, 'pass')
  t.equal(ok.expected, '[.] out of cli len = 0 seq = snd_una-1 on client, count = 3 after 1s after cli.connected')
  t.equal(ok.measured, '3 packets at 2.013s, 3.037s, 4.061s')

  const bad = evaluate(keepalive, { packets: { ...PROBES, seq: 'snd_una', count: 3 } })
  t.equal(bad.status, 'fail')
  t.equal(bad.measured, '0 packets; of 3 packets before the field filters: seq snd_una-1×3')
  const none = evaluate(keepalive, { packets: { ...PROBES, seq: 'snd_una' } })
  t.equal(none.status, 'fail', 'without a count: at least one must match')
  t.equal(none.measured, 'no matching packets; of 3 packets before the field filters: seq snd_una-1×3')
})

t.test('each: every matching packet, the first that differs is named', async (t) => {
  const ok = evaluate(keepalive, { packets: { ...PROBES, each: { seq: 'snd_una-1', ack: 'rcv_nxt' } } })
  t.equal(ok.status, 'pass')
  t.equal(ok.expected, '[.] out of cli len = 0 on client, each seq = snd_una-1, ack = rcv_nxt after 1s after cli.connected')
  t.equal(ok.measured, '3 packets at 2.013s, 3.037s, 4.061s; each seq snd_una-1×3; ack rcv_nxt×3')

  const bad = evaluate(keepalive, { packets: { ...PROBES, each: { seq: 'snd_una-2' } } })
  t.equal(bad.status, 'fail')
  t.equal(bad.measured, 'packet #1 of 3 (at 2.013s) has seq snd_una-1, expected seq = snd_una-2; seen: seq snd_una-1×3')
  t.ok(bad.t !== undefined && Math.abs(bad.t - 2.213515) < 1e-9, 'points at the first probe')

  // The RST after the probes carries snd_una itself.
  const rst = evaluate(keepalive, { packets: { on: 'client', dir: 'out', socket: 'cli', flags: 'R.', each: { seq: 'snd_una' }, count: 1 } })
  t.equal(rst.status, 'pass')
  t.equal(evaluate(keepalive, { packets: { on: 'client', dir: 'out', socket: 'cli', flags: 'R.', each: { seq: 'snd_una-1' } } }).status, 'fail')
})

t.test('seq and ack relative to the ISN, and absolute', async (t) => {
  // The client's SYN is relative 0, its ISN 1398772771; the handshake ACK is seq 1 ack 1.
  const syn = evaluate(keepalive, { packets: { on: 'client', dir: 'out', flags: 'S', seq: 0, count: 1 } })
  t.equal(syn.status, 'pass')
  t.equal(syn.expected, '[S] out seq = 0 (relative) on client, count = 1 during the whole run')
  t.equal(evaluate(keepalive, { packets: { on: 'client', dir: 'out', flags: 'S', seq: { abs: 1398772771 }, count: 1 } }).status, 'pass')
  const absBad = evaluate(keepalive, { packets: { on: 'client', dir: 'out', flags: 'S', seq: { abs: 1398772772 }, count: 1 } })
  t.equal(absBad.status, 'fail')
  t.equal(absBad.measured, '0 packets; of 1 packets before the field filters: seq 1398772771×1')
  t.equal(evaluate(keepalive, { packets: { on: 'client', dir: 'out', flags: '.', seq: 1, ack: 1, before: '1s', count: 1 } }).status, 'pass')
  const ackBad = evaluate(keepalive, { packets: { on: 'client', dir: 'out', flags: '.', ack: '>1', before: '1s', count: 1 } })
  t.equal(ackBad.status, 'fail')
  t.equal(ackBad.measured, '0 packets; of 1 packets before the field filters: ack 1×1')
})

t.test('retransmissions: seq <snd_nxt, each seq = first, prev', async (t) => {
  // seed-sendq-ack-drop: the server sends 6 bytes at 1.149 s and, its ACKs dropped, retransmits them 5 times.
  const DATA = { on: 'server', dir: 'out', len: '>0' }
  const retrans = evaluate(sendq, { packets: { ...DATA, seq: '<snd_nxt', count: 5 } })
  t.equal(retrans.status, 'pass')
  t.equal(retrans.measured, '5 packets at 1.357s, 1.565s, 2.005s, 2.837s, 4.501s')
  t.equal(evaluate(sendq, { packets: { ...DATA, seq: 'snd_nxt', count: 1 } }).status, 'pass', 'the original is new data: seq = snd_nxt')
  const more = evaluate(sendq, { packets: { ...DATA, seq: '<snd_nxt', count: 6 } })
  t.equal(more.status, 'fail')
  t.equal(more.measured, '5 packets at 1.357s, 1.565s, 2.005s, 2.837s, 4.501s; of 6 packets before the field filters: seq snd_nxt×1, snd_nxt-6×5')

  const same = evaluate(sendq, { packets: { ...DATA, each: { seq: 'first', len: 6 } } })
  t.equal(same.status, 'pass')
  t.equal(same.measured, '6 packets at 1.149s, 1.357s, 1.565s, 2.005s, 2.837s, 4.501s; each seq first×6; len 6×6')
  const next = evaluate(sendq, { packets: { ...DATA, each: { seq: 'prev+6' } } })
  t.equal(next.status, 'fail', 'retransmissions do not advance')
  t.equal(next.measured, 'packet #2 of 6 (at 1.357s) has seq prev, expected seq = prev+6; seen: seq 1 (first)×1, prev×5')
})

t.test('win: 0 raw, winBytes scaled by the sender\'s wscale', async (t) => {
  // zero-window: the server (SO_RCVBUF 1024, wscale 0) answers with window 0 at 0.547,
  // 0.759, 2.055, 3.751 s; the client (wscale 10) advertises 63 << 10 = 64512 bytes.
  const zeroAcks = { on: 'server', dir: 'out', socket: 'srv-conn', flags: '.', len: 0, during: ['0.5s', '5.9s'] }
  const ok = evaluate(zero, { packets: { ...zeroAcks, win: 0, count: 4 } })
  t.equal(ok.status, 'pass')
  t.equal(ok.expected, '[.] out of srv-conn len = 0 win = 0 on server, count = 4 during [500ms, 5.9s]')
  t.equal(ok.measured, '4 packets at 0.547s, 0.759s, 2.055s, 3.751s')
  const bad = evaluate(zero, { packets: { ...zeroAcks, win: 0, count: 5 } })
  t.equal(bad.status, 'fail')
  t.equal(bad.measured, '4 packets at 0.547s, 0.759s, 2.055s, 3.751s; of 5 packets before the field filters: win 576×1, 0×4')
  const open = evaluate(zero, { packets: { ...zeroAcks, win: '>0', count: 0 } })
  t.equal(open.status, 'fail', 'the ACK of the first segment still had a window')
  t.equal(open.measured, '1 packets at 0.500s; of 5 packets before the field filters: win 576×1, 0×4')

  const client = { on: 'client', dir: 'out', socket: 'cli', flags: '.', len: 0, during: ['0.6s', '5.9s'] }
  t.equal(evaluate(zero, { packets: { ...client, win: 63, winBytes: 64512, count: 4 } }).status, 'pass')
  const raw = evaluate(zero, { packets: { ...client, each: { winBytes: 63 } } })
  t.equal(raw.status, 'fail')
  t.equal(raw.measured, 'packet #1 of 4 (at 0.759s) has winBytes 64512, expected winBytes = 63; seen: winBytes 64512×4')
  // The zero-window probes: snd_una-1, each the same.
  t.equal(evaluate(zero, { packets: { ...client, each: { seq: 'snd_una-1' }, count: 4 } }).status, 'pass')
  t.equal(evaluate(zero, { packets: { ...client, each: { seq: 'first' } } }).status, 'pass')
})

t.test('options: mss, wscale, sackOK, ts, SACK blocks', async (t) => {
  const syn = { on: 'client', dir: 'out', flags: 'S' }
  const ok = evaluate(zero, { packets: { ...syn, mss: 1460, wscale: 10, sackOK: true, ts: true, sack: false, count: 1 } })
  t.equal(ok.status, 'pass')
  t.equal(ok.expected, '[S] out mss = 1460 wscale = 10 sackOK present sack = false ts present on client, count = 1 during the whole run')
  const bad = evaluate(zero, { packets: { ...syn, mss: 1448, wscale: 7, count: 1 } })
  t.equal(bad.status, 'fail')
  t.equal(bad.measured, '0 packets; of 1 packets before the field filters: mss 1460×1; wscale 10×1')
  // The server's SYN-ACK (SO_RCVBUF 1024) offers wscale 0, not none.
  t.equal(evaluate(zero, { packets: { on: 'server', dir: 'out', flags: 'S.', wscale: 0, count: 1 } }).status, 'pass')
  t.equal(evaluate(zero, { packets: { on: 'server', dir: 'out', flags: 'S.', wscale: false, count: 1 } }).status, 'fail')
  t.equal(evaluate(zero, { packets: { ...syn, ts: false, count: 1 } }).status, 'fail')
  t.equal(evaluate(zero, { packets: { ...syn, sackOK: false, count: 1 } }).status, 'fail')
  const sacks = evaluate(zero, { packets: { on: 'client', sack: true, count: '>0' } })
  t.equal(sacks.status, 'fail', 'no loss, no SACK blocks')
  t.equal(sacks.measured, '0 packets; of 121 packets before the field filters: sack false×121')
})

t.test('sack: the blocks of a real SACK (test/fixtures/pcap/any-options.pcap)', async (t) => {
  // Connection 198.18.0.1:47741 -> 198.18.0.2:8000: an iptables rule in b drops the
  // 120-byte segment at relative seq 101; b ACKs 101 with SACK block 221:321, a
  // retransmits 101:221 (seq < snd_nxt 321).
  const pcap = readFileSync(join(dirname(fileURLToPath(import.meta.url)), '../../fixtures/pcap/any-options.pcap'))
  const parsed = parsePcap(pcap)
  const records = toPktRecords(parsed, { host: 'a', t0Us: parsed[0]?.tsUs ?? 0, ifnames: new Map() })
  const ctx = { ...zero, records, endT: records[records.length - 1]?.t ?? 0 }
  const conn = { on: 'a', from: ':8000', to: ':47741' }
  const ok = evaluate(ctx, { packets: { ...conn, sack: true, ack: 101, count: 1 } })
  t.equal(ok.status, 'pass')
  t.equal(ok.expected, 'packets from :8000 to :47741 ack = 101 (relative) sack = true on a, count = 1 during the whole run')
  t.equal(evaluate(ctx, { packets: { ...conn, sack: 1, count: 1 } }).status, 'pass')
  const two = evaluate(ctx, { packets: { ...conn, sack: 2, count: 1 } })
  t.equal(two.status, 'fail')
  t.match(two.measured, /^0 packets; of \d+ packets before the field filters: sack 0×\d+, 1×1$/)
  t.equal(evaluate(ctx, { packets: { ...conn, sack: false, ack: 101, count: 1 } }).status, 'pass', 'the plain ACK of 101 before it')
  const rexmit = evaluate(ctx, { packets: { on: 'a', from: ':47741', len: 120, seq: '<snd_nxt', each: { seq: 101 }, count: 1 } })
  t.equal(rexmit.status, 'pass')
  t.equal(evaluate(ctx, { packets: { on: 'a', from: ':47741', len: 120, seq: '<snd_nxt', each: { seq: 221 } } }).status, 'fail')
})

t.test('sum/min/max over the matching packets', async (t) => {
  const data = { on: 'client', dir: 'out', socket: 'cli', len: '>0', during: ['0.4s', '0.6s'] }
  const ok = evaluate(zero, { packets: { ...data, sum: { len: 1152 }, max: { len: 576 } } })
  t.equal(ok.status, 'pass')
  t.equal(ok.expected, 'packets out of cli len > 0 on client, sum len = 1152, max len = 576 during [400ms, 600ms]')
  t.equal(ok.measured, '2 packets at 0.500s, 0.500s; sum len 1152 over 2 packets, max len 576 over 2 packets')
  const bad = evaluate(zero, { packets: { ...data, sum: { len: 1153 } } })
  t.equal(bad.status, 'fail')
  t.equal(bad.measured, 'sum len 1152 (-1) over 2 packets')
  const win = evaluate(zero, { packets: { on: 'server', dir: 'out', socket: 'srv-conn', flags: '.', len: 0, during: ['0.6s', '5.9s'], max: { winBytes: 0 }, min: { win: 0 } } })
  t.equal(win.status, 'pass')
  const winBad = evaluate(zero, { packets: { on: 'server', dir: 'out', socket: 'srv-conn', flags: '.', len: 0, during: ['0.5s', '5.9s'], max: { winBytes: 0 } } })
  t.equal(winBad.status, 'fail')
  t.equal(winBad.measured, 'max winBytes 576 (+576) over 5 packets')
  const minBad = evaluate(zero, { packets: { on: 'server', dir: 'out', socket: 'srv-conn', flags: '.', len: 0, during: ['0.5s', '5.9s'], min: { win: '>0' } } })
  t.equal(minBad.status, 'fail')
  t.equal(minBad.measured, 'min win 0 over 5 packets')
})

t.test('connection state rebuilt from the capture', async (t) => {
  const pkts = keepalive.records.filter((r): r is PktRecord => r.kind === 'pkt' && r.host === 'client')
  const states = derivePacketStates(pkts)
  const probe = pkts.find((p) => p.t > 2 && p.flags === '.') as PktRecord
  t.same(states.get(probe), { relSeq: 0, relAck: 1, sndUna: 1, sndNxt: 1, rcvNxt: 1, winBytes: 64512 })
})

t.test('the schema rejects a bad seq with file-free, readable messages', async (t) => {
  const msg = (seq: unknown): string => {
    const r = Expectation.safeParse({ packets: { on: 'client', seq } })
    return r.success ? 'ok' : (r.error.issues[0]?.message ?? '')
  }
  t.equal(msg('snd_una-1'), 'ok')
  t.equal(msg('<snd_nxt'), 'ok')
  t.equal(msg({ abs: '>=5' }), 'ok')
  t.match(msg('snd_unaa-1'), /^unknown symbol "snd_unaa-1"; expected a sequence number relative to the ISN/)
  t.match(msg('>>1'), /expected a comparison/)
  t.match(msg(true), /expected a sequence number/)
  const each = Expectation.safeParse({ packets: { on: 'client', each: { sqe: 1 } } })
  t.notOk(each.success)
})

t.test('a single at: with field filters still names the nearest match and the values seen', async (t) => {
  const probe = { on: 'client', dir: 'out', socket: 'cli', flags: '.', len: 0, since: 'cli.connected', tolerance: '100ms' }
  t.equal(evaluate(keepalive, { packets: { ...probe, seq: 'snd_una-1', at: '2s' } }).status, 'pass')
  const late = evaluate(keepalive, { packets: { ...probe, seq: 'snd_una-1', at: '2.5s' } })
  t.equal(late.status, 'fail')
  t.equal(late.measured, 'no matching packet in the window; nearest at 2.013s')
  const wrong = evaluate(keepalive, { packets: { ...probe, seq: 'snd_una', at: '2s' } })
  t.equal(wrong.status, 'fail')
  // The nearest packet with seq = snd_una is the handshake's ACK, right at cli.connected.
  t.equal(wrong.measured, 'no matching packet in the window; nearest at -0.000s; of 1 packets before the field filters: seq snd_una-1×1')
})
