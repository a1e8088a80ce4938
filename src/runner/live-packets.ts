// Packets as the run goes, for steps that wait for a packets mark (`after: zw`
// where `zw` is set by a packets expectation). Each capture parses its stream
// as tcpdump writes it (capture.ts onPackets); this turns the chunks into pkt
// records on the run's clock and hands them to whoever listens (the LiveMarks
// of play-plan.ts or of the runner's own player). Records are stamped with t0
// once it is chosen (startClock): what comes before is held until start().
// The timeline never sees these records: the end-of-run records still come
// from the pcap files, as without them.
//
// The listeners re-evaluate marks over every packet so far, so their cost
// grows with the capture. Chunks are handed over together once per turn of the
// event loop, and after a hand-over that took d ms the next waits until 3 d
// have passed (the runner spends at most about a quarter of its time there):
// under a bulk transfer the batches grow instead of the runner falling behind.
// A mark's moment is its packet's capture time whenever it is evaluated; a
// late evaluation only makes the step fire late (its action record says how).

import type { PcapPacket } from '../recorder/pcap.js'
import { toPktRecords } from '../recorder/pcap.js'
import type { PktRecord } from '../recorder/records.js'
import { stepMarkOf } from '../scenario/marks.js'
import type { Scenario } from '../scenario/schema.js'

export class LivePackets {
  private held: Array<{ host: string; pkts: PcapPacket[]; ifnames: ReadonlyMap<number, string> }> | undefined = []
  private t0Us = 0
  /** Records waiting for the next hand-over. */
  private batch: PktRecord[] = []
  private flushScheduled = false
  /** performance.now() before which no hand-over starts. */
  private notBeforeMs = 0
  private readonly listeners = new Set<(recs: PktRecord[]) => void>()

  /** A capture's chunk of packets, as capture.ts delivers it. */
  push(host: string, pkts: PcapPacket[], ifnames: ReadonlyMap<number, string>): void {
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
    for (const r of toPktRecords(pkts, { host, t0Us: this.t0Us, ifnames })) this.batch.push(r)
    if (this.flushScheduled) return
    this.flushScheduled = true
    const waitMs = this.notBeforeMs - performance.now()
    if (waitMs > 0) setTimeout(() => this.flush(), waitMs).unref()
    else setImmediate(() => this.flush())
  }

  private flush(): void {
    this.flushScheduled = false
    const recs = this.batch
    this.batch = []
    if (recs.length === 0) return
    const started = performance.now()
    for (const fn of this.listeners) fn(recs)
    const tookMs = performance.now() - started
    this.notBeforeMs = performance.now() + BACKOFF_FACTOR * tookMs
  }
}

/** After a hand-over that took d ms, the next waits BACKOFF_FACTOR * d. */
const BACKOFF_FACTOR = 3

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
