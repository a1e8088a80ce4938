// A timing failure behind a step that ran late names the step in its reason
// (runner/busy-machine.ts). The lateness is real: the run's agents are stopped with
// SIGSTOP for 1.5 s over the moment the client's connect is due, so the plan fires
// it when they go on. The machine itself runs on, so no stall accounts for it and
// the scenario is not run again.
import t from 'tap'
import type { ChildProcess } from 'node:child_process'
import { descendantsRunning, e2eSkipReason, readVerdict, runCli, scenarioT0Ms, sleep, tempDir } from './helpers.js'

const FIXTURE = 'test/fixtures/scenarios/e2e/late-step.yaml'
const NAME = 'e2e-late-step'

/** Stop the agents from 2 s to 3.5 s on the scenario's clock. */
function stopAgents(child: ChildProcess, stopped: { pids: number[] }): void {
  void (async () => {
    const t0Ms = await scenarioT0Ms(child)
    await sleep(t0Ms + 2000 - Date.now())
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
    const r = await runCli(['run', FIXTURE, '--stall-retries', '1', '--results', dir, '--reporter', 'jsonl'], { onSpawn: (c) => stopAgents(c, stopped) })
    t.equal(stopped.pids.length, 2, 'both hosts\' agents were found and stopped')
    t.equal(r.code, 1, `exit 1: the SYN left late\n${r.stderr}`)
    const v = readVerdict(dir, NAME)
    t.equal(v.status, 'fail')
    t.equal(v.setAside, undefined, 'a late step sets nothing aside: only stalls do')
    t.match(v.results[0]?.reason, /machine too busy: step #1 \(connect on client\) was due at 3\.000s and ran at \d+\.\d{3}s, [\d.]+m?s late/)
    t.ok((v.results[0]?.deltaMs ?? 0) >= 450, `the SYN left ${v.results[0]?.deltaMs} ms late (the agents went on at 3.5 s)`)
    t.ok((v.stepLateMs?.max ?? 0) >= 450, `the verdict's step lateness says so too (max ${v.stepLateMs?.max} ms)`)
  })
}
