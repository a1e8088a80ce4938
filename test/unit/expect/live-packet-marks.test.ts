// Marks set by packets expectations, evaluated as the packets come (src/expect/live-marks.ts,
// fed by src/runner/live-packets.ts), on the recorded zero-window run
// (test/fixtures/timelines/zero-window): the server announces window 0 at 0.546268,
// 0.758383, 2.054315, 3.754382 and 6.000277 s. A step after the mark `zw` is
// due at the packet's own capture time, known when (and only when) that packet
// arrives; the mark is the one the end-of-run evaluation gives; a mark whose
// setter matches nothing, is skipped or has fewer moments is never reached.

import t from 'tap'
import { LiveMarks, type LiveMarkContext, type ReachedMark } from '../../../src/expect/live-marks.js'
import type { PktRecord, TimelineRecord } from '../../../src/recorder/records.js'
import { nameSockets } from '../../../src/runner/name-sockets.js'
import { stepMarkOf, type StepMark } from '../../../src/scenario/marks.js'
import { Expectation } from '../../../src/scenario/schema.js'
import { contextOf, evaluateList, loadFixture } from './timeline-fixture.js'

const fx = loadFixture('zero-window')
const ctx = contextOf(fx)
const ZW = [0.546268, 0.758383, 2.054315, 3.754382, 6.000277]
const zwSetter = { packets: { on: 'server', dir: 'out', socket: 'srv-conn', flags: '.', len: 0, win: 0, mark: 'zw' } }

function markOf(ref: string, expect: unknown[]): StepMark {
  const m = stepMarkOf(ref, expect as Array<Record<string, unknown>>)
  if (typeof m !== 'object') throw new Error(`${ref}: ${String(m)}`)
  return m
}

/** Feed the records in time order, as the runner does (events from the timeline, packets from the captures), `chunk` packets at a time. */
function feed(
  expect: unknown[], refs: string[],
  o: { records?: readonly TimelineRecord[]; chunk?: number; context?: LiveMarkContext } = {},
): Array<ReachedMark & { at: number }> {
  const list = expect.map((x) => Expectation.parse(x))
  const live = new LiveMarks(list, refs.map((r) => markOf(r, expect)), o.context ?? ctx)
  const out: Array<ReachedMark & { at: number }> = []
  const records = o.records ?? fx.records
  const chunk = o.chunk ?? 1
  let pkts: Array<{ r: TimelineRecord; i: number }> = []
  const flush = (): void => {
    if (pkts.length === 0) return
    const last = (pkts.at(-1) as { i: number }).i
    for (const m of live.addAll(pkts.map((p) => p.r))) out.push({ ...m, at: last })
    pkts = []
  }
  records.forEach((r, i) => {
    if (r.kind === 'pkt') {
      pkts.push({ r, i })
      if (pkts.length >= chunk) flush()
      return
    }
    for (const m of live.add(r)) out.push({ ...m, at: i })
  })
  flush()
  return out
}

const indexOfPkt = (tSec: number, host = 'server'): number => fx.records.findIndex((r) => r.kind === 'pkt' && r.host === host && r.t === tSec)

t.test('the recorded run: the server announces window 0 five times, and the end of the run marks them', async (t) => {
  const ends = evaluateList(ctx, [zwSetter])
  t.same(ends[0]?.mark, { name: 'zw', t: ZW })
})

t.test('the first zero-window ACK: reached with that packet, at its capture time', async (t) => {
  const reached = feed([zwSetter], ['zw'])
  t.same(reached.map(({ ref, t }) => ({ ref, t })), [{ ref: 'mark:zw.first', t: 0.546268 }])
  t.equal(reached[0]?.at, indexOfPkt(0.546268), 'known with the first zero-window ACK, not before')
  // The 4th: with the 4th such packet; packets in chunks of 16 change only when it is known (the chunk that holds it).
  const fourth = feed([zwSetter], ['zw.4'])
  t.same(fourth.map((m) => m.t), [3.754382])
  t.equal(fourth[0]?.at, indexOfPkt(3.754382))
  const chunked = feed([zwSetter], ['zw', 'zw.4'], { chunk: 16 })
  t.same(chunked.map(({ ref, t }) => ({ ref, t })), [{ ref: 'mark:zw.first', t: 0.546268 }, { ref: 'mark:zw.4', t: 3.754382 }])
  t.ok((chunked[0]?.at as number) >= indexOfPkt(0.546268) && (chunked[1]?.at as number) >= indexOfPkt(3.754382), 'never before the packet itself')
})

t.test('windows, since: and guards are those of the end of the run', async (t) => {
  // After 1 s: the third announcement.
  t.same(feed([{ packets: { ...zwSetter.packets, after: '1s' } }], ['zw']).map((m) => m.t), [2.054315])
  // Since the reader resumes (6.000097 s): the window update that still says 0, at 6.000277 s.
  const resumed = fx.records.find((r) => r.kind === 'event' && r.source === 'srv-conn' && r.type === 'resumed')?.t as number
  t.equal(resumed, 6.000097)
  const since = feed([{ packets: { ...zwSetter.packets, since: 'srv-conn.resumed', after: '0s' } }], ['zw'])
  t.same(since.map((m) => m.t), [6.000277])
  t.equal(since[0]?.at, indexOfPkt(6.000277))
  // A mark measured since a packets mark, through an event setter: the reader's first read after the 4th zero window.
  const reads = feed([zwSetter, { event: { socket: 'srv-conn', type: 'read', since: 'zw.4', after: '0s', mark: 'rd' } }], ['rd'])
  const firstRead = fx.records.find((r) => r.kind === 'event' && r.source === 'srv-conn' && r.type === 'read')?.t as number
  t.same(reads.map((m) => m.t), [firstRead])
  t.ok(firstRead > 3.754382, `the first read (${firstRead}) comes after the 4th zero window`)
})

t.test('never reached: a sixth announcement, a filter nothing matches, a guard that skips the setter, the wrong host', async (t) => {
  t.same(feed([zwSetter], ['zw.6']), [])
  t.same(feed([{ packets: { ...zwSetter.packets, win: 1 } }], ['zw']), [])
  t.same(feed([{ packets: { ...zwSetter.packets, when: { kernel: '<3.0' } } }], ['zw']), [])
  // The client never announces window 0 (its own ACKs of the server's window updates are not zero).
  t.same(feed([{ packets: { on: 'client', dir: 'out', win: 0, mark: 'zw' } }], ['zw']), [])
  // ...and that is what the end of the run says too.
  t.same(evaluateList(ctx, [{ packets: { on: 'client', dir: 'out', win: 0, mark: 'zw' } }])[0]?.mark, { name: 'zw', t: [] })
})

t.test('packets named as at the end of the run: `socket:` needs the names the runner gives', async (t) => {
  // The captures come without socket names (the runner names them at the end, name-sockets.ts).
  const bare = fx.records.map((r) => (r.kind === 'pkt' || r.kind === 'ss' ? ({ ...r, socket: undefined, listener: undefined } as TimelineRecord) : r))
  t.ok(bare.filter((r): r is PktRecord => r.kind === 'pkt').every((p) => p.socket === undefined))
  // Named live with the runner's rule: the same moment.
  const named: LiveMarkContext = { ...ctx, nameSockets: { name: (recs) => nameSockets(recs, { hosts: fx.hosts }), fromSs: false } }
  t.same(feed([zwSetter], ['zw'], { records: bare, context: named }).map((m) => m.t), [0.546268])
  // Without naming, no packet is srv-conn's: never reached (so the naming is what finds it).
  t.same(feed([zwSetter], ['zw'], { records: bare }), [])
})

t.test('records a packets mark does not depend on change nothing and are not kept', async (t) => {
  const client = fx.records.filter((r) => r.kind === 'pkt' && r.host === 'client')
  t.ok(client.length > 50)
  t.same(feed([zwSetter], ['zw'], { records: client }), [], 'client packets never reach a server mark')
})
