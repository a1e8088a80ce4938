// A scenario whose every failure the machine's stalls account for runs again
// (--stall-retries), the set-aside attempt kept in attempts/N; with
// --stall-retries 0 it is not, and the failure names the stall. The stall is
// real: one of the suite's stall probes (agent/stallprobe.c, SCHED_FIFO) is stopped
// with SIGSTOP for 1.1 s over the moment the claim is due in the first attempt, which is what a machine
// that does not run it looks like to the suite.
import t from 'tap'
import { existsSync, readFileSync } from 'node:fs'
import path from 'node:path'
import type { ChildProcess } from 'node:child_process'
import { descendantsRunning, e2eSkipReason, readVerdict, runCli, scenarioT0Ms, sleep, tempDir } from './helpers.js'
import { Ajv2020 } from 'ajv/dist/2020.js'

const validateVerdict = new Ajv2020({ strict: false, allErrors: true }).compile(JSON.parse(readFileSync('schema/verdict.schema.json', 'utf8')) as Record<string, unknown>)

const FIXTURE = 'test/fixtures/scenarios/e2e/stall-retry.yaml'
const NAME = 'e2e-stall-retry'

/** Stop a stall probe from 1.6 s to 2.7 s on the first attempt's clock, over the moment the SYN is due (2.2 s). */
function stallFirstAttempt(child: ChildProcess, stalled: { pid?: number }): void {
  void (async () => {
    const t0Ms = await scenarioT0Ms(child)
    // Over that moment and past it by more than the 250 ms the claim misses by beyond its tolerance.
    await sleep(t0Ms + 1600 - Date.now())
    const pid = descendantsRunning(child.pid ?? -1, 'tcplab-stallprobe')[0]
    if (pid === undefined) return
    stalled.pid = pid
    process.kill(pid, 'SIGSTOP')
    await sleep(1100)
    process.kill(pid, 'SIGCONT')
  })()
}

const skip = e2eSkipReason()
if (skip) {
  t.plan(0, skip)
} else {
  t.test('a timing failure the stall accounts for is set aside and the scenario runs again', async (t) => {
    const dir = tempDir('tcplab-e2e-stall-')
    const stalled: { pid?: number } = {}
    const r = await runCli(['run', FIXTURE, '--stall-retries', '1', '--results', dir, '--reporter', 'jsonl'], { onSpawn: (c) => stallFirstAttempt(c, stalled) })
    t.ok(stalled.pid, 'the stall probe was found and stopped')
    t.equal(r.code, 1, `exit 1: the second attempt fails on its own\n${r.stderr}`)
    t.match(r.stderr, /e2e-stall-retry: 1 timing failure\(s\) while the machine stalled [\d.]+m?s at -?\d+\.\d+s; running it again \(attempt 2 of 2\)/)
    const v = readVerdict(dir, NAME)
    t.equal(v.status, 'fail')
    t.equal(v.setAside?.length, 1, 'one attempt set aside')
    t.ok(validateVerdict(v), `verdict.json (setAside, load.stalls) matches verdict.schema.json: ${JSON.stringify(validateVerdict.errors)}`)
    t.ok((v.load?.stalls ?? []).every((st) => st.ms < 800), 'the last attempt saw no such stall')
    t.equal(v.load?.stallsOn, 'this machine', 'on netns the probes run on this machine')
    t.match(v.setAside?.[0], { attempt: 1, dir: 'attempts/1', failed: [/^#1 the SYN leaves at 2\.2 s/] })
    t.ok((v.setAside?.[0]?.stallMs ?? 0) >= 800, `the stall was measured: ${v.setAside?.[0]?.stallMs} ms`)
    const first = readVerdict(dir, NAME, 'attempts', '1')
    t.equal(first.status, 'fail', 'the set-aside attempt keeps its own verdict')
    t.match(first.results[0]?.reason, /machine too busy: it stalled [\d.]+m?s/)
    t.ok(existsSync(path.join(dir, NAME, 'attempts', '1', 'records.jsonl')), 'and its records')
    t.notOk(existsSync(path.join(dir, '.attempts')), 'nothing left waiting in the results dir')
    t.match(readFileSync(path.join(dir, NAME, 'report.html'), 'utf8'), /earlier attempts were set aside/)
  })

  t.test('--stall-retries 0: the failure stays, and names the stall', async (t) => {
    const dir = tempDir('tcplab-e2e-stall0-')
    const stalled: { pid?: number } = {}
    const r = await runCli(['run', FIXTURE, '--stall-retries', '0', '--results', dir, '--reporter', 'jsonl'], { onSpawn: (c) => stallFirstAttempt(c, stalled) })
    t.ok(stalled.pid, 'the stall probe was found and stopped')
    t.equal(r.code, 1)
    const v = readVerdict(dir, NAME)
    t.equal(v.setAside, undefined, 'not run again')
    t.match(v.results[0]?.reason, /machine too busy: it stalled [\d.]+m?s at \d+\.\d+s/)
    t.notOk(existsSync(path.join(dir, NAME, 'attempts')))
  })
}
