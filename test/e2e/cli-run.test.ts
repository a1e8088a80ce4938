// End to end, the CLI's run options on the netns backend, with two small
// scenarios of test/fixtures/scenarios/e2e (about 25 s in all):
// - --reporter jsonl streams: a scenario's steps and endpoint events reach
//   stdout while the scenario is still going, its expectations then its end
//   while the run is; progress goes to stderr; stdout is JSON lines only;
// - a scenario's `timeout:` stops it with a clear verdict (status error,
//   timedOut, E_TIMEOUT naming file:line), exit 1, nothing left behind;
// - --repeat 3: three results directories and a flake summary (pass rate and
//   delta spread per expectation) on stdout and in flake.json;
// - summary.json, verdict.json and the jsonl lines of these real runs match
//   their published JSON Schemas (schema/summary.schema.json,
//   schema/verdict.schema.json, schema/jsonl.schema.json);
// - --list and --grep: what would run, without a lab.

import t from 'tap'
import { spawn } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { Ajv2020 } from 'ajv/dist/2020.js'
import { CLI, e2eSkipReason, labNamespaces, runCli, tempDir } from './helpers.js'

const TINY = 'test/fixtures/scenarios/e2e/cli-tiny.yaml'
const TIMEOUT = 'test/fixtures/scenarios/e2e/cli-timeout.yaml'
const readJson = (f: string): Record<string, unknown> => JSON.parse(readFileSync(f, 'utf8')) as Record<string, unknown>
const ajv = new Ajv2020({ strict: false, allErrors: true })
const validateVerdict = ajv.compile(readJson('schema/verdict.schema.json'))
const validateSummary = ajv.compile(readJson('schema/summary.schema.json'))
const validateLine = ajv.compile(readJson('schema/jsonl.schema.json')) // refers to the two above by $id

/** summary.json as the run's end writes it: present and not the provisional one (which says `interrupted` until the run ends). */
function isFinalSummary(file: string): boolean {
  if (!existsSync(file)) return false
  try {
    return (JSON.parse(readFileSync(file, 'utf8')) as { interrupted?: unknown }).interrupted === undefined
  } catch {
    return false
  }
}

const skip = e2eSkipReason()
if (skip) {
  t.plan(0, skip)
} else {
  t.test('--list and --grep show what would run, with no lab', async (t) => {
    const r = await runCli(['run', TINY, TIMEOUT, '--grep', 'longer', '--list'])
    t.equal(r.code, 0)
    t.match(r.stdout, /^e2e-cli-timeout +A scenario longer than its timeout +\[e2e-cli\]\n$/)
    const none = await runCli(['run', TINY, '--grep', 'nomatch'])
    t.equal(none.code, 2, 'nothing selected: exit 2')
    t.match(none.stderr, /no scenarios selected/)
  })

  t.test('jsonl streams events as they happen; a timeout stops its scenario with a clear verdict', async (t) => {
    const dir = tempDir('tcplab-e2e-cli-')
    const child = spawn(process.execPath, [CLI, 'run', TINY, TIMEOUT, '--jobs', '1', '--reporter', 'jsonl', '--results', dir], { stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    let firstEndSeen: { exited: boolean; summaryWritten: boolean } | undefined
    // Each scenario's first in-scenario line, and whether its verdict.json was still the provisional one then.
    const firstInside = new Map<string, { event: string; verdictStatus: string | undefined }>()
    let exited = false
    let pending = ''
    child.stdout.on('data', (b: Buffer) => {
      stdout += b.toString()
      if (!firstEndSeen && stdout.includes('"event":"scenario-end"')) firstEndSeen = { exited, summaryWritten: isFinalSummary(path.join(dir, 'summary.json')) }
      pending += b.toString()
      const lines = pending.split('\n')
      pending = lines.pop() ?? ''
      for (const l of lines) {
        const e = JSON.parse(l) as { event: string; name?: string }
        if (!['step', 'endpoint'].includes(e.event) || e.name === undefined || firstInside.has(e.name)) continue
        let verdictStatus: string | undefined
        try {
          verdictStatus = (readJson(path.join(dir, e.name, 'verdict.json')) as { status?: string }).status
        } catch {
          verdictStatus = undefined
        }
        firstInside.set(e.name, { event: e.event, verdictStatus })
      }
    })
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()))
    const code = await new Promise<number | null>((resolve) => child.on('close', (c) => { exited = true; resolve(c) }))
    t.equal(code, 1, `a timed-out scenario fails the run (exit 1)\n${stderr}`)
    t.ok(firstEndSeen, 'a scenario-end event was written')
    t.equal(firstEndSeen?.exited, false, 'the first scenario-end reached stdout while the run was going on')
    t.equal(firstEndSeen?.summaryWritten, false, '... before the run ended (summary.json still the provisional one, marked interrupted)')
    type Line = { event: string; name?: string; formatVersion: number; verdict?: Record<string, unknown>; summary?: Record<string, unknown>; t?: number; runT?: number; scheduledT?: number; lateMs?: number; action?: string; type?: string; source?: string; status?: string }
    const events = stdout.trim().split('\n').map((l) => JSON.parse(l) as Line)
    const OUTER = ['run-start', 'scenario-start', 'scenario-end', 'run-end']
    t.same(events.filter((e) => OUTER.includes(e.event)).map((e) => e.event), ['run-start', 'scenario-start', 'scenario-end', 'scenario-start', 'scenario-end', 'run-end'], 'stdout is JSON lines only, in order')
    for (const name of ['e2e-cli-tiny', 'e2e-cli-timeout']) {
      const seen = firstInside.get(name)
      t.ok(seen, `${name}: in-scenario lines were streamed`)
      t.equal(seen?.verdictStatus, 'interrupted', `${name}: the first (${seen?.event}) reached stdout while the scenario was still going (its verdict.json still the provisional one)`)
      const start = events.findIndex((e) => e.event === 'scenario-start' && e.name === name)
      const end = events.findIndex((e) => e.event === 'scenario-end' && e.name === name)
      const inside = events.slice(start + 1, end)
      t.ok(inside.every((e) => e.name === name), `${name}: its lines between its start and end`)
      const listen = inside.find((e) => e.event === 'step' && e.action === 'listen')
      t.ok(listen && typeof listen.t === 'number' && typeof listen.runT === 'number' && listen.runT > (listen.t as number), `${name}: the listen step with its time on the scenario clock and on the run's (${JSON.stringify(listen)})`)
      t.equal(listen?.scheduledT, 0, `${name}: when it was due (at: 0s)`)
      t.ok(inside.some((e) => e.event === 'endpoint' && e.source === 'srv' && e.type === 'listening'), `${name}: the listener's event`)
      const verdict = events[end]?.verdict as { results: Array<{ status: string }> }
      t.same(inside.filter((e) => e.event === 'expectation').map((e) => e.status), verdict.results.map((r) => r.status), `${name}: each expectation, before scenario-end`)
    }
    const tiny = events.filter((e) => e.name === 'e2e-cli-tiny')
    const connect = tiny.find((e) => e.event === 'step' && e.action === 'connect')
    t.equal(connect?.scheduledT, 0.2, 'the connect step was due at 200 ms')
    t.ok(connect !== undefined && (connect.t as number) >= 0.2 && (connect.t as number) - 0.2 < 0.1, `and ran then (t ${connect?.t})`)
    t.ok(tiny.some((e) => e.event === 'endpoint' && e.source === 'cli' && e.type === 'connected'), 'the connect() result')
    t.ok(events.every((e) => e.formatVersion === 1), 'every event has formatVersion')
    const invalid = events.filter((e) => !validateLine(e))
    t.same(invalid, [], `every line matches schema/jsonl.schema.json ${ajv.errorsText(validateLine.errors)}`)
    t.match(stderr, /RUN +e2e-cli-/, 'progress on stderr')
    t.match(stderr, /\n2 scenarios: 1 passed, 0 failed, 1 errors/, 'the summary line on stderr')
    for (const e of events) if (e.verdict) t.ok(validateVerdict(e.verdict), `the event's verdict matches verdict.schema.json ${ajv.errorsText(validateVerdict.errors)}`)
    const verdict = readJson(path.join(dir, 'e2e-cli-timeout', 'verdict.json')) as { status: string; timedOut: boolean; reason: string; durationMs: number; labId: string; error: { code: string; message: string; exitCode: number } }
    t.equal(verdict.status, 'error')
    t.equal(verdict.timedOut, true)
    t.equal(verdict.reason, 'timed out after 2s')
    t.equal(verdict.error.code, 'E_TIMEOUT')
    t.match(verdict.error.message, /timed out: still running after 2s \(timeout: 2s at test\/fixtures\/scenarios\/e2e\/cli-timeout\.yaml:9:1\)/)
    t.ok(verdict.durationMs < 15_000, `stopped long before its 30 s timeline (${verdict.durationMs} ms)`)
    t.same(labNamespaces([verdict.labId]), [], 'its lab is torn down')
    t.match(readFileSync(path.join(dir, 'e2e-cli-timeout', 'report.html'), 'utf8'), /timed out/, 'report.html says so')
    for (const name of ['e2e-cli-tiny', 'e2e-cli-timeout']) {
      const v = readJson(path.join(dir, name, 'verdict.json'))
      t.ok(validateVerdict(v), `${name}/verdict.json matches verdict.schema.json ${ajv.errorsText(validateVerdict.errors)}`)
    }
    t.ok(validateSummary(readJson(path.join(dir, 'summary.json'))), `summary.json matches summary.schema.json ${ajv.errorsText(validateSummary.errors)}`)
    t.notOk(validateSummary({ ...readJson(path.join(dir, 'summary.json')), passed: 'one' }), 'and the schema can say no')
  })

  t.test('--repeat 3: three runs and a flake summary', async (t) => {
    const dir = tempDir('tcplab-e2e-repeat-')
    const r = await runCli(['run', TINY, '--repeat', '3', '--results', dir], { timeoutMs: 120_000 })
    t.equal(r.code, 0, `${r.stdout}\n${r.stderr}`)
    t.match(r.stdout, /repeat 1\/3: 1 scenario/)
    t.match(r.stdout, /repeat 3\/3: 1 scenario/)
    t.match(r.stdout, /flake summary over 3 repeats:\n +stable e2e-cli-tiny: 3\/3 passed\n +#1 packets \(line 15\): 3\/3 passed \(100%\), Δ [-+][\d.]+(us|ms|s) \.\. [-+][\d.]+(us|ms|s) \(spread [\d.]+(us|ms|s), tolerance ±100ms\)/)
    t.match(r.stdout, /#2 event \(line 16\): 3\/3 passed \(100%\) · connect\(\) succeeds/)
    for (const k of [1, 2, 3]) {
      t.ok(validateSummary(readJson(path.join(dir, `repeat-${k}`, 'summary.json'))), `repeat-${k}/summary.json`)
      t.ok(existsSync(path.join(dir, `repeat-${k}`, 'e2e-cli-tiny', 'verdict.json')), `repeat-${k} verdict`)
    }
    const flake = readJson(path.join(dir, 'flake.json')) as { formatVersion: number; repeats: number; scenarios: Array<{ name: string; flaky: boolean; statuses: Record<string, number>; expectations: Array<{ passRate: number; deltas?: { n: number; minMs: number; maxMs: number; spreadMs: number } }> }> }
    t.equal(flake.formatVersion, 1)
    t.equal(flake.repeats, 3)
    const s = flake.scenarios[0]
    t.equal(s?.name, 'e2e-cli-tiny')
    t.equal(s?.flaky, false)
    t.same(s?.statuses, { pass: 3, fail: 0, error: 0, skip: 0, interrupted: 0 })
    t.equal(s?.expectations[0]?.passRate, 1)
    const d = s?.expectations[0]?.deltas
    t.equal(d?.n, 3, 'three deltas of the timing expectation')
    t.equal(d?.spreadMs, Math.round(((d?.maxMs ?? 0) - (d?.minMs ?? 0)) * 1000) / 1000, 'spread = max - min')
    t.equal(s?.expectations[1]?.deltas, undefined, 'no delta for a count')
  })
}
