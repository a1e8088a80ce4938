// Lists of times (`at: [...]`) and gaps (`gaps: [...]`) with their per-item
// tolerance, on real retransmission times, and exactly at the boundary.

import t from 'tap'
import { checkGaps, checkTimes } from '../../../src/expect/timing.js'
import type { PktRecord } from '../../../src/recorder/records.js'
import { loadFixture, timeOf, type Fixture } from './timeline-fixture.js'

function pktTimes(fx: Fixture, keep: (p: PktRecord) => boolean): number[] {
  return fx.records.filter((r): r is PktRecord => r.kind === 'pkt' && keep(r)).map((p) => p.t)
}

// seed-syn-drop-timeout: the client's SYNs (tcp_syn_retries=2 + tcp_syn_linear_timeouts=2).
const syn = loadFixture('seed-syn-drop-timeout')
const SYNS = pktTimes(syn, (p) => p.host === 'client' && p.dir === 'out' && p.flags === 'S')
const STARTED = timeOf(syn, 'cli', 'started')
const AT = [0, 1000, 2000, 3000, 5000]

// seed-sendq-ack-drop: the server's (re)transmissions of the 6 unacknowledged bytes.
const sendq = loadFixture('seed-sendq-ack-drop')
const RETRANS = pktTimes(sendq, (p) => p.host === 'server' && p.dir === 'out' && p.len === 6)
const GAPS = [200, 200, 400, 800, 1600]

t.test('the recorded times', async (t) => {
  t.same(SYNS, [0.475443, 1.497394, 2.521385, 3.545378, 5.561398])
  t.equal(STARTED, 0.464574)
  t.same(RETRANS, [1.149461, 1.357385, 1.565387, 2.005393, 2.837371, 4.50136])
})

t.test('at: each time is judged from the previous measured one, with its own tolerance', async (t) => {
  // After cli.started: 10.869, 1032.820, 2056.811, 3080.804, 5096.824 ms. Judged from the
  // previous measured time: +10.869, +21.951, +23.991, +23.993, +16.020 ms. Tolerances with
  // floor 11 ms, 2.4 %: 11 (interval 0), 24, 24, 24, 48 (interval 2 s).
  const ok = checkTimes(SYNS, AT, STARTED, { floorMs: 11, percent: 2.4 }, 'SYNs')
  t.equal(ok.pass, true)
  t.equal(ok.measured, 'SYNs at 0.011s (+10.9ms), 1.033s (+22ms), 2.057s (+24ms), 3.081s (+24ms), 5.097s (+16ms)')
  t.equal(ok.deltaMs, 23.993, 'a pass reports the item closest to its limit (the 4th, 23.993 of 24 ms)')
  t.equal(ok.toleranceMs, 24)
  t.equal(ok.t, SYNS[0])

  // 2.3992 % of 1 s = 23.992 ms: the 4th SYN (+23.993) is 1 µs outside, the 3rd (+23.991) inside.
  const pct = checkTimes(SYNS, AT, STARTED, { floorMs: 11, percent: 2.3992 }, 'SYNs')
  t.equal(pct.pass, false)
  t.equal(pct.measured, 'SYNs at 0.011s (+10.9ms), 1.033s (+22ms), 2.057s (+24ms), 3.081s (+24ms), 5.097s (+16ms); #4 is outside its tolerance')
  t.equal(pct.t, SYNS[3], 'points at the first item outside its tolerance')

  // The first item's interval is at[0] = 0: only the floor applies.
  const floor = checkTimes(SYNS, AT, STARTED, { floorMs: 10.868, percent: 10 }, 'SYNs')
  t.equal(floor.pass, false)
  t.match(floor.measured, /; #1 is outside its tolerance$/)
  t.equal(checkTimes(SYNS, AT, STARTED, { floorMs: 10.87, percent: 10 }, 'SYNs').pass, true)

  // Everything expected 300 ms later: the first SYN is 289 ms early.
  const shifted = checkTimes(SYNS, AT.map((x) => x + 300), STARTED, { floorMs: 100, percent: 10 }, 'SYNs')
  t.equal(shifted.pass, false)
  t.match(shifted.measured, /^SYNs at 0\.011s \(-289\.1ms\), .*; #1 is outside its tolerance$/)
  t.equal(shifted.deltaMs, -289.131)

  // The kernel's exponential backoff before 6.5 (0, 1, 3, 7 s) is not what this kernel did.
  const expo = checkTimes(SYNS.slice(0, 4), [0, 1000, 3000, 7000], STARTED, { floorMs: 100, percent: 10 }, 'SYNs')
  t.equal(expo.pass, false)
  t.match(expo.measured, /#3 is outside its tolerance/)
})

t.test('at: a different number of times fails and lists them', async (t) => {
  const r = checkTimes(SYNS, [0, 1000, 3000], STARTED, { floorMs: 100, percent: 10 }, 'SYNs')
  t.equal(r.pass, false)
  t.equal(r.measured, '5 SYNs (expected 3) at 0.011s, 1.033s, 2.057s, 3.081s, 5.097s')
  t.equal(r.t, SYNS[0])
  const none = checkTimes([], [0], STARTED, { floorMs: 100, percent: 10 }, 'SYNs')
  t.equal(none.pass, false)
  t.equal(none.measured, '0 SYNs (expected 1) at none')
})

t.test('at: |delta| equal to the tolerance passes, 1 µs more fails', async (t) => {
  // Exact binary fractions, so the comparison is exact: item 2 is expected 1 s after
  // item 1 (measured at 0.5 s) with tolerance 12.5 % x 1 s = 125 ms.
  const rule = { floorMs: 4, percent: 12.5 }
  t.equal(checkTimes([0.5, 1.625], [500, 1500], 0, rule, 'x').pass, true, '+125 ms')
  t.equal(checkTimes([0.5, 1.375], [500, 1500], 0, rule, 'x').pass, true, '-125 ms')
  const late = checkTimes([0.5, 1.625001], [500, 1500], 0, rule, 'x')
  t.equal(late.pass, false, '+125.001 ms')
  t.equal(late.measured, 'x at 0.500s (+0s), 1.625s (+125ms); #2 is outside its tolerance')
  t.equal(checkTimes([0.5, 1.374999], [500, 1500], 0, rule, 'x').pass, false, '-125.001 ms')
  // The floor: item 1 (interval 500 ms -> 62.5 ms) vs. a floor of 100 ms.
  t.equal(checkTimes([0.6], [500], 0, { floorMs: 100, percent: 12.5 }, 'x').pass, true, '+100 ms within the floor')
  t.equal(checkTimes([0.600001], [500], 0, { floorMs: 100, percent: 12.5 }, 'x').pass, false, '+100.001 ms')
})

t.test('gaps: each gap against its own tolerance', async (t) => {
  // Gaps 207.924, 208.002, 440.006, 831.978, 1663.989 ms (a tail loss probe, then RTO 200 ms doubling).
  const ok = checkGaps(RETRANS, GAPS, { floorMs: 60, percent: 15 }, 'packets')
  t.equal(ok.pass, true)
  t.equal(ok.measured, 'gaps 207.9ms, 208ms, 440ms, 832ms, 1.664s')
  t.equal(ok.deltaMs, 40.006, 'gap #3: 40.006 of 60 ms is the closest to its limit')
  t.equal(ok.toleranceMs, 60)
  t.equal(ok.t, RETRANS[1])

  // floor 40.007 ms, 4 %: 40.007, 40.007, 40.007, 40.007, 64 -> all in.
  t.equal(checkGaps(RETRANS, GAPS, { floorMs: 40.007, percent: 4 }, 'packets').pass, true)
  const floor = checkGaps(RETRANS, GAPS, { floorMs: 40.005, percent: 4 }, 'packets')
  t.equal(floor.pass, false, 'gap #3 is +40.006 ms')
  t.equal(floor.measured, 'gaps 207.9ms, 208ms, 440ms, 832ms, 1.664s; gap #3 is outside its tolerance')
  t.equal(floor.t, RETRANS[3], 'points at the packet that ends the bad gap')
  const pct = checkGaps(RETRANS, GAPS, { floorMs: 40.007, percent: 3.999 }, 'packets')
  t.equal(pct.pass, false, 'gap #5 is +63.989 ms, 3.999 % of 1.6 s is 63.984 ms')
  t.match(pct.measured, /gap #5 is outside its tolerance$/)

  // Plain RTO doubling from 200 ms (no tail loss probe) is not what happened.
  const noTlp = checkGaps(RETRANS, [200, 400, 800, 1600, 3200], { floorMs: 60, percent: 15 }, 'packets')
  t.equal(noTlp.pass, false)
  t.match(noTlp.measured, /gap #2 is outside its tolerance$/)
  t.equal(noTlp.deltaMs, -191.998, 'the first failing gap (208 ms for 400 ms), not the largest')
  t.equal(noTlp.toleranceMs, 60)

  const count = checkGaps(RETRANS, [200, 200], { floorMs: 60, percent: 15 }, 'packets')
  t.equal(count.pass, false)
  t.equal(count.measured, '6 packets (expected 3); gaps 207.9ms, 208ms, 440ms, 832ms, 1.664s')
})

t.test('a failing timing result reports the delta and the tolerance of the same item', async (t) => {
  // The reporter prints "[Δ deltaMs, tolerance ±toleranceMs]" next to a failure; a
  // delta inside the printed tolerance contradicts the verdict.
  // Item #4 fails (+23.993 vs ±23.992) while #5 has the largest tolerance (±47.98).
  const times = checkTimes(SYNS, AT, STARTED, { floorMs: 11, percent: 2.3992 }, 'SYNs')
  t.equal(times.pass, false)
  t.equal(times.deltaMs, 23.993)
  t.equal(times.toleranceMs, 23.992)
  t.ok(Math.abs(times.deltaMs ?? 0) > (times.toleranceMs ?? Infinity), `at: Δ ${times.deltaMs} vs ±${times.toleranceMs}`)
  // Gap #3 fails (+40.006 vs ±40.005) while #5 has the largest delta (+63.989 vs ±64).
  const gaps = checkGaps(RETRANS, GAPS, { floorMs: 40.005, percent: 4 }, 'packets')
  t.equal(gaps.pass, false)
  t.equal(gaps.deltaMs, 40.006)
  t.equal(gaps.toleranceMs, 40.005)
  t.ok(Math.abs(gaps.deltaMs ?? 0) > (gaps.toleranceMs ?? Infinity), `gaps: Δ ${gaps.deltaMs} vs ±${gaps.toleranceMs}`)
})
