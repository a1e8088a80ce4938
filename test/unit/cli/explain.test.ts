import t from 'tap'
import { loadScenario } from '../../../src/scenario/loader.js'
import { explainScenario, explainFields } from '../../../src/cli/explain.js'

t.test('explain: story, timeline, what to watch, and the meaning of the ss fields involved', async (t) => {
  const text = explainScenario(await loadScenario('scenarios/seed/accept-queue.yaml'))
  t.match(text, /^seed-accept-queue: /)
  t.match(text, /\ntimeline:\n +0\. at 0s /)
  t.match(text, /\nwhat to watch \(expectations\):\n/)
  t.match(text, /\nwhat the ss fields mean:\n/)
  t.match(text, /Recv-Q: on a LISTEN socket, accept queue: connections that completed the handshake/)
  t.match(text, /state LISTEN: waiting for connections/)
  t.notMatch(text, /socket=\{local: 8s/, 'ports are not durations')
})

t.test('explain names sysctls a scenario pins, optional ones marked', async (t) => {
  const text = explainScenario(await loadScenario('scenarios/seed/syn-drop-timeout.yaml'))
  t.match(text, /net\.ipv4\.tcp_syn_retries=2 net\.ipv4\.tcp_syn_linear_timeouts=2 \(if the kernel has it\)/)
  t.match(text, /timer on: the retransmission timer/)
})

t.test('fields come from what is checked, not from the prose', async (t) => {
  t.same(explainFields(['{"description":"exponential backoff"}'.replace(/"description":"[^"]*"/, '')]), [])
  t.match(explainFields(['{"match":{"cwnd":">1"}}']).join('\n'), /cwnd \(segments\): congestion window/)
})
