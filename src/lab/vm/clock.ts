// The guest's CLOCK_REALTIME against the host's. Every record of a vm run is
// stamped in the guest (agents, pcaps, tracepoints) while the runner picks t0 on
// the host, so at boot the guest's clock is set from the host's, and before each
// lab the offset is measured again (NTP style: the reading with the shortest
// round trip, guest time minus the midpoint of send and receive) and written to
// env.json. A guest that has drifted more than RESYNC_US is set again.

import type { GuestTime, Mux } from './mux.js'

/** Re-set the guest's clock when it is off by more than this. */
export const RESYNC_US = 200
/** Round trips per measurement (the shortest wins: on a loaded machine most wait for a vCPU). */
const SAMPLES = 12

export interface ClockOffset {
  /** Guest CLOCK_REALTIME minus host CLOCK_REALTIME, µs (positive: the guest is ahead). */
  offsetUs: number
  /** Round trip of the reading used; the offset is known to within half of it. */
  rttUs: number
  /** Guest CLOCK_REALTIME minus CLOCK_MONOTONIC, ns (turns tracepoint times, on the mono trace clock, into realtime). */
  realtimeMinusMonotonicNs: bigint
  measuredAt: string
}

let wallOffsetUs: number | undefined

/**
 * The host's CLOCK_REALTIME in µs with µs resolution. Date.now() has ms resolution, so the offset
 * of performance.now() to the wall clock is taken at the instant Date.now() ticks (a spin of < 1 ms,
 * once, then again whenever the two drift apart by more than 1 ms).
 */
export function hostRealtimeUs(): number {
  const mono = performance.now()
  if (wallOffsetUs === undefined || Math.abs(Date.now() * 1000 - (wallOffsetUs + mono * 1000)) > 1500) wallOffsetUs = calibrateWall()
  return Math.round(wallOffsetUs + performance.now() * 1000)
}

function calibrateWall(): number {
  let best: number | undefined
  for (let k = 0; k < 3; k++) {
    const start = Date.now()
    let now = start
    let before = performance.now()
    while (now === start) {
      before = performance.now()
      now = Date.now()
    }
    const after = performance.now()
    // The tick happened between `before` and `after`: the wall clock read `now` ms there.
    const est = now * 1000 - ((before + after) / 2) * 1000
    best = best === undefined ? est : Math.max(best, est)
  }
  return best as number
}

/** Offset from one reading (guest time minus the midpoint of the round trip). */
export function offsetOf(t: GuestTime): { offsetUs: number; rttUs: number } {
  const guestUs = Number(t.realtimeNs / 1000n)
  return { offsetUs: guestUs - (t.sentUs + t.receivedUs) / 2, rttUs: t.receivedUs - t.sentUs }
}

/** Measure the guest's clock offset (SAMPLES round trips; the shortest wins). */
export async function measureOffset(mux: Mux): Promise<ClockOffset> {
  let best: { offsetUs: number; rttUs: number; t: GuestTime } | undefined
  for (let i = 0; i < SAMPLES; i++) {
    const t = await mux.readTime()
    const o = offsetOf(t)
    if (!best || o.rttUs < best.rttUs) best = { ...o, t }
  }
  const b = best as { offsetUs: number; rttUs: number; t: GuestTime }
  return {
    offsetUs: Math.round(b.offsetUs),
    rttUs: Math.round(b.rttUs),
    realtimeMinusMonotonicNs: b.t.realtimeNs - b.t.monotonicNs,
    measuredAt: new Date().toISOString(),
  }
}

/** Set the guest's clock from the host's and measure what is left (twice if the first pass is off). */
export async function syncClock(mux: Mux): Promise<ClockOffset> {
  let off = await measureOffset(mux)
  for (let pass = 0; pass < 3 && Math.abs(off.offsetUs) > RESYNC_US; pass++) {
    // A relative step by the measured offset: how long the frame takes to reach a running vCPU
    // does not matter (an absolute time would be late by exactly that).
    await mux.stepTime(-BigInt(off.offsetUs) * 1000n)
    off = await measureOffset(mux)
  }
  return off
}
