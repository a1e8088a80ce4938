// A timing failure that a late step accounts for says so in its reason (runner/busy-machine.ts).
import t from 'tap'
import { annotateLateSteps, lateStepAccountsFor } from '../../../src/runner/busy-machine.js'
import type { ExpectationResult } from '../../../src/expect/verdict.js'
import type { ActionRecord, EventRecord } from '../../../src/recorder/records.js'

const result = (over: Partial<ExpectationResult>): ExpectationResult =>
  ({ index: 0, kind: 'process', status: 'fail', description: 'd', expected: 'e', measured: 'm', deltaMs: 300, toleranceMs: 100, t: 3.0, ...over })
const step = (over: Partial<ActionRecord>): ActionRecord =>
  ({ kind: 'action', t: 2.0, step: 2, host: 'server', action: 'iptables', detail: 'iptables -A INPUT -j DROP', scheduledT: 2.0, lateMs: 0.1, ...over })

t.test('a step late by at least the excess, due by the expected moment and played before the failure, accounts for it', async (t) => {
  // 300 ms late with 100 ms of tolerance at 3.0 s: expected at 2.7 s, 200 ms to account for.
  const late = step({ scheduledT: 2.5, t: 2.75, lateMs: 250 })
  t.equal(lateStepAccountsFor(result({}), [step({}), late]), late)
  t.equal(lateStepAccountsFor(result({}), [step({ scheduledT: 2.5, t: 2.65, lateMs: 150 })]), undefined, 'late by less than the excess')
  t.equal(lateStepAccountsFor(result({}), [step({ scheduledT: 2.8, t: 3.0, lateMs: 200 })]), undefined, 'due after the moment the failure expected')
  t.equal(lateStepAccountsFor(result({}), [step({ scheduledT: 2.6, t: 3.2, lateMs: 600 })]), undefined, 'played after the failure: it held nothing back')
  t.equal(lateStepAccountsFor(result({ deltaMs: -300 }), [late]), undefined, 'an early failure is not a late step\'s doing')
  t.equal(lateStepAccountsFor(result({ deltaMs: 80 }), [late]), undefined, 'within its tolerance it failed for another reason')
  t.equal(lateStepAccountsFor(result({ status: 'pass' }), [late]), undefined, 'a pass')
  t.equal(lateStepAccountsFor(result({ deltaMs: undefined }), [late]), undefined, 'not a timing claim')
  t.equal(lateStepAccountsFor(result({ t: undefined }), [late]), undefined, 'no moment to place it against')
  t.equal(lateStepAccountsFor(result({}), [step({ scheduledT: undefined, lateMs: undefined, t: 2.75 })]), undefined, 'a step without a due time')
  const later = step({ step: 3, scheduledT: 2.6, t: 2.95, lateMs: 350 })
  t.equal(lateStepAccountsFor(result({}), [late, later]), later, 'of several, the one most late')
})

t.test('the note names the step, when it was due and when it ran; the status stays fail', async (t) => {
  const ev: EventRecord = { kind: 'event', t: 1, host: 'client', type: 'exited', name: 'cli', detail: '' } as unknown as EventRecord
  const records = [ev, step({}), step({ step: 4, host: 'client', action: 'connect', scheduledT: 2.5, t: 2.75, lateMs: 250 })]
  const rs = [result({}), result({ status: 'pass' }), result({ reason: 'x', deltaMs: 260 })]
  t.equal(annotateLateSteps(rs, records), 2)
  t.match(rs[0]?.reason, /^machine too busy: step #4 \(connect on client\) was due at 2\.500s and ran at 2\.750s, 250ms late, more than this missed by beyond its 100ms tolerance$/)
  t.equal(rs[0]?.status, 'fail')
  t.equal(rs[1]?.reason, undefined, 'a pass is left alone')
  t.match(rs[2]?.reason, /^x; machine too busy: step #4/, 'appended to a reason already there')
  t.equal(annotateLateSteps([result({})], [ev, step({})]), 0, 'steps on time: no note')
})

t.test("a late step on a host whose agent did not get the priority asked for says so", async (t) => {
  const records = [step({ step: 4, host: 'client', action: 'connect', scheduledT: 2.5, t: 2.75, lateMs: 250 })]
  const demoted = { asked: 'fifo' as const, hosts: { client: 'normal' as const, server: 'fifo' as const }, refused: 'Operation not permitted' }
  const rs = [result({})]
  annotateLateSteps(rs, records, demoted)
  t.match(rs[0]?.reason, /250ms late \(the agent on client ran at the normal priority: --agent-priority=fifo was refused \(Operation not permitted\)\), more than this missed by beyond its 100ms tolerance$/)
  const onServer = [result({})]
  annotateLateSteps(onServer, [step({ step: 4, host: 'server', scheduledT: 2.5, t: 2.75, lateMs: 250 })], demoted)
  t.notMatch(onServer[0]?.reason, /priority/, "the late step's own host had its priority: no word about it")
})
