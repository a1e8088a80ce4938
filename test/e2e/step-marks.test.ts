// Steps after marks, end to end on the netns backend
// (test/fixtures/scenarios/e2e/step-after-mark.yaml): a step after a plain
// first event (the agents gate it, relayed across hosts) and a step after the
// second of the server's sends (the runner evaluates the mark as the events
// come and triggers the client's agent) each fire at the mark's moment plus
// their delay, and their action records say both times. The same scenario
// waiting for a fourth send, which never comes, fails: the step is reported as
// never run, and the expectation since the mark fails. Nothing is left behind.

import { readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { e2eSkipReason, labNamespaces, labProcesses, readVerdict, runCli, sleep, tempDir } from './helpers.js'
import { parseJsonl } from '../../src/recorder/timeline.js'
import type { ActionRecord, EventRecord } from '../../src/recorder/records.js'

const FILE = 'test/fixtures/scenarios/e2e/step-after-mark.yaml'

interface Verdict {
  status: string
  labId: string
  results: Array<{ kind: string; status: string; description: string; measured: string; expected: string; line?: number }>
}

const skip = e2eSkipReason()
if (skip) {
  t.plan(0, skip)
} else {
  t.test('steps after marks fire at the mark plus their delay; a mark never reached fails the run', async (t) => {
    const dir = tempDir('tcplab-e2e-step-marks-')
    const never = path.join(dir, 'never.yaml')
    const text = readFileSync(FILE, 'utf8')
    t.match(text, /after: sends\.2\n/)
    writeFileSync(never, text.replace('name: e2e-step-after-mark', 'name: e2e-step-after-mark-never').replace('after: sends.2\n', 'after: sends.4\n'))
    const results = path.join(dir, 'results')
    const r = await runCli(['run', FILE, never, '--jobs', '2', '--results', results], { timeoutMs: 120_000 })
    t.equal(r.code, 1, `exit 1: one run fails\n${r.stdout.slice(-3000)}\n${r.stderr}`)

    const ok = readVerdict<Verdict>(results, 'e2e-step-after-mark')
    t.equal(ok.status, 'pass', `the scenario holds:\n${ok.results.map((x) => `${x.status} ${x.description}: ${x.measured}`).join('\n')}`)
    const records = parseJsonl(readFileSync(path.join(results, 'e2e-step-after-mark', 'records.jsonl'), 'utf8'))
    const ev = (source: string, type: string): EventRecord[] => records.filter((x): x is EventRecord => x.kind === 'event' && x.source === source && x.type === type)
    const step = (i: number): ActionRecord | undefined => records.find((x): x is ActionRecord => x.kind === 'action' && x.step === i)
    const accepted = ev('srv-conn', 'accepted')[0]?.t as number
    const sends = ev('srv-conn', 'sent').map((x) => x.t)
    t.equal(sends.length, 3, 'three sends')
    const s2 = step(2)
    const s4 = step(4)
    // Scheduled exactly at the mark plus the delay (µs stamps on one clock); run then, late by the wakeup only.
    t.ok(s2 && Math.abs((s2.scheduledT as number) - (accepted + 0.1)) < 2e-6, `after: acc + 100ms scheduled at ${s2?.scheduledT} (accepted ${accepted})`)
    t.ok(s4 && Math.abs((s4.scheduledT as number) - ((sends[1] as number) + 0.15)) < 2e-6, `after: sends.2 + 150ms scheduled at ${s4?.scheduledT} (second send ${sends[1]})`)
    for (const s of [s2, s4]) {
      t.ok(s && s.t >= (s.scheduledT as number) && typeof s.lateMs === 'number', `step ${s?.step}: ran at ${s?.t}, ${s?.lateMs} ms late`)
    }
    // The close came between the second and the third send: the step did not fire on sends.first or sends.3.
    const closed = ev('cli', 'closed')[0]?.t as number
    t.ok(closed > (sends[1] as number) + 0.1 && closed < (sends[2] as number), `the close at ${closed} lies between the second and third send`)

    const bad = readVerdict<Verdict>(results, 'e2e-step-after-mark-never')
    t.equal(bad.status, 'fail')
    const stepResult = bad.results.find((x) => x.kind === 'step')
    t.match(stepResult, { status: 'fail', description: 'step 4 could not run', expected: 'sends.4 happens', measured: /^the mark sends never reached its moment #4 \(before the end at / })
    // ...and the expectation on the close it would have made fails: no close at all.
    t.match(bad.results.find((x) => x.description === "the client closes 150 ms after the server's second send"), { status: 'fail', measured: /^0 matching events/ })

    await sleep(100)
    const ids = [ok.labId, bad.labId]
    t.same(labNamespaces(ids), [], 'no namespace of these runs left')
    t.same(labProcesses(ids), [], 'no process of these runs left')
  })
}
