import t from 'tap'
import { existsSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { readScenarioResult } from '../../../src/report/results.js'
import { buildReportModel } from '../../../src/report/model.js'
import { renderScenarioPage, annotate } from '../../../src/report/scenario-page.js'
import { regenerateReports, writeScenarioReport, writeRunIndex } from '../../../src/report/write.js'
import { RECORD_KINDS } from '../../../src/recorder/records.js'
import { exitCodeOf } from '../../../src/util/errors.js'
import { RUN_A, RUN_LINEAR0, copyRun, normalise } from './runs.js'

/** The visible texts of a report, in order: what a reader sees, without coordinates. */
function outline(html: string): string {
  const texts = (re: RegExp): string[] => [...html.matchAll(re)].map((m) => (m[1] ?? '').replace(/<title>[\s\S]*?<\/title>/g, '').replace(/<\/td>(?!$)/g, ' | ').replace(/<br>/g, ' / ').replace(/<\/li>/g, ' ; ').replace(/<[^>]+>/g, '').replace(/&[a-z]+;/g, (e) => ({ '&amp;': '&', '&lt;': '<', '&gt;': '>', '&quot;': '"', '&apos;': "'" })[e] ?? e))
  return [
    `title: ${texts(/<title>([^<]*)<\/title>/g)[0] ?? ''}`,
    `banner: ${texts(/<div class="banner [a-z]+">([\s\S]*?)<\/div>\n/g).join(' | ')}`,
    'expectations:',
    ...texts(/<tr id="exp-\d+"[^>]*>([\s\S]*?)<\/tr>/g).map((r) => `  ${r}`),
    `lanes: ${texts(/class="lane-name">([^<]*)/g).join(', ')}`,
    'packets:',
    ...texts(/class="lbl pk-lbl[^"]*"[^>]*>([^<]*)/g).map((r) => `  ${r}`),
    'rules:',
    ...texts(/<text id="bl-\d+"[^>]*>([^<]*)<\/text>/g).filter((x) => x.startsWith('⊘')).map((r) => `  ${r}`),
    'sockets:',
    ...texts(/class="(?:track-name|chart-name)">([^<]*)/g).map((r) => `  ${r}`),
    'events:',
    ...texts(/class="lbl (?:ev|step)-lbl[^"]*"[^>]*>([^<]*)/g).map((r) => `  ${r}`),
  ].join('\n')
}

const syn = readScenarioResult(path.join(RUN_LINEAR0, 'seed-syn-drop-timeout'))
const sendq = readScenarioResult(path.join(RUN_A, 'seed-sendq-ack-drop'))

t.test('the model takes every record kind', async (t) => {
  const m = buildReportModel(syn)
  for (const k of RECORD_KINDS) t.ok(m.counts[k] >= 0, k)
  t.ok(m.counts.pkt > 0 && m.counts.ss > 0 && m.counts.action > 0 && m.counts.event > 0 && m.counts.counter > 0 && m.counts.sample > 0)
  t.same(m.lanes, ['client', 'server'])
  t.ok(m.tMin < 0 && m.tMax > 10, 'the view is padded on both sides')
  const cli = m.tracks.find((tr) => tr.host === 'client')
  t.equal(cli?.states[0]?.state, 'SYN-SENT')
  t.ok(cli?.series.some((s) => s.spec.key === 'rto'), 'the rto doubles: charted')
  t.ok(cli?.timers.some((r) => r.name === 'on' && r.retrans.length >= 2), 'the SYN retransmission timer counts up')
  const exit = m.markers.find((mk) => mk.kind === 'event' && mk.type === 'exited' && mk.label.startsWith('cli'))
  t.match(exit, { severity: 'error', prominent: true, label: 'cli exited 1' })
})

t.test('a failing scenario: the report says what failed, where, and shows the dropped SYNs', async (t) => {
  const html = renderScenarioPage(buildReportModel(syn), syn, { indexHref: '../index.html' })
  t.matchSnapshot(normalise(outline(html)), 'outline of the failing SYN report')
  t.match(html, /3 of 5 expectations failed/)
  t.match(html, /data-goto="[\d.]+" data-exp="0"/, 'the failed expectation links to its moment')
})

t.test('a passing scenario with an OUTPUT drop rule and retransmissions', async (t) => {
  const html = renderScenarioPage(buildReportModel(sendq), sendq)
  t.matchSnapshot(normalise(outline(html)), 'outline of the Send-Q report')
  t.match(html, /All 6 expectations held/)
  t.notMatch(html, /all scenarios of this run/, 'no index link when none was asked for')
})

t.test('the page is self-contained: no network at view time, and its script compiles', async (t) => {
  const html = renderScenarioPage(buildReportModel(sendq), sendq)
  t.notMatch(html, /<link\b/i)
  t.notMatch(html, /\ssrc=/i)
  t.notMatch(html.replaceAll('xmlns="http://www.w3.org/2000/svg"', ''), /https?:\/\//)
  const data = /<script type="application\/json" id="tcplab-data">([\s\S]*?)<\/script>/.exec(html)?.[1]
  t.ok(data)
  const parsed = JSON.parse(data ?? '{}') as { tracks: unknown[]; geometry: { groups: unknown[] } }
  t.ok(parsed.tracks.length > 0 && parsed.geometry.groups.length > 0)
  const script = /<script>([\s\S]*?)<\/script>/.exec(html)?.[1] ?? ''
  t.doesNotThrow(() => new Function(script), 'the inline viewer is valid JavaScript')
  t.notMatch(script, /\bimport\b|\brequire\(/, 'no module loading in the page')
})

t.test('ss field names in expectations get their meaning as a tooltip; text is escaped', async (t) => {
  const out = annotate('sendQ = 6, timer = on <b>')
  t.match(out, /<abbr class="f" title="Send-Q \(bytes\): on a connected socket: bytes the application wrote/)
  t.match(out, /&lt;b&gt;$/)
  t.equal(annotate('nothing here'), 'nothing here')
})

t.test('writing reports into a results directory', async (t) => {
  const dir = copyRun(t, RUN_LINEAR0)
  const written = await regenerateReports(dir)
  t.same(written.map((w) => [path.relative(dir, w.file), w.error]), [
    ['seed-syn-drop-timeout/report.html', undefined],
    ['seed-sendq-ack-drop/report.html', undefined],
    ['index.html', undefined],
  ])
  const index = readFileSync(path.join(dir, 'index.html'), 'utf8')
  t.match(index, /href="seed-syn-drop-timeout\/report.html"/)
  t.match(index, /1 passed, 1 failed/)
  t.match(index, /net\.ipv4\.tcp_syn_linear_timeouts=0/, 'the run\'s --sysctl is shown')
  t.match(index, /3 packets \(expected 5\)/, 'what failed is on the index')
  t.match(readFileSync(path.join(dir, 'seed-sendq-ack-drop/report.html'), 'utf8'), /← all scenarios of this run/)
})

t.test('a report that cannot be drawn never throws for the runner: the page says why', async (t) => {
  const dir = copyRun(t, RUN_A)
  const broken = path.join(dir, 'seed-syn-drop-timeout')
  const { writeFileSync } = await import('node:fs')
  writeFileSync(path.join(broken, 'records.jsonl'), '{oops\n')
  const w = await writeScenarioReport(broken)
  t.match(w.error, /records\.jsonl:1: not JSON/)
  t.match(readFileSync(w.file, 'utf8'), /could not draw the report/)
  const idx = await writeRunIndex(dir)
  t.equal(idx.error, undefined, 'the index needs only verdicts')
  t.ok(existsSync(idx.file))
  const err = await regenerateReports(path.join(dir, 'nope')).then(() => undefined, (e: unknown) => e)
  t.equal(exitCodeOf(err), 2, 'a missing results directory is bad input')
})
