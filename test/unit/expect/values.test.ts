// Values of event fields (match: SO_ERROR, tcp_info fields, bytes) and
// sum/min/max over events, on timelines recorded from real runs with the
// socket agent: syn-sent-nonblock (two getsockopt(SO_ERROR): ETIMEDOUT, then 0)
// and zero-window (getsockopt(TCP_INFO) at 5.5 s, 30528 bytes sent and read).

import t from 'tap'
import { eventField } from '../../../src/expect/values.js'
import type { EventRecord } from '../../../src/recorder/records.js'
import { loadFieldsFixture } from './fields-fixture.js'
import { contextOf, evaluate } from './timeline-fixture.js'

const nonblock = contextOf(loadFieldsFixture('syn-sent-nonblock'))
const zero = contextOf(loadFieldsFixture('zero-window'))

t.test('getsockopt results by option name: SO_ERROR', async (t) => {
  const ok = evaluate(nonblock, { event: { socket: 'cli', type: 'sockopt', match: { SO_ERROR: 0 }, count: 1 } })
  t.equal(ok.status, 'pass')
  t.equal(ok.expected, 'cli sockopt with SO_ERROR = 0, count = 1 during the whole run')
  t.equal(ok.measured, '1 at 7.462s')
  t.equal(evaluate(nonblock, { event: { socket: 'cli', type: 'sockopt', match: { SO_ERROR: 110 }, count: 1 } }).status, 'pass')

  const twice = evaluate(nonblock, { event: { socket: 'cli', type: 'sockopt', match: { SO_ERROR: 0 }, count: 2 } })
  t.equal(twice.status, 'fail')
  t.equal(twice.measured, '1 matching events at 7.462s; values seen: SO_ERROR=110@7.462s, SO_ERROR=0@7.462s; other events: connecting EINPROGRESS@0.200s, polled@7.462s, sockopt ETIMEDOUT@7.462s')
  const never = evaluate(nonblock, { event: { socket: 'cli', type: 'sockopt', match: { SO_ERROR: 111 } } })
  t.equal(never.status, 'fail')
  t.match(never.measured, /^0 matching events; values seen: SO_ERROR=110@7.462s, SO_ERROR=0@7.462s/)
})

t.test('tcp_info fields of a tcpinfo event', async (t) => {
  const ok = evaluate(zero, { event: { socket: 'cli', type: 'tcpinfo', match: { snd_wnd: 0, backoff: '>=3', ca_state: 'Open', notsent_bytes: '>25000' } } })
  t.equal(ok.status, 'pass')
  t.equal(ok.expected, 'cli tcpinfo with snd_wnd = 0, backoff >= 3, ca_state = Open, notsent_bytes > 25000 during the whole run')
  const bad = evaluate(zero, { event: { socket: 'cli', type: 'tcpinfo', match: { snd_wnd: '>0', backoff: 2 } } })
  t.equal(bad.status, 'fail')
  t.match(bad.measured, /^0 matching events; values seen: snd_wnd=0 backoff=4@5.500s/)
})

t.test('bytes of read and sent events: match and sum/min/max', async (t) => {
  const total = evaluate(zero, { event: { socket: 'srv-conn', type: 'read', sum: { n: 30528 }, max: { n: '<=65536' }, min: { n: '>0' } } })
  t.equal(total.status, 'pass')
  t.equal(total.expected, 'srv-conn read, sum n = 30528, min n > 0, max n <= 65536 during the whole run')
  t.equal(total.measured, '4 at 6.001s, 6.001s, 6.002s, 6.002s; sum n 30528 over 4 events, min n 2304 over 4 events, max n 9792 over 4 events')
  const short = evaluate(zero, { event: { socket: 'srv-conn', type: 'read', sum: { n: 30529 } } })
  t.equal(short.status, 'fail')
  t.equal(short.measured, 'sum n 30528 (-1) over 4 events')
  const small = evaluate(zero, { event: { socket: 'srv-conn', type: 'read', min: { n: '>=4096' } } })
  t.equal(small.status, 'fail', 'the last read is the 2304-byte rest')
  t.equal(small.measured, 'min n 2304 over 4 events')
  t.equal(evaluate(zero, { event: { socket: 'cli', type: 'sent', match: { n: 30528, full: true }, count: 1 } }).status, 'pass')
  const sent = evaluate(zero, { event: { socket: 'cli', type: 'sent', match: { n: '<30000' } } })
  t.equal(sent.status, 'fail')
  t.match(sent.measured, /^0 matching events; values seen: n=30528@0.500s/)
  const none = evaluate(zero, { event: { socket: 'cli', type: 'read', sum: { n: 0 }, count: 0 } })
  t.equal(none.status, 'pass', 'the sum over no events is 0')
  t.equal(evaluate(zero, { event: { socket: 'cli', type: 'read', max: { n: 0 }, count: 0 } }).status, 'fail', 'the max over no events has no value')
})

t.test('eventField reads own fields, option names, tcp_info and dotted paths', async (t) => {
  const e: EventRecord = { kind: 'event', t: 0, host: 'h', source: 's', type: 'x', n: 3, data: { opt: 'SIOCINQ', value: 7, info: { rto: 204000 }, a: { b: 2 } } }
  t.equal(eventField(e, 'n'), 3)
  t.equal(eventField(e, 'SIOCINQ'), 7)
  t.equal(eventField(e, 'rto'), 204000)
  t.equal(eventField(e, 'a.b'), 2)
  t.equal(eventField(e, 'nothing'), undefined)
})
