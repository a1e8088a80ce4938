// report.html of one scenario run: what the scenario is about, whether its
// expectations held (measured against expected, with the tolerance, linked to
// their moment on the timeline), the timeline itself, an ss inspector, the
// environment, the raw records and a glossary of ss fields. Self-contained.

import { gzipSync } from 'node:zlib'
import type { ExpectationResult } from '../expect/verdict.js'
import type { SsRecord } from '../recorder/records.js'
import { formatMs } from '../util/duration.js'
import { escapeXml as x, jsonForScript } from './escape.js'
import { QUEUE_MEANINGS, SS_FIELDS, STATE_MEANINGS, TIMER_MEANINGS, findFieldMeaning, type FieldMeaning } from './glossary.js'
import { describeRecord, formatLate, type ReportModel } from './model.js'
import type { ScenarioResult } from './results.js'
import { REPORT_CSS } from './styles.js'
import { renderTimelineSvg } from './timeline-svg.js'
import { encodeDense, viewerScript, type InspectorSample, type ViewData } from './viewer.js'

/** JSON, gzipped, in base64: what the page's inflateJson reads (a large capture's packets are a tenth of the text so). */
export function gzipJson(value: unknown): string {
  return gzipSync(JSON.stringify(value)).toString('base64')
}

/** Inspector samples kept per socket before volatile-only changes are folded away. */
const MAX_SAMPLES = 1500
const VOLATILE = new Set(['lastsnd', 'lastrcv', 'lastack', 'busy_ms', 'send_bps', 'pacing_rate_bps', 'delivery_rate_bps', 'bbr_bw_bps'])

/** The HTML of a scenario's report.html. */
export function renderScenarioPage(m: ReportModel, res: Pick<ScenarioResult, 'records' | 'pcaps'>, opts: { indexHref?: string | undefined } = {}): string {
  const { svg, geometry, dense } = renderTimelineSvg(m)
  const data: ViewData = {
    tMin: m.tMin,
    tMax: m.tMax > m.tMin ? m.tMax : m.tMin + 1,
    geometry,
    tracks: m.tracks.map((tr) => ({ label: tr.label, host: tr.host, listen: tr.states.some((s) => s.state === 'LISTEN'), samples: toInspector(tr.samples) })),
    glossary: Object.fromEntries(Object.entries(SS_FIELDS).map(([k, f]: [string, FieldMeaning]) => [k, `${f.ss}${f.unit ? ` (${f.unit})` : ''}: ${f.meaning}`])),
    queues: { listen: { ...QUEUE_MEANINGS.listen }, other: { ...QUEUE_MEANINGS.other } },
    ...(dense ? { denseGz: gzipJson(encodeDense(dense)) } : {}),
  }
  const failed = m.expectations.filter((r) => r.status === 'fail' || r.status === 'error')
  const parts = [
    '<!doctype html>',
    '<html lang="en"><head><meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<title>${x(`${m.status.toUpperCase()} ${m.name} — tcplab`)}</title>`,
    `<style>${REPORT_CSS}</style></head><body><main>`,
    header(m, opts.indexHref),
    banner(m, failed),
    setAsideNote(m),
    story(m),
    expectationsTable(m.expectations),
    '<section id="timeline"><h2>Timeline</h2>',
    '<div class="toolbar"><button id="zoom-out" title="zoom out (-)">−</button><button id="zoom-in" title="zoom in (+)">+</button><button id="zoom-fit" title="whole run (0)">fit</button>',
    '<span id="readout"></span></div>',
    '<p class="muted" style="margin:2px 0 6px">Wheel to zoom, drag to pan, click to place the cursor and inspect every socket\'s ss sample at that moment. Hover anything for details.</p>',
    legend(),
    `<div id="tl-holder">${svg}${dense ? '<canvas id="pk-canvas"></canvas>' : ''}</div>`,
    '<h3 style="font-size:15px;margin:14px 0 4px">ss at the cursor</h3><div id="inspector"><p class="muted">click on the timeline</p></div>',
    '</section>',
    envSection(m),
    logSection(res.records, res.pcaps),
    glossarySection(),
    `<script type="application/json" id="tcplab-data">${jsonForScript(data)}</script>`,
    dense ? `<script type="text/plain" id="tcplab-labels">${gzipJson(dense.labels)}</script>` : '',
    `<script>${viewerScript()}</script>`,
    '</main></body></html>',
  ]
  return `${parts.join('\n')}\n`
}

function header(m: ReportModel, indexHref: string | undefined): string {
  const env = m.env
  const meta = [
    `<span><b>scenario</b> ${x(m.name)}</span>`,
    `<span><b>file</b> ${x(m.file)}</span>`,
    `<span><b>backend</b> ${x(m.backend)}</span>`,
    env?.kernel ? `<span><b>kernel</b> ${x(env.kernel)}${env.hz ? ` (HZ=${env.hz})` : ''}</span>` : '',
    `<span><b>started</b> ${x(m.startedAt)}</span>`,
    `<span><b>took</b> ${x(formatMs(m.durationMs))}</span>`,
    m.scenario?.tags.length ? `<span><b>tags</b> ${x(m.scenario.tags.join(', '))}</span>` : '',
  ].filter(Boolean)
  return [
    indexHref ? `<div class="muted"><a href="${x(indexHref)}">← all scenarios of this run</a></div>` : '',
    `<h1><span class="badge ${m.status}">${m.status}</span> ${x(m.title || m.name)}</h1>`,
    `<div class="meta">${meta.join('')}</div>`,
  ].join('\n')
}

/** The attempts set aside before this one (the machine stalled under their timing failures), with links to their reports. */
function setAsideNote(m: ReportModel): string {
  if (!m.setAside?.length) return ''
  const items = m.setAside.map((a) => `<li><a href="${x(a.dir)}/report.html">attempt ${a.attempt}</a>: the machine stalled ${x(formatMs(Math.round(a.stallMs)))} at ${a.stallT.toFixed(3)}s, ` +
    `which accounts for its timing failure${a.failed.length === 1 ? '' : 's'}: ${a.failed.map((f) => x(f)).join('; ')}</li>`)
  return `<div class="banner note"><div class="what">Attempt ${m.setAside.length + 1}: earlier attempts were set aside</div><ul>${items.join('')}</ul></div>`
}

function banner(m: ReportModel, failed: ExpectationResult[]): string {
  const counted = m.expectations.filter((r) => r.status !== 'skip')
  if (m.status === 'interrupted') {
    const i = m.interrupted
    const reached = i?.atT !== undefined ? `at t = ${i.atT.toFixed(3)}s of the timeline` : 'before its clock started'
    const partial = counted.length > 0 ? ` The ${counted.length} expectation${counted.length === 1 ? ' was' : 's were'} judged on what was recorded up to then (${failed.length} failed).` : ''
    return `<div class="banner interrupted"><div class="what">Interrupted ${x(reached)}${i ? ` (${x(i.how)}, ${x(i.at)})` : ''}: a partial run.</div><div>The records below stop where the run stopped.${x(partial)}</div></div>`
  }
  if (m.status === 'error' && m.error) {
    return `<div class="banner error"><div class="what">The scenario could not run: ${x(m.error.code)}</div><pre>${x(m.error.message)}</pre>${m.error.hint ? `<div>hint: ${x(m.error.hint)}</div>` : ''}</div>`
  }
  if (m.status === 'skip') return `<div class="banner skip"><div class="what">Skipped: ${x(m.reason ?? '')}</div></div>`
  if (failed.length === 0) {
    return `<div class="banner pass"><div class="what">All ${counted.length} expectation${counted.length === 1 ? '' : 's'} held.</div></div>`
  }
  const items = failed.map((r) => `<li><a href="#exp-${r.index}" data-goto="${r.t ?? ''}" data-exp="${r.index}">#${r.index + 1}</a> ${x(r.description)}<br><span class="muted">expected</span> ${annotate(r.expected)}<br><span class="muted">measured</span> ${annotate(r.measured)}${timing(r) ? ` <span class="muted">${x(timing(r))}</span>` : ''}${r.reason ? `<br><span class="muted">reason</span> ${x(r.reason)}` : ''}</li>`)
  return `<div class="banner fail"><div class="what">${failed.length} of ${counted.length} expectations failed</div><ul>${items.join('')}</ul></div>`
}

function story(m: ReportModel): string {
  const sc = m.scenario
  const actions = m.markers.filter((mk) => mk.kind === 'action')
  const rows = (sc?.steps ?? []).map((planned, i) => {
    const played = actions.filter((a) => a.step === i)
    const at = played.map((a) => `<a href="#t=${a.t}" data-goto="${a.t}">${a.t.toFixed(3)}s</a>`).join(', ')
    const due = played.map((a) => (a.scheduledT !== undefined ? `${a.scheduledT.toFixed(3)}s <span class="muted">(${x(formatLate(a.lateMs))} late)</span>` : '<span class="muted">-</span>')).join(', ')
    const detail = played.map((a) => x(a.detail.split('\n').slice(1).join(' '))).join('<br>')
    return `<tr><td class="num">${i}</td><td><code>${x(planned)}</code></td><td class="num">${due}</td><td class="num">${at || '<span class="muted">not played</span>'}</td><td><code>${detail}</code></td></tr>`
  })
  return [
    '<section id="story"><h2>What happens</h2>',
    sc?.explain ? `<pre class="explain">${x(sc.explain.trimEnd())}</pre>` : '<p class="muted">scenario.yaml is missing from the results</p>',
    rows.length ? `<details open><summary>Steps (${rows.length})</summary><table><tr><th>#</th><th>as written</th><th>due at</th><th>played at</th><th>what ran</th></tr>${rows.join('')}</table></details>` : '',
    '</section>',
  ].join('\n')
}

function timing(r: ExpectationResult): string {
  if (r.deltaMs === undefined) return ''
  return `Δ ${r.deltaMs >= 0 ? '+' : ''}${formatMs(r.deltaMs)}${r.toleranceMs !== undefined ? ` (tolerance ±${formatMs(r.toleranceMs)})` : ''}`
}

function expectationsTable(results: readonly ExpectationResult[]): string {
  if (results.length === 0) return '<section id="expectations"><h2>Expectations</h2><p class="muted">none evaluated</p></section>'
  const rows = results.map((r) => {
    const mark = r.status === 'pass' ? '✓ pass' : r.status === 'fail' ? '✗ FAIL' : r.status === 'error' ? '⚠ ERROR' : 'skip'
    const at = r.t !== undefined ? `<a href="#t=${r.t}" data-goto="${r.t}" data-exp="${r.index}" title="show this moment on the timeline">${r.t.toFixed(3)}s</a>` : ''
    const tol = [r.deltaMs !== undefined ? `Δ ${r.deltaMs >= 0 ? '+' : ''}${formatMs(r.deltaMs)}` : '', r.toleranceMs !== undefined ? `±${formatMs(r.toleranceMs)}` : ''].filter(Boolean).join(' / ')
    const measured = r.status === 'skip' ? x(r.reason ?? '') : `${annotate(r.measured)}${r.reached && r.reached !== r.measured ? `<br><span class="muted">judged on ${x(r.reached)}</span>` : ''}${r.reason ? `<br><span class="muted">${x(r.reason)}</span>` : ''}`
    return `<tr id="exp-${r.index}" class="${r.status}"><td class="num">${r.index + 1}</td><td class="st">${mark}</td><td>${x(r.kind)}${r.line ? `<br><span class="muted">line ${r.line}</span>` : ''}</td><td>${x(r.description)}</td><td>${annotate(r.expected)}</td><td>${measured}</td><td class="num">${x(tol)}</td><td class="num">${at}</td></tr>`
  })
  return `<section id="expectations"><h2>Expectations</h2><table><tr><th>#</th><th>result</th><th>kind</th><th>claim</th><th>expected</th><th>measured</th><th>Δ / tolerance</th><th>at</th></tr>${rows.join('')}</table></section>`
}

/** Escape text and wrap the ss field names it mentions in tooltips from the glossary. */
export function annotate(text: string): string {
  return text
    .split(/([A-Za-z][A-Za-z0-9_.-]*)/)
    .map((tok, i) => {
      if (i % 2 === 0) return x(tok)
      const f = findFieldMeaning(tok)
      const isWord = f !== undefined && (f.key === tok || f.ss === tok)
      return isWord && f ? `<abbr class="f" title="${x(`${f.ss}${f.unit ? ` (${f.unit})` : ''}: ${f.meaning}`)}">${x(tok)}</abbr>` : x(tok)
    })
    .join('')
}

function legend(): string {
  const item = (color: string, text: string, dash = false): string => `<span><i style="background:${color}${dash ? ';background:repeating-linear-gradient(90deg,' + color + ' 0 6px,transparent 6px 9px)' : ''}"></i>${x(text)}</span>`
  return `<div class="legend">${[
    item('var(--syn)', 'SYN'),
    item('var(--data)', 'data'),
    item('var(--ack)', 'pure ACK'),
    item('var(--fin)', 'FIN'),
    item('var(--rst)', 'RST'),
    item('#555', 'retransmission (retx n: nth resend of the segment)', true),
    item('var(--bad)', '✕ lost on the way, or dropped by a rule (named)'),
  ].join('')}<span>▼ step · ● ✕ ■ endpoint events · numbered circles: expectations · bands: iptables rules, TCP states, timers</span></div>`
}

function envSection(m: ReportModel): string {
  const env = m.env
  if (!env) return '<section id="env"><h2>Environment</h2><p class="muted">env.json is missing from the results</p></section>'
  const rows: Array<[string, string]> = [
    ['kernel', `${env.kernel ?? '?'}${env.hz ? `, CONFIG_HZ=${env.hz}` : ''}`],
    ['backend', env.backend ?? m.backend],
    ['congestion control', `${env.congestionControl ?? '?'}${env.availableCongestionControl ? ` (available: ${env.availableCongestionControl})` : ''}`],
    ['qdiscs', (env.qdiscs ?? []).join(', ')],
    ['tools', Object.entries(env.tools ?? {}).map(([k, v]) => `${k} ${v}`).join(', ')],
    ['tcplab', env.tcplab ?? '?'],
    ['--sysctl overrides', Object.entries(env.sysctlOverrides ?? {}).map(([k, v]) => `${k}=${v}`).join(' ') || 'none'],
  ]
  const hosts = Object.entries(env.hosts ?? {}).map(([h, he]) => {
    const tcp = Object.entries(he.sysctls ?? {}).filter(([k]) => /^net\.ipv4\.tcp_|^net\.core\.(somaxconn|[rw]mem_)/.test(k))
    return `<details><summary>${x(h)}: ${tcp.length} TCP sysctls</summary><pre>${x(tcp.map(([k, v]) => `${k} = ${v}`).join('\n'))}</pre></details>`
  })
  return `<section id="env"><h2>Environment</h2><table>${rows.map(([k, v]) => `<tr><th>${x(k)}</th><td>${x(v)}</td></tr>`).join('')}</table>${hosts.join('')}</section>`
}

/** Records listed in the page; a large capture's others are in records.jsonl (and the pcaps). */
const MAX_LOG_LINES = 5000

function logSection(records: ScenarioResult['records'], pcaps: readonly string[]): string {
  const listed = records.filter((r) => r.kind !== 'sample')
  const lines = listed
    .slice(0, MAX_LOG_LINES)
    .map((r) => {
      const text = `${r.t.toFixed(6).padStart(11)}  ${r.kind.padEnd(7)} ${describeRecord(r)}`
      return r.kind === 'ss' ? `<span class="ss">${x(text)}\n</span>` : `${x(text)}\n`
    })
  if (listed.length > MAX_LOG_LINES) lines.push(x(`… ${listed.length - MAX_LOG_LINES} more records: see records.jsonl\n`))
  const files = ['records.jsonl', 'verdict.json', 'env.json', 'scenario.yaml', ...pcaps, ...pcaps.map((p) => `${p}ng`)].map((f) => `<a href="${x(f)}">${x(f)}</a>`).join(' · ')
  return `<section id="log"><h2>Records</h2><p>Files: ${files}</p><details><summary>${records.length} records (ss samples hidden) <label style="margin-left:12px"><input type="checkbox" id="log-ss"> show ss samples</label></summary><pre>${lines.join('')}</pre></details></section>`
}

function glossarySection(): string {
  const fields = Object.entries(SS_FIELDS).map(([k, f]: [string, FieldMeaning]) => `<dt title="${x(k)}">${x(f.ss)}</dt><dd>${x(f.meaning)}${f.unit ? ` <span class="muted">(${x(f.unit)})</span>` : ''}</dd>`)
  const states = Object.entries(STATE_MEANINGS).map(([k, v]) => `<dt>${x(k)}</dt><dd>${x(v)}</dd>`)
  const timers = Object.entries(TIMER_MEANINGS).map(([k, v]) => `<dt>${x(k)}</dt><dd>${x(v)}</dd>`)
  return `<section id="glossary"><h2>What the ss fields mean</h2><details><summary>fields of <code>ss -tanoiem</code>, TCP states and timers</summary><div class="cols"><div><h3>Fields</h3><dl class="gloss">${fields.join('')}</dl></div><div><h3>States</h3><dl class="gloss">${states.join('')}</dl><h3>Timers</h3><dl class="gloss">${timers.join('')}</dl></div></div></details></section>`
}

function toInspector(samples: readonly SsRecord[]): InspectorSample[] {
  let list = samples
  if (list.length > MAX_SAMPLES) {
    // Long runs: keep a sample when anything but the volatile fields changed.
    const key = (r: SsRecord): string => JSON.stringify([r.state, r.recvQ, r.sendQ, r.timer?.name, r.timer?.retrans, r.skmem, Object.entries(r.info).filter(([k]) => !VOLATILE.has(k))])
    list = samples.filter((r, i) => i === 0 || key(r) !== key(samples[i - 1] as SsRecord))
    if (list.length > MAX_SAMPLES) {
      const every = Math.ceil(list.length / MAX_SAMPLES)
      list = list.filter((_, i) => i % every === 0)
    }
  }
  return list.map((r) => ({
    t: r.t,
    state: r.state,
    recvQ: r.recvQ,
    sendQ: r.sendQ,
    timer: r.timer ? `(${r.timer.name},${r.timer.expiresMs !== undefined ? `${r.timer.expiresMs}ms` : '-'},${r.timer.retrans})` : undefined,
    skmem: r.skmem ? { ...r.skmem } : undefined,
    info: r.info,
  }))
}
