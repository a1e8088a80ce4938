// What a lab costs, netns and docker side by side: up + down of a two-host lab
// (targets: netns <= 100 ms, docker <= 1.5 s), the same with a wire host, and the
// per-call costs that the recorder and the runner pay on every step: one exec
// (`true`), a spawn until its pid is known, one signal. Prints figures, asserts nothing.
//
// Run:  npx tsx bench/lab-updown.ts [ROUNDS]     (default 10; DOCKER_HOST is honoured)
// The docker half needs a daemon and the lab image (`make docker image`); without
// them it says so. Labs are named tcplab-<labId>-*, removed in `finally`.

import { createBackend } from '../src/lab/index.js'
import type { Backend, HostSpec, Lab } from '../src/lab/types.js'
import { TcplabError } from '../src/util/errors.js'

const ROUNDS = Number(process.argv[2] ?? 10)
const TARGET_MS: Record<string, number> = { netns: 100, docker: 1500 }
const CALLS = 20

const host = (name: string, isWire = false): HostSpec => ({ name, sysctls: {}, isWire })
const labId = (i: number): string => `b${(process.pid % 0x1000).toString(16).padStart(3, '0')}${i.toString(16).padStart(4, '0')}`

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

async function measureUpDown(backend: Backend, hosts: HostSpec[], base: number): Promise<{ up: number[]; down: number[]; total: number[] }> {
  const up: number[] = []
  const down: number[] = []
  const total: number[] = []
  for (let i = 0; i < ROUNDS; i++) {
    const [lab, upMs] = await time(() => backend.up({ labId: labId(base + i), scenario: 'bench-lab-updown', hosts }))
    const [, downMs] = await time(() => lab.down())
    up.push(upMs)
    down.push(downMs)
    total.push(upMs + downMs)
  }
  return { up, down, total }
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
  console.log(`exec \`true\`        ${summarize(exec)}   (${CALLS} calls)`)
  console.log(`spawn -> started   ${summarize(spawn)}`)
  console.log(`signal (SIGSTOP)   ${summarize(signal)}`)
}

for (const name of ['netns', 'docker']) {
  const backend = await createBackend(name)
  try {
    await backend.check()
  } catch (e: unknown) {
    console.log(`\n== ${name}: skipped: ${e instanceof TcplabError ? e.format() : String(e)}`)
    continue
  }
  console.log(`\n== ${name} backend${name === 'docker' ? ` at ${process.env.DOCKER_HOST ?? 'unix:///var/run/docker.sock'}` : ''}, ${ROUNDS} rounds`)
  const two = await measureUpDown(backend, [host('client'), host('server')], 0)
  console.log(`2 hosts  up        ${summarize(two.up)}`)
  console.log(`2 hosts  down      ${summarize(two.down)}`)
  console.log(`2 hosts  up+down   ${summarize(two.total)}`)
  const wire = await measureUpDown(backend, [host('client'), host('wire', true), host('server')], 0x100)
  console.log(`wire     up+down   ${summarize(wire.total)}`)
  const lab = await backend.up({ labId: labId(0x200), scenario: 'bench-lab-updown', hosts: [host('client'), host('server')] })
  try {
    await measureCalls(lab)
  } finally {
    await lab.down()
  }
  const target = TARGET_MS[name] ?? 0
  const p50 = [...two.total].sort((a, b) => a - b)[Math.floor(two.total.length / 2)] ?? NaN
  console.log(`target: 2-host up+down p50 <= ${target} ms: ${p50 <= target ? 'met' : 'MISSED'} (${p50.toFixed(0)} ms)`)
}
