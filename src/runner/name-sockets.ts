// Give ss rows and packets the names the scenario gave their sockets.
//
// The rule (README "Socket names"): a name belongs to a 4-tuple on its host
// from the moment the socket can be on the wire until the tuple is reused by a
// later name. The moment is
//   - for a connect: right before connect() was issued (the agent's
//     `connecting` event carries issuedUs, lifted to issuedT on the timeline,
//     and the full 4-tuple, blocking or not), so SYN-SENT rows and SYNs of a connect that never completes are
//     named;
//   - for an accepted socket: the SYN that created it (the last pure SYN of its
//     tuple before `accepted`), so SYN-RECV rows and the handshake are named;
//   - for a listener: `listening`;
//   - for a `sockets:` naming (nc and other commands): the first ss row that
//     matches its selector, extended back to the tuple's SYN.
// Orphans keep the name after close (FIN-WAIT-1/2, LAST-ACK, CLOSING,
// TIME-WAIT) because only a later naming of the same tuple ends it. A
// connection that arrived at a named listener and was never accepted gets no
// name of its own; its rows and packets carry `listener: NAME` instead.

import type { WatchCommand, WatchEndpoint } from '../agent/protocol.js'
import { matchesEndpoint, resolveEndpoint, splitHostPort, WILDCARD_ADDRS, type EvalContext } from '../expect/context.js'
import type { PktRecord, SsRecord, TimelineRecord } from '../recorder/records.js'
import type { Scenario } from '../scenario/schema.js'

interface Binding {
  /** When the name starts to hold for the tuple (seconds since t0). */
  startT: number
  host: string
  name: string
  lport: number
  /** undefined: a listener (its rows have peer port 0). */
  rport?: number | undefined
  /** The start is exact (a connect's issue time): never moved back to a SYN. */
  exact?: boolean | undefined
}

export interface NameSocketsOptions {
  /** The scenario's `sockets:` namings of command endpoints. */
  declared?: Scenario['sockets'] | undefined
  /** Host name -> its lab addresses (to resolve "server:8000" in declared selectors). */
  hosts?: ReadonlyMap<string, readonly string[]> | undefined
}

/** Where and what each named socket is: the names the scenario's sockets got, by host. */
export type SocketNames = ReadonlyMap<string, { host: string; listener: boolean }>

const tupleKey = (host: string, lport: number, rport: number | undefined): string => `${host} ${lport} ${rport ?? 0}`

/** Return the records with `socket` (or `listener`) set on ss and pkt records of named sockets. */
export function nameSockets(records: TimelineRecord[], opts: NameSocketsOptions = {}): TimelineRecord[] {
  const bindings = agentBindings(records)
  bindings.push(...declaredBindings(records, opts))
  if (bindings.length === 0) return records
  extendToSyn(bindings, records)
  const byTuple = new Map<string, Binding[]>()
  for (const b of bindings) {
    const k = tupleKey(b.host, b.lport, b.rport)
    const list = byTuple.get(k) ?? []
    list.push(b)
    byTuple.set(k, list)
  }
  for (const list of byTuple.values()) list.sort((a, b) => a.startT - b.startT)
  // The binding in force at t: the latest started at or before t; a record from
  // before every binding of its tuple goes to the earliest.
  const find = (host: string, lport: number, rport: number, t: number): Binding | undefined => {
    const list = byTuple.get(tupleKey(host, lport, rport === 0 ? undefined : rport))
    if (!list) return undefined
    let best: Binding | undefined
    for (const b of list) if (b.startT <= t) best = b
    return best ?? list[0]
  }
  const listenerOf = (host: string, lport: number, t: number): string | undefined => {
    const list = byTuple.get(tupleKey(host, lport, undefined))
    if (!list) return undefined
    let best: Binding | undefined
    for (const b of list) if (b.startT <= t + 1e-6) best = b
    return best?.name
  }
  return records.map((r) => {
    if (r.kind === 'ss' && r.socket === undefined) {
      const b = find(r.host, r.localPort, r.peerPort, r.t)
      if (b) return { ...r, socket: b.name }
      const l = r.peerPort !== 0 ? listenerOf(r.host, r.localPort, r.t) : undefined
      return l ? { ...r, listener: l } : r
    }
    if (r.kind === 'pkt' && r.socket === undefined) {
      const { lport, rport } = localPorts(r)
      const b = find(r.host, lport, rport, r.t) ?? (r.dir === 'unknown' ? find(r.host, rport, lport, r.t) : undefined)
      if (b) return { ...r, socket: b.name }
      const l = listenerOf(r.host, lport, r.t) ?? (r.dir === 'unknown' ? listenerOf(r.host, rport, r.t) : undefined)
      return l ? { ...r, listener: l } : r
    }
    return r
  })
}

/** The names the run's sockets got: from the agent's events and the scenario's `sockets:` namings. */
export function socketNames(records: readonly TimelineRecord[], declared?: Scenario['sockets']): SocketNames {
  const names = new Map<string, { host: string; listener: boolean }>()
  for (const r of records) {
    if (r.kind !== 'event' || names.has(r.source)) continue
    if (r.type === 'listening') names.set(r.source, { host: r.host, listener: true })
    else if (r.type === 'connecting' || r.type === 'connected' || r.type === 'accepted') names.set(r.source, { host: r.host, listener: false })
  }
  for (const [name, sel] of Object.entries(declared ?? {})) if (!names.has(name)) names.set(name, { host: sel.on, listener: sel.state === 'LISTEN' })
  return names
}

/** Ports of a packet seen from its host: local first. */
function localPorts(p: PktRecord): { lport: number; rport: number } {
  return p.dir === 'in' ? { lport: p.dport, rport: p.sport } : { lport: p.sport, rport: p.dport }
}

function agentBindings(records: readonly TimelineRecord[]): Binding[] {
  const out: Binding[] = []
  const seen = new Set<string>()
  for (const r of records) {
    if (r.kind !== 'event') continue
    const lport = Number(r.data?.lport)
    if (!Number.isFinite(lport) || lport <= 0) continue
    const rport = Number(r.data?.rport) || undefined
    let startT = r.t
    if (r.type === 'listening') {
      out.push({ startT, host: r.host, name: r.source, lport })
      continue
    }
    if (r.type !== 'connected' && r.type !== 'accepted' && r.type !== 'connecting') continue
    if (rport === undefined) continue
    // connecting then connected name the same socket: one binding, from the earlier.
    const key = `${r.source} ${tupleKey(r.host, lport, rport)}`
    if (seen.has(key)) continue
    seen.add(key)
    const issuedT = Number(r.data?.issuedT)
    const exact = r.type === 'connecting' && r.data?.issuedT !== undefined && Number.isFinite(issuedT)
    if (exact) startT = Math.min(startT, issuedT)
    out.push({ startT, host: r.host, name: r.source, lport, rport, exact })
  }
  return out
}

interface DeclaredSelector {
  name: string
  on: string
  local?: ReturnType<typeof resolveEndpoint> | undefined
  peer?: ReturnType<typeof resolveEndpoint> | undefined
  states?: string[] | undefined
}

function declaredSelectors(declared: Scenario['sockets'], hosts: ReadonlyMap<string, readonly string[]> | undefined): DeclaredSelector[] {
  const ctx = { hosts: hosts ?? new Map() } as unknown as EvalContext
  return Object.entries(declared ?? {}).map(([name, sel]) => ({
    name,
    on: sel.on,
    local: sel.local !== undefined ? resolveEndpoint(sel.local, ctx) : undefined,
    peer: sel.peer !== undefined ? resolveEndpoint(sel.peer, ctx) : undefined,
    states: sel.state === undefined ? undefined : Array.isArray(sel.state) ? sel.state : [sel.state],
  }))
}

/**
 * The `watch` commands for the `sockets:` names on one host: its agent matches
 * its own samples and writes NAME `seen` itself (agent/sockdiag.c), with the
 * same rules as rowMatches.
 */
export function declaredWatches(declared: Scenario['sockets'], hosts: ReadonlyMap<string, readonly string[]>, on: string): WatchCommand[] {
  const ep = (e: DeclaredSelector['local']): WatchEndpoint | undefined =>
    e === undefined ? undefined : { ...(e.addrs ? { addrs: [...e.addrs] } : {}), ...(e.port !== undefined ? { port: e.port } : {}) }
  return declaredSelectors(declared, hosts).filter((s) => s.on === on).map((s) => ({
    op: 'watch' as const,
    name: s.name,
    ...(s.states ? { states: s.states } : {}),
    ...(s.local ? { local: ep(s.local) } : {}),
    ...(s.peer ? { peer: ep(s.peer) } : {}),
  }))
}

/**
 * Watch ss rows as they are recorded and report, once per `sockets:` name, the
 * first row that matches it: the event NAME.seen, which a step can wait for
 * (`after: srv.seen`: a program's socket exists, however long it took to start).
 */
export function watchDeclaredSockets(
  declared: Scenario['sockets'],
  hosts: ReadonlyMap<string, readonly string[]>,
  onSeen: (name: string, row: SsRecord) => void,
): (row: SsRecord) => void {
  const pending = declaredSelectors(declared, hosts)
  return (row) => {
    for (let i = pending.length - 1; i >= 0; i--) {
      const s = pending[i] as DeclaredSelector
      if (s.on !== row.host || !rowMatches(row, s)) continue
      pending.splice(i, 1)
      onSeen(s.name, row)
    }
  }
}

/** `sockets:` namings: each tuple whose ss row matches the selector gets the name from that row on. */
function declaredBindings(records: readonly TimelineRecord[], opts: NameSocketsOptions): Binding[] {
  const out: Binding[] = []
  const sels = declaredSelectors(opts.declared, opts.hosts)
  if (sels.length === 0) return out
  const done = new Set<string>()
  for (const r of records) {
    if (r.kind !== 'ss') continue
    for (const s of sels) {
      if (s.on !== r.host || !rowMatches(r, s)) continue
      const rport = r.peerPort === 0 ? undefined : r.peerPort
      const key = `${s.name} ${tupleKey(r.host, r.localPort, rport)}`
      if (done.has(key)) continue
      done.add(key)
      out.push({ startT: r.t, host: r.host, name: s.name, lport: r.localPort, rport })
    }
  }
  return out
}

function rowMatches(r: SsRecord, s: Omit<DeclaredSelector, 'name' | 'on'>): boolean {
  if (s.states && !s.states.includes(r.state)) return false
  if (s.local) {
    const { addr, port } = splitHostPort(r.local)
    if (!matchesEndpoint(addr, port, s.local) && !(s.local.addrs && WILDCARD_ADDRS.has(addr) && matchesEndpoint(addr, port, { port: s.local.port }))) return false
  }
  if (s.peer) {
    const { addr, port } = splitHostPort(r.peer)
    if (!matchesEndpoint(addr, port, s.peer)) return false
  }
  return true
}

/**
 * A connection's tuple exists from its SYN: a binding made later (accepted,
 * a `sockets:` row, a `connected` without `connecting`) starts at the last
 * pure SYN of its tuple on its host before it that is not the previous
 * binding's own.
 */
function extendToSyn(bindings: Binding[], records: readonly TimelineRecord[]): void {
  const syns = new Map<string, number[]>()
  for (const r of records) {
    if (r.kind !== 'pkt' || r.flags !== 'S') continue
    const { lport, rport } = localPorts(r)
    const k = tupleKey(r.host, lport, rport)
    const list = syns.get(k) ?? []
    list.push(r.t)
    syns.set(k, list)
  }
  const byTuple = new Map<string, Binding[]>()
  for (const b of bindings) {
    if (b.rport === undefined) continue
    const k = tupleKey(b.host, b.lport, b.rport)
    byTuple.set(k, [...(byTuple.get(k) ?? []), b])
  }
  for (const [k, list] of byTuple) {
    const ts = syns.get(k)
    if (!ts) continue
    list.sort((a, b) => a.startT - b.startT)
    // A SYN belongs to the binding in force when it was sent; a later binding
    // may only take SYNs after the previous binding's own first SYN.
    let floor = -Infinity
    for (const b of list) {
      if (!b.exact) {
        let syn: number | undefined
        for (const t of ts) if (t <= b.startT && t > floor) syn = t
        if (syn !== undefined) b.startT = syn
      }
      floor = Math.max(floor, ts.find((t) => t >= b.startT) ?? b.startT)
    }
  }
}
