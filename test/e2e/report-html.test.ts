// The HTML report in a real browser: Debian's chromium, headless, with a new
// empty profile and no background networking (the machine has no internet,
// and a report must not need it). The page must load without console
// errors, draw the lanes, the packets (the dropped SYNs in red), the socket
// states and the expectations table, and respond to the cursor and zoom. The
// screenshot is decoded and checked for those colours where the elements
// are. Set TCPLAB_UPDATE_SCREENSHOT=1 to refresh docs/report-screenshot.png.

import t from 'tap'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { execFileSync } from 'node:child_process'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { inflateSync } from 'node:zlib'
import { regenerateReports } from '../../src/report/write.js'
import { RUN_LINEAR0, copyRun } from '../unit/report/runs.js'

const CHROMIUM = '/usr/bin/chromium'
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync']

async function loadPlaywright(): Promise<typeof import('playwright-core') | undefined> {
  try {
    return await import('playwright-core')
  } catch {
    return undefined
  }
}

const pw = await loadPlaywright()
const skip = !existsSync(CHROMIUM) ? `${CHROMIUM} is missing (apt-get install -y chromium)` : !pw ? 'playwright-core is not installed (npm ci)' : false

/** A decoded PNG: 8-bit RGB or RGBA, not interlaced (what Chromium writes). */
interface Image {
  width: number
  height: number
  pixel(x: number, y: number): [number, number, number]
}

/** Decode a PNG (RFC 2083: IHDR, IDAT inflated, each row unfiltered). */
function decodePng(buf: Buffer): Image {
  let pos = 8
  let width = 0
  let height = 0
  let channels = 3
  const idat: Buffer[] = []
  while (pos < buf.length) {
    const len = buf.readUInt32BE(pos)
    const type = buf.toString('latin1', pos + 4, pos + 8)
    const data = buf.subarray(pos + 8, pos + 8 + len)
    if (type === 'IHDR') {
      width = data.readUInt32BE(0)
      height = data.readUInt32BE(4)
      if (data[8] !== 8 || data[12] !== 0) throw new Error('only 8-bit, non-interlaced PNGs')
      channels = data[9] === 6 ? 4 : data[9] === 2 ? 3 : 0
      if (channels === 0) throw new Error(`colour type ${data[9]} not handled`)
    } else if (type === 'IDAT') idat.push(data)
    else if (type === 'IEND') break
    pos += 12 + len
  }
  const raw = inflateSync(Buffer.concat(idat))
  const stride = width * channels
  const out = Buffer.alloc(height * stride)
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)] as number
    for (let x = 0; x < stride; x++) {
      const v = raw[y * (stride + 1) + 1 + x] as number
      const a = x >= channels ? (out[y * stride + x - channels] as number) : 0
      const b = y > 0 ? (out[(y - 1) * stride + x] as number) : 0
      const c = x >= channels && y > 0 ? (out[(y - 1) * stride + x - channels] as number) : 0
      let pred = 0
      if (filter === 1) pred = a
      else if (filter === 2) pred = b
      else if (filter === 3) pred = (a + b) >> 1
      else if (filter === 4) {
        const p = a + b - c
        const pa = Math.abs(p - a)
        const pb = Math.abs(p - b)
        const pc = Math.abs(p - c)
        pred = pa <= pb && pa <= pc ? a : pb <= pc ? b : c
      }
      out[y * stride + x] = (v + pred) & 0xff
    }
  }
  return {
    width,
    height,
    pixel: (x, y) => {
      const i = y * stride + x * channels
      return [out[i] as number, out[i + 1] as number, out[i + 2] as number]
    },
  }
}

/** How many pixels in the box are close to the colour. */
function countColour(img: Image, box: { x: number; y: number; width: number; height: number }, rgb: [number, number, number], tol = 40): number {
  let n = 0
  for (let y = Math.max(0, Math.floor(box.y)); y < Math.min(img.height, box.y + box.height); y++) {
    for (let x = Math.max(0, Math.floor(box.x)); x < Math.min(img.width, box.x + box.width); x++) {
      const [r, g, b] = img.pixel(x, y)
      if (Math.abs(r - rgb[0]) + Math.abs(g - rgb[1]) + Math.abs(b - rgb[2]) <= tol) n++
    }
  }
  return n
}

t.test('report.html in headless Chromium', { skip }, async (t) => {
  if (!pw) return
  const dir = copyRun(t, RUN_LINEAR0)
  const written = await regenerateReports(dir)
  t.ok(written.every((w) => w.error === undefined), 'reports written')
  const profile = mkdtempSync(path.join(tmpdir(), 'tcplab-chromium-'))
  const ctx = await pw.chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: FLAGS,
    viewport: { width: 1500, height: 1000 },
    offline: true,
  })
  t.teardown(async () => {
    await ctx.close().catch(() => undefined)
    rmSync(profile, { recursive: true, force: true })
  })
  const page = ctx.pages()[0] ?? (await ctx.newPage())
  const problems: string[] = []
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') problems.push(`${m.type()}: ${m.text()}`)
  })
  page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`))
  const requests: string[] = []
  page.on('request', (r) => {
    if (!r.url().startsWith('file://')) requests.push(r.url())
  })

  await page.goto(`file://${path.join(dir, 'seed-syn-drop-timeout', 'report.html')}`)
  await page.waitForSelector('#tl')
  t.same(problems, [], 'no console errors or warnings')
  t.same(requests, [], 'nothing but the file itself is loaded')

  // What a reader must see.
  t.equal(await page.locator('#tl .lane').count(), 2, 'a lane per host')
  t.same(await page.locator('#tl .lane-name').evaluateAll((els) => els.map((e) => e.firstChild?.textContent)), ['client', 'server'])
  t.equal(await page.locator('#tl .pk.dropped line').count(), 3, 'the three dropped SYNs as arrows')
  t.equal(await page.locator('#tl .cross').count(), 3, 'each crossed out where it was dropped')
  t.equal(await page.locator('#expectations tr[id^="exp-"]').count(), 8, 'the expectations table')
  t.equal(await page.locator('#expectations tr.fail').count(), 3)
  t.ok((await page.locator('#tl .state.st-syn-sent').count()) >= 1, 'the client socket in SYN-SENT')
  t.match(await page.locator('.banner.fail').innerText(), /3 of 5 expectations failed/)
  t.ok(await page.locator('#tl text.pk-lbl:not(.hidden)').first().isVisible(), 'packet labels laid out')

  // The screenshot shows them: red arrows between the lanes, green state-free lanes, the failing rows.
  const shot = path.join(path.dirname(dir), 'report.png')
  await page.screenshot({ path: shot, fullPage: true })
  const img = decodePng(readFileSync(shot))
  t.ok(img.width >= 1400 && img.height > 1000, `a full-page screenshot (${img.width}x${img.height})`)
  const lanes = await page.locator('#tl .lane').evaluateAll((els) => els.map((e) => e.getBoundingClientRect().toJSON() as { x: number; y: number; width: number; height: number }))
  const [top, bottom] = lanes
  const scrollY = await page.evaluate(() => (globalThis as unknown as { scrollY: number }).scrollY)
  t.ok(top && bottom && bottom.y > top.y, 'lanes one above the other')
  if (top && bottom) {
    const between = { x: top.x, y: top.y + scrollY + 4, width: top.width, height: bottom.y - top.y - 8 }
    t.ok(countColour(img, between, [0xc6, 0x28, 0x28]) > 150, 'red (dropped) arrows between the lanes')
    t.ok(countColour(img, { ...top, y: top.y + scrollY - 1, height: 3 }, [0x44, 0x44, 0x44]) > 500, 'the client lane line')
  }
  const table = (await page.locator('#expectations table').boundingBox()) ?? { x: 0, y: 0, width: 0, height: 0 }
  t.ok(countColour(img, { ...table, y: table.y + scrollY }, [0xff, 0xf5, 0xf5], 6) > 5000, 'the failing rows of the expectations table, tinted')
  const band = (await page.locator('#tl .state.st-syn-sent').first().boundingBox()) ?? { x: 0, y: 0, width: 0, height: 0 }
  t.ok(countColour(img, { ...band, y: band.y + scrollY }, [0xff, 0xe0, 0x82], 10) > 200, 'the SYN-SENT band')
  if (process.env.TCPLAB_UPDATE_SCREENSHOT === '1') {
    // For the README: the failure at a glance (the banner) and the timeline that shows it.
    mkdirSync('docs', { recursive: true })
    const top = (await page.locator('h1').boundingBox())?.y ?? 0
    const end = await page.locator('#tl-holder').boundingBox()
    if (end) await page.screenshot({ path: 'docs/report-screenshot.png', clip: { x: 0, y: Math.max(0, top - 8), width: 1500, height: end.y + end.height + 8 - Math.max(0, top - 8) }, fullPage: true })
  }

  // The moment of a failed expectation: the cursor goes there, the inspector shows the sockets.
  await page.locator('#expectations tr#exp-3 a[data-goto]').click()
  await page.waitForTimeout(200)
  t.notOk(await page.locator('#tl #cursor').evaluate((e) => e.classList.contains('hidden')), 'the cursor is shown')
  t.match(await page.locator('#inspector').innerText(), /State\s+CLOSE|State\s+SYN-SENT|no socket/, 'the inspector shows the sockets at that moment')
  t.match(await page.locator('#readout').innerText(), /cursor at 7\.36/)
  // Zoom in with the wheel, then fit.
  const before = await page.locator('#readout').innerText()
  const box = await page.locator('#tl').boundingBox()
  if (box) {
    await page.mouse.move(box.x + box.width / 2, box.y + 200)
    await page.mouse.wheel(0, -600)
  }
  await page.waitForTimeout(100)
  t.not(await page.locator('#readout').innerText(), before, 'the wheel zooms')
  await page.locator('#zoom-fit').click()
  t.match(await page.locator('#readout').innerText(), /^showing -?\d/)
  // Hovering a field in the inspector explains it.
  await page.locator('#tl').click({ position: { x: 600, y: 400 } })
  const title = await page.locator('#inspector span.f[title]').first().getAttribute('title')
  t.ok(title && title.length > 20, `ss fields carry their meaning: ${title ?? ''}`)

  await page.goto(`file://${path.join(dir, 'index.html')}`)
  t.equal(await page.locator('table tr.fail, table tr.pass').count(), 2, 'the index lists both scenarios')
  t.same(problems, [], 'still no console errors')
  await ctx.close()
  const left = execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' }).split('\n').filter((l) => l.includes(profile))
  t.same(left, [], 'no browser process left behind')
})
