// The portable socket sampler: run `ss -tanoiem` inside a host every intervalMs
// and turn each socket into an `ss` record on the timeline. Samples never
// overlap: when one takes longer than the interval, the ticks it overran are
// skipped (counted in `skipped`), not queued. A failed sample (the host is
// gone, ss is missing, a timeout) is counted and kept in `lastError`; it never
// rejects anything, so a sampler that outlives its host cannot crash the run.

import type { Host } from '../lab/types.js'
import { nowUs, secondsSince, type SsRecord } from './records.js'
import { parseSsOutput } from './ss-parse.js'

/**
 * ss flags: -t TCP only, -a all states (LISTEN, TIME-WAIT, SYN-RECV too), -n numeric
 * ports and raw bps rates, -o timers, -i tcp_info, -e inode/uid/sk cookie, -m skmem. See ss(8).
 */
export const SS_SAMPLE_ARGV = ['ss', '-tanoiem'] as const

export interface SsSamplerOptions {
  /** Time between the starts of two samples. */
  intervalMs: number
  /** The scenario's t0 (µs since the epoch, CLOCK_REALTIME): records carry t = seconds since it. */
  t0Us: number
  /** Called once per successful sample with its sockets (an empty array when there were none). */
  onRecords(recs: SsRecord[]): void
  /** An ss filter expression appended to the command (ss(8) FILTER), e.g. ['sport', '=', ':8000']. */
  filter?: string[] | undefined
  /** Kill one ss run after this long (default: max(5 s, 10 x intervalMs)). */
  timeoutMs?: number | undefined
}

export interface SsSampler {
  /** Stop sampling; resolves once a sample in flight has finished (and been delivered). Idempotent. */
  stop(): Promise<void>
  /** Samples that failed (exec rejected, ss exited non-zero, onRecords threw). */
  readonly errors: number
  /** The most recent failure, for diagnostics. */
  readonly lastError: unknown
  /** Samples delivered to onRecords. */
  readonly samples: number
  /** Ticks skipped because a sample overran its interval. */
  readonly skipped: number
}

/** Start sampling a host's TCP sockets with ss every intervalMs until stop(); the first sample is taken at once. */
export function startSsSampler(host: Host, opts: SsSamplerOptions): SsSampler {
  const intervalMs = Math.max(1, opts.intervalMs)
  const timeoutMs = opts.timeoutMs ?? Math.max(5000, 10 * intervalMs)
  const argv = [...SS_SAMPLE_ARGV, ...(opts.filter ?? [])]

  let stopped = false
  let errors = 0
  let lastError: unknown
  let samples = 0
  let skipped = 0
  let wake: (() => void) | undefined
  let timer: NodeJS.Timeout | undefined

  const fail = (e: unknown): void => {
    errors++
    lastError = e
  }

  const sampleOnce = async (): Promise<void> => {
    let recs: SsRecord[]
    try {
      const startUs = nowUs()
      const r = await host.exec(argv, { reject: false, timeoutMs })
      const endUs = nowUs()
      if (r.exitCode !== 0) {
        fail(new Error(`ss on ${host.name} exited ${r.exitCode}: ${r.stderr.trim().split('\n').slice(-3).join(' | ')}`))
        return
      }
      // The sample's time is the middle of the exec: ss reads every socket in one
      // netlink dump, somewhere between the two clock readings.
      const t = secondsSince(opts.t0Us, (startUs + endUs) / 2)
      recs = []
      for (const s of parseSsOutput(r.stdout)) {
        const netid = s.info['netid']
        if (netid !== undefined && netid !== 'tcp') continue
        recs.push({ kind: 'ss', t, host: host.name, ...s })
      }
    } catch (e: unknown) {
      fail(e)
      return
    }
    try {
      opts.onRecords(recs)
      samples++
    } catch (e: unknown) {
      fail(e)
    }
  }

  const sleepUntil = (dueMs: number): Promise<void> =>
    new Promise((resolve) => {
      const delayMs = dueMs - performance.now()
      if (stopped || delayMs <= 0) {
        resolve()
        return
      }
      wake = resolve
      timer = setTimeout(() => {
        wake = undefined
        timer = undefined
        resolve()
      }, delayMs)
    })

  const run = async (): Promise<void> => {
    let dueMs = performance.now()
    while (!stopped) {
      await sampleOnce()
      dueMs += intervalMs
      const nowMs = performance.now()
      if (dueMs < nowMs) {
        // Overran: skip the missed ticks and stay on the original grid.
        const missed = Math.ceil((nowMs - dueMs) / intervalMs)
        skipped += missed
        dueMs += missed * intervalMs
      }
      await sleepUntil(dueMs)
    }
  }

  const loop = run().catch(fail)

  return {
    async stop() {
      stopped = true
      if (timer !== undefined) clearTimeout(timer)
      timer = undefined
      const w = wake
      wake = undefined
      w?.()
      await loop
    },
    get errors() {
      return errors
    },
    get lastError() {
      return lastError
    },
    get samples() {
      return samples
    },
    get skipped() {
      return skipped
    },
  }
}
