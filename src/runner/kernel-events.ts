// Kernel tracepoint events (vm backend: sock:inet_sock_set_state and
// tcp:tcp_retransmit_skb in the guest) as timeline records. They are `event`
// records with source "tracepoint", so nothing that reads agent events mistakes
// them for a socket's; the host is the one whose address is the socket's local one.

import type { KernelEvent } from '../lab/index.js'
import type { EventRecord } from '../recorder/records.js'
import { secondsSince } from '../recorder/records.js'

/** Records for the events whose local address is a lab host's (`hostAddrs`: host -> its addresses). */
export function kernelEventRecords(events: readonly KernelEvent[], hostAddrs: ReadonlyMap<string, readonly string[]>, t0Us: number): EventRecord[] {
  const hostOf = new Map<string, string>()
  for (const [h, addrs] of hostAddrs) for (const a of addrs) hostOf.set(a, h)
  const out: EventRecord[] = []
  for (const e of events) {
    const host = hostOf.get(e.saddr)
    if (host === undefined) continue
    const data = { local: `${e.saddr}:${e.sport}`, peer: `${e.daddr}:${e.dport}`, clock: 'kernel (ftrace mono, converted to the host clock)' }
    if (e.event === 'inet_sock_set_state') {
      out.push({ kind: 'event', t: secondsSince(t0Us, e.tUs), host, source: 'tracepoint', type: 'tcp-state', text: `${e.oldstate ?? '?'} -> ${e.newstate ?? '?'}`, data: { ...data, from: e.oldstate, to: e.newstate } })
    } else {
      out.push({ kind: 'event', t: secondsSince(t0Us, e.tUs), host, source: 'tracepoint', type: 'tcp-retransmit', text: `retransmit in ${e.state ?? '?'}`, data: { ...data, state: e.state } })
    }
  }
  return out
}
