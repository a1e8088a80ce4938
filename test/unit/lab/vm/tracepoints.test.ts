// Tracepoint lines from a real guest (Debian 6.1.0-57-cloud-amd64, an nc
// connection between two namespaces; test/fixtures/vm/) parsed into events,
// timed on the host clock, and turned into timeline records of the lab's hosts.
import t from 'tap'
import { readFileSync } from 'node:fs'
import { parseTraceLine, traceTimeUs } from '../../../../src/lab/vm/tracepoints.js'
import { kernelEventRecords } from '../../../../src/runner/kernel-events.js'

const lines = readFileSync('test/fixtures/vm/trace-inet_sock_set_state-6.1.0-57.txt', 'utf8').split('\n').filter(Boolean)
const parsed = lines.map(parseTraceLine)

t.test('every recorded line parses: states without TCP_, addresses, ports, µs times', async (t) => {
  t.equal(parsed.length, 12)
  t.ok(parsed.every((p) => p !== undefined))
  t.same(parsed[2], {
    monoUs: 40_002_595, event: 'inet_sock_set_state', saddr: '198.18.0.2', sport: 56054, daddr: '198.18.0.1', dport: 8000,
    oldstate: 'SYN_SENT', newstate: 'ESTABLISHED',
  })
  t.same(parsed.map((p) => p?.newstate), ['LISTEN', 'SYN_SENT', 'ESTABLISHED', 'SYN_RECV', 'ESTABLISHED', 'FIN_WAIT1', 'CLOSE_WAIT', 'LAST_ACK', 'FIN_WAIT2', 'CLOSE', 'CLOSE', 'CLOSE'])
})

t.test('other lines and non-TCP sockets are not events', async (t) => {
  t.equal(parseTraceLine('# tracer: nop'), undefined)
  t.equal(parseTraceLine(''), undefined)
  const udp = (lines[2] as string).replace('IPPROTO_TCP', 'IPPROTO_UDP')
  t.equal(parseTraceLine(udp), undefined)
})

t.test('mono times become host realtime: + (realtime - mono) in the guest - the guest clock offset', async (t) => {
  const clock = { offsetUs: 250, rttUs: 400, realtimeMinusMonotonicNs: 1_796_600_000_000_000_000n, measuredAt: '' }
  t.equal(traceTimeUs(40_002_595, clock), 1_796_600_000_000_000 + 40_002_595 - 250)
})

t.test('records: only the lab hosts\' sockets, on the host whose address is the local one, source tracepoint', async (t) => {
  const clock = { offsetUs: 0, rttUs: 0, realtimeMinusMonotonicNs: 0n, measuredAt: '' }
  const events = parsed.flatMap((p) => (p ? [{ ...p, tUs: traceTimeUs(p.monoUs, clock) }] : []))
  const hosts = new Map([['server', ['198.18.0.1']], ['client', ['198.18.0.2']]])
  const recs = kernelEventRecords(events, hosts, 40_000_000)
  // The listener's rows (0.0.0.0) belong to no host address.
  t.equal(recs.length, 9)
  t.same(recs.map((r) => `${r.host} ${r.text}`), [
    'client CLOSE -> SYN_SENT', 'client SYN_SENT -> ESTABLISHED', 'server SYN_RECV -> ESTABLISHED', 'client ESTABLISHED -> FIN_WAIT1',
    'server ESTABLISHED -> CLOSE_WAIT', 'server CLOSE_WAIT -> LAST_ACK', 'client FIN_WAIT1 -> FIN_WAIT2', 'client FIN_WAIT2 -> CLOSE', 'server LAST_ACK -> CLOSE',
  ])
  t.ok(recs.every((r) => r.kind === 'event' && r.source === 'tracepoint' && r.type === 'tcp-state'))
  t.equal(recs[1]?.t, 0.002595)
  t.same(recs[1]?.data?.peer, '198.18.0.1:8000')
})

t.test('a retransmission record names the socket state', async (t) => {
  const recs = kernelEventRecords([{ tUs: 5_000_000, event: 'tcp_retransmit_skb', saddr: '198.18.0.1', sport: 8000, daddr: '198.18.0.2', dport: 40000, state: 'ESTABLISHED' }], new Map([['server', ['198.18.0.1']]]), 4_000_000)
  t.same(recs.map((r) => [r.host, r.type, r.t, r.text]), [['server', 'tcp-retransmit', 1, 'retransmit in ESTABLISHED']])
})
