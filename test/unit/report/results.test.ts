import t from 'tap'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { readRunResults, readScenarioResult, readScenarioView, parseRecords, ResultsError } from '../../../src/report/results.js'
import { RUN_A } from './runs.js'

t.test('a recorded run reads back in the order it ran', async (t) => {
  const run = readRunResults(RUN_A)
  t.same(run.scenarios.map((s) => s.verdict.name), ['seed-syn-drop-timeout', 'seed-sendq-ack-drop'])
  t.ok(run.summary, 'summary.json read')
  const syn = run.scenarios[0]
  t.ok(syn && syn.records.length > 100, 'records read')
  t.equal(syn?.env?.kernel?.length ? 'kernel' : '', 'kernel', 'env.json read')
  t.same(syn?.pcaps, ['client.pcap', 'server.pcap'])
  t.equal(syn?.scenario?.durationMs, 10_000)
  t.same(syn?.scenario?.hosts.map((h) => h.name), ['client', 'server'])
  t.match(syn?.scenario?.steps[0] ?? '', /^at 0s {2}server: /)
})

t.test('a scenario folder alone is a run of one; records can be skipped', async (t) => {
  const run = readRunResults(path.join(RUN_A, 'seed-sendq-ack-drop'), { records: false })
  t.equal(run.scenarios.length, 1)
  t.equal(run.scenarios[0]?.records.length, 0)
})

t.test('a run interrupted before any scenario started: its summary alone is a run of none', async (t) => {
  const tmp = mkdtempSync(path.join(tmpdir(), 'tcplab-results-'))
  t.teardown(() => rmSync(tmp, { recursive: true, force: true }))
  // As `run` writes it on a Ctrl-C during start-up (recorded from a real run).
  writeFileSync(path.join(tmp, 'summary.json'), JSON.stringify({
    formatVersion: 1, startedAt: '2026-12-07T13:46:24.152Z', durationMs: 45, backend: 'netns', resultsDir: tmp,
    scenarios: [], passed: 0, failed: 0, errors: 0, skipped: 0, interrupted: { at: '2026-12-07T13:46:24.197Z', how: 'Ctrl-C' },
  }))
  const run = readRunResults(tmp)
  t.equal(run.scenarios.length, 0)
  t.ok(run.summary?.interrupted, 'the summary says it was interrupted')
})

t.test('bad input is a ResultsError (exit 2) naming the file', async (t) => {
  const tmp = mkdtempSync(path.join(tmpdir(), 'tcplab-results-'))
  t.teardown(() => rmSync(tmp, { recursive: true, force: true }))
  t.throws(() => readRunResults(path.join(tmp, 'missing')), { name: 'ResultsError', exitCode: 2, message: /no such results directory/ })
  t.throws(() => readRunResults(tmp), { exitCode: 2, message: /not a results directory/ })
  const sc = path.join(tmp, 'x')
  mkdirSync(sc)
  writeFileSync(path.join(sc, 'verdict.json'), '{"name": "x"}')
  t.throws(() => readScenarioResult(sc), { exitCode: 2, message: /verdict\.json: expected a verdict/ })
  writeFileSync(path.join(sc, 'verdict.json'), '{not json')
  t.throws(() => readScenarioResult(sc), { message: /verdict\.json: not JSON/ })
  t.throws(() => parseRecords('{"kind":"pkt","t":1}\n{oops\n', 'r.jsonl'), { message: /^r\.jsonl:2: not JSON/ })
  t.throws(() => parseRecords('[1,2]\n', 'r.jsonl'), { message: /r\.jsonl:1: expected a timeline record/ })
  t.ok(new ResultsError('x') instanceof Error)
})

t.test('unknown record kinds from a newer tcplab are skipped, not fatal', async (t) => {
  t.same(parseRecords('{"kind":"trace","t":1}\n{"kind":"sample","t":2,"host":"a","sockets":0}\n').map((r) => r.kind), ['sample'])
})

t.test('scenario.yaml is read loosely', async (t) => {
  t.equal(readScenarioView('just a string'), undefined)
  t.equal(readScenarioView('a: [1, 2'), undefined)
  const v = readScenarioView('name: a\ntitle: b\nexplain: c\nhosts: { x: {}, w: { role: wire } }\nduration: 2s\nsample: { interval: 50ms }\nsteps: [{ after: x.connected, delay: 1s, x: { close: { socket: s } } }]\n')
  t.same(v?.hosts, [{ name: 'x', role: undefined }, { name: 'w', role: 'wire' }])
  t.equal(v?.durationMs, 2000)
  t.equal(v?.sampleIntervalMs, 50)
  t.same(v?.steps, ['after x.connected + 1s  x: {"close":{"socket":"s"}}'])
})
