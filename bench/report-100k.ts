// The HTML report at scale: a real bulk transfer of ~100k packets
// (bench/scenarios/bulk-100k.yaml: 150 MB with MTU-sized segments), its
// report written, then opened in headless Chromium (Debian's chromium, driven
// by playwright-core). Prints, with the load average beside each figure:
//   - how long writing report.html took, and its size;
//   - open: navigation start to the timeline drawn (load event + first layout);
//   - pan: 10 drags across the timeline at the whole-run zoom (aggregated),
//     and 10 at a zoom showing a few hundred packets (each drawn, labelled);
//   - zoom: the zoom-in button until a few hundred packets are in view.
// Target: open and each pan under 2 s. Writes docs/report-100k.png (the
// whole run) unless --no-screenshot. Asserts nothing.
//
// Run:  npx tsx bench/report-100k.ts [RESULTS_DIR]
//   without RESULTS_DIR it runs the scenario first (needs root; ~1 min),
//   with one (a folder holding bulk-100k/) it only rewrites and opens the report;
//   --open-only: do not rewrite it; --no-screenshot: leave docs/ alone.

import { existsSync, readFileSync, statSync } from 'node:fs'
import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { runCommand } from '../src/util/proc.js'
import { regenerateReports } from '../src/report/write.js'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const SCENARIO = path.join(ROOT, 'bench/scenarios/bulk-100k.yaml')
const CHROMIUM = '/usr/bin/chromium'
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync']
const TARGET_MS = 2000
/** Resolves after the next frame is drawn. */
const FRAME = 'new Promise((r) => requestAnimationFrame(() => setTimeout(r, 0)))'
const SCREENSHOT = path.join(ROOT, 'docs/report-100k.png')

const loadavg = (): string => `load ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}`
const say = (what: string, ms: number, target?: number): void => {
  const verdict = target === undefined ? '' : ms <= target ? `  (target < ${target} ms: met)` : `  (target < ${target} ms: MISSED)`
  process.stdout.write(`${what.padEnd(44)} ${ms.toFixed(0).padStart(7)} ms  ${loadavg()}${verdict}\n`)
}

async function main(): Promise<void> {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium`)
  let results = process.argv[2]
  if (results === undefined) {
    results = await mkdtemp(path.join(tmpdir(), 'tcplab-bench-report-'))
    process.stdout.write(`running ${path.relative(ROOT, SCENARIO)} into ${results} ...\n`)
    await runCommand([process.execPath, path.join(ROOT, 'dist/cli/main.js'), 'run', SCENARIO, '--results', results], { timeoutMs: 600_000, reject: false })
  }
  const dir = path.join(results, 'bulk-100k')
  const records = readFileSync(path.join(dir, 'records.jsonl'), 'utf8')
  const pkts = records.split('\n').filter((l) => l.includes('"kind":"pkt"')).length
  process.stdout.write(`${pkts} packet records (each packet is captured leaving one host and arriving at the other)\n`)

  let t = performance.now()
  if (!process.argv.includes('--open-only')) {
    await regenerateReports(dir)
    say('write report.html', performance.now() - t)
  }
  const file = path.join(dir, 'report.html')
  process.stdout.write(`report.html: ${(statSync(file).size / 1e6).toFixed(1)} MB\n`)

  const { chromium } = await import('playwright-core')
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: FLAGS })
  try {
    const page = await browser.newPage({ viewport: { width: 1500, height: 1000 } })
    const errors: string[] = []
    page.on('pageerror', (e) => errors.push(e.message))
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(m.text())
    })
    // The renderer's main-thread time (CDP Performance.getMetrics TaskDuration): what the page itself
    // costs, less stretched by other processes than the wall time on a loaded machine.
    const cdp = await page.context().newCDPSession(page)
    await cdp.send('Performance.enable')
    const metricMs = async (name: string): Promise<number> => {
      const { metrics } = await cdp.send('Performance.getMetrics')
      return (metrics.find((m) => m.name === name)?.value ?? 0) * 1000
    }
    const busyMs = (): Promise<number> => metricMs('TaskDuration')
    t = performance.now()
    await page.goto(`file://${file}`, { waitUntil: 'load', timeout: 120_000 })
    // Drawn: the layout after the packets were inflated writes their count in the readout.
    await page.waitForFunction("/packets in view/.test(document.getElementById('readout')?.textContent ?? '')", undefined, { timeout: 120_000 })
    await page.evaluate(FRAME)
    say('open (navigation to timeline drawn)', performance.now() - t, TARGET_MS)
    say('open: renderer main-thread busy time', await busyMs(), TARGET_MS)
    for (const [name, what] of [['ScriptDuration', 'script'], ['LayoutDuration', 'layout'], ['RecalcStyleDuration', 'style']] as const) say(`open: of which ${what}`, await metricMs(name))
    process.stdout.write(`readout: ${await page.textContent('#readout')}\n`)

    const box = await page.locator('#tl').boundingBox()
    if (!box) throw new Error('no timeline on the page')
    const y = box.y + 140
    const pan = async (label: string): Promise<void> => {
      const times: number[] = []
      for (let i = 0; i < 10; i++) {
        const t0 = performance.now()
        await page.mouse.move(box.x + 700, y)
        await page.mouse.down()
        await page.mouse.move(box.x + (i % 2 === 0 ? 400 : 1000), y, { steps: 4 })
        await page.mouse.up()
        await page.evaluate(FRAME)
        times.push(performance.now() - t0)
      }
      times.sort((a, b) => a - b)
      say(`${label}: median of 10 drags`, times[5] ?? 0, TARGET_MS)
      say(`${label}: slowest of 10 drags`, times[9] ?? 0, TARGET_MS)
    }
    if (!process.argv.includes('--no-screenshot')) {
      await page.locator('#tl-holder').screenshot({ path: SCREENSHOT })
      process.stdout.write(`wrote ${path.relative(ROOT, SCREENSHOT)}\n`)
    }
    await pan('pan, whole run (aggregated)')
    // Zoom in until a few hundred packets are in view (each drawn and labelled).
    const zoomTimes: number[] = []
    await page.click('#zoom-fit')
    for (let i = 0; i < 10; i++) {
      const t0 = performance.now()
      await page.click('#zoom-in')
      await page.evaluate(FRAME)
      zoomTimes.push(performance.now() - t0)
      const readout = (await page.textContent('#readout')) ?? ''
      const n = Number(/(\d+) packets in view/.exec(readout)?.[1] ?? Infinity)
      if (n < 500) break
    }
    zoomTimes.sort((a, b) => a - b)
    say('zoom: slowest zoom-in step', zoomTimes[zoomTimes.length - 1] ?? 0, TARGET_MS)
    process.stdout.write(`readout: ${await page.textContent('#readout')}\n`)
    await pan('pan, zoomed in (packets drawn)')
    if (!process.argv.includes('--no-screenshot')) {
      const zoomed = SCREENSHOT.replace(/\.png$/, '-zoomed.png')
      await page.locator('#tl-holder').screenshot({ path: zoomed })
      process.stdout.write(`wrote ${path.relative(ROOT, zoomed)}\n`)
    }
    process.stdout.write(errors.length ? `page errors:\n  ${errors.join('\n  ')}\n` : 'no page errors\n')
  } finally {
    await browser.close()
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`report-100k: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`)
  process.exit(1)
})
