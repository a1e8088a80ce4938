// The run files (summary.json, junit.xml, results.tap) are the same whether the
// run or `merge` writes them: results.tap is what the tap reporter streams, and
// the daemon and shard of a run are carried through.
import t from 'tap'
import { Writable } from 'node:stream'
import { readRunResults } from '../../../src/report/results.js'
import { createReporter } from '../../../src/report/terminal.js'
import { renderTap } from '../../../src/report/tap.js'
import { renderJunit } from '../../../src/report/junit.js'
import { renderIndexPage } from '../../../src/report/index-page.js'
import { summarizeRun } from '../../../src/report/run-files.js'
import type { LoadedScenario } from '../../../src/scenario/loader.js'
import { RUN_A } from './runs.js'

const run = readRunResults(RUN_A, { records: false })
const verdicts = run.scenarios.map((s) => s.verdict)

t.test('results.tap is exactly what the tap reporter streams for the same run', async (t) => {
  const summary = run.summary
  if (!summary) throw new Error('fixture without summary.json')
  let streamed = ''
  const out = new Writable({ write: (c: Buffer, _e, cb) => { streamed += c.toString(); cb() } })
  const rep = createReporter('tap', out)
  rep.onStart?.(verdicts.map(() => ({}) as LoadedScenario), { backend: 'netns', jobs: 1, resultsDir: RUN_A })
  for (const v of verdicts) rep.onScenarioEnd?.(v, {} as LoadedScenario)
  rep.onEnd?.(summary, verdicts)
  t.equal(renderTap(summary, verdicts), streamed)
  t.match(streamed, /^TAP version 14\n1\.\.2\nok 1 - seed-syn-drop-timeout\n/)
})

t.test('daemon and shard go into summary.json, junit.xml and index.html', async (t) => {
  const D2 = 'tcp://10.0.0.7:2375'
  const vs = verdicts.map((v, i) => ({ ...v, backend: 'docker', daemon: i === 0 ? 'unix:///var/run/docker.sock' : D2 }))
  const shard = { index: 2, total: 3, selectionCount: 7, selectionSha256: 'ab'.repeat(32) }
  const s = summarizeRun(vs, { backend: 'docker', resultsDir: '/r', startedMs: 0, durationMs: 5, daemons: ['unix:///var/run/docker.sock', D2], shard })
  t.same(s.scenarios.map((x) => x.daemon), ['unix:///var/run/docker.sock', D2])
  t.same(s.daemons, ['unix:///var/run/docker.sock', D2])
  t.same(s.shard, shard)
  t.equal(s.mergedFrom, undefined)
  t.equal(summarizeRun(verdicts, { backend: 'netns', resultsDir: '/r', startedMs: 0, durationMs: 5 }).daemons, undefined, 'no daemons on netns')
  t.match(renderJunit(s, vs), `<property name="daemon" value="${D2}"/>`)
  const html = renderIndexPage(vs.map((v) => ({ verdict: v, folder: v.name, hasReport: false })), s, '/r')
  t.match(html, `on ${D2}`, 'each row names its daemon when there are several')
  t.match(html, '<b>shard</b> 2/3 of 7 scenarios')
  const one = renderIndexPage(vs.map((v) => ({ verdict: { ...v, daemon: D2 }, folder: v.name, hasReport: false })), s, '/r')
  t.notMatch(one, `<br><span class="muted">on ${D2}`, 'not when every scenario ran on the same daemon')
})
