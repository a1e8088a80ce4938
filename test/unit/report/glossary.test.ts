import t from 'tap'
import { SS_FIELDS, QUEUE_MEANINGS, STATE_MEANINGS, TIMER_MEANINGS, findFieldMeaning, findMentionedFields } from '../../../src/report/glossary.js'
import { SERIES } from '../../../src/report/sockets.js'

t.test('every field seed 001 explains has a meaning in our words', async (t) => {
  const needed = [
    'skmem.r', 'skmem.rb', 'skmem.t', 'skmem.tb', 'skmem.f', 'skmem.w', 'skmem.o', 'skmem.bl', 'skmem.d',
    'rto', 'rtt', 'ato', 'mss', 'pmtu', 'rcvmss', 'advmss', 'cwnd', 'ssthresh',
    'bytes_sent', 'bytes_retrans', 'bytes_acked', 'bytes_received', 'segs_out', 'segs_in', 'data_segs_out', 'data_segs_in',
    'retrans', 'retrans_now', 'retrans_total', 'app_limited', 'rcv_space', 'rcv_ssthresh', 'recvQ', 'sendQ', 'ts', 'sack', 'wscale',
    'lastsnd', 'lastrcv', 'lastack', 'pacing_rate_bps', 'delivery_rate_bps', 'send_bps', 'minrtt', 'timer',
  ]
  for (const k of needed) t.ok((findFieldMeaning(k)?.meaning.length ?? 0) > 20, k)
  for (const name of ['on', 'keepalive', 'timewait', 'persist']) t.ok(TIMER_MEANINGS[name], `timer ${name}`)
  for (const st of ['LISTEN', 'SYN-SENT', 'SYN-RECV', 'ESTAB', 'FIN-WAIT-1', 'FIN-WAIT-2', 'CLOSE-WAIT', 'LAST-ACK', 'CLOSING', 'TIME-WAIT']) t.ok(STATE_MEANINGS[st], st)
  t.match(QUEUE_MEANINGS.listen.recvQ, /accept/)
  t.match(QUEUE_MEANINGS.other.sendQ, /not acknowledged/)
})

t.test('every charted series has a tooltip', async (t) => {
  for (const s of SERIES) t.ok(SS_FIELDS[s.field], s.key)
})

t.test('lookup by record name or by the name ss prints', async (t) => {
  t.equal(findFieldMeaning('Recv-Q')?.key, 'recvQ')
  t.equal(findFieldMeaning('skmem rb')?.key, 'skmem.rb')
  t.equal(findFieldMeaning('skmem_d')?.key, 'skmem.d')
  t.equal(findFieldMeaning('no-such-field'), undefined)
  t.same(findMentionedFields(['{"match":{"sendQ":6,"timer.retrans":">=3","skmem.r":">0"}}']), ['sendQ', 'timer.retrans', 'skmem.r'])
  t.same(findMentionedFields(['nothing to see']), [])
})
