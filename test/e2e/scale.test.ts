// Scale out without a scheduler (docs/scale.md), on the netns backend: four short
// scenarios run unsharded, then as --shard 1/2 and --shard 2/2 at the same
// time, and `tcplab merge` of the two shards gives the same set of verdicts as
// the unsharded run. An empty shard is a run of nothing, not an error. After
// each: no namespace or process of these runs left, the host's iptables as before.
import t, { type Test } from 'tap'
import { existsSync, readFileSync, readdirSync } from 'node:fs'
import path from 'node:path'
import type { RunSummary, ScenarioVerdict } from '../../src/expect/verdict.js'
import { e2eSkipReason, hostIptables, labNamespaces, labProcesses, runCli, sleep, tempDir, type CliResult } from './helpers.js'

/** Four short scenarios (1.5 to 3 s each). */
const SCENARIOS = ['scenarios/errno/errno-closed-fd.yaml', 'scenarios/errno/errno-shut-rd.yaml', 'scenarios/errno/errno-shut-wr.yaml', 'scenarios/close/naming-orphan-reuse.yaml']
const NAMES = ['errno-closed-fd', 'errno-shut-rd', 'errno-shut-wr', 'naming-orphan-reuse']

/** Assert an exit code; the output only when it differs. */
function exitsWith(tt: Test, r: CliResult, code: number, what: string): void {
  tt.equal(r.code, code, `${what} exits ${code}`)
  if (r.code !== code) tt.comment(`stdout:\n${r.stdout.slice(-3000)}\nstderr:\n${r.stderr.slice(-3000)}`)
}

const readJson = <T>(f: string): T => JSON.parse(readFileSync(f, 'utf8')) as T

/** Each scenario's verdict as a comparable line: name, status, and each expectation's kind and status. */
function verdictSet(dir: string): string[] {
  const summary = readJson<RunSummary>(path.join(dir, 'summary.json'))
  return summary.scenarios.map((s) => {
    const v = readJson<ScenarioVerdict>(path.join(dir, s.name, 'verdict.json'))
    t.equal(v.status, s.status, `${dir}: summary.json and ${s.name}/verdict.json agree`)
    return `${v.name} ${v.status} [${v.results.map((r) => `#${r.index + 1} ${r.kind} ${r.status}`).join(', ')}]`
  }).sort()
}

const labIdsIn = (dir: string): string[] =>
  readdirSync(dir).filter((n) => existsSync(path.join(dir, n, 'verdict.json'))).map((n) => readJson<{ labId: string }>(path.join(dir, n, 'verdict.json')).labId)

const skip = e2eSkipReason()
if (skip) {
  t.plan(0, skip)
} else {
  const iptablesBefore = hostIptables()

  t.test('--shard 1/2 plus --shard 2/2 plus merge gives the same verdicts as the unsharded run', async (t) => {
    const full = tempDir('tcplab-e2e-full-')
    const s1 = tempDir('tcplab-e2e-shard1-')
    const s2 = tempDir('tcplab-e2e-shard2-')
    const merged = path.join(tempDir('tcplab-e2e-merged-'), 'all')
    const r = await runCli(['run', ...SCENARIOS, '--jobs', '4', '--results', full, '--reporter', 'tap'])
    exitsWith(t, r, 0, 'the unsharded run')
    // The shards, at the same time (as two jobs of a CI matrix would), given the files in another order.
    const [a, b] = await Promise.all([
      runCli(['run', ...[...SCENARIOS].reverse(), '--shard', '1/2', '--jobs', '2', '--results', s1, '--reporter', 'tap']),
      runCli(['run', ...SCENARIOS, '--shard', '2/2', '--jobs', '2', '--results', s2, '--reporter', 'tap']),
    ])
    exitsWith(t, a, 0, 'shard 1/2')
    exitsWith(t, b, 0, 'shard 2/2')
    t.match(a.stdout, /^TAP version 14\n1\.\.2\n/, 'shard 1/2 runs two of the four')
    const sum1 = readJson<RunSummary>(path.join(s1, 'summary.json'))
    const sum2 = readJson<RunSummary>(path.join(s2, 'summary.json'))
    t.same(sum1.scenarios.map((s) => s.name).sort(), NAMES.slice(0, 2), 'shard 1/2: the first half by name')
    t.same(sum2.scenarios.map((s) => s.name).sort(), NAMES.slice(2), 'shard 2/2: the second half by name')
    t.same([sum1.shard?.index, sum1.shard?.total, sum1.shard?.selectionCount], [1, 2, 4])
    t.equal(sum1.shard?.selectionSha256, sum2.shard?.selectionSha256, 'both shards were cut from the same selection')
    for (const d of [s1, s2]) t.ok(existsSync(path.join(d, 'junit.xml')) && existsSync(path.join(d, 'results.tap')), `${d}: junit.xml and results.tap written`)

    const m = await runCli(['merge', s1, s2, '--out', merged])
    exitsWith(t, m, 0, 'merge')
    t.match(m.stdout, /merged 2 run\(s\) into .*: summary\.json, junit\.xml, results\.tap, index\.html\n4 scenarios: 4 passed/)
    t.same(verdictSet(merged), verdictSet(full), 'the merged shards hold the same verdicts as the unsharded run')
    t.same(readJson<RunSummary>(path.join(merged, 'summary.json')).scenarios.map((s) => s.name), NAMES)
    t.equal(readFileSync(path.join(merged, 'junit.xml'), 'utf8').match(/<testsuite /g)?.length, 4, 'one junit.xml with the four scenarios')
    t.match(readFileSync(path.join(merged, 'results.tap'), 'utf8'), /^TAP version 14\n1\.\.4\n/)
    t.match(readFileSync(path.join(merged, 'index.html'), 'utf8'), /merged from<\/b> 2 runs: shards 1\/2, 2\/2/)
    for (const n of NAMES) t.ok(existsSync(path.join(merged, n, 'report.html')), `${n}/report.html in the merged directory`)

    const again = await runCli(['merge', s1, s2, '--out', merged])
    t.equal(again.code, 2, 'merging into a directory that is not empty: exit 2')
    t.match(again.stderr, /exists and is not empty/)
    const overlap = await runCli(['merge', s1, full, '--out', path.join(merged, '..', 'overlap')])
    t.equal(overlap.code, 2, 'a shard with the full run: exit 2')
    t.match(overlap.stderr, /shards \(.*\) mixed with unsharded runs|overlapping inputs/)
    t.notOk(existsSync(path.join(merged, '..', 'overlap')), 'a refused merge writes nothing')

    await sleep(100)
    const ids = [...labIdsIn(full), ...labIdsIn(s1), ...labIdsIn(s2)]
    t.equal(ids.length, 8, 'eight labs ran')
    t.same(labNamespaces(ids), [], 'no namespace of these runs left')
    t.same(labProcesses(ids), [], 'no lab process of these runs left')
    t.equal(hostIptables(), iptablesBefore, "the host's iptables rules are unchanged")
  })

  t.test('an empty shard (more shards than scenarios) is a run of nothing, exit 0', async (t) => {
    const dir = tempDir('tcplab-e2e-shard-empty-')
    const r = await runCli(['run', ...SCENARIOS, '--shard', '5/5', '--results', dir, '--reporter', 'json'])
    exitsWith(t, r, 0, 'the empty shard')
    t.match(r.stderr, /shard 5\/5 has no scenarios \(4 selected in all\)/)
    const s = readJson<RunSummary>(path.join(dir, 'summary.json'))
    t.same(s.scenarios, [])
    t.same([s.shard?.index, s.shard?.total, s.shard?.selectionCount], [5, 5, 4])
    const bad = await runCli(['run', ...SCENARIOS, '--shard', '3/2'])
    t.equal(bad.code, 2, '--shard 3/2: exit 2')
    t.match(bad.stderr, /--shard 3\/2: INDEX must be between 1 and 2/)
  })
}
