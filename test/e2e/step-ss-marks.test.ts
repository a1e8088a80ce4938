// Steps after an ss mark and a states mark, end to end on the netns backend
// (test/fixtures/scenarios/e2e/step-after-ss-marks.yaml): the server closes
// 100 ms after the first sample that shows the client in FIN-WAIT-2, and the
// client runs a command once the server's socket has gone from CLOSE-WAIT to
// CLOSED. The runner evaluates both marks as the agents' samples (and destroy
// events) come: each step is scheduled exactly at the moment the end of the
// run gives its mark (the sample's time plus the delay; the transition's
// date), and runs after it. Nothing is left behind.

import { readFileSync } from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { e2eSkipReason, labNamespaces, labProcesses, runCli, sleep, tempDir } from './helpers.js'
import { parseJsonl } from '../../src/recorder/timeline.js'
import type { ActionRecord, EventRecord, SsRecord } from '../../src/recorder/records.js'

const FILE = 'test/fixtures/scenarios/e2e/step-after-ss-marks.yaml'
const NAME = 'e2e-step-after-ss-marks'

interface Verdict {
  status: string
  labId: string
  results: Array<{ kind: string; status: string; description: string; measured: string; mark?: { name: string; t: number[] } }>
}

const skip = e2eSkipReason()
if (skip) {
  t.plan(0, skip)
} else {
  t.test('a step after a sample shows FIN-WAIT-2, and one after a socket is gone, fire at those moments', async (t) => {
    const results = path.join(tempDir('tcplab-e2e-step-ss-marks-'), 'results')
    const r = await runCli(['run', FILE, '--results', results], { timeoutMs: 60_000 })
    const run = path.join(results, NAME)
    const v = JSON.parse(readFileSync(path.join(run, 'verdict.json'), 'utf8')) as Verdict
    t.equal(r.code, 0, `exit 0\n${r.stdout.slice(-3000)}\n${r.stderr}`)
    t.equal(v.status, 'pass', `the scenario holds:\n${v.results.map((x) => `${x.status} ${x.description}: ${x.measured}`).join('\n')}`)
    const records = parseJsonl(readFileSync(path.join(run, 'records.jsonl'), 'utf8'))
    const step = (n: number): ActionRecord | undefined => records.find((x): x is ActionRecord => x.kind === 'action' && x.step === n)

    // fw2: the client's first row in FIN-WAIT-2; the server's close is scheduled 100 ms after that sample (µs stamps, one clock).
    const fw2 = records.find((x): x is SsRecord => x.kind === 'ss' && x.host === 'client' && x.state === 'FIN-WAIT-2')
    t.ok(fw2, 'the client was sampled in FIN-WAIT-2')
    t.same(v.results.find((x) => x.mark?.name === 'fw2')?.mark?.t[0], fw2?.t, 'the verdict marks that sample')
    const close = step(3)
    t.ok(close && fw2 && Math.abs((close.scheduledT as number) - (fw2.t + 0.1)) < 2e-6, `after: fw2 + 100ms scheduled at ${close?.scheduledT} (FIN-WAIT-2 first sampled at ${fw2?.t})`)
    t.ok(close && close.t >= (close.scheduledT as number), `ran at ${close?.t} (${close?.lateMs} ms late)`)

    // gone.2: the server's socket CLOSED, dated by its destroy event (or the first sample without it) as the verdict dates it.
    const gone = v.results.find((x) => x.mark?.name === 'gone')?.mark?.t[1]
    t.ok(typeof gone === 'number' && close && gone > close.t, `the server's socket closed at ${gone}, after its close at ${close?.t}`)
    const destroy = records.find((x): x is EventRecord => x.kind === 'event' && x.type === 'ss-destroy' && x.host === 'server' && Number(x.data?.lport) === 8000 && (x.t > (close?.t ?? Infinity)))
    const next = records.find((x) => x.kind === 'sample' && x.host === 'server' && x.t > (close?.t ?? Infinity))
    t.ok(gone === destroy?.t || gone === next?.t, `dated by the destroy event (${destroy?.t}) or a sample (${next?.t})`)
    const run4 = step(4)
    t.ok(run4 && Math.abs((run4.scheduledT as number) - (gone as number)) < 2e-6, `after: gone.2 scheduled at ${run4?.scheduledT} (CLOSED at ${gone})`)
    t.ok(run4 && run4.t >= (run4.scheduledT as number) && typeof run4.lateMs === 'number', `ran at ${run4?.t}, ${run4?.lateMs} ms after the moment`)

    await sleep(100)
    t.same(labNamespaces([v.labId]), [], 'no namespace of this run left')
    t.same(labProcesses([v.labId]), [], 'no process of this run left')
  })
}
