// The CI side of the reporters, on recorded runs (test/fixtures/runs): jsonl
// writes each event when it happens, not at the end; the stderr progress shows
// what runs whatever the reporter on stdout; NO_COLOR and FORCE_COLOR; the
// flake summary of --repeat; the published JSON Schemas accept the recorded
// verdicts and summaries.

import t from 'tap'
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { Writable } from 'node:stream'
import { Ajv2020 } from 'ajv/dist/2020.js'
import { readRunResults } from '../../../src/report/results.js'
import { isColorEnabled, combineReporters, createProgressReporter, createReporter } from '../../../src/report/terminal.js'
import { formatFlakeSummary, summarizeFlakes } from '../../../src/report/flake.js'
import { parseScenario, type LoadedScenario } from '../../../src/scenario/loader.js'
import type { ScenarioVerdict } from '../../../src/expect/verdict.js'
import { RUN_A, RUN_LINEAR0, RUNS } from './runs.js'
import { parseJsonl } from '../../../src/recorder/timeline.js'
import type { ActionRecord, EventRecord } from '../../../src/recorder/records.js'

function sink(isTTY = false): { out: Writable & { isTTY?: boolean }; text(): string } {
  let s = ''
  const out = new Writable({ write(chunk: Buffer, _enc, cb) { s += chunk.toString(); cb() } }) as Writable & { isTTY?: boolean }
  out.isTTY = isTTY
  return { out, text: () => s }
}

function recorded(dir: string): { loaded: LoadedScenario[]; verdicts: ScenarioVerdict[]; summary: NonNullable<ReturnType<typeof readRunResults>['summary']> } {
  const run = readRunResults(dir, { records: false })
  const loaded = run.scenarios.map((s) => parseScenario(readFileSync(`${s.dir}/scenario.yaml`, 'utf8'), s.verdict.file))
  if (!run.summary) throw new Error(`${dir} has no summary.json`)
  return { loaded, verdicts: run.scenarios.map((s) => s.verdict), summary: run.summary }
}

t.test('jsonl: one JSON line per event, written when the event happens', async (t) => {
  const { loaded, verdicts, summary } = recorded(RUN_A)
  const { out, text } = sink()
  const r = createReporter('jsonl', out, { now: () => 0 })
  r.onStart?.(loaded, { backend: 'netns', jobs: 2, resultsDir: RUN_A })
  t.equal(text().split('\n').length, 2, 'run-start is out before any scenario ends')
  r.onScenarioStart?.(loaded[0] as LoadedScenario)
  const afterStart = text()
  t.match(afterStart.trim().split('\n').at(-1), /^\{"event":"scenario-start","time":"1970-01-01T00:00:00.000Z","formatVersion":1,"name":"[a-z-]+"/)
  r.onScenarioEnd?.(verdicts[0] as ScenarioVerdict, loaded[0] as LoadedScenario)
  const end = JSON.parse(text().trim().split('\n').at(-1) as string) as { event: string; status: string; verdict: { name: string } }
  t.equal(end.event, 'scenario-end')
  t.equal(end.verdict.name, verdicts[0]?.name)
  r.onEnd?.(summary, verdicts)
  const events = text().trim().split('\n').map((l) => JSON.parse(l) as { event: string })
  const results = verdicts[0]?.results.length ?? 0
  t.ok(results > 0)
  t.same(events.map((e) => e.event), ['run-start', 'scenario-start', ...Array<string>(results).fill('expectation'), 'scenario-end', 'run-end'])
})

t.test('jsonl: in-scenario lines as the timeline fills (steps, endpoint events, lateness, notes), expectations before scenario-end', async (t) => {
  // errno-shut-rd as recorded (shard-1-of-2): its first step ran 12.472 ms late (the agent's own measure).
  const { loaded, verdicts, summary } = recorded(path.join(RUNS, 'shard-1-of-2'))
  const i = loaded.findIndex((l) => l.scenario.name === 'errno-shut-rd')
  const s = loaded[i] as LoadedScenario
  const v = verdicts[i] as ScenarioVerdict
  const recs = parseJsonl(readFileSync(path.join(RUNS, 'shard-1-of-2', 'errno-shut-rd', 'records.jsonl'), 'utf8'))
    .filter((r): r is ActionRecord | EventRecord => r.kind === 'action' || r.kind === 'event')
  const runStartMs = Date.parse(v.startedAt)
  const t0Us = runStartMs * 1000 + 2_000_000 // the scenario's t0, 2 s into the run
  let clockMs = runStartMs
  const { out, text } = sink()
  const r = createReporter('jsonl', out, { now: () => clockMs })
  const lines = (): Array<Record<string, unknown>> => text().trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>)
  r.onStart?.(loaded, { backend: 'netns', jobs: 1, resultsDir: 'x' })
  r.onScenarioStart?.(s)
  r.onNote?.('client: sampling every 20 ms, not 10 ms', s)
  t.match(lines().at(-1), { event: 'note', name: 'errno-shut-rd', text: /sampling every 20 ms/ }, 'a note as it comes')
  for (const rec of recs) {
    const before = lines().length
    clockMs = Math.round(t0Us / 1000 + rec.t * 1000)
    r.onScenarioRecord?.(s, rec, t0Us)
    const quiet = rec.kind === 'event' && ['sent', 'read'].includes(rec.type)
    t.equal(lines().length > before, !quiet, `${rec.kind} ${rec.kind === 'event' ? rec.type : rec.action} at ${rec.t}: ${quiet ? 'not streamed (many in a bulk transfer)' : 'out at once'}`)
  }
  const steps = lines().filter((l) => l.event === 'step')
  t.equal(steps.length, recs.filter((x) => x.kind === 'action').length, 'one step line per step played')
  t.match(steps[0], { name: 'errno-shut-rd', t: 0.012472, runT: 2.012472, scheduledT: 0, scheduledRunT: 2, lateMs: 12.472, step: 0, host: 'server', action: 'listen', target: 'srv' },
    'scheduled and actual time, on the scenario clock (t) and the run clock (runT)')
  t.equal(lines().filter((l) => l.event === 'late').length, 0, 'no lateness warning: 12.472 ms is within the default 50 ms floor')
  t.match(lines().find((l) => l.event === 'endpoint' && l.type === 'eof'), { source: 'cli', host: 'client', t: 0.800164, runT: 2.800164 })
  t.ok(lines().some((l) => l.event === 'endpoint' && l.type === 'exit' && l.source === 'agent'), 'the agents\' exit')

  // The same step in a scenario whose tolerance floor is 10 ms: a lateness warning.
  const strict = { ...s, scenario: { ...s.scenario, tolerance: 10 } } as LoadedScenario
  r.onScenarioRecord?.(strict, recs.find((x) => x.kind === 'action' && x.lateMs !== undefined) as ActionRecord, t0Us)
  t.match(lines().at(-1), { event: 'late', name: 'errno-shut-rd', step: 0, lateMs: 12.472, toleranceMs: 10 }, 'a step later than the tolerance floor')

  r.onScenarioEnd?.({ formatVersion: 1, ...v }, s) // recorded before verdict.json had formatVersion
  const tail = lines().slice(-(v.results.length + 1))
  t.same(tail.map((l) => l.event), [...v.results.map(() => 'expectation'), 'scenario-end'], 'the expectations, then scenario-end')
  const firstWithT = v.results.findIndex((x) => x.t !== undefined)
  const e = tail[firstWithT] as Record<string, unknown>
  const res = v.results[firstWithT]
  t.match(e, { name: 'errno-shut-rd', index: res?.index, status: res?.status, description: res?.description, t: res?.t, line: res?.line })
  t.equal(e.runT, Math.round((res?.t ?? 0) * 1e6 + 2e6) / 1e6, 'runT of the moment it points at')
  void summary // (its `shard` is not in schema/summary.schema.json yet): a summary from before --shard
  r.onEnd?.({ formatVersion: 1, ...recorded(RUN_A).summary }, verdicts)
  t.equal(lines().at(-1)?.event, 'run-end')
  const valid = jsonlValidator()
  for (const l of lines()) t.ok(valid(l), `${String(l.event)} line matches schema/jsonl.schema.json ${ajvText(valid)}`)
  t.notOk(valid({ ...steps[0], lateMs: 'late' }), 'the schema can say no (lateMs not a number)')
  t.notOk(valid({ ...steps[0], step: undefined }), '... (a step line without its index)')
  t.notOk(valid({ ...lines().at(-1), event: 'scenario-paused' }), '... (an unknown event)')
})

/** schema/jsonl.schema.json, with the verdict and summary schemas it refers to. */
function jsonlValidator(): ReturnType<Ajv2020['compile']> {
  const ajv = new Ajv2020({ strict: false, allErrors: true })
  for (const f of ['verdict', 'summary']) ajv.addSchema(JSON.parse(readFileSync(`schema/${f}.schema.json`, 'utf8')) as object)
  return ajv.compile(JSON.parse(readFileSync('schema/jsonl.schema.json', 'utf8')) as object)
}
const ajvText = (v: ReturnType<Ajv2020['compile']>): string => new Ajv2020().errorsText(v.errors)

t.test('progress on stderr beside a machine reporter: JUnit stays clean on stdout, stderr shows each scenario', async (t) => {
  const { loaded, verdicts, summary } = recorded(RUN_LINEAR0)
  const stdout = sink()
  const stderr = sink()
  const r = combineReporters(createReporter('junit', stdout.out), createProgressReporter(stderr.out, { live: false }))
  r.onStart?.(loaded, { backend: 'netns', jobs: 1, resultsDir: RUN_LINEAR0 })
  loaded.forEach((l, i) => {
    r.onScenarioStart?.(l)
    t.match(stderr.text(), new RegExp(`RUN +${l.scenario.name}`), `stderr shows ${l.scenario.name} starting, before the run ends`)
    r.onScenarioEnd?.(verdicts[i] as ScenarioVerdict, l)
  })
  t.equal(stdout.text(), '', 'nothing on stdout before the end (JUnit is one document)')
  r.onEnd?.(summary, verdicts)
  t.match(stdout.text(), /^<\?xml/)
  t.notMatch(stdout.text(), /RUN /)
  t.match(stderr.text(), /FAIL seed-syn-drop-timeout/, 'the failing scenario on stderr')
  t.notMatch(stderr.text(), /measured:/, 'without the details (they are in the JUnit)')
  t.match(stderr.text(), /\n\d+ scenarios: /, 'the summary line')
})

t.test('colors: NO_COLOR, FORCE_COLOR, terminals', async (t) => {
  const tty = sink(true).out
  const pipe = sink(false).out
  t.equal(isColorEnabled(tty, {}), true, 'a terminal')
  t.equal(isColorEnabled(pipe, {}), false, 'a pipe')
  t.equal(isColorEnabled(tty, { NO_COLOR: '1' }), false, 'NO_COLOR on a terminal')
  t.equal(isColorEnabled(tty, { NO_COLOR: '' }), true, 'an empty NO_COLOR is not set')
  t.equal(isColorEnabled(pipe, { FORCE_COLOR: '1' }), true, 'FORCE_COLOR on a pipe')
  t.equal(isColorEnabled(tty, { FORCE_COLOR: '0' }), false, 'FORCE_COLOR=0')
  t.equal(isColorEnabled(pipe, { FORCE_COLOR: '1', NO_COLOR: '1' }), true, 'FORCE_COLOR first, as Node does')
  t.equal(isColorEnabled(tty, { TERM: 'dumb' }), false, 'TERM=dumb')
  const { loaded, verdicts } = recorded(RUN_LINEAR0)
  const colored = sink()
  const plain = sink()
  for (const [s, color] of [[colored, true], [plain, false]] as const) {
    const r = createReporter('pretty', s.out, { live: false, color })
    loaded.forEach((l, i) => r.onScenarioEnd?.(verdicts[i] as ScenarioVerdict, l))
  }
  t.match(colored.text(), /\x1b\[31mFAIL\x1b\[0m/, 'FAIL in red')
  t.match(colored.text(), /\x1b\[32mPASS\x1b\[0m/, 'PASS in green')
  t.notMatch(plain.text(), /\x1b\[/, 'no escape codes without color')
})

t.test('flake summary: pass rate and delta spread per expectation over the repeats', async (t) => {
  const a = recorded(RUN_A).verdicts
  const b = recorded(RUN_LINEAR0).verdicts
  const name = 'seed-syn-drop-timeout'
  const pick = (vs: ScenarioVerdict[]): ScenarioVerdict[] => vs.filter((v) => v.name === name)
  const f = summarizeFlakes([pick(a), pick(b), pick(a)])
  t.equal(f.repeats, 3)
  const s = f.scenarios[0]
  t.equal(s?.name, name)
  const va = pick(a)[0] as ScenarioVerdict
  const vb = pick(b)[0] as ScenarioVerdict
  t.equal(s?.flaky, va.status !== vb.status && (va.status === 'pass' || vb.status === 'pass'))
  for (const e of s?.expectations ?? []) {
    const ra = va.results.find((r) => r.index === e.index)
    const rb = vb.results.find((r) => r.index === e.index)
    const passes = [ra, rb, ra].filter((r) => r?.status === 'pass').length
    t.equal(e.passed, passes, `#${e.index + 1}: passes counted`)
    const deltas = [ra, rb, ra].map((r) => r?.deltaMs).filter((d): d is number => d !== undefined)
    if (deltas.length > 0) {
      t.equal(e.deltas?.minMs, Math.round(Math.min(...deltas) * 1000) / 1000, `#${e.index + 1}: min delta`)
      t.equal(e.deltas?.maxMs, Math.round(Math.max(...deltas) * 1000) / 1000, `#${e.index + 1}: max delta`)
      t.equal(e.deltas?.n, deltas.length)
    } else t.equal(e.deltas, undefined)
  }
  const text = formatFlakeSummary(f)
  t.match(text, /^flake summary over 3 repeats:\n/)
  t.match(text, new RegExp(`(FLAKY|stable|FAILS) ${name}: \\d/3 passed`))
  t.match(text, /passed \(\d+%\), Δ [-+]/)
})

t.test('the published schemas accept the recorded verdicts and summaries (written before formatVersion: added here)', async (t) => {
  const ajv = new Ajv2020({ strict: false, allErrors: true })
  const verdict = ajv.compile(JSON.parse(readFileSync('schema/verdict.schema.json', 'utf8')) as object)
  const summary = ajv.compile(JSON.parse(readFileSync('schema/summary.schema.json', 'utf8')) as object)
  for (const dir of [RUN_A, RUN_LINEAR0]) {
    const { verdicts, summary: s } = recorded(dir)
    for (const v of verdicts) t.ok(verdict({ formatVersion: 1, ...v }), `${v.name}: ${ajv.errorsText(verdict.errors)}`)
    t.ok(summary({ formatVersion: 1, ...s }), `${dir}/summary.json: ${ajv.errorsText(summary.errors)}`)
    t.notOk(verdict({ formatVersion: 1, ...verdicts[0], status: 'maybe' }), 'an unknown status is rejected')
    t.notOk(verdict({ formatVersion: 2, ...verdicts[0] }), 'another formatVersion is rejected')
  }
})
