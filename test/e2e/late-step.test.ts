// A timing failure behind a step that ran late names the step in its reason
// (runner/late-steps.ts). The lateness is real: the run's agents are stopped with
// SIGSTOP for 1.5 s over the moment the client's connect is due, so the plan fires
// it when they go on. The machine itself runs on, so no stall accounts for it and
// the scenario is not run again.
import t from 'tap'
import { existsSync, readFileSync } from 'node:fs'
import path from 'node:path'
import type { ChildProcess } from 'node:child_process'
import { descendantsRunning, e2eSkipReason, runCli, sleep, tempDir } from './helpers.js'
import type { ScenarioVerdict } from '../../src/expect/verdict.js'

const FIXTURE = 'test/fixtures/scenarios/e2e/late-step.yaml'
const NAME = 'e2e-late-step'

/** Once the timeline plays (its listen at 0 s is recorded), stop the agents from ~2 s to ~3.5 s. */
function stopAgents(dir: string, child: ChildProcess, stopped: { pids: number[] }): void {
  void (async () => {
    const records = path.join(dir, NAME, 'records.jsonl')
    const started = Date.now()
    while (!(existsSync(records) && readFileSync(records, 'utf8').includes('"action":"listen"')) && Date.now() - started < 30_000) await sleep(20)
    // records.jsonl shows the listen up to ~0.8 s after it ran: the stop still covers 3 s.
    await sleep(2000)
    stopped.pids = descendantsRunning(child.pid ?? -1, 'tcplab-agent')
    for (const pid of stopped.pids) process.kill(pid, 'SIGSTOP')
    await sleep(1500)
    for (const pid of stopped.pids) process.kill(pid, 'SIGCONT')
  })()
}

const skip = e2eSkipReason()
if (skip) {
  t.plan(0, skip)
} else {
  t.test('a timing failure behind a late step names the step; it is not run again', async (t) => {
    const dir = tempDir('tcplab-e2e-late-')
    const stopped = { pids: [] as number[] }
    const r = await runCli(['run', FIXTURE, '--stall-retries', '1', '--results', dir, '--reporter', 'json'], { onSpawn: (c) => stopAgents(dir, c, stopped) })
    t.equal(stopped.pids.length, 2, 'both hosts\' agents were found and stopped')
    t.equal(r.code, 1, `exit 1: the SYN left late\n${r.stderr}`)
    const v = JSON.parse(readFileSync(path.join(dir, NAME, 'verdict.json'), 'utf8')) as ScenarioVerdict
    t.equal(v.status, 'fail')
    t.equal(v.setAside, undefined, 'a late step sets nothing aside: only stalls do')
    t.match(v.results[0]?.reason, /machine too busy: step #1 \(connect on client\) was due at 3\.000s and ran at \d+\.\d{3}s, [\d.]+m?s late/)
    t.ok((v.results[0]?.deltaMs ?? 0) >= 400, `the SYN left ${v.results[0]?.deltaMs} ms late`)
    t.ok((v.stepLateMs?.max ?? 0) >= 400, `the verdict's step lateness says so too (max ${v.stepLateMs?.max} ms)`)
  })
}
