// Packets as the run goes, for steps after a packets mark (src/recorder/capture.ts
// onPackets, src/runner/live-packets.ts, src/expect/live-marks.ts). Three figures,
// each with /proc/loadavg beside it; asserts nothing:
//
//   lag        capture time of a packet (its pcap timestamp) -> the runner holds it
//              parsed (onPackets), on a two-host netns lab: the client sends one
//              line every 20 ms through nc for 3 s (data + ACK, both captured on
//              the server), idle and with two busy loops (`node -e 'for(;;){}'`).
//   step       a whole run of test/fixtures/scenarios/e2e/step-after-packets-mark.yaml
//              with its delay set to 0: how late the step `after: zw` fires after
//              the zero-window ACK's capture time (the action record's lateMs:
//              capture -> runner -> mark evaluated -> trigger -> agent fires).
//   bulk       the worst case live: 20 MB through nc on the lab (no zero window),
//              every packet on the server handed to LiveMarks through LivePackets
//              (its CPU budget) with a packets mark that is never reached: packets,
//              hand-overs, time spent evaluating, the longest hand-over, the wall time.
//   evaluate   LiveMarks fed the recorded zero-window run (test/fixtures/timelines/
//              zero-window) packet by packet with a mark that is never reached, the
//              worst case: every server packet is re-evaluated over all so far.
//
// Run:  npx tsx bench/live-packets.ts [ROUNDS] [lag|step|bulk|evaluate ...]   (default 3 rounds, all parts; needs root for netns)

import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { startCapture } from '../src/recorder/capture.js'
import { nowUs, type TimelineRecord } from '../src/recorder/records.js'
import { createBackend } from '../src/lab/index.js'
import { runCommand } from '../src/util/proc.js'
import { LiveMarks } from '../src/expect/live-marks.js'
import { stepMarkOf, type StepMark } from '../src/scenario/marks.js'
import { Expectation } from '../src/scenario/schema.js'
import { contextOf, loadFixture } from '../test/unit/expect/timeline-fixture.js'
import { parseJsonl } from '../src/recorder/timeline.js'
import { loadavgNow, summarizeMs, withBusy } from './lib/figures.js'
import { LivePackets } from '../src/runner/live-packets.js'

const ROUNDS = Number(process.argv[2] ?? 3)
const PARTS = new Set(process.argv.length > 3 ? process.argv.slice(3) : ['lag', 'step', 'bulk', 'evaluate'])
const loadavg = loadavgNow

function summarize(label: string, ms: readonly number[]): string {
  return summarizeMs(label, ms, { width: 40, quantiles: [0.5, 0.95, 0.99] })
}

async function lagRound(busy: boolean, round: number): Promise<number[]> {
  const backend = await createBackend('netns')
  const labId = `p${(process.pid % 0x1000).toString(16).padStart(3, '0')}${(round * 2 + (busy ? 1 : 0)).toString(16).padStart(4, '0')}`
  const lab = await backend.up({ labId, scenario: 'bench-live-packets', hosts: [{ name: 'client', sysctls: {}, isWire: false }, { name: 'server', sysctls: {}, isWire: false }] })
  const dir = mkdtempSync(path.join(os.tmpdir(), 'tcplab-bench-live-'))
  const lags: number[] = []
  try {
    const server = lab.hosts.get('server')
    const client = lab.hosts.get('client')
    if (!server || !client) throw new Error('lab without client and server')
    const cap = await startCapture(server, {
      file: path.join(dir, 'server.pcap'),
      onPackets: (pkts) => {
        const now = nowUs()
        for (const p of pkts) lags.push((now - p.tsUs) / 1000)
      },
    })
    const listener = server.spawn(['nc', '-l', '-p', '8000'], {})
    await new Promise((r) => setTimeout(r, 200))
    await withBusy(busy, () => client.exec(['sh', '-c', `i=0; while [ $i -lt 150 ]; do echo x; sleep 0.02; i=$((i+1)); done | nc -q 0 ${server.addr} 8000`], { timeoutMs: 30_000, reject: false }))
    await listener.stop({ graceMs: 500 })
    const res = await cap.stop()
    if (res.packets.length !== lags.length) console.log(`  (the file has ${res.packets.length} packets, ${lags.length} came live)`)
  } finally {
    await lab.down()
    rmSync(dir, { recursive: true, force: true })
  }
  return lags
}

async function bulkRound(): Promise<string> {
  const backend = await createBackend('netns')
  const labId = `p${(process.pid % 0x1000).toString(16).padStart(3, '0')}01ff`
  const lab = await backend.up({ labId, scenario: 'bench-live-packets', hosts: [{ name: 'client', sysctls: {}, isWire: false }, { name: 'server', sysctls: {}, isWire: false }] })
  const dir = mkdtempSync(path.join(os.tmpdir(), 'tcplab-bench-live-'))
  try {
    const server = lab.hosts.get('server')
    const client = lab.hosts.get('client')
    if (!server || !client) throw new Error('lab without client and server')
    const raw = [{ packets: { on: 'server', dir: 'out', win: 0, len: 0, mark: 'zw' } }]
    const live = new LiveMarks(raw.map((x) => Expectation.parse(x)), [stepMarkOf('zw', raw) as StepMark], {
      hosts: new Map([['client', [client.addr]], ['server', [server.addr]]]), tolerance: { floorMs: 20, percent: 10 }, kernel: '', hasSysctl: () => false,
    })
    const feed = new LivePackets()
    let handovers = 0
    let evalMs = 0
    let maxMs = 0
    let pkts = 0
    feed.on((recs) => {
      const t0 = performance.now()
      live.addAll(recs)
      const d = performance.now() - t0
      handovers++
      pkts += recs.length
      evalMs += d
      maxMs = Math.max(maxMs, d)
    })
    const cap = await startCapture(server, { file: path.join(dir, 'server.pcap'), onPackets: (p, ifnames) => feed.push('server', p, ifnames) })
    feed.start(nowUs())
    const listener = server.spawn(['sh', '-c', 'nc -l -p 8000 > /dev/null'], {})
    await new Promise((r) => setTimeout(r, 200))
    const wall0 = performance.now()
    await client.exec(['sh', '-c', `head -c 20000000 /dev/zero | nc -q 0 ${server.addr} 8000`], { timeoutMs: 60_000, reject: false })
    await new Promise((r) => setTimeout(r, 300))
    const wallMs = performance.now() - wall0
    await listener.stop({ graceMs: 500 })
    const res = await cap.stop()
    return `bulk: ${res.packets.length} packets captured, ${pkts} handed over live in ${handovers} hand-overs; evaluating took ${evalMs.toFixed(0)} ms of ${wallMs.toFixed(0)} ms wall (longest ${maxMs.toFixed(1)} ms)  ${loadavg()}`
  } finally {
    await lab.down()
    rmSync(dir, { recursive: true, force: true })
  }
}

async function stepRound(busy: boolean): Promise<number | undefined> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'tcplab-bench-live-step-'))
  try {
    const file = path.join(dir, 'zw0.yaml')
    const text = readFileSync('test/fixtures/scenarios/e2e/step-after-packets-mark.yaml', 'utf8')
    writeFileSync(file, text.replace('    delay: 300ms\n', '    delay: 0ms\n').replace(/name: e2e-step-after-packets-mark\n/, 'name: bench-zw0\n'))
    await withBusy(busy, () => runCommand(['node', 'dist/cli/main.js', 'run', file, '--results', path.join(dir, 'r')], { timeoutMs: 60_000, reject: false }))
    const recs = parseJsonl(readFileSync(path.join(dir, 'r', 'bench-zw0', 'records.jsonl'), 'utf8'))
    const step = recs.find((r) => r.kind === 'action' && r.step === 3)
    return step?.kind === 'action' ? step.lateMs : undefined
  } catch (e: unknown) {
    console.log(`  step round failed: ${(e as Error).message}`)
    return undefined
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

function evaluateCost(): string {
  const fx = loadFixture('zero-window')
  const ctx = contextOf(fx)
  const raw = [{ packets: { on: 'server', dir: 'out', socket: 'srv-conn', win: 0, len: 0, mark: 'zw' } }]
  const expect = raw.map((x) => Expectation.parse(x))
  const mark = stepMarkOf('zw.99', raw) as StepMark
  const live = new LiveMarks(expect, [mark], ctx)
  const pkts = fx.records.filter((r: TimelineRecord) => r.kind === 'pkt')
  const server = pkts.filter((r) => r.kind === 'pkt' && r.host === 'server').length
  const t0 = performance.now()
  for (const r of pkts) live.add(r)
  const ms = performance.now() - t0
  return `evaluate: ${pkts.length} packets (${server} on the server, each re-evaluated), never reached: ${ms.toFixed(1)} ms in all, ${(ms / server).toFixed(3)} ms per evaluation on average  ${loadavg()}`
}

async function main(): Promise<void> {
  for (const busy of PARTS.has('lag') ? [false, true] : []) {
    const lags: number[] = []
    for (let i = 0; i < ROUNDS; i++) lags.push(...await lagRound(busy, i))
    console.log(summarize(`lag packet -> runner${busy ? ' (2 busy loops)' : ''}`, lags))
  }
  for (const busy of PARTS.has('step') ? [false, true] : []) {
    const late: number[] = []
    for (let i = 0; i < ROUNDS; i++) {
      const l = await stepRound(busy)
      if (l !== undefined) late.push(l)
    }
    console.log(summarize(`step after zw, delay 0${busy ? ' (2 busy loops)' : ''}`, late))
  }
  if (PARTS.has('bulk')) console.log(await bulkRound())
  if (PARTS.has('evaluate')) console.log(evaluateCost())
}

await main()
