// Steps after ss and states marks (src/expect/live-marks.ts, live-samples.ts,
// src/runner/live-mark-feed.ts). Two figures, each with /proc/loadavg beside
// it; asserts nothing:
//
//   step       whole runs of test/fixtures/scenarios/e2e/step-after-ss-marks.yaml
//              with the ss step's delay set to 0: how late each step fires after
//              its mark's moment (the action record's lateMs: agent samples or
//              reads the destroy event -> runner -> mark evaluated -> trigger ->
//              agent fires), and how long after the real transition the sample
//              that shows it comes (FIN-WAIT-2: the client's capture of the ACK of
//              its FIN -> the first sample in FIN-WAIT-2), idle and with two busy
//              loops (`node -e 'for(;;){}'`).
//   evaluate   LiveMarks fed a long run, a sample every 10 ms (the rows of one
//              recorded sample of the zero-window run, replayed at later times),
//              with a states mark that is never reached, evaluated after every
//              sample (the worst case: the feed batches when it falls behind): the
//              time per evaluation in the first and the last thousand samples, and
//              the records held (the samples compacted: live-samples.ts), with the
//              rows named as the run names them and named from ss rows (`sockets:`).
//
// Run:  npx tsx bench/live-ss-marks.ts [ROUNDS] [step|evaluate ...]   (default 3 rounds, both parts; step needs root for netns)

import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { runCommand } from '../src/util/proc.js'
import { LiveMarks, type LiveMarkContext } from '../src/expect/live-marks.js'
import { stepMarkOf, type StepMark } from '../src/scenario/marks.js'
import { Expectation } from '../src/scenario/schema.js'
import { contextOf, loadFixture } from '../test/unit/expect/timeline-fixture.js'
import { parseJsonl } from '../src/recorder/timeline.js'
import { loadavgNow, summarizeMs, withBusy } from './lib/figures.js'
import type { TimelineRecord } from '../src/recorder/records.js'

const ROUNDS = Number(process.argv[2] ?? 3)
const PARTS = new Set(process.argv.length > 3 ? process.argv.slice(3) : ['step', 'evaluate'])
const loadavg = loadavgNow

function summarize(label: string, ms: readonly number[]): string {
  return summarizeMs(label, ms, { width: 52, quantiles: [0.5] })
}

interface StepFigures {
  ssLateMs: number
  statesLateMs: number
  /** The ACK of the client's FIN captured -> the first sample in FIN-WAIT-2. */
  sampledAfterMs: number
}

async function stepRound(busy: boolean): Promise<StepFigures | undefined> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'tcplab-bench-live-ss-'))
  try {
    const file = path.join(dir, 'ss0.yaml')
    const text = readFileSync('test/fixtures/scenarios/e2e/step-after-ss-marks.yaml', 'utf8')
    writeFileSync(file, text.replace('    delay: 100ms\n', '    delay: 0ms\n').replace(/name: e2e-step-after-ss-marks\n/, 'name: bench-ss0\n'))
    await withBusy(busy, () => runCommand(['node', 'dist/cli/main.js', 'run', file, '--results', path.join(dir, 'r')], { timeoutMs: 60_000, reject: false }))
    const recs = parseJsonl(readFileSync(path.join(dir, 'r', 'bench-ss0', 'records.jsonl'), 'utf8'))
    const late = (n: number): number | undefined => {
      const s = recs.find((r) => r.kind === 'action' && r.step === n)
      return s?.kind === 'action' ? s.lateMs : undefined
    }
    const fin = recs.find((r) => r.kind === 'pkt' && r.host === 'client' && r.dir === 'out' && r.flags.includes('F'))
    const ack = fin?.kind === 'pkt' ? recs.find((r) => r.kind === 'pkt' && r.host === 'client' && r.dir === 'in' && r.t > fin.t && r.ack === (fin.seq ?? 0) + 1) : undefined
    const fw2 = recs.find((r) => r.kind === 'ss' && r.host === 'client' && r.state === 'FIN-WAIT-2')
    const [a, b] = [late(3), late(4)]
    if (a === undefined || b === undefined || !ack || !fw2) {
      console.log(`  round without figures: ss step ${a}, states step ${b}, ACK of FIN ${ack?.t}, FIN-WAIT-2 row ${fw2?.t}`)
      return undefined
    }
    return { ssLateMs: a, statesLateMs: b, sampledAfterMs: (fw2.t - ack.t) * 1000 }
  } catch (e: unknown) {
    console.log(`  step round failed: ${(e as Error).message}`)
    return undefined
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

/** A long run: the recorded sample of zero-window with the most rows (its `sample` record and rows) every 10 ms for `seconds`. */
function longRun(seconds: number): { batches: TimelineRecord[][]; host: string; socket: string } {
  const recs = contextOf(loadFixture('zero-window')).records
  let best: TimelineRecord[] = []
  for (const r of recs) {
    if (r.kind !== 'sample') continue
    const one = recs.filter((x) => (x.kind === 'sample' || x.kind === 'ss') && x.host === r.host && x.t === r.t)
    if (one.length > best.length && one.some((x) => x.kind === 'ss' && x.socket !== undefined)) best = one
  }
  const named = best.find((x) => x.kind === 'ss' && x.socket !== undefined)
  if (!named || named.kind !== 'ss') throw new Error('no named row in zero-window')
  const batches: TimelineRecord[][] = []
  for (let k = 0; k < seconds * 100; k++) batches.push(best.map((r) => ({ ...r, t: k / 100 }) as TimelineRecord))
  return { batches, host: named.host, socket: named.socket as string }
}

function evaluateCost(seconds: number, fromSs: boolean): string {
  const fx = loadFixture('zero-window')
  const { batches, host, socket } = longRun(seconds)
  const raw = [{ states: { on: host, socket, sequence: ['ESTAB', 'TIME-WAIT'], mark: 'tw' } }]
  const expect = raw.map((x) => Expectation.parse(x))
  const mark = stepMarkOf('tw.2', raw) as StepMark
  // Named from ss rows (`sockets:`): every host's rows and samples are held, and compacted too.
  const ctx: LiveMarkContext = { ...contextOf(fx), nameSockets: { name: (r) => r, fromSs: fromSs } }
  const live = new LiveMarks(expect, [mark], ctx)
  const per: number[] = []
  for (const b of batches) {
    const t0 = performance.now()
    live.addAll(b)
    per.push(performance.now() - t0)
  }
  const avg = (xs: number[]): string => `${((xs.reduce((a, x) => a + x, 0) / xs.length) * 1000).toFixed(1)} µs`
  return `evaluate ${seconds} s at 10 ms (${batches.length} samples of ${batches[0]?.length ?? 0} records), ${fromSs ? 'named from ss rows' : 'named by events'}: first 1000 ${avg(per.slice(0, 1000))}, last 1000 ${avg(per.slice(-1000))} per evaluation; ${(per.reduce((a, x) => a + x, 0) / 1000).toFixed(2)} s in all; ${live.held} records held  ${loadavg()}`
}

async function main(): Promise<void> {
  for (const busy of PARTS.has('step') ? [false, true] : []) {
    const got: StepFigures[] = []
    for (let i = 0; i < ROUNDS; i++) {
      const f = await stepRound(busy)
      if (f) got.push(f)
    }
    const tag = busy ? ' (2 busy loops)' : ''
    console.log(summarize(`step after ss mark (delay 0), late${tag}`, got.map((f) => f.ssLateMs)))
    console.log(summarize(`step after states mark (CLOSED), late${tag}`, got.map((f) => f.statesLateMs)))
    console.log(summarize(`ACK of FIN -> first FIN-WAIT-2 sample${tag}`, got.map((f) => f.sampledAfterMs)))
  }
  if (PARTS.has('evaluate')) {
    console.log(evaluateCost(600, false))
    console.log(evaluateCost(600, true))
  }
}

await main()
