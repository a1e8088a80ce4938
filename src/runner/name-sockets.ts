// Give ss rows and packets the names the scenario gave their sockets: the
// agent reports each socket's local and peer port when it listens, connects
// or accepts, and every ss sample or packet with that 4-tuple on that host
// gets the name.

import type { TimelineRecord } from '../recorder/records.js'

interface Named {
  /** When the name was given: a later socket may reuse the same ports. */
  t: number
  host: string
  name: string
  lport: number
  rport?: number | undefined
}

/** Return the records with `socket` set on ss and pkt records that belong to named sockets. */
export function nameSockets(records: TimelineRecord[]): TimelineRecord[] {
  const named: Named[] = []
  for (const r of records) {
    if (r.kind !== 'event') continue
    const lport = Number(r.data?.lport)
    if (!Number.isFinite(lport) || lport <= 0) continue
    if (r.type === 'listening') named.push({ t: r.t, host: r.host, name: r.source, lport })
    else if (r.type === 'connected' || r.type === 'accepted' || r.type === 'connecting') {
      named.push({ t: r.t, host: r.host, name: r.source, lport, rport: Number(r.data?.rport) || undefined })
    }
  }
  if (named.length === 0) return records
  // The socket named latest at or before t; records from before any naming
  // (the handshake precedes `connected`) go to the earliest.
  const find = (host: string, lport: number, rport: number, t: number): string | undefined => {
    const cands = named.filter((n) => n.host === host && n.lport === lport && (n.rport === undefined ? rport === 0 : n.rport === rport))
    let best: Named | undefined
    for (const n of cands) if (n.t <= t && (best === undefined || n.t >= best.t)) best = n
    return (best ?? cands.reduce<Named | undefined>((a, n) => (a === undefined || n.t < a.t ? n : a), undefined))?.name
  }
  return records.map((r) => {
    if (r.kind === 'ss' && r.socket === undefined) {
      const name = find(r.host, r.localPort, r.peerPort, r.t)
      return name ? { ...r, socket: name } : r
    }
    if (r.kind === 'pkt' && r.socket === undefined) {
      const name = find(r.host, r.sport, r.dport, r.t) ?? find(r.host, r.dport, r.sport, r.t)
      return name ? { ...r, socket: name } : r
    }
    return r
  })
}
