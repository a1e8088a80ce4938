// Marks set by ss and states expectations, evaluated as the samples come
// (src/expect/live-marks.ts, fed once per event-loop turn by
// src/runner/live-mark-feed.ts), on recorded runs:
// - seed-close-wait (test/fixtures/timelines/seed-close-wait, ss loop
//   sampling): the server's connection is ESTAB at 0.964463 s and first seen in
//   CLOSE-WAIT at the server's sample of 1.920071 s (not yet at 1.33037 s); the
//   client's is ESTAB at 1.041659 s, FIN-WAIT-2 (timer timewait) at 1.813299 s,
//   and gone from the client's sample of 7.174126 s (still there at 6.796606 s);
// - zero-window: the client's cli runs the persist timer from its sample of
//   0.551131 s.
// A step after such a mark is due at that sample's time, known when (and only
// when) that sample has arrived whole; it is the moment the end of the run
// gives; a mark whose setter never matches is never reached.

import t from 'tap'
import { LiveMarks, type LiveMarkContext, type ReachedMark } from '../../../src/expect/live-marks.js'
import type { TimelineRecord } from '../../../src/recorder/records.js'
import { LiveMarkFeed } from '../../../src/runner/live-mark-feed.js'
import { nameSockets } from '../../../src/runner/name-sockets.js'
import { stepMarkOf } from '../../../src/scenario/marks.js'
import { Expectation } from '../../../src/scenario/schema.js'
import { contextOf, evaluateList, loadFixture, type Fixture, markOf, sampleBatches } from './timeline-fixture.js'

const cw = loadFixture('seed-close-wait')
const zw = loadFixture('zero-window')
const two = loadFixture('two-closes')



/** Feed a fixture batch by batch; each mark reached with the index of the last record of its batch. */
function feed(fx: Fixture, expect: unknown[], refs: string[], o: { records?: readonly TimelineRecord[]; context?: LiveMarkContext } = {}): Array<ReachedMark & { at: number }> {
  const list = expect.map((x) => Expectation.parse(x))
  const live = new LiveMarks(list, refs.map((r) => markOf(r, expect)), o.context ?? contextOf(fx))
  const out: Array<ReachedMark & { at: number }> = []
  let i = -1
  for (const b of sampleBatches(o.records ?? contextOf(fx).records)) {
    i += b.length
    for (const m of live.addAll(b)) out.push({ ...m, at: i })
  }
  return out
}

const recordsOf = (fx: Fixture): TimelineRecord[] => contextOf(fx).records as TimelineRecord[]
/** Index of the last record of the sample of `host` at `t`. */
const sampleEnd = (fx: Fixture, host: string, t: number): number => {
  const recs = recordsOf(fx)
  let last = -1
  recs.forEach((r, i) => {
    if ((r.kind === 'sample' || r.kind === 'ss') && r.host === host && r.t === t) last = i
  })
  return last
}

const serverCw = { states: { on: 'server', socket: { local: 8000 }, sequence: ['ESTAB', 'CLOSE-WAIT'], mark: 'cw' } }
const clientGone = { states: { on: 'client', socket: { peer: 8000 }, sequence: ['ESTAB', 'FIN-WAIT-2', 'CLOSED'], mark: 'gone' } }
const clientTw = { ss: { on: 'client', socket: { peer: 8000 }, match: { state: 'FIN-WAIT-2', timer: 'timewait' }, quantifier: 'eventually', mark: 'tw' } }

t.test('the recorded run: the end of the run marks the transitions and the matching samples', async (t) => {
  const ends = evaluateList(contextOf(cw), [serverCw, clientGone, clientTw])
  t.same(ends[0]?.mark, { name: 'cw', t: [0.964463, 1.920071] })
  t.same(ends[1]?.mark, { name: 'gone', t: [1.041659, 1.813299, 7.174126] })
  t.equal(ends[2]?.mark?.t[0], 1.813299)
})

t.test('a states mark: each transition reached with the sample that shows it, at that sample\'s time', async (t) => {
  // cw.2: CLOSE-WAIT, first shown by the server's sample of 1.920071 s.
  const r = feed(cw, [serverCw], ['cw.2'])
  t.same(r.map(({ ref, t }) => ({ ref, t })), [{ ref: 'mark:cw.2', t: 1.920071 }])
  t.equal(r[0]?.at, sampleEnd(cw, 'server', 1.920071), 'known with that sample, not before')
  // A sequence of one state: its first moment is that transition.
  t.same(feed(cw, [{ states: { ...serverCw.states, sequence: ['CLOSE-WAIT'] } }], ['cw']).map((m) => m.t), [1.920071])
  // The moments of a sequence are known together, once its last transition is seen: cw (ESTAB) would
  // always be late, and there is no third; the loader says so.
  t.match(stepMarkOf('cw', [serverCw]), /a step cannot wait for cw \(ESTAB\): the mark "cw" is set by a states expectation \(#1\), whose moments \(its transitions: ESTAB → CLOSE-WAIT\) are known together once the last, CLOSE-WAIT, is seen, so the step would always run late; wait for cw.2 \(CLOSE-WAIT\)/)
  t.match(stepMarkOf('cw.3', [serverCw]), /there is no moment #3/)
  // CLOSED: the first sample of the client without the socket (7.174126 s), known only then.
  const gone = feed(cw, [clientGone], ['gone.3'])
  t.same(gone.map((m) => m.t), [7.174126])
  t.equal(gone[0]?.at, sampleEnd(cw, 'client', 7.174126))
  t.ok((gone[0]?.at as number) > sampleEnd(cw, 'client', 6.796606), 'the sample of 6.796606 s still shows it')
})

t.test('an ss mark (quantifier eventually): the first matching sample; windows are those of the end of the run', async (t) => {
  const r = feed(cw, [clientTw], ['tw', 'tw.3'])
  t.same(r.map((m) => m.t), [1.813299, evaluateList(contextOf(cw), [clientTw])[0]?.mark?.t[2] as number])
  t.equal(r[0]?.at, sampleEnd(cw, 'client', 1.813299))
  // after: 6.7s: the sample of 6.796606 s, the last that still shows the socket.
  t.same(feed(cw, [{ ss: { ...clientTw.ss, after: '6.7s' } }], ['tw']).map((m) => m.t), [6.796606])
})

t.test('ss rows named as at the end of the run: socket: cli runs the persist timer from 0.551131 s', async (t) => {
  const persist = { ss: { on: 'client', socket: 'cli', match: { timer: 'persist' }, quantifier: 'eventually', mark: 'persist' } }
  t.equal(evaluateList(contextOf(zw), [persist])[0]?.mark?.t[0], 0.551131)
  // The samples come without socket names (the runner names them at the end, name-sockets.ts).
  const bare = recordsOf(zw).map((r) => (r.kind === 'pkt' || r.kind === 'ss' ? ({ ...r, socket: undefined, listener: undefined } as TimelineRecord) : r))
  const named: LiveMarkContext = { ...contextOf(zw), nameSockets: { name: (recs) => nameSockets(recs, { hosts: zw.hosts }), fromSs: false } }
  const r = feed(zw, [persist], ['persist'], { records: bare, context: named })
  t.same(r.map((m) => m.t), [0.551131])
  t.equal(r[0]?.at, sampleEnd(zw, 'client', 0.551131))
  // Without naming no row is cli's: never reached (so the naming is what finds it).
  t.same(feed(zw, [persist], ['persist'], { records: bare }), [])
})

t.test('never reached: a state never entered, a field never matched, a guard that skips the setter, the wrong host', async (t) => {
  // The server never closes: no LAST-ACK (nc is killed at the end; its socket just goes).
  t.same(feed(cw, [{ states: { ...serverCw.states, sequence: ['CLOSE-WAIT', 'LAST-ACK'] } }], ['cw.2']), [])
  t.same(feed(cw, [{ ss: { ...clientTw.ss, match: { state: 'TIME-WAIT' } } }], ['tw']), [])
  t.same(feed(cw, [{ ss: { ...clientTw.ss, when: { kernel: '<3.0' } } }], ['tw']), [])
  t.same(feed(cw, [{ states: { ...serverCw.states, on: 'client' } }], ['cw.2']), [], 'the client has no socket on local port 8000')
  // ...and so says the end of the run.
  t.same(evaluateList(contextOf(cw), [{ states: { ...serverCw.states, sequence: ['CLOSE-WAIT', 'LAST-ACK'] } }])[0]?.mark, { name: 'cw', t: [] })
})

t.test('records of other hosts change nothing and are not kept', async (t) => {
  const list = [Expectation.parse(serverCw)]
  const live = new LiveMarks(list, [markOf('cw.2', [serverCw])], contextOf(cw))
  const client = recordsOf(cw).filter((r) => (r.kind === 'ss' || r.kind === 'sample') && r.host === 'client')
  t.ok(client.length > 20)
  t.equal(live.hold(client), false)
  t.equal(live.held, 0)
})

t.test('the feed evaluates once per turn, after a whole sample: never between a sample record and its rows', async (t) => {
  const expect = [{ states: { on: 'client', socket: { peer: 8000 }, sequence: ['ESTAB', 'CLOSED'], mark: 'gone' } }]
  const marks = (): LiveMarks => new LiveMarks(expect.map((x) => Expectation.parse(x)), [markOf('gone.2', expect)], contextOf(cw))
  const client = recordsOf(cw).filter((r) => r.host === 'client' && (r.kind === 'ss' || r.kind === 'sample'))
  // Evaluated after every record: the client's sample of 1.813299 s, before its row arrives, shows no socket.
  const eager = marks()
  const early = client.flatMap((r) => eager.add(r))
  t.same(early.map((m) => m.t), [1.813299], 'the hazard: a sample without its rows reads as CLOSED')
  // The feed: each record pushed alone, as timeline.onAdd delivers them, one sample per turn.
  const live = marks()
  const reached: number[] = []
  const f = new LiveMarkFeed(live, (rs) => reached.push(...rs.map((m) => m.t)))
  for (const b of sampleBatches(client)) {
    for (const r of b) f.push([r])
    await new Promise<void>((resolve) => setImmediate(resolve))
  }
  await new Promise((resolve) => setTimeout(resolve, 50))
  t.same(reached, [7.174126], 'CLOSED when the socket is really gone')
  t.ok(f.stats.evaluations >= 1 && f.stats.evaluations <= sampleBatches(client).length, `${f.stats.evaluations} evaluations for ${sampleBatches(client).length} samples`)
  f.stop()
})

t.test('the feed backs off: after an evaluation that took d ms, none for 3 d', async (t) => {
  let evaluations = 0
  const slow = {
    waiting: 1,
    held: 0,
    hold: () => true,
    evaluate: (): ReachedMark[] => {
      evaluations++
      const until = performance.now() + 50
      while (performance.now() < until) { /* an evaluation that costs 50 ms */ }
      return []
    },
  }
  const f = new LiveMarkFeed(slow, () => undefined)
  f.push([])
  await new Promise<void>((resolve) => setImmediate(resolve))
  t.equal(evaluations, 1)
  const started = performance.now()
  // Records keep coming: they are held, and evaluated together once 150 ms have passed (a wide
  // margin: 45 ms of pushes, on a loaded machine too).
  while (performance.now() - started < 45) {
    f.push([])
    await new Promise<void>((resolve) => setImmediate(resolve))
  }
  t.equal(evaluations, 1, 'none while backing off')
  await new Promise((resolve) => setTimeout(resolve, 200))
  t.equal(evaluations, 2, 'one for everything held meanwhile')
  f.stop()
  f.push([])
  await new Promise((resolve) => setTimeout(resolve, 10))
  t.equal(evaluations, 2, 'none after stop()')
})

t.test('several sockets: a states mark names the socket through its sequence first, known as soon as it is', async (t) => {
  // two-closes: c1 ESTAB at 0.104193 s, c2 at 0.204192 s; c2 in FIN-WAIT-2 at 0.404205 s, c1 at 0.704191 s.
  const both = { states: { on: 'client', socket: { peer: 8000 }, sequence: ['ESTAB', 'FIN-WAIT-2'], mark: 'fw2' } }
  t.same(evaluateList(contextOf(two), [both])[0]?.mark, { name: 'fw2', t: [0.204192, 0.404205] }, 'c2\'s transitions, though c1 was seen first')
  const r = feed(two, [both], ['fw2.2'])
  t.same(r.map((m) => m.t), [0.404205])
  t.equal(r[0]?.at, sampleEnd(two, 'client', 0.404205), 'known with that sample: c1 may still come later, but not earlier')
  // Each socket on its own: c1's comes only with its own FIN-WAIT-2.
  t.same(feed(two, [{ states: { ...both.states, socket: 'c1' } }], ['fw2.2']).map((m) => m.t), [0.704191])
  t.same(evaluateList(contextOf(two), [{ states: { ...both.states, socket: 'c1' } }])[0]?.mark?.t, [0.104193, 0.704191])
  // Never: a state neither socket reaches while the run lasts.
  t.same(feed(two, [{ states: { ...both.states, sequence: ['FIN-WAIT-2', 'TIME-WAIT'] } }], ['fw2.2']), [])
})
