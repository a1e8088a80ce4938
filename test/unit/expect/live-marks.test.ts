// Marks evaluated as the run goes, for steps after a mark (src/expect/live-marks.ts),
// on a recorded run (test/fixtures/timelines/step-after-mark): the moment a step
// waits for is known when, and only when, its event arrives; it is the moment the
// end-of-run evaluation gives the mark; the steps were scheduled at it plus their
// delay. And the expectations that measure since those marks fail when the
// timeline does not fit them.

import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { LiveMarks, type ReachedMark } from '../../../src/expect/live-marks.js'
import type { ActionRecord, TimelineRecord } from '../../../src/recorder/records.js'
import { parseScenario } from '../../../src/scenario/loader.js'
import { stepMarkOf, type StepMark } from '../../../src/scenario/marks.js'
import { Expectation } from '../../../src/scenario/schema.js'
import { contextOf, evaluateList, loadFixture, TIMELINES } from './timeline-fixture.js'

const fx = loadFixture('step-after-mark')
const file = join(TIMELINES, 'step-after-mark', 'scenario.yaml')
const scenario = parseScenario(readFileSync(file, 'utf8'), file).scenario
const ctx = contextOf(fx)
const sentTimes = fx.records.filter((r) => r.kind === 'event' && r.source === 'srv-conn' && r.type === 'sent').map((r) => r.t)

function markOf(ref: string, expect: unknown[]): StepMark {
  const m = stepMarkOf(ref, expect as Array<Record<string, unknown>>)
  if (typeof m !== 'object') throw new Error(`${ref}: ${String(m)}`)
  return m
}

/** Feed the records one by one, as the runner does; each reached mark with the index of the record that brought it. */
function feed(expect: unknown[], refs: string[], records: readonly TimelineRecord[] = fx.records): Array<ReachedMark & { at: number }> {
  const list = expect.map((x) => Expectation.parse(x))
  const live = new LiveMarks(list, refs.map((r) => markOf(r, expect)), ctx)
  const out: Array<ReachedMark & { at: number }> = []
  records.forEach((r, i) => {
    for (const m of live.add(r)) out.push({ ...m, at: i })
  })
  return out
}

t.test('the recorded run: three sends, and the end-of-run marks agree', async (t) => {
  t.same(sentTimes, [0.300197, 0.500264, 0.700317])
  t.equal(fx.verdict.status, 'pass')
})

t.test('a mark is reached when its nth event arrives, at that event\'s time, once', async (t) => {
  const expect = [{ event: { socket: 'srv-conn', type: 'sent', match: { n: 100 }, mark: 'sends' } }]
  const reached = feed(expect, ['sends.2', 'sends', 'sends.3'])
  t.same(reached.map(({ ref, t }) => ({ ref, t })), [
    { ref: 'mark:sends.first', t: 0.300197 },
    { ref: 'mark:sends.2', t: 0.500264 },
    { ref: 'mark:sends.3', t: 0.700317 },
  ])
  const secondSent = fx.records.findIndex((r) => r.kind === 'event' && r.type === 'sent' && r.t === 0.500264)
  t.equal(reached[1]?.at, secondSent, 'sends.2 is known with the second send, not before')
  // What the end of the run says of the same mark.
  const ends = evaluateList(ctx, expect)
  t.same(ends[0]?.mark, { name: 'sends', t: sentTimes })
})

t.test('a mark that is never reached: a fourth send, a filter nothing matches, a guard that skips its setter', async (t) => {
  t.same(feed([{ event: { socket: 'srv-conn', type: 'sent', mark: 'sends' } }], ['sends.4']), [])
  t.same(feed([{ event: { socket: 'srv-conn', type: 'sent', match: { n: 99 }, mark: 'sends' } }], ['sends']), [])
  t.same(feed([{ event: { socket: 'srv-conn', type: 'sent', mark: 'sends', when: { kernel: '<3.0' } } }], ['sends']), [])
  // A window: sends after 400 ms only; its first is the second send.
  t.same(feed([{ event: { socket: 'srv-conn', type: 'sent', after: '400ms', mark: 'late' } }], ['late']).map((m) => m.t), [0.500264])
})

t.test('a mark measured since another: counted from that mark, evaluated marks first', async (t) => {
  const expect = [
    { event: { socket: 'cli', type: 'closed', after: '0s', since: 'sends.2', mark: 'shut' } },
    { event: { socket: 'srv-conn', type: 'sent', mark: 'sends' } },
  ]
  t.same(feed(expect, ['shut']).map(({ ref, t }) => ({ ref, t })), [{ ref: 'mark:shut.first', t: 0.650426 }])
  // Since the third send, no close follows: never reached.
  t.same(feed([{ event: { socket: 'cli', type: 'closed', after: '0s', since: 'sends.3', mark: 'shut' } }, expect[1]], ['shut']), [])
})

t.test('events from two hosts arriving out of order are put in time order', async (t) => {
  const expect = [{ event: { socket: 'srv-conn', type: 'sent', mark: 'sends' } }]
  const events = fx.records.filter((r) => r.kind === 'event')
  const i = events.findIndex((r) => r.type === 'sent' && r.t === 0.300197)
  const j = events.findIndex((r) => r.type === 'sent' && r.t === 0.500264)
  const swapped: TimelineRecord[] = [...events]
  ;[swapped[i], swapped[j]] = [swapped[j] as TimelineRecord, swapped[i] as TimelineRecord]
  // The second send arrives first: it is the first moment known, so sends (first) is reached with it...
  const reached = feed(expect, ['sends', 'sends.2'], swapped)
  t.same(reached.map((m) => m.ref), ['mark:sends.first', 'mark:sends.2'])
  // ...and sends.2 is judged on the sorted events once both are in.
  t.equal(reached[1]?.t, 0.500264)
})

t.test('the steps after the marks were scheduled at the mark plus their delay, and ran then', async (t) => {
  const actions = fx.records.filter((r): r is ActionRecord => r.kind === 'action')
  const step = (i: number): ActionRecord => actions.find((a) => a.step === i) as ActionRecord
  const accepted = fx.records.find((r) => r.kind === 'event' && r.source === 'srv-conn' && r.type === 'accepted')?.t as number
  t.ok(Math.abs((step(2).scheduledT as number) - (accepted + 0.1)) < 2e-6, `after: acc + 100ms: scheduled ${step(2).scheduledT} = ${accepted} + 0.1`)
  t.ok(Math.abs((step(4).scheduledT as number) - ((sentTimes[1] as number) + 0.15)) < 2e-6, `after: sends.2 + 150ms: scheduled ${step(4).scheduledT}`)
  for (const i of [2, 4]) {
    t.ok(step(i).t >= (step(i).scheduledT as number), `step ${i} ran at or after its time`)
    t.ok((step(i).lateMs as number) >= 0, `step ${i} carries its lateness`)
  }
})

t.test('expectations since the marks fail when the timeline does not fit them', async (t) => {
  const base = scenario.expect.slice(0, 2)
  const judge = (x: unknown): { status: string; measured: string; deltaMs?: number | undefined } => {
    const r = evaluateList(ctx, [...base, x]).at(-1)
    return { status: r?.status ?? '', measured: r?.measured ?? '', deltaMs: r?.deltaMs }
  }
  t.match(judge({ event: { socket: 'cli', type: 'closed', at: '150ms', since: 'sends.2' } }), { status: 'pass' })
  // Since the first send, the close is 350 ms later, not 150.
  const first = judge({ event: { socket: 'cli', type: 'closed', at: '150ms', since: 'sends' } })
  t.match(first, { status: 'fail', measured: /nearest: closed@0\.650s, 0\.350s after the reference \(\+200(\.\d+)?ms off\)/ })
  t.match(judge({ event: { socket: 'cli', type: 'closed', at: '150ms', since: 'sends.3' } }), { status: 'fail' })
  t.match(judge({ event: { socket: 'cli', type: 'sent', at: '200ms', since: 'acc' } }), { status: 'fail', measured: /nearest: sent 10@0\.201s, 0\.100s after the reference \(-99\.8ms off\)/ })
  t.match(judge({ event: { socket: 'srv-conn', type: 'eof', after: '0s', before: '200ms', since: 'sends.3' } }), { status: 'fail' })
})
