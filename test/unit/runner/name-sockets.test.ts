// nameSockets: ss rows and packets get the names the scenario gave their
// sockets, from the agent's listening/connected/accepted events. The ss and pkt
// records are real (seed-recvq-stalled-reader: nc 198.19.60.1:57472 -> 198.19.60.2:8000);
// the agent events are SYNTHETIC (nc reports no ports), marked data.synthetic.

import t from 'tap'
import type { PktRecord, SsRecord, TimelineRecord } from '../../../src/recorder/records.js'
import { nameSockets } from '../../../src/runner/name-sockets.js'
import { contextOf, loadFixture, syntheticEvent } from '../expect/timeline-fixture.js'

const fx = loadFixture('seed-recvq-stalled-reader')
const AGENT = [
  syntheticEvent({ t: 0.17, host: 'server', source: 'lsn', type: 'listening', data: { lport: 8000 } }),
  syntheticEvent({ t: 0.428, host: 'client', source: 'cli', type: 'connected', data: { lport: 57472, rport: 8000 } }),
  syntheticEvent({ t: 0.429, host: 'server', source: 'lsn-conn', type: 'accepted', data: { lport: 8000, rport: 57472 } }),
]
const records = (extra: TimelineRecord[] = AGENT): TimelineRecord[] => [...contextOf(fx, {}, extra).records]
const ss = (rs: TimelineRecord[]): SsRecord[] => rs.filter((r): r is SsRecord => r.kind === 'ss')
const pkts = (rs: TimelineRecord[]): PktRecord[] => rs.filter((r): r is PktRecord => r.kind === 'pkt')
const names = (rs: Array<SsRecord | PktRecord>): string[] => [...new Set(rs.map((r) => r.socket ?? '(none)'))]

t.test('names ss rows and packets by host and ports', async (t) => {
  const input = records()
  const out = nameSockets(input)
  t.equal(out.length, input.length, 'nothing added or dropped')
  t.same(out.map((r) => r.t), input.map((r) => r.t), 'order kept')

  t.same(names(ss(out).filter((r) => r.host === 'server' && r.state === 'LISTEN')), ['lsn'], 'the listener (peer *:*)')
  t.same(names(ss(out).filter((r) => r.host === 'server' && r.state === 'ESTAB')), ['lsn-conn'], 'the accepted socket')
  t.same(names(ss(out).filter((r) => r.host === 'client')), ['cli'])
  t.same(names(pkts(out).filter((p) => p.host === 'client')), ['cli'], 'both directions, SYN to FIN')
  t.same(names(pkts(out).filter((p) => p.host === 'server')), ['lsn-conn'], 'the SYN the listener answered belongs to the connection')
  t.equal(ss(out).filter((r) => r.socket !== undefined).length, ss(out).length, 'every ss row of this run is named')

  t.equal(ss(input).filter((r) => r.socket !== undefined).length, 0, 'the input records are not modified')
  t.same(out.filter((r) => r.kind !== 'ss' && r.kind !== 'pkt'), input.filter((r) => r.kind !== 'ss' && r.kind !== 'pkt'), 'other kinds untouched')
})

t.test('names are per host, and only for events that carry ports', async (t) => {
  // The client's port on the server's host means nothing: only the client's rows get "cli".
  const onlyClient = nameSockets(records([AGENT[1] as TimelineRecord]))
  t.same(names(ss(onlyClient).filter((r) => r.host === 'server')), ['(none)'])
  t.same(names(pkts(onlyClient).filter((p) => p.host === 'server')), ['(none)'])
  t.same(names(ss(onlyClient).filter((r) => r.host === 'client')), ['cli'])

  const noPorts = records([
    syntheticEvent({ t: 0.2, host: 'client', source: 'x', type: 'connected' }),
    syntheticEvent({ t: 0.3, host: 'client', source: 'y', type: 'error', errno: 'ECONNREFUSED', data: { lport: 57472 } }),
  ])
  const out = nameSockets(noPorts)
  t.equal(ss(out).filter((r) => r.socket !== undefined).length, 0, 'no ports, or an event that does not bind a name')
  const none = records([])
  t.equal(nameSockets(none), none, 'without named sockets the same array comes back')

  // A connecting event (non-blocking connect) names the socket before it connects.
  const connecting = nameSockets(records([syntheticEvent({ t: 0.42, host: 'client', source: 'nb', type: 'connecting', data: { lport: '57472', rport: '8000' } })]))
  t.same(names(pkts(connecting).filter((p) => p.host === 'client')), ['nb'], 'ports given as strings work too')

  // A record that already has a name keeps it.
  const pre = records().map((r) => (r.kind === 'ss' && r.host === 'client' ? { ...r, socket: 'given' } : r))
  t.same(names(ss(nameSockets(pre)).filter((r) => r.host === 'client')), ['given'])
})

t.test('a port pair reused by a later socket gets the later name', async (t) => {
  // SYNTHETIC: "cli" is aborted at 2 s and "cli2" reconnects from the same source port
  // (connect: { sport: 57472 }) at 3 s; the kernel allows it after an RST (no TIME-WAIT).
  const out = nameSockets(records([
    AGENT[1] as TimelineRecord,
    syntheticEvent({ t: 3, host: 'client', source: 'cli2', type: 'connected', data: { lport: 57472, rport: 8000 } }),
  ]))
  const late = ss(out).filter((r) => r.host === 'client' && r.t > 3)
  t.ok(late.length > 0)
  t.same(names(late), ['cli2'])
  t.same(names(ss(out).filter((r) => r.host === 'client' && r.t < 2)), ['cli'])
})
