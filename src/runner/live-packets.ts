// Packets as the run goes, for steps that wait for a packets mark (`after: zw`
// where `zw` is set by a packets expectation). Each capture parses its stream
// as tcpdump writes it (capture.ts onPackets); this turns the chunks into pkt
// records on the run's clock and hands them to whoever listens (the LiveMarks
// of play-plan.ts or of the runner's own player). Records are stamped with t0
// once it is chosen (startClock): what comes before is held until start().
// The timeline never sees these records: the end-of-run records still come
// from the pcap files, as without them.

import type { PcapPacket } from '../recorder/pcap.js'
import { toPktRecords } from '../recorder/pcap.js'
import { nowUs, type PktRecord } from '../recorder/records.js'
import { stepMarkOf } from '../scenario/marks.js'
import type { Scenario } from '../scenario/schema.js'

/** How late packets reach the runner: capture time to arrival, µs (the bench reads it). */
export interface ArrivalStats {
  packets: number
  chunks: number
  /** Arrival - capture time of each packet, µs. */
  lagUs: number[]
}

export class LivePackets {
  private held: Array<{ host: string; pkts: PcapPacket[]; ifnames: ReadonlyMap<number, string> }> | undefined = []
  private t0Us = 0
  private readonly listeners = new Set<(recs: PktRecord[]) => void>()
  readonly arrivals: ArrivalStats = { packets: 0, chunks: 0, lagUs: [] }

  /** A capture's chunk of packets, as capture.ts delivers it. */
  push(host: string, pkts: PcapPacket[], ifnames: ReadonlyMap<number, string>): void {
    const now = nowUs()
    this.arrivals.chunks++
    this.arrivals.packets += pkts.length
    if (this.arrivals.lagUs.length < MAX_LAGS) for (const p of pkts) this.arrivals.lagUs.push(now - p.tsUs)
    if (this.held) this.held.push({ host, pkts, ifnames })
    else this.emit(host, pkts, ifnames)
  }

  /** t0 is chosen: stamp and deliver what was held, then each chunk as it comes. */
  start(t0Us: number): void {
    this.t0Us = t0Us
    const h = this.held ?? []
    this.held = undefined
    for (const c of h) this.emit(c.host, c.pkts, c.ifnames)
  }

  /** Call fn with the records of each chunk from now on. Returns the unsubscribe. */
  on(fn: (recs: PktRecord[]) => void): () => void {
    this.listeners.add(fn)
    return () => this.listeners.delete(fn)
  }

  private emit(host: string, pkts: PcapPacket[], ifnames: ReadonlyMap<number, string>): void {
    const recs = toPktRecords(pkts, { host, t0Us: this.t0Us, ifnames })
    for (const fn of this.listeners) fn(recs)
  }
}

/** Lags kept for the bench (a long run's packets are counted, not all kept). */
const MAX_LAGS = 100_000

/** The hosts whose packets set a mark some step waits for (`after:` or `wait: { for }`); empty: no live packets needed. */
export function packetMarkHosts(s: Scenario): Set<string> {
  const hosts = new Set<string>()
  const expect = s.expect as unknown as Array<Record<string, unknown>>
  for (const st of s.steps) {
    for (const ref of [st.after, typeof st.wait === 'object' ? st.wait.for : undefined]) {
      const m = ref !== undefined ? stepMarkOf(ref, expect) : undefined
      if (typeof m === 'object') for (const h of m.packetHosts) hosts.add(h)
    }
  }
  return hosts
}
