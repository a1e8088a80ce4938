// What a lab costs, netns and docker side by side: up + down of a two-host lab
// (targets: netns <= 60 ms, docker <= 1.5 s), the same with a wire host, and the
// per-call costs that the recorder and the runner pay on every step: one exec
// (`true`), a spawn until its pid is known, one signal. Prints figures with the
// load average beside each (a loaded machine stretches every one); asserts nothing.
//
// netns: hosts with their own TCP hash (made from a parent namespace, the default)
// and, in alternate rounds, sharing the machine's (TCPLAB_NETNS_CHILD_HASH=0, the
// behaviour before), with the CPU each costs: this process's own (a spawn forks
// node, ~20 ms on a loaded VM) and its children's (ip, nsenter, sh).
//
// docker: also where the time goes, phase by phase (src/lab/docker/phases.ts): the
// median start and duration of each (network create, each host's create, attach,
// start and routes, teardown steps) over the 2-host rounds.
//
// Run:  npx tsx bench/lab-updown.ts [ROUNDS] [BACKEND...]   (default 10 rounds, netns and docker; DOCKER_HOST is honoured)
// The docker half needs a daemon and the lab image (`make docker image`); without
// them it says so. Labs are named tcplab-<labId>-*, removed in `finally`.

import { readFileSync } from 'node:fs'
import { watchDockerPhases, type DockerPhaseReport } from '../src/lab/docker/phases.js'
import { createBackend } from '../src/lab/index.js'
import { labParent } from '../src/lab/netns/backend.js'
import type { Backend, HostSpec, Lab } from '../src/lab/types.js'
import { TcplabError } from '../src/util/errors.js'

const ROUNDS = Number(process.argv[2] ?? 10)
const BACKENDS = process.argv.length > 3 ? process.argv.slice(3) : ['netns', 'docker']
const TARGET_MS: Record<string, number> = { netns: 60, docker: 1500 }
const CALLS = 20

const host = (name: string, isWire = false): HostSpec => ({ name, sysctls: {}, isWire })
const labId = (i: number): string => `b${(process.pid % 0x1000).toString(16).padStart(3, '0')}${i.toString(16).padStart(4, '0')}`

const loadavg = (): string => `load ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}`

/** CPU of this process and of its waited-for children so far, ms (proc(5) utime stime cutime cstime, 100 Hz ticks). */
function cpuMs(): { self: number; children: number } {
  const stat = readFileSync('/proc/self/stat', 'utf8')
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ').map(Number)
  return { self: ((f[11] ?? 0) + (f[12] ?? 0)) * 10, children: ((f[13] ?? 0) + (f[14] ?? 0)) * 10 }
}

/** min / p50 / max / mean in ms. */
function summarize(values: readonly number[]): string {
  const s = [...values].sort((a, b) => a - b)
  const at = (q: number): number => s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? NaN
  const mean = s.reduce((a, b) => a + b, 0) / Math.max(1, s.length)
  return `min ${at(0).toFixed(0).padStart(5)}  p50 ${at(0.5).toFixed(0).padStart(5)}  max ${at(1).toFixed(0).padStart(5)}  mean ${mean.toFixed(0).padStart(5)} ms`
}

async function time<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const t0 = performance.now()
  const v = await fn()
  return [v, performance.now() - t0]
}

interface UpDown {
  up: number[]
  down: number[]
  total: number[]
  /** CPU per round, ms: this process, its children. */
  cpuSelf: number
  cpuChildren: number
}

/**
 * ROUNDS of up + down. `modes` alternate round by round (so both see the same load): each sets
 * TCPLAB_NETNS_CHILD_HASH for its rounds ('' = unset).
 */
async function measureUpDown(backend: Backend, hosts: HostSpec[], base: number, modes: readonly string[] = ['']): Promise<Map<string, UpDown>> {
  const out = new Map(modes.map((m) => [m, { up: [] as number[], down: [] as number[], total: [] as number[], cpuSelf: 0, cpuChildren: 0 }]))
  const saved = process.env.TCPLAB_NETNS_CHILD_HASH
  try {
    for (let i = 0; i < ROUNDS; i++) {
      for (const [k, mode] of modes.entries()) {
        if (mode === '') delete process.env.TCPLAB_NETNS_CHILD_HASH
        else process.env.TCPLAB_NETNS_CHILD_HASH = mode
        const r = out.get(mode) as UpDown
        const c0 = cpuMs()
        const [lab, upMs] = await time(() => backend.up({ labId: labId(base + i * modes.length + k), scenario: 'bench-lab-updown', hosts }))
        const [, downMs] = await time(() => lab.down())
        const c1 = cpuMs()
        r.up.push(upMs)
        r.down.push(downMs)
        r.total.push(upMs + downMs)
        r.cpuSelf += (c1.self - c0.self) / ROUNDS
        r.cpuChildren += (c1.children - c0.children) / ROUNDS
      }
    }
  } finally {
    if (saved === undefined) delete process.env.TCPLAB_NETNS_CHILD_HASH
    else process.env.TCPLAB_NETNS_CHILD_HASH = saved
  }
  return out
}

/** Median start and duration of each phase over the reports of one stage (up or down), in order of start. */
function printPhases(reports: readonly DockerPhaseReport[], stage: 'up' | 'down'): void {
  const byName = new Map<string, { start: number[]; duration: number[] }>()
  const totals: number[] = []
  for (const r of reports) {
    if (r.stage !== stage) continue
    totals.push(r.totalMs)
    for (const p of r.phases) {
      const name = p.name.replace(/ [\d.]+\/\d+$/, '') // "release subnet 198.18.7.0/24": one row for every subnet
      const e = byName.get(name) ?? { start: [], duration: [] }
      e.start.push(p.startMs)
      e.duration.push(p.durationMs)
      byName.set(name, e)
    }
  }
  const median = (xs: readonly number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN
  console.log(`  docker ${stage} phases (median of ${totals.length}; total ${median(totals).toFixed(0)} ms; phases overlap when hosts go in parallel):`)
  const rows = [...byName].map(([name, e]) => ({ name, start: median(e.start), duration: median(e.duration) })).sort((a, b) => a.start - b.start)
  for (const r of rows) console.log(`    ${r.name.padEnd(28)} at ${r.start.toFixed(0).padStart(5)}  takes ${r.duration.toFixed(0).padStart(5)} ms`)
}

async function measureCalls(lab: Lab): Promise<void> {
  const h = lab.hosts.get('client')
  if (!h) return
  const exec: number[] = []
  const spawn: number[] = []
  const signal: number[] = []
  for (let i = 0; i < CALLS; i++) exec.push((await time(() => h.exec(['true'])))[1])
  for (let i = 0; i < CALLS; i++) {
    const p = h.spawn(['sleep', '30'])
    spawn.push((await time(() => p.started))[1])
    signal.push((await time(() => p.signal('SIGSTOP')))[1])
    await p.stop({ graceMs: 500 })
  }
  console.log(`exec \`true\`        ${summarize(exec)}   (${CALLS} calls; ${loadavg()})`)
  console.log(`spawn -> started   ${summarize(spawn)}   (${loadavg()})`)
  console.log(`signal (SIGSTOP)   ${summarize(signal)}   (${loadavg()})`)
}

for (const name of BACKENDS) {
  const backend = await createBackend(name)
  try {
    await backend.check()
  } catch (e: unknown) {
    console.log(`\n== ${name}: skipped: ${e instanceof TcplabError ? e.format() : String(e)}`)
    continue
  }
  console.log(`\n== ${name} backend${name === 'docker' ? ` at ${process.env.DOCKER_HOST ?? 'unix:///var/run/docker.sock'}` : ''}, ${ROUNDS} rounds`)
  // netns: own TCP hash per host (the default, when this kernel can) against the shared one (before).
  const own = name === 'netns' && (await labParent()) !== undefined
  const modes = own ? ['', '0'] : ['']
  const label = (m: string): string => (name !== 'netns' ? '' : m === '0' || !own ? ' shared hash' : ' own hash   ')
  const cpu = (r: UpDown): string => `cpu/round ${r.cpuSelf.toFixed(0)} ms tcplab + ${r.cpuChildren.toFixed(0)} ms children`
  const reports: DockerPhaseReport[] = []
  const unwatch = watchDockerPhases((r) => reports.push(r))
  const two = await measureUpDown(backend, [host('client'), host('server')], 0, modes).finally(unwatch)
  for (const [m, r] of two) {
    console.log(`2 hosts${label(m)}  up        ${summarize(r.up)}   (${loadavg()})`)
    console.log(`2 hosts${label(m)}  down      ${summarize(r.down)}   (${loadavg()})`)
    console.log(`2 hosts${label(m)}  up+down   ${summarize(r.total)}   ${cpu(r)}   (${loadavg()})`)
  }
  if (reports.length > 0) {
    printPhases(reports, 'up')
    printPhases(reports, 'down')
  }
  const wire = await measureUpDown(backend, [host('client'), host('wire', true), host('server')], 0x100, modes)
  for (const [m, r] of wire) console.log(`wire${label(m)}     up+down   ${summarize(r.total)}   ${cpu(r)}   (${loadavg()})`)
  const lab = await backend.up({ labId: labId(0x200), scenario: 'bench-lab-updown', hosts: [host('client'), host('server')] })
  try {
    await measureCalls(lab)
  } finally {
    await lab.down()
  }
  const target = TARGET_MS[name] ?? 0
  const total = (two.get('') as UpDown).total
  const p50 = [...total].sort((a, b) => a - b)[Math.floor(total.length / 2)] ?? NaN
  console.log(`target: 2-host up+down p50 <= ${target} ms: ${p50 <= target ? 'met' : 'MISSED'} (${p50.toFixed(0)} ms; ${loadavg()})`)
}
