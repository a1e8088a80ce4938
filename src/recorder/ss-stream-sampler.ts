// The cheap socket sampler: one long-running bash loop per host runs
// `ss -tanoiem` every intervalMs and marks each sample with its start time
// ($EPOCHREALTIME, no fork). Compared with one `ip netns exec ss` (or one
// docker exec) per sample this saves the per-sample namespace entry, which is
// most of the cost (bench/ss-sample.ts: ~10 ms of 17 ms). The loop sleeps with
// `read -t` on its stdin, so closing stdin stops it at once and cleanly.

import type { Host, Proc } from '../lab/types.js'
import { secondsSince, type SsRecord } from './records.js'
import { parseSsOutput } from './ss-parse.js'
import type { SsSampler, SsSamplerOptions } from './ss-sampler.js'

const MARK = '@@tcplab-sample'

/**
 * The loop. $1 is the interval in seconds; the rest is an ss filter. `read -t`
 * returns > 128 on timeout (go on) and 1 at EOF (stop). No input is interpolated:
 * arguments arrive as positional parameters.
 */
const LOOP = [
  'iv=$1; shift',
  'while :; do',
  '  t=$EPOCHREALTIME',
  '  ss -tanoiem "$@"',
  `  echo "${MARK} $t $?"`,
  '  read -r -t "$iv"; rc=$?',
  '  [ "$rc" -gt 128 ] || exit 0',
  'done',
].join('\n')

/** Start sampling with one long-running ss loop inside the host; same contract as startSsSampler. */
export function startSsStreamSampler(host: Host, opts: SsSamplerOptions): SsSampler {
  const intervalSec = (Math.max(1, opts.intervalMs) / 1000).toFixed(3)
  let errors = 0
  let lastError: unknown
  let samples = 0
  let block: string[] = []
  const fail = (e: unknown): void => {
    errors++
    lastError = e
  }
  const onLine = (line: string): void => {
    if (!line.startsWith(MARK)) {
      block.push(line)
      return
    }
    const [, startText, rcText] = line.split(' ')
    const text = block.join('\n')
    block = []
    if (rcText !== '0') {
      fail(new Error(`ss on ${host.name} exited ${rcText ?? '?'}`))
      return
    }
    // $EPOCHREALTIME is "seconds.microseconds" (bash 5); ss's netlink dump follows within a few ms.
    const startUs = Math.round(Number(startText) * 1e6)
    if (!Number.isFinite(startUs)) {
      fail(new Error(`bad sample mark from ${host.name}: ${line} (the host's bash lacks EPOCHREALTIME?)`))
      return
    }
    const t = secondsSince(opts.t0Us, startUs)
    try {
      const recs: SsRecord[] = []
      for (const s of parseSsOutput(text)) {
        const netid = s.info['netid']
        if (netid !== undefined && netid !== 'tcp') continue
        recs.push({ kind: 'ss', t, host: host.name, ...s })
      }
      opts.onRecords(recs)
      samples++
    } catch (e: unknown) {
      fail(e)
    }
  }
  const stderrTail: string[] = []
  const proc: Proc = host.spawn(['bash', '-c', LOOP, 'tcplab-ss', intervalSec, ...(opts.filter ?? [])], {
    stdin: true,
    onStdoutLine: onLine,
    onStderrLine: (l) => {
      // ss -e prints "Failed to find cgroup2 mount" when there is no cgroup2: harmless.
      if (!/cgroup2/.test(l)) stderrTail.push(l)
    },
  })
  proc.started.catch(fail)
  return {
    async stop() {
      if (!proc.hasExited) {
        proc.endStdin()
        const timer = setTimeout(() => void proc.stop({ graceMs: 500 }), 1000)
        await proc.exited
        clearTimeout(timer)
      }
      if (stderrTail.length > 0 && errors === 0 && samples === 0) fail(new Error(stderrTail.slice(-3).join(' | ')))
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
      return 0
    },
  }
}
