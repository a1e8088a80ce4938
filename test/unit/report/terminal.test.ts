import t from 'tap'
import { readFileSync } from 'node:fs'
import { Writable } from 'node:stream'
import { readRunResults } from '../../../src/report/results.js'
import { createReporter, progressLine, expectedDurationMs, type ReporterName } from '../../../src/report/terminal.js'
import type { LoadedScenario } from '../../../src/scenario/loader.js'
import { parseScenario } from '../../../src/scenario/loader.js'
import { RUN_A, RUN_LINEAR0, normalise } from './runs.js'

function sink(): { out: Writable & { isTTY?: boolean }; text(): string } {
  let s = ''
  const out = new Writable({ write(chunk: Buffer, _enc, cb) { s += chunk.toString(); cb() } })
  return { out, text: () => s }
}

/** The scenarios of a recorded run, loaded from the scenario.yaml copies in it. */
function loadedOf(dir: string): LoadedScenario[] {
  return readRunResults(dir, { records: false }).scenarios.map((s) => parseScenario(readYaml(s.dir), s.verdict.file))
}
function readYaml(dir: string): string {
  return readFileSync(`${dir}/scenario.yaml`, 'utf8')
}

/** Play a recorded run through a reporter, as the suite runner would. */
function play(name: ReporterName, dir: string, opts: Parameters<typeof createReporter>[2] = {}): string {
  const run = readRunResults(dir, { records: false })
  const loaded = loadedOf(dir)
  const { out, text } = sink()
  const r = createReporter(name, out, opts)
  r.onStart?.(loaded, { backend: 'netns', jobs: 1, resultsDir: dir })
  run.scenarios.forEach((s, i) => {
    r.onScenarioStart?.(loaded[i] as LoadedScenario)
    r.onScenarioEnd?.(s.verdict, loaded[i] as LoadedScenario)
  })
  if (run.summary) r.onEnd?.(run.summary, run.scenarios.map((s) => s.verdict))
  // The verdicts are recorded, so their times are fixed; only where the fixtures live varies.
  return normalise(text())
}

t.test('pretty (not a terminal): a line when each scenario starts, the result, failures explained', async (t) => {
  t.matchSnapshot(play('pretty', RUN_LINEAR0, { live: false }), 'pretty')
})

t.test('pretty on a terminal: a status line redrawn with what runs, its elapsed and expected time', async (t) => {
  let now = 1000
  const loaded = loadedOf(RUN_A)
  const { out, text } = sink()
  const r = createReporter('pretty', out, { live: true, columns: 200, now: () => now, refreshMs: 60_000 })
  r.onStart?.(loaded, { backend: 'netns', jobs: 2, resultsDir: '/r' })
  r.onScenarioStart?.(loaded[0] as LoadedScenario)
  now += 3200
  r.onScenarioStart?.(loaded[1] as LoadedScenario)
  now += 1000
  const v = readRunResults(RUN_A, { records: false }).scenarios[1]?.verdict
  if (v) r.onScenarioEnd?.(v, loaded[1] as LoadedScenario)
  const s = text()
  t.match(s, /\r\x1b\[2K\[0\/2\] 0 passed · running: seed-syn-drop-timeout 0\.0s\/~10s/)
  t.match(s, /running: seed-syn-drop-timeout 3\.2s\/~10s, seed-sendq-ack-drop 0\.0s\/~6s/)
  t.match(s, /\r\x1b\[2KPASS seed-sendq-ack-drop \([\d.]+s, expected ~6s, 6\/6 expectations\)\n/, 'the status line is cleared before a result line')
  t.match(s, /\[1\/2\] 1 passed · running: seed-syn-drop-timeout 4\.2s\/~10s$/, 'and redrawn after it')
  r.onEnd?.({ startedAt: '', durationMs: 1, backend: 'netns', resultsDir: '/r', scenarios: [], passed: 1, failed: 0, errors: 0, skipped: 0 }, [])
  t.match(text(), /\r\x1b\[2K\n0 scenarios: 1 passed/)
})

t.test('progress line: late scenarios are flagged, long lines cut to the terminal', async (t) => {
  const running = new Map([['a', { startMs: 0, expectedMs: 1000 }], ['b', { startMs: 5000, expectedMs: undefined }]])
  t.equal(progressLine(running, { pass: 1, fail: 2, error: 0, skip: 1 }, 9, 7000), '[4/9] 1 passed, 2 failed, 1 skipped · running: a 7.0s/~1s (late), b 2.0s')
})

t.test('expected duration: duration:, else last at: + 1 s', async (t) => {
  const [syn] = loadedOf(RUN_A)
  t.equal(syn ? expectedDurationMs(syn) : 0, 10_000)
  const noDuration = parseScenario('name: x\ntitle: x\nexplain: x\nhosts: { a: {}, b: {} }\nsteps:\n  - at: 2s\n    a: { run: { name: p, cmd: [true] } }\nexpect:\n  - process: { name: p, exit: 0 }\n', 'x.yaml')
  t.equal(expectedDurationMs(noDuration), 3000)
})

t.test('tap and json reporters on a recorded run', async (t) => {
  t.matchSnapshot(play('tap', RUN_LINEAR0), 'tap')
  const json = JSON.parse(play('json', RUN_LINEAR0)) as { summary: { failed: number }; verdicts: unknown[] }
  t.equal(json.summary.failed, 1)
  t.equal(json.verdicts.length, 2)
})

t.test('junit reporter writes the document at the end', async (t) => {
  const s = play('junit', RUN_LINEAR0)
  t.match(s, /^<\?xml version="1.0" encoding="UTF-8"\?>\n<testsuites name="tcplab" tests="14" failures="3"/)
})

t.test('the first line says how many run at a time, and by which rule', async (t) => {
  const loaded = loadedOf(RUN_A)
  const first = (info: Parameters<NonNullable<ReturnType<typeof createReporter>['onStart']>>[1]): string => {
    const { out, text } = sink()
    createReporter('pretty', out, { live: false }).onStart?.(loaded, info)
    return text().split('\n')[0] ?? ''
  }
  t.match(first({ backend: 'netns', jobs: 3, resultsDir: '/r' }), /on netns, 3 at a time; results in \/r/)
  t.match(first({ backend: 'netns', jobs: 32, auto: true, resultsDir: '/r' }), /up to 32 at a time while timers keep time \(--jobs auto\)/)
  // In a guest the host's canary does not admit: one at a time, said as such.
  const vm = first({ backend: 'vm', jobs: 1, auto: true, inGuest: true, resultsDir: '/r' })
  t.match(vm, /on vm, 1 at a time \(--jobs auto in a guest\); results in \/r/)
  t.notMatch(vm, /timers keep time/)
})

t.test('pretty: agents that did not get the priority asked for are noted once a run', async (t) => {
  const run = readRunResults(RUN_A, { records: false })
  const loaded = loadedOf(RUN_A)
  const { out, text } = sink()
  const r = createReporter('pretty', out, { live: false })
  r.onStart?.(loaded, { backend: 'docker', jobs: 2, resultsDir: '/r' })
  const demoted = { asked: 'fifo' as const, hosts: { server: 'normal' as const, client: 'normal' as const }, refused: 'Operation not permitted' }
  run.scenarios.forEach((s, i) => r.onScenarioEnd?.({ ...s.verdict, agentSched: demoted }, loaded[i] as LoadedScenario))
  const notes = text().split('\n').filter((l) => l.includes('note:'))
  t.same(notes, ['  note: the agents on client, server ran at the normal priority: --agent-priority=fifo was refused (Operation not permitted); steps run on time only as far as the machine\'s load allows'])
  const { out: out2, text: text2 } = sink()
  const r2 = createReporter('pretty', out2, { live: false })
  const granted = { asked: 'fifo' as const, hosts: { server: 'fifo' as const, client: 'fifo' as const } }
  run.scenarios.forEach((s, i) => r2.onScenarioEnd?.({ ...s.verdict, agentSched: granted }, loaded[i] as LoadedScenario))
  t.notMatch(text2(), /note:/, 'granted: no note')
})
