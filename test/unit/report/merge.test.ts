// tcplab merge: recorded shards (test/fixtures/runs/shard-*-of-2) merge into one
// run directory; overlapping or incompatible inputs are refused (exit 2) before
// anything is written.
import t from 'tap'
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { mergeResults, MergeError } from '../../../src/report/merge.js'
import type { RunSummary, ScenarioVerdict } from '../../../src/expect/verdict.js'
import { RUN_A, RUNS } from './runs.js'

const SHARD1 = path.join(RUNS, 'shard-1-of-2')
const SHARD2 = path.join(RUNS, 'shard-2-of-2')
const readJson = <T>(f: string): T => JSON.parse(readFileSync(f, 'utf8')) as T

function scratch(t: { teardown(fn: () => void): void }): string {
  const tmp = mkdtempSync(path.join(tmpdir(), 'tcplab-merge-'))
  t.teardown(() => rmSync(tmp, { recursive: true, force: true }))
  return tmp
}

/** A copy of a recorded run whose summary.json (and optionally env.json files) are edited. */
function edited(tmp: string, src: string, name: string, edit: (s: RunSummary) => void, editEnv?: (e: Record<string, unknown>) => void): string {
  const dir = path.join(tmp, name)
  cpSync(src, dir, { recursive: true })
  const f = path.join(dir, 'summary.json')
  const s = readJson<RunSummary>(f)
  edit(s)
  writeFileSync(f, JSON.stringify(s))
  if (editEnv) {
    for (const d of readdirSync(dir)) {
      const ef = path.join(dir, d, 'env.json')
      if (!existsSync(ef)) continue
      const e = readJson<Record<string, unknown>>(ef)
      editEnv(e)
      writeFileSync(ef, JSON.stringify(e))
    }
  }
  return dir
}

t.test('two shards merge into one run directory with the same verdicts', async (t) => {
  const out = path.join(scratch(t), 'all')
  const m = await mergeResults([SHARD2, SHARD1], { outDir: out })
  t.same(m.warnings, [])
  const names = ['errno-closed-fd', 'errno-shut-rd', 'errno-shut-wr', 'naming-orphan-reuse']
  t.same(m.summary.scenarios.map((s) => s.name), names, 'sorted by name')
  t.same(readdirSync(out).sort(), [...names, 'index.html', 'junit.xml', 'results.tap', 'summary.json'].sort())
  for (const n of names) {
    const from = existsSync(path.join(SHARD1, n)) ? SHARD1 : SHARD2
    for (const f of readdirSync(path.join(from, n))) {
      t.ok(readFileSync(path.join(out, n, f)).equals(readFileSync(path.join(from, n, f))), `${n}/${f} copied as it is`)
    }
  }
  const summary = readJson<RunSummary>(path.join(out, 'summary.json'))
  const inputs = [SHARD1, SHARD2].map((d) => readJson<RunSummary>(path.join(d, 'summary.json')))
  t.same(summary.scenarios, inputs.flatMap((s) => s.scenarios).sort((a, b) => (a.name < b.name ? -1 : 1)), 'summary entries are the shards\' entries')
  t.equal(summary.passed, 4)
  t.equal(summary.failed + summary.errors + summary.skipped, 0)
  t.equal(summary.backend, 'netns')
  t.equal(summary.resultsDir, out)
  t.equal(summary.shard, undefined, 'the merged run is not a shard')
  t.same(summary.mergedFrom?.map((r) => [r.dir, r.shard?.index, r.scenarios]), [[SHARD2, 2, 2], [SHARD1, 1, 2]])
  const starts = inputs.map((s) => Date.parse(s.startedAt))
  t.equal(summary.startedAt, new Date(Math.min(...starts)).toISOString(), 'starts with the earliest shard')
  t.equal(summary.durationMs, Math.max(...inputs.map((s, i) => (starts[i] as number) + s.durationMs)) - Math.min(...starts), 'lasts until the last shard ended')
  const verdicts = names.map((n) => readJson<ScenarioVerdict>(path.join(out, n, 'verdict.json')))
  t.same(m.verdicts, verdicts)
  const junit = readFileSync(path.join(out, 'junit.xml'), 'utf8')
  t.equal(junit.match(/<testsuite /g)?.length, 4, 'junit.xml: one testsuite per scenario')
  t.match(junit, /<testsuites name="tcplab" tests="\d+" failures="0" errors="0"/)
  const tap = readFileSync(path.join(out, 'results.tap'), 'utf8')
  t.match(tap, /^TAP version 14\n1\.\.4\nok 1 - errno-closed-fd\n/)
  t.match(tap, /\nok 4 - naming-orphan-reuse\n/)
  t.match(tap, /# 4 scenarios: 4 passed, 0 failed, 0 errors, 0 skipped/)
  const index = readFileSync(path.join(out, 'index.html'), 'utf8')
  t.match(index, /4 scenarios: 4 passed, 0 failed/)
  t.match(index, /<b>merged from<\/b> 2 runs: shards 1\/2, 2\/2</)
  for (const n of names) t.match(index, `href="${n}/`)
})

t.test('a missing shard is a warning, and the page says which', async (t) => {
  const out = path.join(scratch(t), 'part')
  const m = await mergeResults([SHARD1], { outDir: out })
  t.same(m.warnings, ['shard 2/2 missing', 'the merged run has 2 of the 4 scenarios selected'])
  t.match(readFileSync(path.join(out, 'index.html'), 'utf8'), /shards 1\/2 \(2\/2 missing\)/)
})

t.test('a merged directory merges again with a disjoint run; an empty --out is fine', async (t) => {
  const tmp = scratch(t)
  const out = path.join(tmp, 'all')
  await mergeResults([SHARD1, SHARD2], { outDir: out })
  const again = path.join(tmp, 'again')
  mkdirSync(again)
  const m = await mergeResults([out, RUN_A], { outDir: again })
  t.equal(m.summary.scenarios.length, 6)
  t.match(readFileSync(path.join(again, 'index.html'), 'utf8'), /merged from<\/b> 2 runs: /)
})

t.test('overlapping or incompatible inputs are refused (exit 2) and nothing is written', async (t) => {
  const tmp = scratch(t)
  const notEmpty = path.join(tmp, 'not-empty')
  mkdirSync(notEmpty)
  writeFileSync(path.join(notEmpty, 'x'), '')
  const noSummary = path.join(tmp, 'no-summary')
  cpSync(SHARD2, noSummary, { recursive: true })
  rmSync(path.join(noSummary, 'summary.json'))
  const incomplete = path.join(tmp, 'incomplete')
  cpSync(SHARD2, incomplete, { recursive: true })
  rmSync(path.join(incomplete, 'errno-shut-wr'), { recursive: true })
  const cases: Array<[string, string[], RegExp, string?]> = [
    ['the same directory twice', [SHARD1, `${SHARD1}/`], /are the same directory/],
    ['a scenario in two inputs', [SHARD1, edited(tmp, SHARD1, 'again-1', (s) => { if (s.shard) s.shard.index = 2 })], /overlapping inputs: 2 scenario\(s\) ran in more than one of them: errno-closed-fd \(in .*shard-1-of-2 and .*again-1\)/],
    ['one shard twice', [SHARD1, edited(tmp, SHARD2, 'also-1', (s) => { if (s.shard) s.shard.index = 1 })], /are both shard 1\/2/],
    ['different shard counts', [SHARD1, edited(tmp, SHARD2, 'of-3', (s) => { if (s.shard) s.shard.total = 3 })], /incompatible inputs: shard counts differ: \/2 \(.*shard-1-of-2\); \/3 \(.*of-3\)/],
    ['different selections', [SHARD1, edited(tmp, SHARD2, 'other-sel', (s) => { if (s.shard) s.shard.selectionSha256 = '0'.repeat(64) })], /incompatible inputs: selections .* differ/],
    ['shards with an unsharded run', [SHARD1, RUN_A], /shards \(.*shard-1-of-2\) mixed with unsharded runs \(.*default-a\)/],
    ['different backends', [SHARD1, edited(tmp, SHARD2, 'docker', (s) => { s.backend = 'docker' })], /incompatible inputs: backends differ: netns \(.*\); docker \(.*docker\)/],
    ['different tcplab versions', [SHARD1, edited(tmp, SHARD2, 'v9', () => undefined, (e) => { e.tcplab = '9.9.9' })], /tcplab versions differ/],
    ['different --sysctl', [SHARD1, edited(tmp, SHARD2, 'sysctl', () => undefined, (e) => { e.sysctlOverrides = { 'net.ipv4.tcp_syn_retries': '2' } })], /--sysctl overrides differ/],
    ['no summary.json', [SHARD1, noSummary], /no-summary: no summary\.json: not a finished run/],
    ['a scenario folder missing', [SHARD1, incomplete], /summary\.json lists scenario "errno-shut-wr" but there is no folder/],
    ['a scenario folder as input', [path.join(SHARD1, 'errno-shut-rd')], /one scenario's folder, not a run's results directory/],
    ['no such directory', [path.join(tmp, 'nope')], /no such results directory/],
    ['no input', [], /at least one results directory/],
    ['--out not empty', [SHARD1], /--out .*not-empty exists and is not empty/, notEmpty],
    ['--out inside an input', [SHARD1], /--out .* overlaps the input/, path.join(SHARD1, 'merged')],
    ['--out is an input', [SHARD1, SHARD2], /--out .* overlaps the input/, SHARD2],
  ]
  for (const [what, dirs, message, outDir] of cases) {
    const out = outDir ?? path.join(tmp, `out-${what.replace(/\W+/g, '-')}`)
    const before = existsSync(out) ? readdirSync(out).length : -1
    const e = await mergeResults(dirs, { outDir: out }).then(() => undefined, (err: unknown) => err)
    t.ok(e instanceof MergeError && e.exitCode === 2, `${what}: MergeError, exit 2`)
    t.match((e as Error | undefined)?.message ?? '', message, `${what}: says why`)
    t.equal(existsSync(out) ? readdirSync(out).length : -1, before, `${what}: nothing written`)
  }
  t.notOk(existsSync(path.join(SHARD1, 'merged')), 'nothing written into the input')
})
