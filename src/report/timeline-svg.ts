// The timeline as one hand-drawn SVG: a lane per host with packets as arrows
// between lanes (lost and dropped ones marked where it happened, with the
// rule), iptables rules as bands with their hit counts, steps and endpoint
// events as markers, the expectations at their moment, and per socket a
// state band and small charts from the ss samples. Time runs left to right;
// every time-positioned element carries its time (data-t, data-t1/t2,
// data-pts) so the page script can zoom and pan by re-positioning.

import type { ReportModel, Marker } from './model.js'
import type { Flight } from './packets.js'
import type { SocketTrack } from './sockets.js'
import { SS_FIELDS, STATE_MEANINGS, TIMER_MEANINGS, QUEUE_MEANINGS, type FieldMeaning } from './glossary.js'
import { assignRows, computeTicks, formatTick, placeLabel, type DensePackets, type ViewGeometry } from './viewer.js'
import { escapeXml as x } from './escape.js'

const WIDTH = 1400
const GUTTER = 210
const RIGHT_PAD = 24
const CHAR_W = 6.6
const STEP_ROWS = 3
const EVENT_ROWS = 3
const PACKET_ROWS = 9
const ROW = 13
const FAR = 1e6

/** Class of a packet by its flags, for colour. */
export function flightClass(f: Pick<Flight, 'pkt'>): 'rst' | 'syn' | 'fin' | 'data' | 'ack' {
  const fl = f.pkt.flags
  if (fl.includes('R')) return 'rst'
  if (fl.includes('S')) return 'syn'
  if (fl.includes('F')) return 'fin'
  return f.pkt.len > 0 ? 'data' : 'ack'
}

/** CSS class of a TCP state band. */
export function stateClass(state: string): string {
  return `st-${state.toLowerCase().replace(/[^a-z0-9]+/g, '-')}`
}

interface Out {
  /** Elements inside the plot (clipped to it). */
  parts: string[]
  /** Labels in the gutter on the left. */
  gutter: string[]
  groups: ViewGeometry['groups']
  /** Labels per group for the initial layout: [t, dx, chars, element index in parts]. */
  pending: Map<number, Array<{ t: number; dx: number; w: number; idx: number; text: string; cls: string; title: string }>>
  bandLabel: number
}

/** Render the timeline SVG and the geometry the page script needs. */
export function renderTimelineSvg(m: ReportModel, denseAbove = DENSE_PACKETS): { svg: string; geometry: ViewGeometry; dense?: DensePackets | undefined } {
  const tMin = m.tMin
  const tMax = m.tMax > m.tMin ? m.tMax : m.tMin + 1
  const plotW = WIDTH - GUTTER - RIGHT_PAD
  const X = (t: number): number => GUTTER + ((t - tMin) / (tMax - tMin)) * plotW
  const o: Out = { parts: [], gutter: [], groups: [], pending: new Map(), bandLabel: 0 }
  const group = (y0: number, dy: number, rows: number): number => {
    o.groups.push({ y0, dy, rows })
    return o.groups.length - 1
  }
  const label = (gi: number, t: number, dx: number, text: string, cls: string, title: string): void => {
    const list = o.pending.get(gi) ?? []
    list.push({ t, dx, w: text.length, idx: o.parts.length, text, cls, title })
    o.pending.set(gi, list)
    o.parts.push('') // placeholder, filled by the initial layout
  }
  const gutterText = (y: number, text: string, cls: string, title?: string, max = 30): void => {
    const shown = text.length > max ? `${text.slice(0, max - 1)}…` : text
    o.gutter.push(`<text x="8" y="${y}" class="${cls}">${x(shown)}${title ? `<title>${x(title)}</title>` : ''}</text>`)
  }
  const band = (t1: number, t2: number, y: number, h: number, cls: string, text: string, title: string): void => {
    const id = `bl-${o.bandLabel++}`
    const x1 = X(t1)
    const x2 = X(t2)
    o.parts.push(`<rect x="${x1.toFixed(1)}" y="${y}" width="${Math.max(1, x2 - x1).toFixed(1)}" height="${h}" class="${cls}" data-t1="${t1}" data-t2="${t2}" data-w="${text.length + 1}" data-label="${id}"><title>${x(title)}</title></rect>`)
    const fits = x2 - Math.max(x1, GUTTER) >= (text.length + 1) * CHAR_W
    o.parts.push(`<text id="${id}" x="${(Math.max(x1, GUTTER) + 3).toFixed(1)}" y="${y + h - 3}" class="band-lbl${fits ? '' : ' hidden'}">${x(text)}</text>`)
  }

  let y = 34
  const plotTop = y
  // Steps: markers at the top, a faint guide line through everything.
  const stepGroup = group(y + 22, ROW, STEP_ROWS)
  const stepsY = y
  const guidesAt = o.parts.length
  o.parts.push('') // guides, filled once plotBottom is known
  gutterText(y + 12, 'steps', 'gut-h', 'the scenario\'s steps, as the runner played them')
  const actionMarkers = m.markers.filter((mk) => mk.kind === 'action')
  for (const mk of actionMarkers) {
    o.parts.push(`<g class="step ${mk.severity}" data-t="${mk.t}" transform="translate(${X(mk.t).toFixed(1)},0)"><path d="M-5,${stepsY + 2} L5,${stepsY + 2} L0,${stepsY + 10} Z"/><title>${x(mk.detail)}</title></g>`)
    label(stepGroup, mk.t, -4, mk.label, `lbl step-lbl ${mk.severity}`, mk.detail)
  }
  y += 22 + STEP_ROWS * ROW + 4

  // Expectations at their moment.
  const expY = y + 10
  gutterText(expY + 4, 'expectations', 'gut-h', 'each expectation at the moment it points at (its first violation, or the match); click to see it in the table')
  for (const r of m.expectations) {
    if (r.t === undefined || r.status === 'skip') continue
    const mark = r.status === 'pass' ? '✓' : '✗'
    o.parts.push(
      `<g class="exp ${r.status}" id="expm-${r.index}" data-t="${r.t}" data-row="${r.index}" transform="translate(${X(r.t).toFixed(1)},0)"><circle cx="0" cy="${expY}" r="8"/><text x="0" y="${expY + 4}" class="exp-n">${r.index + 1}</text><title>${x(`${mark} expectation ${r.index + 1} (${r.kind}) at ${r.t.toFixed(3)}s: ${r.description}\nexpected: ${r.expected}\nmeasured: ${r.measured}`)}</title></g>`,
    )
  }
  y += 28

  // Lanes with the packets between them.
  const laneY = new Map<string, number>()
  const rulesOf = (host: string): ReportModel['rules'] => m.rules.filter((r) => r.host === host)
  const eventGroups = new Map<string, number>()
  const packetGroups: number[] = []
  for (const [i, host] of m.lanes.entries()) {
    y += 10 + EVENT_ROWS * 12
    const ly = y
    laneY.set(host, ly)
    eventGroups.set(host, group(ly - 10, -12, EVENT_ROWS))
    gutterText(ly + 4, host, 'lane-name', `host ${host}: packets it captured leave and arrive on this line`)
    o.parts.push(`<line x1="${GUTTER}" x2="${FAR}" y1="${ly}" y2="${ly}" class="lane"/>`)
    y = ly + 8
    for (const r of rulesOf(host)) {
      const t2 = r.tEnd ?? tMax
      const hits = r.packets !== undefined ? `${r.packets} packet${r.packets === 1 ? '' : 's'} matched` : 'no counter read'
      const where = r.rule && /^(OUTPUT|POSTROUTING)$/.test(r.rule.chain) ? '; sent packets it drops never reach the capture' : r.rule && /^(INPUT|PREROUTING|FORWARD)$/.test(r.rule.chain) ? '; received packets it drops are captured, then discarded' : ''
      const text = `⊘ ${r.name}: ${r.text.replace(/^ip6?tables\s+/, '')} — ${hits}`
      const title = `iptables rule "${r.name}" on ${host} from ${r.tStart.toFixed(3)}s${r.tEnd !== undefined ? ` to ${r.tEnd.toFixed(3)}s` : ' to the end'}\n${r.text}\ncounter: ${hits}${r.bytes !== undefined ? ` (${r.bytes} bytes)` : ''}; captured packets it dropped: ${r.matched}${where}`
      band(r.tStart, t2, y, 13, `rule${r.rule?.isDrop ? ' drop' : ''}`, text, title)
      y += 16
    }
    if (i < m.lanes.length - 1) {
      packetGroups.push(group(y + 12, ROW, PACKET_ROWS))
      y += 12 + PACKET_ROWS * ROW
    }
  }
  // Event markers on their lane.
  for (const mk of m.markers) {
    if (mk.kind !== 'event' || mk.host === undefined) continue
    const ly = laneY.get(mk.host)
    const gi = eventGroups.get(mk.host)
    if (ly === undefined || gi === undefined) continue
    o.parts.push(`<g class="ev ${mk.severity}" data-t="${mk.t}" transform="translate(${X(mk.t).toFixed(1)},0)">${eventSymbol(mk, ly)}<title>${x(mk.detail)}</title></g>`)
    if (mk.prominent) label(gi, mk.t, 4, mk.label, `lbl ev-lbl ${mk.severity}`, mk.detail)
  }
  // Packets: SVG elements, or past DENSE_PACKETS compact arrays the page draws on a canvas.
  const dense = m.flights.length > denseAbove ? emptyDense() : undefined
  for (const gi of packetGroups) o.parts.push(`<g class="lbl-agg" data-g="${gi}"></g>`)
  for (const f of m.flights) {
    const a = f.from !== undefined ? laneY.get(f.from) : undefined
    const b = f.to !== undefined ? laneY.get(f.to) : undefined
    const cls = `pk ${flightClass(f)}${f.retransmission ? ' retx' : ''}${f.fate === 'dropped' || f.fate === 'lost' ? ` ${f.fate}` : ''}`
    const iFrom = f.from !== undefined ? m.lanes.indexOf(f.from) : -1
    const iTo = f.to !== undefined ? m.lanes.indexOf(f.to) : -1
    const gap = packetGroups[gapIndex(iFrom, iTo, m.lanes.length)] ?? packetGroups[0]
    const marker = f.fate === 'lost' || f.fate === 'dropped' ? 'bad' : flightClass(f)
    const suffix = f.fate === 'dropped' ? ` ✕ ${f.rule ?? 'dropped'}` : f.fate === 'lost' ? ' ✕ lost' : f.ruleAnswer === 'maybe' ? ` ? ${f.rule ?? ''}` : ''
    const retx = f.retransmission ? ` · retx ${f.attempt - 1}` : ''
    const text = `${f.label}${retx}${suffix}`
    const tA = f.tSend ?? f.tRecv ?? 0
    if (dense) {
      const line = flightLine(f, a, b, iFrom, iTo, m.lanes.length)
      if (line) addDense(dense, f, line, gap ?? -1, text)
      continue
    }
    const title = x(f.detail)
    if (a !== undefined && b !== undefined && f.tSend !== undefined && f.tRecv !== undefined) {
      o.parts.push(`<g class="${cls}"><line x1="${X(f.tSend).toFixed(1)}" x2="${X(f.tRecv).toFixed(1)}" y1="${a}" y2="${b}" data-t1="${f.tSend}" data-t2="${f.tRecv}" marker-end="url(#ah-${marker})"/><title>${title}</title></g>`)
      if (f.fate === 'dropped') o.parts.push(cross(f.tRecv, b + (b > a ? -7 : 7), X, `dropped by ${f.rule ?? 'a rule'} on ${f.to ?? '?'}`, title))
    } else if (a !== undefined && f.tSend !== undefined) {
      // Never seen arriving: stop halfway to the receiver (or into the gap) and cross it out.
      const dest = b ?? (iFrom < m.lanes.length - 1 ? a + 40 : a - 40)
      const mid = a + (dest - a) / 2
      o.parts.push(`<g class="${cls}${f.fate === 'sent' ? ' unseen' : ''}"><line x1="${X(f.tSend).toFixed(1)}" x2="${X(f.tSend).toFixed(1)}" y1="${a}" y2="${mid}" data-t1="${f.tSend}" data-t2="${f.tSend}"/><title>${title}</title></g>`)
      if (f.fate === 'lost') o.parts.push(cross(f.tSend, mid, X, `lost between ${f.from ?? '?'} and ${f.to ?? '?'}`, title))
    } else if (b !== undefined && f.tRecv !== undefined) {
      // Seen arriving only: from the sender's lane when it is a lab host, else a stub.
      const src = a ?? (iTo > 0 ? b - 40 : b + 40)
      o.parts.push(`<g class="${cls} only-in"><line x1="${X(f.tRecv).toFixed(1)}" x2="${X(f.tRecv).toFixed(1)}" y1="${src}" y2="${b}" data-t1="${f.tRecv}" data-t2="${f.tRecv}" marker-end="url(#ah-${marker})"/><title>${title}</title></g>`)
      if (f.fate === 'dropped') o.parts.push(cross(f.tRecv, b + (b > src ? -7 : 7), X, `dropped by ${f.rule ?? 'a rule'} on ${f.to ?? '?'}`, title))
    }
    if (gap !== undefined) label(gap, tA, 3, text, `lbl pk-lbl ${flightClass(f)}${f.fate === 'dropped' || f.fate === 'lost' ? ' bad' : ''}${f.retransmission ? ' retx' : ''}`, f.detail)
  }
  y += 24

  // Sockets.
  let host: string | undefined
  for (const tr of m.tracks) {
    if (tr.host !== host) {
      host = tr.host
      y += 8
      gutterText(y + 10, `sockets on ${host}`, 'gut-h', `sockets ss saw on ${host}, from the periodic ss samples`)
      y += 20
    }
    y = renderTrack(o, tr, y, X, band, gutterText, tMax)
  }
  const plotBottom = y + 6
  const height = plotBottom + 14
  o.parts[guidesAt] = actionMarkers.map((mk) => `<g class="guide" data-t="${mk.t}" transform="translate(${X(mk.t).toFixed(1)},0)"><line x1="0" x2="0" y1="${stepsY + 10}" y2="${plotBottom}"/></g>`).join('')

  // Initial label layout (the page script redoes it on zoom).
  for (const [gi, items] of o.pending) {
    const grp = o.groups[gi]
    if (!grp) continue
    const xs = items.map((it) => placeLabel(X(it.t), it.dx, it.w * CHAR_W, GUTTER, WIDTH - RIGHT_PAD))
    const rows = assignRows(items.map((it, i) => [xs[i] as number, it.w * CHAR_W] as const), grp.rows, 6)
    items.forEach((it, i) => {
      const row = rows[i] ?? -1
      const xx = (xs[i] as number).toFixed(1)
      const yy = (grp.y0 + Math.max(0, row) * grp.dy).toFixed(1)
      o.parts[it.idx] = `<text x="${xx}" y="${yy}" class="${it.cls}${row < 0 ? ' hidden' : ''}" data-t="${it.t}" data-dx="${it.dx}" data-w="${it.w}" data-g="${gi}">${x(it.text)}<title>${x(it.title)}</title></text>`
    })
  }
  const { step, ticks } = computeTicks(tMin, tMax, Math.floor(plotW / 90))
  const tickSvg = ticks.map((t) => `<line x1="${X(t).toFixed(1)}" x2="${X(t).toFixed(1)}" y1="${plotTop}" y2="${plotBottom}" class="grid"/><text x="${X(t).toFixed(1)}" y="${plotTop - 6}" class="tick">${formatTick(t, step)}</text>`).join('')
  const defs = `<defs><clipPath id="plotclip"><rect x="${GUTTER}" y="0" width="${plotW}" height="${height}"/></clipPath>${['syn', 'data', 'ack', 'fin', 'rst', 'bad'].map((c) => `<marker id="ah-${c}" class="ah ${c}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z"/></marker>`).join('')}</defs>`
  const svg = [
    `<svg id="tl" xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" role="img" aria-label="timeline of ${x(m.name)}">`,
    defs,
    `<rect x="0" y="0" width="${FAR}" height="${height}" class="bg"/>`,
    `<g id="ticks">${tickSvg}</g>`,
    `<g clip-path="url(#plotclip)">${o.parts.join('')}<g id="cursor" class="hidden"><line x1="0" x2="0" y1="${plotTop}" y2="${plotBottom}"/></g></g>`,
    `<g class="gutter">${o.gutter.join('')}</g>`,
    `</svg>`,
  ].join('\n')
  return {
    svg,
    geometry: { width: WIDTH, gutter: GUTTER, rightPad: RIGHT_PAD, charW: CHAR_W, groups: o.groups, height, plotTop, plotBottom },
    ...(dense ? { dense } : {}),
  }
}

/**
 * Past this many packets, the packets are not SVG elements (100k of them make
 * a page that takes seconds to lay out on every pan) but compact arrays that
 * the page draws on a canvas: one by one when few are in view, aggregated per
 * pixel column when many are (viewer.ts drawDensePackets).
 */
export const DENSE_PACKETS = 3000

/** Packet kinds in DensePackets.k: flightClass order, plus flags. */
export const DENSE_CLASSES = ['syn', 'data', 'ack', 'fin', 'rst'] as const
export const DENSE_RETX = 8
export const DENSE_BAD = 16

function emptyDense(): DensePackets {
  return { t1Us: [], t2Us: [], y1: [], y2: [], k: [], g: [], labels: [], cross: [] }
}

/** Where a flight's line goes: from (t1, y1) to (t2, y2); `crossY` where it is crossed out. */
function flightLine(f: Flight, a: number | undefined, b: number | undefined, iFrom: number, iTo: number, lanes: number): { t1: number; t2: number; y1: number; y2: number; crossY?: number | undefined } | undefined {
  if (a !== undefined && b !== undefined && f.tSend !== undefined && f.tRecv !== undefined) {
    return { t1: f.tSend, t2: f.tRecv, y1: a, y2: b, crossY: f.fate === 'dropped' ? b + (b > a ? -7 : 7) : undefined }
  }
  if (a !== undefined && f.tSend !== undefined) {
    const dest = b ?? (iFrom < lanes - 1 ? a + 40 : a - 40)
    const mid = a + (dest - a) / 2
    return { t1: f.tSend, t2: f.tSend, y1: a, y2: mid, crossY: f.fate === 'lost' ? mid : undefined }
  }
  if (b !== undefined && f.tRecv !== undefined) {
    const src = a ?? (iTo > 0 ? b - 40 : b + 40)
    return { t1: f.tRecv, t2: f.tRecv, y1: src, y2: b, crossY: f.fate === 'dropped' ? b + (b > src ? -7 : 7) : undefined }
  }
  return undefined
}

function addDense(d: DensePackets, f: Flight, l: { t1: number; t2: number; y1: number; y2: number; crossY?: number | undefined }, gap: number, text: string): void {
  d.t1Us.push(Math.round(l.t1 * 1e6))
  d.t2Us.push(Math.round(l.t2 * 1e6))
  d.y1.push(Math.round(l.y1))
  d.y2.push(Math.round(l.y2))
  const bad = f.fate === 'dropped' || f.fate === 'lost'
  d.k.push(DENSE_CLASSES.indexOf(flightClass(f)) + (f.retransmission ? DENSE_RETX : 0) + (bad ? DENSE_BAD : 0))
  d.g.push(gap)
  d.labels.push(text)
  d.cross.push(l.crossY === undefined ? -1 : Math.round(l.crossY))
}

/** The gap (between lane i and i+1) where a packet's label goes. */
function gapIndex(iFrom: number, iTo: number, lanes: number): number {
  if (iFrom >= 0 && iTo >= 0) return Math.min(iFrom, iTo)
  const k = iFrom >= 0 ? iFrom : iTo
  return k < lanes - 1 ? Math.max(0, k) : Math.max(0, k - 1)
}

function eventSymbol(mk: Marker, ly: number): string {
  switch (mk.severity) {
    case 'error':
      return `<path class="sym" d="M-5,${ly - 5} L5,${ly + 5} M5,${ly - 5} L-5,${ly + 5}"/>`
    case 'ok':
      return `<circle class="sym" cx="0" cy="${ly}" r="4"/>`
    case 'warn':
      return `<rect class="sym" x="-3.5" y="${ly - 3.5}" width="7" height="7"/>`
    default:
      return `<circle class="sym" cx="0" cy="${ly}" r="3"/>`
  }
}

function cross(t: number, y: number, X: (t: number) => number, what: string, title: string): string {
  return `<g class="cross" data-t="${t}" transform="translate(${X(t).toFixed(1)},0)"><path d="M-6,${y - 6} L6,${y + 6} M6,${y - 6} L-6,${y + 6}"/><title>${x(what)}\n${title}</title></g>`
}

type BandFn = (t1: number, t2: number, y: number, h: number, cls: string, text: string, title: string) => void
type GutterFn = (y: number, text: string, cls: string, title?: string, max?: number) => void

function meaningOf(key: string): string {
  const f = (SS_FIELDS as Record<string, FieldMeaning>)[key]
  return f ? `${f.ss}${f.unit ? ` (${f.unit})` : ''}: ${f.meaning}` : key
}

function renderTrack(o: Out, tr: SocketTrack, y0: number, X: (t: number) => number, band: BandFn, gutterText: GutterFn, tMax: number): number {
  let y = y0
  const isListen = tr.states.some((s) => s.state === 'LISTEN')
  const constants = tr.constants.map((c) => `${c.spec.label} ${c.value}`).join(', ')
  gutterText(y + 12, tr.label, 'track-name', `${tr.host}: ${tr.local} ⇄ ${tr.peer}${tr.name ? ` (socket ${tr.name})` : ''}\n${tr.samples.length} ss samples from ${tr.t1.toFixed(3)}s to ${tr.t2.toFixed(3)}s${constants ? `\nconstant: ${constants}` : ''}`)
  for (const s of tr.states) band(s.t1, s.t2, y + 2, 14, `state ${stateClass(s.state)}`, s.state, `${s.state} from ${s.t1.toFixed(3)}s to ${s.t2.toFixed(3)}s: ${STATE_MEANINGS[s.state] ?? ''}`)
  y += 20
  if (tr.timers.length > 0) {
    const h = 22
    const maxMs = tr.timers.reduce((m, r) => r.points.reduce((mm, p) => Math.max(mm, p[1]), m), 1)
    gutterText(y + 14, '  timer', 'chart-name', `${meaningOf('timer')}\non: ${TIMER_MEANINGS.on}\nkeepalive: ${TIMER_MEANINGS.keepalive}\npersist: ${TIMER_MEANINGS.persist}\ntimewait: ${TIMER_MEANINGS.timewait}\nThe line is the time left; the count is the retransmissions/probes so far. Max ${Math.round(maxMs)} ms.`)
    for (const run of tr.timers) {
      band(run.t1, run.t2, y + 2, h - 2, `timer tm-${run.name}`, run.name, `timer ${run.name} pending from ${run.t1.toFixed(3)}s to ${run.t2.toFixed(3)}s: ${TIMER_MEANINGS[run.name] ?? ''}`)
      if (run.points.length > 0) {
        const pts = run.points.map(([t, ms]) => `${t},${(y + h - ((ms / maxMs) * (h - 4))).toFixed(1)}`).join(' ')
        o.parts.push(`<polyline class="countdown" data-pts="${pts}" points="${run.points.map(([t, ms]) => `${X(t).toFixed(1)},${(y + h - ((ms / maxMs) * (h - 4))).toFixed(1)}`).join(' ')}"/>`)
      }
      for (const [t, n] of run.retrans.slice(run.retrans[0]?.[1] === 0 ? 1 : 0)) {
        o.parts.push(`<g class="retx-n" data-t="${t}" transform="translate(${X(t).toFixed(1)},0)"><text x="2" y="${y + 11}">×${n}</text><title>${x(`${run.name} timer: ${n} retransmission(s)/probe(s) so far at ${t.toFixed(3)}s`)}</title></g>`)
      }
    }
    y += h + 4
  }
  for (const s of tr.series) {
    const h = 26
    const max = s.max > 0 ? s.max : 1
    const yOf = (v: number): string => (y + h - 2 - (v / max) * (h - 6)).toFixed(1)
    const meaning = s.spec.key === 'recvQ' || s.spec.key === 'sendQ' ? `${s.spec.label}: ${(isListen ? QUEUE_MEANINGS.listen : QUEUE_MEANINGS.other)[s.spec.key]}` : meaningOf(s.spec.field)
    gutterText(y + 15, `  ${s.spec.label}`, 'chart-name', meaning)
    o.gutter.push(`<text x="${GUTTER - 6}" y="${y + 9}" class="chart-max">${max}</text>`)
    const pts: Array<[number, number]> = []
    for (const [i, p] of s.points.entries()) {
      const next = s.points[i + 1]
      pts.push(p, [next ? next[0] : Math.min(tr.t2, tMax), p[1]])
    }
    const dataPts = pts.map(([t, v]) => `${t},${yOf(v)}`).join(' ')
    o.parts.push(`<line x1="${GUTTER}" x2="${FAR}" y1="${y + h - 2}" y2="${y + h - 2}" class="base"/>`)
    o.parts.push(`<polyline class="series s-${s.spec.key.replace('.', '-')}" data-pts="${dataPts}" points="${pts.map(([t, v]) => `${X(t).toFixed(1)},${yOf(v)}`).join(' ')}"><title>${x(`${s.spec.label} of ${tr.label}: 0 … ${s.max}`)}</title></polyline>`)
    y += h + 2
  }
  return y + 4
}
