import t from 'tap'
import path from 'node:path'
import { readScenarioResult } from '../../../src/report/results.js'
import { buildFlights, collectRuleSpans, learnAddressOwners, labelOf } from '../../../src/report/packets.js'
import { parseIptablesRule, hasFlags } from '../../../src/report/iptables-rule.js'
import type { PktRecord } from '../../../src/recorder/records.js'
import { RUN_A, RUN_LINEAR0 } from './runs.js'

const syn = readScenarioResult(path.join(RUN_A, 'seed-syn-drop-timeout'))
const sendq = readScenarioResult(path.join(RUN_A, 'seed-sendq-ack-drop'))

t.test('SYNs dropped by the server INPUT rule: arrived at the capture, then dropped, by drop-syn', async (t) => {
  const rules = collectRuleSpans(syn.records)
  t.equal(rules.length, 1)
  t.match(rules[0], { host: 'server', name: 'drop-syn', packets: 5, rule: { chain: 'INPUT', isDrop: true } })
  t.equal(rules[0]?.text, 'iptables -A INPUT -p tcp --dport 8000 --syn -j DROP', 'shown without the tcplab comment')
  const flights = buildFlights(syn.records, rules, ['client', 'server'])
  const syns = flights.filter((f) => f.pkt.flags === 'S')
  t.equal(syns.length, 5)
  t.same(syns.map((f) => [f.from, f.to, f.fate, f.rule]), Array(5).fill(['client', 'server', 'dropped', 'drop-syn']))
  t.same(syns.map((f) => f.attempt), [1, 2, 3, 4, 5])
  t.same(syns.map((f) => f.retransmission), [false, true, true, true, true])
  t.equal(rules[0]?.matched, 5, 'the rule dropped every SYN the capture saw, as its counter says')
  t.equal(syns[0]?.label, 'S 0 win 64240')
  t.match(syns[1]?.detail ?? '', /DROPPED by rule drop-syn on server/)
  t.equal(flights.filter((f) => f.fate === 'lost').length, 0)
})

t.test('Send-Q scenario: retransmitted data delivered; the dropped ACKs never reach a capture (OUTPUT rule)', async (t) => {
  const rules = collectRuleSpans(sendq.records)
  t.match(rules[0], { host: 'client', name: 'drop-acks', rule: { chain: 'OUTPUT' } })
  t.ok(rules[0]?.tEnd !== undefined, 'the rule was deleted at its step')
  t.ok((rules[0]?.packets ?? 0) >= 4)
  const flights = buildFlights(sendq.records, rules, ['client', 'server'])
  t.equal(rules[0]?.matched, 0, 'an OUTPUT drop is before the capture: no captured packet is attributed to it')
  const data = flights.filter((f) => f.pkt.len === 6)
  t.ok(data.length >= 5)
  t.ok(data.every((f) => f.from === 'server' && f.to === 'client' && f.fate === 'delivered'))
  t.same(data.map((f) => f.attempt), data.map((_, i) => i + 1))
  t.equal(data[0]?.label, 'P. 1:7 ack 1 win 64 len 6', 'relative sequence numbers, tcpdump style')
  const handshake = flights.slice(0, 3).map((f) => f.label.split(' ')[0])
  t.same(handshake, ['S', 'S.', '.'])
})

t.test('a packet seen leaving and never arriving is lost; one seen only arriving is marked so', async (t) => {
  const base = syn.records.filter((r): r is PktRecord => r.kind === 'pkt')
  // Remove the server's copy of the second SYN: it left the client and never arrived.
  const second = base.filter((p) => p.host === 'server' && p.flags === 'S')[1] as PktRecord
  const firstOut = base.find((p) => p.host === 'client' && p.flags === 'S') as PktRecord
  const records = syn.records.filter((r) => r !== second && r !== firstOut)
  const flights = buildFlights(records, collectRuleSpans(records), ['client', 'server'])
  const fates = flights.filter((f) => f.pkt.flags === 'S').map((f) => f.fate)
  // The one seen only arriving was still dropped by the server's INPUT rule after the capture saw it.
  t.same(fates.sort(), ['dropped', 'dropped', 'dropped', 'dropped', 'lost'])
  const lost = flights.find((f) => f.fate === 'lost')
  t.equal(lost?.to, 'server', 'lost on the way to the address owner')
  const onlyIn = flights.find((f) => f.pkt.flags === 'S' && f.tSend === undefined)
  t.match(onlyIn, { from: 'client', to: 'server', fate: 'dropped', rule: 'drop-syn' }, 'seen only arriving, drawn from the sender lane')
  // Without the rule it is just a packet seen only arriving.
  const noRules = buildFlights(records, [], ['client', 'server'])
  t.equal(noRules.find((f) => f.pkt.flags === 'S' && f.tSend === undefined)?.fate, 'arrived')
})

t.test('address owners are learned from captures', async (t) => {
  const pkts = syn.records.filter((r): r is PktRecord => r.kind === 'pkt')
  const owners = learnAddressOwners(pkts)
  const client = pkts.find((p) => p.host === 'client' && p.dir === 'out')?.src as string
  t.equal(owners.get(client), 'client')
  t.equal(owners.get(pkts[0]?.dst as string), 'server')
})

t.test('iptables rules: what matches, what does not, what cannot be known', async (t) => {
  const pkt = (flags: string, over: Partial<PktRecord> = {}): PktRecord => ({
    kind: 'pkt', t: 0, host: 'h', dir: 'in', family: 4, src: '198.18.0.1', sport: 40000, dst: '198.18.0.2', dport: 8000, flags, seq: 1, ack: 0, win: 1, len: 0, ...over,
  })
  const r = parseIptablesRule('iptables -A INPUT -p tcp --dport 8000 --syn -j DROP -m comment --comment tcplab:x')
  t.equal(r?.match(pkt('S')), 'yes')
  t.equal(r?.match(pkt('S.')), 'no', '--syn is SYN without ACK')
  t.equal(r?.match(pkt('S', { dport: 8001 })), 'no')
  t.equal(r?.match(pkt('S', { family: 6 })), 'no', 'iptables does not see IPv6')
  const acks = parseIptablesRule('iptables -I OUTPUT 1 -p tcp --tcp-flags ALL ACK -s 198.18.0.0/24 -j DROP')
  t.equal(acks?.chain, 'OUTPUT')
  t.equal(acks?.match(pkt('.')), 'yes')
  t.equal(acks?.match(pkt('P.')), 'no', 'ALL ACK: only ACK set')
  t.equal(acks?.match(pkt('.', { src: '198.19.0.1' })), 'no')
  const neg = parseIptablesRule('iptables -A INPUT -p tcp ! --dport 22 -j REJECT --reject-with tcp-reset')
  t.equal(neg?.isDrop, true)
  t.equal(neg?.match(pkt('S')), 'yes')
  t.equal(neg?.match(pkt('S', { dport: 22 })), 'no')
  const stat = parseIptablesRule('iptables -A INPUT -p tcp -m statistic --mode nth --every 3 --packet 0 -j DROP')
  t.equal(stat?.match(pkt('S')), 'maybe', 'statistic: cannot know which packet')
  t.equal(parseIptablesRule('iptables -A INPUT -j LOG')?.isDrop, false)
  t.equal(parseIptablesRule('tc qdisc add dev eth0 root netem loss 100%'), undefined)
  t.equal(parseIptablesRule('ip6tables -t raw -A PREROUTING -p tcp --sport 1:1024 -j DROP')?.match(pkt('S', { family: 6, src: '::1', dst: '::2', sport: 80 })), 'yes')
  t.ok(hasFlags('FP.', ['FIN', 'ACK'], ['FIN', 'ACK']))
  t.notOk(hasFlags('F.', ['SYN', 'RST', 'ACK', 'FIN'], ['SYN']))
})

t.test('labels read like tcpdump with relative numbers', async (t) => {
  const p: PktRecord = { kind: 'pkt', t: 0, host: 'h', dir: 'out', family: 4, src: 'a', sport: 1, dst: 'b', dport: 2, flags: 'FP.', seq: 0, ack: 0, win: 502, len: 10 }
  t.equal(labelOf(p, 1, 7), 'FP. 1:11 ack 7 win 502 len 10')
  t.equal(labelOf({ ...p, flags: 'R', len: 0 }, 5, 0), 'R 5 win 502')
})

t.test('the run with tcp_syn_linear_timeouts=0 shows three dropped SYNs', async (t) => {
  const res = readScenarioResult(path.join(RUN_LINEAR0, 'seed-syn-drop-timeout'))
  const flights = buildFlights(res.records, collectRuleSpans(res.records), ['client', 'server'])
  t.equal(flights.filter((f) => f.pkt.flags === 'S' && f.fate === 'dropped').length, 3)
})
