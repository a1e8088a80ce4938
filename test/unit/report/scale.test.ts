// The report at scale and for learners: packets drawn from compact arrays past
// DENSE_PACKETS (checked on recorded captures with the threshold lowered),
// label aggregation, stderr of healthy programs, glyphs the fonts have, and
// the pcapng copies of the captures with the report's comments.
import t from 'tap'
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { readScenarioResult } from '../../../src/report/results.js'
import { buildReportModel } from '../../../src/report/model.js'
import { renderTimelineSvg } from '../../../src/report/timeline-svg.js'
import { renderScenarioPage } from '../../../src/report/scenario-page.js'
import { aggregateHidden, decodeDense, encodeDense, inflateJson, type VInflate } from '../../../src/report/viewer.js'
import { gzipJson } from '../../../src/report/scenario-page.js'
import { readPcapFrames, writePcapngs } from '../../../src/report/pcapng.js'
import { RUNS, RUN_A, RUN_LINEAR0, copyRun } from './runs.js'

const syn = readScenarioResult(path.join(RUN_LINEAR0, 'seed-syn-drop-timeout'))
const sendq = readScenarioResult(path.join(RUN_A, 'seed-sendq-ack-drop'))
const stderrOk = readScenarioResult(path.join(RUNS, 'stderr-ok', 'stderr-ok'))

t.test('stderr of a program that did not fail is not an error', async (t) => {
  const ok = buildReportModel(stderrOk).markers.filter((mk) => mk.type === 'stderr')
  t.equal(ok.length, 1, 'nc -v wrote one stderr line')
  t.equal(ok[0]?.severity, 'info', 'nc exited 0: its stderr is drawn as information')
  const failed = buildReportModel(syn).markers.filter((mk) => mk.type === 'stderr')
  t.ok(failed.length > 0 && failed.every((mk) => mk.severity === 'error'), 'nc exited 1: its stderr is an error')
  const html = renderScenarioPage(buildReportModel(stderrOk), stderrOk)
  t.notMatch(html, /class="lbl ev-lbl error"[^>]*>cli stderr/, 'no error-styled stderr label on the page')
})

t.test('only glyphs DejaVu Sans and DejaVu Sans Mono have', async (t) => {
  // Checked with `fc-list ":charset=HEX"` on Debian's fonts-dejavu-core: every one is in both.
  const allowed = new Set([...'✓✗⚠✕⊘⇄…→←▼●■−Δ±×·—§'])
  for (const res of [syn, sendq, stderrOk]) {
    const m = buildReportModel(res)
    for (const html of [renderScenarioPage(m, res), renderTimelineSvg(m, 0).svg]) {
      const outside = [...new Set([...html].filter((c) => c.charCodeAt(0) > 126 && !allowed.has(c)))]
      // Text from the records themselves (program output) is the program's; the report's own glyphs are checked.
      t.same(outside, [], `${res.verdict.name}: no glyph outside the checked set`)
    }
  }
})

t.test('past the threshold, packets are compact arrays drawn on a canvas', async (t) => {
  const m = buildReportModel(syn)
  const svgMode = renderTimelineSvg(m)
  t.equal(svgMode.dense, undefined, 'a small capture stays SVG')
  t.match(svgMode.svg, /class="pk syn/, 'with its packets as elements')
  t.match(svgMode.svg, /<g class="lbl-agg" data-g="\d+"><\/g>/, 'and a place for the "+N" of labels with no free row')
  const { svg, dense } = renderTimelineSvg(m, 0)
  t.notMatch(svg, /class="pk /, 'dense: no packet elements in the SVG')
  if (!dense) throw new Error('no dense packets')
  t.equal(dense.t1Us.length, m.flights.length, 'one entry per packet')
  const svgLabels = [...svgMode.svg.matchAll(/class="lbl pk-lbl[^"]*"[^>]*>([^<]*)/g)].map((x) => x[1])
  t.same(dense.labels, svgLabels, 'the same labels as the SVG draws')
  const dropped = m.flights.map((f, i) => [f, i] as const).filter(([f]) => f.fate === 'dropped')
  t.ok(dropped.length >= 3, 'the dropped SYNs are there')
  t.ok(dropped.every(([, i]) => ((dense.k[i] ?? 0) & 16) !== 0 && (dense.cross[i] ?? -1) >= 0), 'marked bad and crossed out')
  t.ok(dense.t1Us.every((v, i) => i === 0 || v >= (dense.t1Us[i - 1] as number)), 'sorted by time (the page bisects)')
  const back = decodeDense(JSON.parse(JSON.stringify(encodeDense(dense))), () => dense.labels)
  t.same([back.t1Us, back.t2Us, back.y1, back.k, back.labels], [dense.t1Us, dense.t2Us, dense.y1, dense.k, dense.labels], 'encoded for the page and decoded back unchanged')
  const inflated = await inflateJson(gzipJson(encodeDense(dense)), globalThis as unknown as VInflate)
  t.same(inflated, JSON.parse(JSON.stringify(encodeDense(dense))), 'gzipped and base64 in the page, inflated back unchanged (Node has the browser\'s DecompressionStream)')
  const page = renderScenarioPage(m, syn)
  t.notMatch(page, /id="pk-canvas"/, 'the small page has no canvas')
})

t.test('labels with no free row are counted, not piled up', async (t) => {
  t.same(aggregateHidden([10, 20, 50, 200, 205, 400], [true, true, false, true, true, false], 90), [[10, 2], [200, 2]])
  t.same(aggregateHidden([10, 20, 150], [true, true, true], 90), [[10, 2], [150, 1]], 'a new bucket past bucketPx')
  t.same(aggregateHidden([1, 2], [false, false], 90), [], 'nothing hidden, nothing said')
})

/** The blocks of a pcapng file: [type, body]. */
function pcapngBlocks(buf: Buffer): Array<[number, Buffer]> {
  const out: Array<[number, Buffer]> = []
  let off = 0
  while (off + 12 <= buf.length) {
    const len = buf.readUInt32LE(off + 4)
    if (len < 12 || buf.readUInt32LE(off + len - 4) !== len) throw new Error(`bad block at ${off}`)
    out.push([buf.readUInt32LE(off), buf.subarray(off + 8, off + len - 4)])
    off += len
  }
  if (off !== buf.length) throw new Error('trailing bytes')
  return out
}

function epbComment(body: Buffer): { tsUs: number; data: Buffer; comment?: string } {
  const capLen = body.readUInt32LE(12)
  const tsUs = body.readUInt32LE(4) * 2 ** 32 + body.readUInt32LE(8)
  const data = body.subarray(20, 20 + capLen)
  let off = 20 + capLen + ((4 - (capLen % 4)) % 4)
  let comment: string | undefined
  while (off + 4 <= body.length) {
    const code = body.readUInt16LE(off)
    const len = body.readUInt16LE(off + 2)
    if (code === 0) break
    if (code === 1) comment = body.toString('utf8', off + 4, off + 4 + len)
    off += 4 + len + ((4 - (len % 4)) % 4)
  }
  return { tsUs, data, comment }
}

t.test('pcapng copies of the captures carry the story as packet comments', async (t) => {
  const dir = copyRun(t, RUN_LINEAR0)
  const res = readScenarioResult(path.join(dir, 'seed-syn-drop-timeout'))
  const written = await writePcapngs(res, buildReportModel(res))
  t.same(written.map((f) => path.basename(f)).sort(), ['client.pcapng', 'server.pcapng'])
  const pcap = readPcapFrames(readFileSync(path.join(res.dir, 'server.pcap')))
  const blocks = pcapngBlocks(readFileSync(path.join(res.dir, 'server.pcapng')))
  t.equal(blocks[0]?.[0], 0x0a0d0d0a, 'a section header first')
  t.equal(blocks[0]?.[1].readUInt32LE(0), 0x1a2b3c4d, 'little-endian')
  t.equal(blocks[1]?.[0], 1, 'then the interface')
  t.equal(blocks[1]?.[1].readUInt16LE(0), pcap?.linkType, 'with the link type of the pcap')
  const epbs = blocks.filter(([type]) => type === 6).map(([, b]) => epbComment(b))
  t.equal(epbs.length, pcap?.frames.length, 'every frame')
  t.ok(epbs.every((e, i) => e.tsUs === pcap?.frames[i]?.tsUs && e.data.equals(pcap.frames[i]?.data ?? Buffer.alloc(0))), 'same times, same bytes')
  const syns = epbs.filter((e) => /: S 0 win/.test(e.comment ?? ''))
  t.ok(syns.length >= 3, 'the SYNs the server captured are commented')
  t.ok(syns.every((e) => /DROPPED after this capture by iptables rule "drop-syn" on server, installed by step #0/.test(e.comment ?? '')), 'each: dropped by drop-syn, installed by step #0')
  t.ok(syns.slice(1).every((e) => /retransmission: transmission #\d/.test(e.comment ?? '')), 'the resends are called retransmissions')
  const client = blocks.length > 0 ? pcapngBlocks(readFileSync(path.join(res.dir, 'client.pcapng'))).filter(([type]) => type === 6).map(([, b]) => epbComment(b)) : []
  t.match(client[0]?.comment ?? '', /first packet here after step #2 on client .*run nc/, 'the client\'s first SYN follows the step that ran nc')
  let tshark: string | undefined
  try {
    tshark = execFileSync('tshark', ['-r', path.join(res.dir, 'server.pcapng'), '-T', 'fields', '-e', 'frame.comment'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
  } catch {
    tshark = undefined
  }
  if (tshark === undefined) t.pass('tshark is not installed: Wireshark\'s reading not checked', { skip: true })
  else t.equal(tshark.split('\n').filter((l) => /DROPPED/.test(l)).length, syns.length, 'tshark reads the same comments')
})
