// A step after a packets mark, end to end on the netns backend
// (test/fixtures/scenarios/e2e/step-after-packets-mark.yaml): the server's
// reader resumes 300 ms after its first zero-window ACK. The runner parses the
// server's capture as tcpdump writes it, evaluates the mark as the packets
// come and triggers the server's agent with the packet's capture time: the
// step is scheduled exactly at that packet's time (from the pcap) plus 300 ms,
// and nothing is read before it. The same scenario with the mark on the
// client's packets (the client never announces window 0) fails: the step is
// reported as never run. Nothing is left behind.

import { readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { e2eSkipReason, labNamespaces, labProcesses, readVerdict, runCli, sleep, tempDir } from './helpers.js'
import { parseJsonl } from '../../src/recorder/timeline.js'
import { parsePcap } from '../../src/recorder/pcap.js'
import type { ActionRecord, EventRecord, PktRecord } from '../../src/recorder/records.js'

const FILE = 'test/fixtures/scenarios/e2e/step-after-packets-mark.yaml'
const NAME = 'e2e-step-after-packets-mark'

interface Verdict {
  status: string
  labId: string
  results: Array<{ kind: string; status: string; description: string; measured: string; expected: string }>
}

const skip = e2eSkipReason()
if (skip) {
  t.plan(0, skip)
} else {
  t.test('a step after the first zero-window ACK fires at that packet\'s capture time plus its delay; a mark never reached fails the run', async (t) => {
    const dir = tempDir('tcplab-e2e-step-pkt-marks-')
    const never = path.join(dir, 'never.yaml')
    const text = readFileSync(FILE, 'utf8')
    const setter = '  - packets: { on: server, dir: out, socket: srv-conn,'
    t.ok(text.includes(setter))
    writeFileSync(never, text.replace(`name: ${NAME}\n`, `name: ${NAME}-never\n`).replace(setter, '  - packets: { on: client, dir: out, socket: cli,'))
    const results = path.join(dir, 'results')
    const r = await runCli(['run', FILE, never, '--jobs', '2', '--results', results], { timeoutMs: 60_000 })
    t.equal(r.code, 1, `exit 1: one run fails\n${r.stdout.slice(-3000)}\n${r.stderr}`)

    const run = path.join(results, NAME)
    const ok = JSON.parse(readFileSync(path.join(run, 'verdict.json'), 'utf8')) as Verdict
    t.equal(ok.status, 'pass', `the scenario holds:\n${ok.results.map((x) => `${x.status} ${x.description}: ${x.measured}`).join('\n')}`)
    const records = parseJsonl(readFileSync(path.join(run, 'records.jsonl'), 'utf8'))
    const zw = records.filter((x): x is PktRecord => x.kind === 'pkt' && x.host === 'server' && x.dir === 'out' && x.win === 0 && x.len === 0)
    t.ok(zw.length >= 1, `the server announced window 0 (${zw.length} times)`)
    const first = zw[0] as PktRecord
    const step = records.find((x): x is ActionRecord => x.kind === 'action' && x.step === 3)
    // Scheduled exactly at the packet's capture time plus the delay (µs stamps on one clock).
    t.ok(step && Math.abs((step.scheduledT as number) - (first.t + 0.3)) < 2e-6, `after: zw + 300ms scheduled at ${step?.scheduledT} (first zero-window ACK at ${first.t})`)
    t.ok(step && step.t >= (step.scheduledT as number) && typeof step.lateMs === 'number', `ran at ${step?.t}, ${step?.lateMs} ms late`)
    // The records are the pcap file's (the live path does not add or replace any): same zero-window ACKs, same gaps.
    const pcap = parsePcap(readFileSync(path.join(run, 'server.pcap'))).filter((p) => p.win === 0 && p.len === 0 && p.dir === 'out')
    t.equal(pcap.length, zw.length, 'as many zero-window ACKs in the file as in the records')
    t.same(pcap.map((p) => p.tsUs - (pcap[0] as { tsUs: number }).tsUs), zw.map((p) => Math.round((p.t - first.t) * 1e6)), 'at the same times')
    // Nothing read before the step; the first read right after it.
    const reads = records.filter((x): x is EventRecord => x.kind === 'event' && x.source === 'srv-conn' && x.type === 'read')
    t.ok(reads.length > 0 && (reads[0] as EventRecord).t >= (step?.t ?? Infinity), `the first read (${reads[0]?.t}) comes after the step (${step?.t})`)

    const bad = readVerdict<Verdict>(results, `${NAME}-never`)
    t.equal(bad.status, 'fail')
    t.match(bad.results.find((x) => x.kind === 'step'), { status: 'fail', description: 'step 3 could not run', expected: 'zw happens', measured: /^the mark zw was never reached \(before the end at / })
    t.match(bad.results.find((x) => x.description === 'the reader resumes 300 ms after the first zero-window ACK'), { status: 'fail' })
    const badRecords = parseJsonl(readFileSync(path.join(results, `${NAME}-never`, 'records.jsonl'), 'utf8'))
    t.notOk(badRecords.some((x) => x.kind === 'action' && x.step === 3), 'the step never ran')

    await sleep(100)
    const ids = [ok.labId, bad.labId]
    t.same(labNamespaces(ids), [], 'no namespace of these runs left')
    t.same(labProcesses(ids), [], 'no process of these runs left')
  })
}
