// The report page's script: zoom and pan over the time axis, label layout,
// a cursor with an ss inspector, links from expectations to their moment.
// Written in TypeScript and checked like the rest; the page embeds the
// compiled functions' source (Function.prototype.toString), so they must
// not use anything outside their own bodies. The same layout functions run
// here when the page is written, so the SVG is readable without scripts.

/** Geometry shared by the writer and the page. */
export interface ViewGeometry {
  width: number
  gutter: number
  rightPad: number
  /** Approximate width of one character of the label font (px). */
  charW: number
  /** Label groups: each is a stack of rows starting at y0, growing by dy (negative: upward). */
  groups: Array<{ y0: number; dy: number; rows: number }>
  height: number
  /** Height of the plot area from the top of the first row to the last. */
  plotTop: number
  plotBottom: number
}

/** One ss sample as the inspector shows it. */
export interface InspectorSample {
  t: number
  state: string
  recvQ: number
  sendQ: number
  timer?: string | undefined
  skmem?: Record<string, number> | undefined
  info: Record<string, number | string | boolean>
}

/**
 * Packets of a large capture as columns (timeline-svg.ts DENSE_PACKETS), sorted
 * by t1Us: a line from (t1Us, y1) to (t2Us, y2) in the packet gap g (a label
 * group), of kind k (an index into DENSE_COLORS, + 8 retransmission, + 16 lost
 * or dropped), crossed out at y = cross (-1: not), with its label.
 */
export interface DensePackets {
  t1Us: number[]
  t2Us: number[]
  y1: number[]
  y2: number[]
  k: number[]
  g: number[]
  labels: string[]
  cross: number[]
}

/**
 * DensePackets as the page embeds them: times as deltas (t1 from the previous
 * packet's t1, t2 from its own t1: small numbers, a third of the text), and
 * the labels in a script element of their own (#tcplab-labels), parsed only
 * when the view is close enough to show them.
 */
export interface EncodedDense {
  dt1Us: number[]
  durUs: number[]
  y1: number[]
  y2: number[]
  k: number[]
  g: number[]
  cross: number[]
}

export function encodeDense(d: DensePackets): EncodedDense {
  let prev = 0
  const dt1Us = d.t1Us.map((t) => {
    const v = t - prev
    prev = t
    return v
  })
  return { dt1Us, durUs: d.t2Us.map((t, i) => t - (d.t1Us[i] as number)), y1: d.y1, y2: d.y2, k: d.k, g: d.g, cross: d.cross }
}

/** Undo encodeDense in the page; `labels` asks readLabels each time (they arrive after the packets). */
export function decodeDense(e: EncodedDense, readLabels: () => string[]): DensePackets {
  const n = e.dt1Us.length
  const t1Us: number[] = new Array<number>(n)
  const t2Us: number[] = new Array<number>(n)
  let t = 0
  for (let i = 0; i < n; i++) {
    t += e.dt1Us[i] as number
    t1Us[i] = t
    t2Us[i] = t + (e.durUs[i] as number)
  }
  return {
    t1Us, t2Us, y1: e.y1, y2: e.y2, k: e.k, g: e.g, cross: e.cross,
    get labels(): string[] {
      return readLabels()
    },
  }
}

/** What inflateJson needs of the page's window (the browser's own atob, Blob, Response, DecompressionStream). */
export interface VInflate {
  atob(b64: string): string
  Blob: new (parts: Uint8Array[]) => { stream(): { pipeThrough(t: unknown): unknown } }
  Response: new (body: unknown) => { text(): Promise<string> }
  DecompressionStream: new (format: 'gzip') => unknown
}

/** Gzipped JSON in base64 (scenario-page.ts gzipJson) back to its value, in the page. */
export async function inflateJson(b64: string, w: VInflate): Promise<unknown> {
  const bin = w.atob(b64)
  const bytes = new Uint8Array(bin.length)
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i)
  const text = await new w.Response(new w.Blob([bytes]).stream().pipeThrough(new w.DecompressionStream('gzip'))).text()
  return JSON.parse(text) as unknown
}

/** What the page's script needs besides the SVG. */
export interface ViewData {
  tMin: number
  tMax: number
  geometry: ViewGeometry
  tracks: Array<{ label: string; host: string; listen: boolean; samples: InspectorSample[] }>
  /** Field meanings for tooltips (glossary key -> text), and ss names -> key. */
  glossary: Record<string, string>
  /** Queue meanings on LISTEN vs other sockets. */
  queues: { listen: { recvQ: string; sendQ: string }; other: { recvQ: string; sendQ: string } }
  /**
   * A large capture's packets, drawn on a canvas instead of as SVG elements:
   * EncodedDense as gzipped JSON in base64 (a tenth of the text to parse), and
   * their labels the same way in #tcplab-labels, both inflated after the first
   * layout (inflateJson).
   */
  denseGz?: string | undefined
}

/** Colours of DensePackets kinds (syn, data, ack, fin, rst), and of lost/dropped ones: the report's CSS colours. */
export const DENSE_COLORS = ['#2e7d32', '#1565c0', '#8d8d8d', '#6a1b9a', '#e65100', '#c62828']

/** Nice tick positions for [t0, t1] (1, 2, 5 × 10^n steps), at most about `max` ticks. */
export function computeTicks(t0: number, t1: number, max: number): { step: number; ticks: number[] } {
  const span = Math.max(t1 - t0, 1e-9)
  const raw = span / Math.max(1, max)
  const p = Math.pow(10, Math.floor(Math.log10(raw)))
  const m = raw / p
  const step = (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * p
  const ticks: number[] = []
  for (let t = Math.ceil(t0 / step) * step; t <= t1 + step * 1e-9; t += step) ticks.push(Math.round(t / step) * step)
  return { step, ticks }
}

/** "1.5s", "250ms", "12.5ms", "40us", with the precision the tick step needs. */
export function formatTick(t: number, step: number): string {
  const a = Math.abs(step)
  if (a >= 1) return `${Number(t.toFixed(a >= 10 ? 0 : 1))}s`
  if (a >= 0.001) {
    const digits = a >= 0.1 ? 1 : a >= 0.01 ? 2 : 3
    return Math.abs(t) >= 1 ? `${t.toFixed(digits)}s` : `${Number((t * 1000).toFixed(Math.max(0, digits - 1)))}ms`
  }
  return `${(t * 1e6).toFixed(0)}us`
}

/** Greedy row assignment for labels in x order: the first row free at x, or -1 (hidden). */
export function assignRows(items: ReadonlyArray<readonly [x: number, w: number]>, rows: number, gapPx: number): number[] {
  const ends: number[] = []
  for (let r = 0; r < rows; r++) ends.push(-Infinity)
  const out: number[] = []
  for (const [x, w] of items) {
    let row = -1
    for (let r = 0; r < rows; r++) {
      if ((ends[r] as number) <= x) {
        row = r
        break
      }
    }
    if (row >= 0) ends[row] = x + w + gapPx
    out.push(row)
  }
  return out
}

/** Where a label starts: right of its time, kept inside [left, right] (flipped left of the time near the right edge). */
export function placeLabel(xt: number, dx: number, wPx: number, left: number, right: number): number {
  let xx = xt + dx
  if (xx + wPx > right) xx = xt - Math.abs(dx) - wPx
  return Math.max(left + 1, xx)
}

/**
 * Level of detail for labels that found no free row: count them per bucket of
 * `bucketPx` so that the page can say "+N" where labels would have piled up.
 * Returns [x of the bucket's first hidden label, how many] per bucket.
 */
export function aggregateHidden(xs: readonly number[], hidden: readonly boolean[], bucketPx: number): Array<[number, number]> {
  const out: Array<[number, number]> = []
  let start = -Infinity
  for (let i = 0; i < xs.length; i++) {
    if (!hidden[i]) continue
    const x = xs[i] as number
    const last = out[out.length - 1]
    if (last && x - start < bucketPx) last[1]++
    else {
      out.push([x, 1])
      start = x
    }
  }
  return out
}

/** Canvas 2D subset used by drawDensePackets. */
export interface VCanvasContext {
  fillStyle: string
  strokeStyle: string
  lineWidth: number
  font: string
  globalAlpha: number
  setTransform(a: number, b: number, c: number, d: number, e: number, f: number): void
  clearRect(x: number, y: number, w: number, h: number): void
  fillRect(x: number, y: number, w: number, h: number): void
  beginPath(): void
  moveTo(x: number, y: number): void
  lineTo(x: number, y: number): void
  closePath(): void
  stroke(): void
  fill(): void
  fillText(text: string, x: number, y: number): void
  strokeText(text: string, x: number, y: number): void
  setLineDash(d: number[]): void
  save(): void
  restore(): void
  rect(x: number, y: number, w: number, h: number): void
  clip(): void
}

/** Below this many packets in view, each is drawn (and labelled below DENSE_LABELS); above, they are aggregated per column. */
export const DENSE_DETAIL = 4000
export const DENSE_LABELS = 600

/**
 * Draw a large capture's packets for the view [v0, v1] (seconds) on a canvas
 * laid over the SVG: one line per packet when few are in view, with labels
 * placed in free rows (the others counted as "+N"), else per 2 px column a
 * stacked bar per packet gap (data, ACKs, control, lost/dropped) whose height
 * grows with the square root of the count. Returns a line for the readout.
 */
export function drawDensePackets(
  ctx: VCanvasContext, d: DensePackets, v0: number, v1: number,
  g: Pick<ViewGeometry, 'gutter' | 'rightPad' | 'charW' | 'groups' | 'height'>, width: number, colors: readonly string[],
): string {
  const L = g.gutter
  const R = width - g.rightPad
  const span = v1 - v0
  const X = (tUs: number): number => L + ((tUs / 1e6 - v0) / span) * (R - L)
  const n = d.t1Us.length
  const lower = (tUs: number): number => {
    let lo = 0
    let hi = n
    while (lo < hi) {
      const mid = (lo + hi) >> 1
      if ((d.t1Us[mid] as number) < tUs) lo = mid + 1
      else hi = mid
    }
    return lo
  }
  // A packet in flight at v0 started a little before it: look back by the longest flight.
  let maxFlightUs = 0
  for (let i = 0; i < n; i += Math.max(1, Math.floor(n / 2000))) maxFlightUs = Math.max(maxFlightUs, (d.t2Us[i] as number) - (d.t1Us[i] as number))
  const i0 = lower(v0 * 1e6 - maxFlightUs * 2)
  const i1 = lower(v1 * 1e6 + 1)
  const inView = i1 - i0
  ctx.clearRect(0, 0, width, g.height)
  ctx.save()
  ctx.beginPath()
  ctx.rect(L, 0, R - L, g.height)
  ctx.clip()
  const colorOf = (k: number): string => (k & 16 ? colors[5] : colors[k & 7]) ?? '#000'
  let summary: string
  if (inView <= DENSE_DETAIL) {
    // One line per packet, batched by style.
    for (const retx of [false, true]) {
      ctx.setLineDash(retx ? [6, 3] : [])
      ctx.lineWidth = retx ? 2 : 1.6
      for (let c = 0; c < colors.length; c++) {
        ctx.strokeStyle = colors[c] ?? '#000'
        ctx.fillStyle = colors[c] ?? '#000'
        ctx.beginPath()
        const heads: Array<[number, number, number, number]> = []
        for (let i = i0; i < i1; i++) {
          const k = d.k[i] as number
          if (((k & 8) !== 0) !== retx || (k & 16 ? 5 : k & 7) !== c) continue
          const x1 = X(d.t1Us[i] as number)
          const x2 = X(d.t2Us[i] as number)
          const y1 = d.y1[i] as number
          const y2 = d.y2[i] as number
          ctx.moveTo(x1, y1)
          ctx.lineTo(x2, y2)
          heads.push([x1, y1, x2, y2])
        }
        ctx.stroke()
        ctx.setLineDash([])
        ctx.beginPath()
        for (const [x1, y1, x2, y2] of heads) {
          const len = Math.hypot(x2 - x1, y2 - y1) || 1
          const ux = (x2 - x1) / len
          const uy = (y2 - y1) / len
          ctx.moveTo(x2, y2)
          ctx.lineTo(x2 - ux * 7 - uy * 3, y2 - uy * 7 + ux * 3)
          ctx.lineTo(x2 - ux * 7 + uy * 3, y2 - uy * 7 - ux * 3)
          ctx.closePath()
        }
        ctx.fill()
        if (retx) ctx.setLineDash([6, 3])
      }
    }
    ctx.setLineDash([])
    ctx.strokeStyle = colors[5] ?? '#c62828'
    ctx.lineWidth = 3
    ctx.beginPath()
    for (let i = i0; i < i1; i++) {
      const cy = d.cross[i] as number
      if (cy < 0) continue
      const cx = X(d.t2Us[i] as number)
      ctx.moveTo(cx - 6, cy - 6)
      ctx.lineTo(cx + 6, cy + 6)
      ctx.moveTo(cx + 6, cy - 6)
      ctx.lineTo(cx - 6, cy + 6)
    }
    ctx.stroke()
    summary = `${inView} packets in view`
    if (inView <= DENSE_LABELS) {
      ctx.font = '11px "DejaVu Sans Mono", Menlo, Consolas, monospace'
      const byGroup = new Map<number, number[]>()
      for (let i = i0; i < i1; i++) {
        const x = X(d.t1Us[i] as number)
        if (x < L - 2 || x > R + 2) continue
        const list = byGroup.get(d.g[i] as number) ?? []
        list.push(i)
        byGroup.set(d.g[i] as number, list)
      }
      for (const [gi, idx] of byGroup) {
        const grp = g.groups[gi]
        if (!grp) continue
        const xs = idx.map((i) => placeLabel(X(d.t1Us[i] as number), 3, (d.labels[i] ?? '').length * g.charW, L, R))
        const rows = assignRows(idx.map((i, j) => [xs[j] as number, (d.labels[i] ?? '').length * g.charW] as const), grp.rows, 6)
        idx.forEach((i, j) => {
          const row = rows[j] as number
          if (row < 0) return
          const k = d.k[i] as number
          // A white halo keeps the label readable over the packets' lines.
          ctx.strokeStyle = '#fff'
          ctx.lineWidth = 3
          ctx.strokeText(d.labels[i] ?? '', xs[j] as number, grp.y0 + row * grp.dy)
          ctx.fillStyle = k & 16 ? (colors[5] ?? '#c62828') : (k & 7) === 2 ? '#777' : (colors[k & 7] ?? '#333')
          ctx.fillText(d.labels[i] ?? '', xs[j] as number, grp.y0 + row * grp.dy)
        })
        ctx.fillStyle = '#555'
        for (const [x, count] of aggregateHidden(xs, rows.map((r) => r < 0), 90)) ctx.fillText(`+${count}`, x, grp.y0 + grp.rows * grp.dy)
      }
    } else summary += ' (zoom in for their labels)'
  } else {
    // Aggregated: per packet gap, per 2 px column, stacked counts.
    const binPx = 2
    const bins = Math.max(1, Math.ceil((R - L) / binPx))
    const per = new Map<number, Float64Array>() // gap -> bins * 4 (data, ack, control, bad)
    for (let i = i0; i < i1; i++) {
      const b = Math.floor((X(d.t1Us[i] as number) - L) / binPx)
      if (b < 0 || b >= bins) continue
      const gi = d.g[i] as number
      let arr = per.get(gi)
      if (!arr) {
        arr = new Float64Array(bins * 4)
        per.set(gi, arr)
      }
      const k = d.k[i] as number
      const slot = k & 16 ? 3 : (k & 7) === 1 ? 0 : (k & 7) === 2 ? 1 : 2
      arr[b * 4 + slot] = (arr[b * 4 + slot] as number) + 1
    }
    const slotColors = [colors[1], colors[2], colors[3], colors[5]]
    let maxCol = 1
    for (const arr of per.values()) for (let b = 0; b < bins; b++) maxCol = Math.max(maxCol, (arr[b * 4] as number) + (arr[b * 4 + 1] as number) + (arr[b * 4 + 2] as number) + (arr[b * 4 + 3] as number))
    for (const [gi, arr] of per) {
      const grp = g.groups[gi]
      if (!grp) continue
      const top = Math.min(grp.y0, grp.y0 + (grp.rows - 1) * grp.dy) - 10
      const h = Math.abs(grp.rows * grp.dy)
      const bottom = top + h
      for (let b = 0; b < bins; b++) {
        const total = (arr[b * 4] as number) + (arr[b * 4 + 1] as number) + (arr[b * 4 + 2] as number) + (arr[b * 4 + 3] as number)
        if (total === 0) continue
        const colH = Math.max(1, Math.sqrt(total / maxCol) * (h - 14))
        let y = bottom
        for (let sl = 0; sl < 4; sl++) {
          const c = arr[b * 4 + sl] as number
          if (c === 0) continue
          const hh = Math.max(sl === 3 ? 2 : 0.5, (c / total) * colH)
          ctx.fillStyle = slotColors[sl] ?? '#000'
          ctx.fillRect(L + b * binPx, y - hh, binPx, hh)
          y -= hh
        }
      }
      ctx.fillStyle = '#555'
      ctx.font = '11px "DejaVu Sans Mono", Menlo, Consolas, monospace'
      ctx.fillText(`${inView} packets, up to ${maxCol} per ${binPx} px column: blue data, grey ACKs, purple SYN/FIN/RST, red lost or dropped`, L + 4, top + 10)
    }
    summary = `${inView} packets in view, aggregated (zoom in below ${DENSE_DETAIL} to see each)`
  }
  ctx.restore()
  return summary
}

// ---------------------------------------------------------------------------
// The page script. Only the DOM subset below is used; declared here so the
// rest of the project keeps its Node-only type environment.

interface VStyle {
  setProperty(name: string, value: string): void
}
interface VElement {
  readonly dataset: Record<string, string | undefined>
  readonly style: VStyle
  readonly clientWidth: number
  readonly classList: { add(c: string): void; remove(c: string): void; toggle(c: string, force?: boolean): boolean }
  textContent: string | null
  innerHTML: string
  getAttribute(name: string): string | null
  setAttribute(name: string, value: string): void
  querySelector(sel: string): VElement | null
  querySelectorAll(sel: string): ArrayLike<VElement>
  addEventListener(type: string, fn: (ev: VEvent) => void, opts?: { passive?: boolean }): void
  getBoundingClientRect(): { left: number; top: number; width: number; height: number }
  scrollIntoView(opts?: { behavior?: string; block?: string }): void
  closest(sel: string): VElement | null
  setPointerCapture?(id: number): void
}
interface VEvent {
  readonly clientX: number
  readonly clientY: number
  readonly deltaY: number
  readonly key: string
  readonly pointerId: number
  readonly button: number
  readonly target: VElement | null
  readonly ctrlKey: boolean
  preventDefault(): void
}
interface VDocument {
  getElementById(id: string): VElement | null
  querySelectorAll(sel: string): ArrayLike<VElement>
  addEventListener(type: string, fn: (ev: VEvent) => void): void
}
interface VWindow {
  readonly devicePixelRatio?: number
  addEventListener(type: string, fn: (ev: VEvent) => void): void
  readonly location: { hash: string }
}

/** DENSE_COLORS, under the name the page script declares (see viewerScript). */
const DENSE_COLORS_PAGE = DENSE_COLORS

/** The page script: runs in the browser with the embedded ViewData. */
export function runViewer(data: ViewData, doc: VDocument, win: VWindow): void {
  const svg = doc.getElementById('tl')
  const holder = doc.getElementById('tl-holder')
  if (!svg || !holder) return
  const g = data.geometry
  let width = g.width
  let v0 = data.tMin
  let v1 = data.tMax
  const full0 = data.tMin
  const full1 = data.tMax
  let cursor: number | undefined
  const list = (sel: string): VElement[] => Array.from(svg.querySelectorAll(sel))
  const lines = list('[data-t1]')
  const moved = list('[data-t]:not(text)')
  const polys = list('[data-pts]')
  const labels = list('text[data-t]')
  const aggs = list('g.lbl-agg')
  const canvas = doc.getElementById('pk-canvas') as (VElement & { width: number; height: number; getContext(k: '2d'): VCanvasContext | null }) | null
  const dpr = Math.max(1, Math.min(3, win.devicePixelRatio ?? 1))
  let packetReadout = ''
  // A large capture: the packets come inflated after the first layout, their labels after them.
  let dense: DensePackets | undefined
  let denseLabels: string[] = []
  if (data.denseGz !== undefined) {
    packetReadout = 'packets loading'
    const w = win as unknown as VInflate
    void inflateJson(data.denseGz, w).then((enc) => {
      dense = decodeDense(enc as EncodedDense, () => denseLabels)
      layout()
      return inflateJson(doc.getElementById('tcplab-labels')?.textContent ?? '', w)
    }).then((labels) => {
      denseLabels = labels as string[]
      layout()
    }).catch((e: unknown) => {
      packetReadout = `packets could not be read: ${String(e)}`
      layout()
    })
  }
  const ticks = svg.querySelector('#ticks')
  const cursorLine = svg.querySelector('#cursor')
  const clip = svg.querySelector('#plotclip rect')
  const readout = doc.getElementById('readout')
  const inspector = doc.getElementById('inspector')
  const plotW = (): number => width - g.gutter - g.rightPad
  const X = (t: number): number => g.gutter + ((t - v0) / (v1 - v0)) * plotW()
  const T = (x: number): number => v0 + ((x - g.gutter) / plotW()) * (v1 - v0)
  const num = (s: string | undefined): number => (s === undefined ? NaN : Number(s))

  function sizeCanvas(): void {
    if (!canvas) return
    canvas.width = Math.round(width * dpr)
    canvas.height = Math.round(g.height * dpr)
    canvas.style.setProperty('width', `${width}px`)
    canvas.style.setProperty('height', `${g.height}px`)
  }

  function layout(): void {
    if (canvas && canvas.width !== Math.round(width * dpr)) sizeCanvas()
    svg?.setAttribute('width', String(width))
    svg?.setAttribute('viewBox', `0 0 ${width} ${g.height}`)
    clip?.setAttribute('width', String(plotW()))
    for (const el of lines) {
      const x1 = X(num(el.dataset.t1))
      const x2 = X(num(el.dataset.t2 ?? el.dataset.t1))
      if (el.getAttribute('x1') !== null) {
        el.setAttribute('x1', x1.toFixed(1))
        el.setAttribute('x2', x2.toFixed(1))
      } else {
        el.setAttribute('x', x1.toFixed(1))
        el.setAttribute('width', Math.max(1, x2 - x1).toFixed(1))
        const minW = num(el.dataset.w) * g.charW
        const lbl = el.dataset.label ? svg?.querySelector(`#${el.dataset.label}`) : null
        if (lbl) {
          const left = Math.max(x1, g.gutter)
          lbl.setAttribute('x', (left + 3).toFixed(1))
          lbl.classList.toggle('hidden', Math.min(x2, width - g.rightPad) - left < minW)
        }
      }
    }
    for (const el of moved) el.setAttribute('transform', `translate(${X(num(el.dataset.t)).toFixed(1)},0)`)
    for (const el of polys) {
      const pts = (el.dataset.pts ?? '').split(' ').filter((p) => p !== '').map((p) => {
        const [t, y] = p.split(',')
        return `${X(num(t)).toFixed(1)},${y ?? '0'}`
      })
      el.setAttribute('points', pts.join(' '))
    }
    // Labels: per group, in time order, greedy rows; hidden when no row is free.
    const byGroup = new Map<number, VElement[]>()
    for (const el of labels) {
      const gi = num(el.dataset.g)
      const arr = byGroup.get(gi) ?? []
      arr.push(el)
      byGroup.set(gi, arr)
    }
    for (const [gi, els] of byGroup) {
      const grp = g.groups[gi]
      if (!grp) continue
      const xts = els.map((el) => X(num(el.dataset.t)))
      const xs = els.map((el, i) => placeLabel(xts[i] as number, num(el.dataset.dx ?? '0'), num(el.dataset.w) * g.charW, g.gutter, width - g.rightPad))
      const visible = els.map((_, i) => (xts[i] as number) >= g.gutter - 2 && (xts[i] as number) <= width - g.rightPad + 2)
      const rows = assignRows(els.map((el, i) => [visible[i] ? (xs[i] as number) : -1e9, num(el.dataset.w) * g.charW] as const), grp.rows, 6)
      els.forEach((el, i) => {
        const row = rows[i] as number
        const show = visible[i] === true && row >= 0
        el.classList.toggle('hidden', !show)
        if (show) {
          el.setAttribute('x', (xs[i] as number).toFixed(1))
          el.setAttribute('y', (grp.y0 + row * grp.dy).toFixed(1))
        }
      })
      // Labels with no free row: "+N" where they would have piled up.
      const agg = aggs.find((a) => a.dataset.g === String(gi))
      if (agg) {
        const hidden = rows.map((r, i) => r < 0 && visible[i] === true)
        agg.innerHTML = aggregateHidden(xs, hidden, 90)
          .map(([ax, count]) => `<text x="${ax.toFixed(1)}" y="${(grp.y0 + grp.rows * grp.dy).toFixed(1)}" class="lbl agg-lbl">+${count}<title>${count} more packet labels here: zoom in to read them</title></text>`)
          .join('')
      }
    }
    if (canvas && dense) {
      const ctx = canvas.getContext('2d')
      if (ctx) {
        ctx.setTransform(dpr, 0, 0, dpr, 0, 0)
        packetReadout = drawDensePackets(ctx, dense, v0, v1, g, width, DENSE_COLORS_PAGE)
      }
    }
    if (ticks) {
      const { step, ticks: ts } = computeTicks(v0, v1, Math.max(2, Math.floor(plotW() / 90)))
      ticks.innerHTML = ts
        .map((t) => `<line x1="${X(t).toFixed(1)}" x2="${X(t).toFixed(1)}" y1="${g.plotTop}" y2="${g.plotBottom}" class="grid"/><text x="${X(t).toFixed(1)}" y="${g.plotTop - 6}" class="tick">${formatTick(t, step)}</text>`)
        .join('')
    }
    if (cursorLine) {
      if (cursor === undefined) cursorLine.classList.add('hidden')
      else {
        cursorLine.classList.remove('hidden')
        cursorLine.setAttribute('transform', `translate(${X(cursor).toFixed(1)},0)`)
      }
    }
    if (readout) readout.textContent = `showing ${formatTick(v0, (v1 - v0) / 10)} … ${formatTick(v1, (v1 - v0) / 10)}${cursor !== undefined ? ` · cursor at ${cursor.toFixed(6)}s` : ''}${packetReadout ? ` · ${packetReadout}` : ''}`
  }

  function setView(a: number, b: number): void {
    const span = Math.min(Math.max(b - a, 1e-5), (full1 - full0) * 1.02 + 1e-3)
    let s = a
    if (s < full0 - span * 0.5) s = full0 - span * 0.5
    if (s + span > full1 + span * 0.5) s = full1 + span * 0.5 - span
    v0 = s
    v1 = s + span
    layout()
  }

  function zoomAt(t: number, factor: number): void {
    setView(t - (t - v0) * factor, t + (v1 - t) * factor)
  }

  function escapeText(s: string): string {
    return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;')
  }

  function field(key: string, label: string, value: string, listen: boolean): string {
    const q = key === 'recvQ' || key === 'sendQ' ? (listen ? data.queues.listen : data.queues.other)[key] : undefined
    const meaning = q ?? data.glossary[key] ?? ''
    return `<span class="f"${meaning ? ` title="${escapeText(meaning)}"` : ''}><b>${escapeText(label)}</b>${value === '' ? '' : ` ${escapeText(value)}`}</span>`
  }

  function showInspector(t: number): void {
    if (!inspector) return
    const parts: string[] = []
    for (const tr of data.tracks) {
      let lo = 0
      let hi = tr.samples.length
      while (lo < hi) {
        const mid = (lo + hi) >> 1
        if ((tr.samples[mid] as InspectorSample).t <= t) lo = mid + 1
        else hi = mid
      }
      const s = tr.samples[lo - 1]
      if (!s || (tr.samples[lo] === undefined && t - s.t > 1)) continue
      const fields = [
        field('state', 'State', s.state, tr.listen),
        field('recvQ', 'Recv-Q', String(s.recvQ), tr.listen),
        field('sendQ', 'Send-Q', String(s.sendQ), tr.listen),
      ]
      if (s.timer) fields.push(field('timer', 'timer', s.timer, tr.listen))
      if (s.skmem) fields.push(field('skmem', 'skmem', '', tr.listen), ...Object.entries(s.skmem).map(([k, val]) => field(`skmem.${k}`, k, String(val), tr.listen)))
      for (const [k, val] of Object.entries(s.info)) {
        if (k === 'sk' || k === 'cgroup' || k === 'wscale' || k === 'retrans') continue
        fields.push(field(k, k, val === true ? '' : String(val), tr.listen))
      }
      parts.push(`<div class="sock"><div class="sock-h">${escapeText(tr.host)} ${escapeText(tr.label)} <span class="muted">sample at ${s.t.toFixed(3)}s</span></div><div class="fields">${fields.join(' ')}</div></div>`)
    }
    inspector.innerHTML = parts.length ? parts.join('') : '<p class="muted">no socket sampled at this time</p>'
  }

  function setCursor(t: number): void {
    cursor = t
    layout()
    showInspector(t)
  }

  // Pointer: drag pans, a click without drag sets the cursor.
  let drag: { x: number; a: number; b: number; moved: boolean } | undefined
  const localX = (ev: VEvent): number => {
    const r = svg.getBoundingClientRect()
    return ((ev.clientX - r.left) / r.width) * width
  }
  svg.addEventListener('pointerdown', (ev) => {
    if (ev.button !== 0) return
    drag = { x: localX(ev), a: v0, b: v1, moved: false }
    svg.setPointerCapture?.(ev.pointerId)
  })
  svg.addEventListener('pointermove', (ev) => {
    if (!drag) return
    const dx = localX(ev) - drag.x
    if (Math.abs(dx) > 3) drag.moved = true
    if (drag.moved) {
      const dt = (dx / plotW()) * (drag.b - drag.a)
      setView(drag.a - dt, drag.b - dt)
    }
  })
  svg.addEventListener('pointerup', (ev) => {
    const d = drag
    drag = undefined
    if (!d || d.moved) return
    const x = localX(ev)
    if (x < g.gutter) return
    const link = ev.target?.closest('[data-goto]')
    if (link) return
    setCursor(T(x))
  })
  svg.addEventListener('wheel', (ev) => {
    const x = localX(ev)
    if (x < g.gutter) return
    ev.preventDefault()
    zoomAt(T(x), Math.exp(ev.deltaY * 0.0015))
  }, { passive: false })
  const button = (id: string, fn: () => void): void => doc.getElementById(id)?.addEventListener('click', () => fn())
  button('zoom-in', () => zoomAt((v0 + v1) / 2, 0.5))
  button('zoom-out', () => zoomAt((v0 + v1) / 2, 2))
  button('zoom-fit', () => setView(full0, full1))
  doc.addEventListener('keydown', (ev) => {
    if (ev.target?.closest('input, textarea')) return
    if (ev.key === '+' || ev.key === '=') zoomAt(cursor ?? (v0 + v1) / 2, 0.5)
    else if (ev.key === '-') zoomAt(cursor ?? (v0 + v1) / 2, 2)
    else if (ev.key === '0') setView(full0, full1)
  })
  // Expectation links (table and markers) and any [data-goto] element: show that moment.
  for (const el of Array.from(doc.querySelectorAll('[data-goto]'))) {
    el.addEventListener('click', (ev) => {
      ev.preventDefault()
      const t = num(el.dataset.goto)
      if (!Number.isFinite(t)) return
      const span = Math.min(v1 - v0, Math.max(0.5, (full1 - full0) / 8))
      setView(t - span / 2, t + span / 2)
      setCursor(t)
      for (const m of Array.from(svg.querySelectorAll('.exp.sel'))) m.classList.remove('sel')
      if (el.dataset.exp !== undefined) svg.querySelector(`#expm-${el.dataset.exp}`)?.classList.add('sel')
      holder.scrollIntoView({ behavior: 'smooth', block: 'start' })
    })
  }
  for (const el of Array.from(doc.querySelectorAll('[data-row]'))) {
    el.addEventListener('click', () => {
      const row = doc.getElementById(`exp-${el.dataset.row ?? ''}`)
      row?.scrollIntoView({ behavior: 'smooth', block: 'center' })
      row?.classList.add('flash')
    })
  }
  const showSs = doc.getElementById('log-ss')
  showSs?.addEventListener('change', () => doc.getElementById('log')?.classList.toggle('with-ss'))
  const fit = (): void => {
    const w = Math.max(720, Math.floor(holder.clientWidth))
    if (w !== width) {
      width = w
      layout()
    }
  }
  win.addEventListener('resize', fit)
  width = Math.max(720, Math.floor(holder.clientWidth)) || g.width
  layout()
  const hash = /^#t=([\d.]+)$/.exec(win.location.hash)
  if (hash) setCursor(Number(hash[1]))
}

/** The page's inline script: the functions above as source, then the call with the embedded data. */
export function viewerScript(): string {
  // esbuild (tsx) may wrap named functions with __name(); make it a no-op in the page.
  return [
    'var __name = function (f) { return f; };',
    computeTicks.toString(),
    formatTick.toString(),
    assignRows.toString(),
    placeLabel.toString(),
    aggregateHidden.toString(),
    decodeDense.toString(),
    inflateJson.toString(),
    drawDensePackets.toString(),
    `var DENSE_DETAIL = ${DENSE_DETAIL}, DENSE_LABELS = ${DENSE_LABELS}, DENSE_COLORS_PAGE = ${JSON.stringify(DENSE_COLORS)};`,
    runViewer.toString(),
    "runViewer(JSON.parse(document.getElementById('tcplab-data').textContent), document, window);",
  ].join('\n')
}
