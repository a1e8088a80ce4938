// What a scenario costs beyond the time it plays (target <= 300 ms), what a lab
// costs (netns two hosts up+down <= 60 ms, docker <= 1.5 s), and how long the CLI
// takes to start (`tcplab list`). Each figure is printed with /proc/loadavg beside
// it: on a shared machine a figure means little without the load it was taken at.
// Prints figures, asserts nothing.
//
// Run:  npx tsx bench/overhead.ts [--rounds N] [--scenarios a.yaml,b.yaml]
// Needs root (netns) and `make build` (the CLI is timed from dist/). The docker
// figure needs a daemon and the lab image (`make docker image`); without them it says so.

import { readFileSync } from 'node:fs'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { createBackend } from '../src/lab/index.js'
import type { Backend, HostSpec } from '../src/lab/types.js'
import { loadScenarios } from '../src/scenario/loader.js'
import { runSuite } from '../src/runner/suite.js'
import { runCommand } from '../src/util/proc.js'
import { TcplabError } from '../src/util/errors.js'

const { values } = parseArgs({
  options: { rounds: { type: 'string', default: '10' }, scenarios: { type: 'string' } },
})
const ROUNDS = Number(values.rounds)
const SCENARIOS = values.scenarios?.split(',') ?? [
  'scenarios/errno/errno-shut-wr.yaml',
  'scenarios/errno/errno-closed-fd.yaml',
  'scenarios/errno/errno-shut-rd.yaml',
]

const load = (): string => `loadavg ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}`
const quantile = (xs: readonly number[], q: number): number => {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? NaN
}
const fmt = (xs: readonly number[]): string =>
  `p50 ${quantile(xs, 0.5).toFixed(0).padStart(5)}  p95 ${quantile(xs, 0.95).toFixed(0).padStart(5)}  max ${quantile(xs, 1).toFixed(0).padStart(5)} ms`
const host = (name: string): HostSpec => ({ name, sysctls: {}, isWire: false })
const labId = (i: number): string => `c${(process.pid % 0x1000).toString(16).padStart(3, '0')}${i.toString(16).padStart(4, '0')}`

/** Per scenario: wall time (setup to teardown, report written) minus the played time (endT). */
async function scenarioOverhead(): Promise<void> {
  const backend = await createBackend('netns')
  await backend.check()
  const loaded = await loadScenarios(SCENARIOS)
  const dir = await mkdtemp(path.join(tmpdir(), 'tcplab-bench-'))
  try {
    // A first scenario warms the run's env probe (once per run) and the caches; it is not counted.
    await runSuite(loaded.slice(0, 1), { backend, resultsDir: path.join(dir, 'warm'), jobs: 1 })
    const over: number[] = []
    for (const l of loaded) {
      const t0 = performance.now()
      const { verdicts } = await runSuite([l], { backend, resultsDir: path.join(dir, l.scenario.name), jobs: 1 })
      const wallMs = performance.now() - t0
      const v = verdicts[0]
      const playedMs = (v?.endT ?? 0) * 1000
      over.push(wallMs - playedMs)
      console.log(`  ${l.scenario.name.padEnd(28)} wall ${wallMs.toFixed(0).padStart(5)} ms  played ${playedMs.toFixed(0).padStart(5)} ms  ` +
        `overhead ${(wallMs - playedMs).toFixed(0).padStart(4)} ms  ${v?.status ?? '?'}  ${load()}`)
    }
    console.log(`scenario overhead (--jobs 1)   ${fmt(over)}   target <= 300 ms   ${load()}`)
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

async function labUpDown(backend: Backend, rounds: number, base: number): Promise<number[]> {
  const total: number[] = []
  for (let i = 0; i < rounds; i++) {
    const t0 = performance.now()
    const lab = await backend.up({ labId: labId(base + i), scenario: 'bench-overhead', hosts: [host('client'), host('server')] })
    await lab.down()
    total.push(performance.now() - t0)
  }
  return total
}

async function cliStart(): Promise<void> {
  const cli = path.resolve('dist/cli/main.js')
  try {
    await readFile(cli)
  } catch {
    console.log('cli start: skipped (no dist/cli/main.js: run make build)')
    return
  }
  const times: number[] = []
  for (let i = 0; i < ROUNDS; i++) {
    const t0 = performance.now()
    await runCommand([process.execPath, cli, 'list'])
    times.push(performance.now() - t0)
  }
  console.log(`cli start (tcplab list)        ${fmt(times)}   ${load()}`)
}

console.log(`== tcplab overhead, ${ROUNDS} rounds, ${load()}`)
await scenarioOverhead()
const netns = await createBackend('netns')
const nsTimes = await labUpDown(netns, ROUNDS, 0)
console.log(`netns 2 hosts up+down          ${fmt(nsTimes)}   target <= 60 ms    ${load()}`)
const docker = await createBackend('docker')
try {
  await docker.check()
  const d = await labUpDown(docker, Math.max(3, Math.ceil(ROUNDS / 3)), 0x100)
  console.log(`docker 2 hosts up+down         ${fmt(d)}   target <= 1500 ms  ${load()}`)
} catch (e: unknown) {
  console.log(`docker: skipped: ${e instanceof TcplabError ? e.message.split('\n')[0] : String(e)}`)
}
await cliStart()
