// Times of state transitions (`states:` items { state, at, tolerance, since }),
// on seed-close-wait: the client closes at 1.5 s (FIN at 1.744 s), sits in
// FIN-WAIT-2 for tcp_fin_timeout (5 s) and is gone. Its samples are coarse
// (the run sampled every ~0.4 s): FIN-WAIT-2 between 1.042 and 1.813 s, gone
// between 6.797 and 7.174 s. The verdict says how each time was dated.

import t from 'tap'
import type { TimelineRecord } from '../../../src/recorder/records.js'
import { contextOf, evaluate, evaluateList, loadFixture, syntheticEvent } from './timeline-fixture.js'

const cw = loadFixture('seed-close-wait')
const FIN = { packets: { on: 'client', dir: 'out', flags: 'F.', mark: 'fin' } }
const timed = (closedAt: string, extra: Record<string, unknown> = {}): unknown => ({
  states: { on: 'client', socket: { peer: 8000 }, sequence: ['ESTAB', { state: 'FIN-WAIT-2', at: '0s', since: 'fin' }, { state: 'CLOSED', at: closedAt }], ...extra },
})

t.test('CLOSED tcp_fin_timeout (5 s) after FIN-WAIT-2, judged from the measured FIN-WAIT-2 (packetdrill\'s rule)', async (t) => {
  const [r] = evaluateList(contextOf(cw), [timed('5s'), FIN])
  t.equal(r?.status, 'pass', String(r?.measured))
  t.equal(r?.measured, 'ESTAB → FIN-WAIT-2 → CLOSED; FIN-WAIT-2 on time, expected at 1.744s (0s after mark fin (first) at 1.744s) ±50ms (dated by samples: between 1.042s (not yet) and 1.813s (seen)); CLOSED +52.9ms off, expected at 6.744s (5s after the previous timed transition, dated 1.744s) ±500ms (dated by samples: between 6.797s (not yet) and 7.174s (seen))')
  t.equal(r?.deltaMs, 52.913)
  t.equal(r?.toleranceMs, 500)
  t.equal(r?.reason, 'dated by samples', 'the verdict says which source dated the times')
})

t.test('a changed time fails with a readable delta', async (t) => {
  const [r] = evaluateList(contextOf(cw), [timed('4s'), FIN])
  t.equal(r?.status, 'fail')
  t.match(r?.measured, /CLOSED \+1\.053s off, expected at 5\.744s \(4s after the previous timed transition, dated 1\.744s\) ±400ms \(dated by samples: between 6\.797s \(not yet\) and 7\.174s \(seen\)\); CLOSED is outside its tolerance$/)
  t.equal(r?.deltaMs, 1052.913)
  t.equal(r?.t, 7.174126, 'points at the sample that saw it gone')
  const [late] = evaluateList(contextOf(cw), [timed('7s'), FIN])
  t.equal(late?.status, 'fail')
  t.equal(late?.deltaMs, -1569.567, 'expected at 8.744 s, gone by 7.174 s: early')
  t.equal(late?.toleranceMs, 700)
})

t.test('times from t0 (no since): FIN-WAIT-2 at 1.8 s, CLOSED at 6.8 s', async (t) => {
  const ok = evaluate(contextOf(cw), { states: { on: 'client', socket: { peer: 8000 }, sequence: ['ESTAB', { state: 'FIN-WAIT-2', at: '1.8s' }, { state: 'CLOSED', at: '6.8s' }] } })
  t.equal(ok.status, 'pass', ok.measured)
  const bad = evaluate(contextOf(cw), { states: { on: 'client', socket: { peer: 8000 }, sequence: ['ESTAB', { state: 'FIN-WAIT-2', at: '0.8s' }] } })
  t.equal(bad.status, 'fail')
  t.equal(bad.deltaMs, 241.659, 'the earliest the samples allow (1.042 s) is 242 ms after 0.8 s')
  t.equal(bad.toleranceMs, 80)
})

t.test('a destroy event dates CLOSED exactly, and says so', async (t) => {
  // Synthetic: the agent that recorded this run had not bound its destroy socket, so it heard no destroy events.
  const last = cw.records.filter((r) => r.kind === 'ss' && r.host === 'client' && r.state === 'FIN-WAIT-2').pop()
  if (!last || last.kind !== 'ss') throw new Error('no FIN-WAIT-2 row')
  t.equal(last.t, 6.796606, 'the last FIN-WAIT-2 row; the next sample (7.174 s) no longer has it')
  const destroy: TimelineRecord = syntheticEvent({ t: 6.9, host: 'client', source: 'agent', type: 'ss-destroy', data: { lport: last.localPort, rport: last.peerPort } })
  const ctx = contextOf(cw, {}, [destroy])
  const [r] = evaluateList(ctx, [timed('5s'), FIN])
  t.equal(r?.status, 'pass')
  t.match(r?.measured, /CLOSED \+156\.3ms off, expected at 6\.744s .* \(dated by a destroy event at 6\.900s\)$/)
  t.equal(r?.reason, 'dated by samples and destroy event')
  // A tight window inside the samples' span: the samples cannot tell, the destroy event can.
  const tight = { floor: '50ms', percent: 0 }
  const item = (ctxUsed: typeof ctx) => evaluateList(ctxUsed, [{ states: { on: 'client', socket: { peer: 8000 }, sequence: ['ESTAB', { state: 'FIN-WAIT-2', at: '0s', since: 'fin' }, { state: 'CLOSED', at: '5.4s', tolerance: tight }] } }, FIN])[0]
  const exact = item(ctx)
  t.equal(exact?.status, 'fail', 'exact: 244 ms early is outside ±50 ms')
  t.equal(exact?.deltaMs, -243.693)
  t.equal(item(contextOf(cw))?.status, 'pass', 'samples only: 7.144 s lies between 6.797 and 7.174 s')
})

t.test('untimed sequences are unchanged', async (t) => {
  t.equal(evaluate(contextOf(cw), { states: { on: 'client', socket: { peer: 8000 }, sequence: ['ESTAB', 'FIN-WAIT-2', 'CLOSED'] } }).status, 'pass')
  t.equal(evaluate(contextOf(cw), { states: { on: 'client', socket: { peer: 8000 }, sequence: ['ESTAB', 'CLOSE-WAIT'] } }).status, 'fail')
})

// A real destroy event (naming-orphan-reuse, recorded after the agent's destroy socket was bound):
// the client aborts `a` at 1.2 s (SO_LINGER 0). The kernel disconnects the socket before freeing it,
// so its last word has peer port 0 and no local address: only the socket cookie names it.
const nor = loadFixture('naming-orphan-reuse')
const aborted = (at: string): unknown => ({
  states: { on: 'client', socket: 'a', sequence: ['ESTAB', { state: 'CLOSED', at, tolerance: { floor: '5ms', percent: 0 } }] },
})

t.test('an aborted socket: CLOSED dated by its destroy event, matched by cookie', async (t) => {
  const d = nor.records.find((r) => r.kind === 'event' && r.type === 'ss-destroy' && r.host === 'client')
  t.match(d, { t: 1.201273, data: { sk: '31d1', local: '0.0.0.0:41000', rport: 0 } }, 'the recorded destroy event has no peer port')
  const r = evaluate(contextOf(nor), aborted('1.2s'))
  t.equal(r.status, 'pass', r.measured)
  t.equal(r.reason, 'dated by destroy event')
  t.match(r.measured, /ESTAB → CLOSE-WAIT → CLOSED; CLOSED \+1\.3ms off, expected at 1\.200s ±5ms \(dated by a destroy event at 1\.201s\)$/)
  const early = evaluate(contextOf(nor), aborted('1.19s'))
  t.equal(early.status, 'fail', '11 ms off is outside ±5 ms: only an exact time can say so')
  t.equal(early.deltaMs, 11.273)
  // Without the cookie the ports do not match (peer port 0): the samples date it, ~10 ms wide.
  const noCookie = { ...nor, records: nor.records.map((r) => (r.kind === 'event' && r.type === 'ss-destroy' ? { ...r, data: { ...r.data, sk: undefined } } : r)) }
  t.equal(evaluate(contextOf(noCookie), aborted('1.2s')).reason, 'dated by samples')
})
