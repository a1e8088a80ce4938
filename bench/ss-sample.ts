// What one ss sample costs: `ip netns exec NS ss -tanoiem` with ~10 established
// TCP connections in the namespace, run 200 times the way the sampler runs it
// (src/util/proc.ts runCommand), plus the time parseSsOutput takes per sample.
// Prints figures, asserts nothing.  Run as root:  npx tsx bench/ss-sample.ts
//
// Builds two namespaces tcplabbench-<pid>-a/-b joined by a veth pair with
// 198.18.0.1/24 and 198.18.0.2/24 (RFC 2544 benchmark range), ten nc listeners
// in a and ten nc clients in b; everything is removed in `finally`.

import { performance } from 'node:perf_hooks'
import type { Proc } from '../src/lab/types.js'
import { parseSsOutput } from '../src/recorder/ss-parse.js'
import { runCommand, spawnProcess } from '../src/util/proc.js'

const RUNS = 200
const CONNECTIONS = 10
const tag = `tcplabbench-${process.pid}`
const nsA = `${tag}-a`
const nsB = `${tag}-b`
const ifA = `tlbn${process.pid % 100000}a` // IFNAMSIZ: 15 characters at most
const ifB = `tlbn${process.pid % 100000}b`
const addrA = '198.18.0.1'
const addrB = '198.18.0.2'

/** mean / p50 / p95 / max of a list of milliseconds. */
function summarizeMs(values: readonly number[]): { mean: number; p50: number; p95: number; max: number } {
  const sorted = [...values].sort((a, b) => a - b)
  const at = (q: number): number => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN
  const mean = sorted.reduce((s, v) => s + v, 0) / Math.max(1, sorted.length)
  return { mean, p50: at(0.5), p95: at(0.95), max: sorted[sorted.length - 1] ?? NaN }
}

function formatMs(label: string, values: readonly number[]): string {
  const s = summarizeMs(values)
  const f = (v: number): string => (v < 1 ? v.toFixed(3) : v.toFixed(2)).padStart(7)
  return `${label.padEnd(44)} mean ${f(s.mean)} ms   p50 ${f(s.p50)} ms   p95 ${f(s.p95)} ms   max ${f(s.max)} ms   (n=${values.length})`
}

async function setUpNamespaces(): Promise<void> {
  await runCommand(['ip', 'netns', 'add', nsA])
  await runCommand(['ip', 'netns', 'add', nsB])
  await runCommand(['ip', 'link', 'add', ifA, 'type', 'veth', 'peer', 'name', ifB])
  await runCommand(['ip', 'link', 'set', ifA, 'netns', nsA])
  await runCommand(['ip', 'link', 'set', ifB, 'netns', nsB])
  await runCommand(['ip', '-n', nsA, 'addr', 'add', `${addrA}/24`, 'dev', ifA])
  await runCommand(['ip', '-n', nsB, 'addr', 'add', `${addrB}/24`, 'dev', ifB])
  for (const [ns, ifname] of [[nsA, ifA], [nsB, ifB]] as const) {
    await runCommand(['ip', '-n', ns, 'link', 'set', 'lo', 'up'])
    await runCommand(['ip', '-n', ns, 'link', 'set', ifname, 'up'])
  }
}

async function tearDownNamespaces(): Promise<void> {
  for (const ns of [nsA, nsB]) await runCommand(['ip', 'netns', 'del', ns], { reject: false })
}

async function countEstablished(ns: string): Promise<number> {
  const r = await runCommand(['ip', 'netns', 'exec', ns, 'ss', '-Htn', 'state', 'established'], { reject: false })
  return r.stdout.split('\n').filter((l) => l.trim() !== '').length
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) {
    console.error('bench/ss-sample.ts needs root (CAP_NET_ADMIN) to create network namespaces')
    process.exitCode = 3
    return
  }
  const procs: Proc[] = []
  try {
    await setUpNamespaces()
    for (let i = 0; i < CONNECTIONS; i++) {
      const listener = spawnProcess(['ip', 'netns', 'exec', nsA, 'nc', '-l', addrA, String(9000 + i)])
      procs.push(listener)
      await listener.started
    }
    await new Promise((r) => setTimeout(r, 200))
    for (let i = 0; i < CONNECTIONS; i++) {
      const client = spawnProcess(['ip', 'netns', 'exec', nsB, 'nc', addrA, String(9000 + i)], { stdin: true })
      procs.push(client)
      await client.started
    }
    let established = 0
    for (let tries = 0; tries < 50 && established < CONNECTIONS; tries++) {
      await new Promise((r) => setTimeout(r, 100))
      established = await countEstablished(nsB)
    }

    const argv = ['ip', 'netns', 'exec', nsA, 'ss', '-tanoiem']
    for (let i = 0; i < 10; i++) await runCommand(argv) // warm up caches
    const execMs: number[] = []
    const outputs: string[] = []
    for (let i = 0; i < RUNS; i++) {
      const start = performance.now()
      const r = await runCommand(argv)
      execMs.push(performance.now() - start)
      outputs.push(r.stdout)
    }

    const bareMs: number[] = []
    for (let i = 0; i < 50; i++) {
      const start = performance.now()
      await runCommand(['ip', 'netns', 'exec', nsA, 'true'])
      bareMs.push(performance.now() - start)
    }

    const REPEAT = 20 // parse each output several times: one parse is near the timer's resolution
    const parseMs: number[] = []
    let sockets = 0
    for (const out of outputs) {
      const start = performance.now()
      for (let k = 0; k < REPEAT; k++) sockets = parseSsOutput(out).length
      parseMs.push((performance.now() - start) / REPEAT)
    }
    const bytes = outputs.reduce((s, o) => s + o.length, 0) / outputs.length

    console.log(`ss sample cost: ${established} established connections (client side), ${sockets} sockets per sample in ${nsA}, ${Math.round(bytes)} bytes of ss output`)
    console.log(`machine: ${(await runCommand(['uname', '-r'])).stdout.trim()}, ${(await runCommand(['ss', '-V'])).stdout.trim()}, node ${process.version}`)
    console.log(formatMs(`ip netns exec NS ss -tanoiem (x${RUNS})`, execMs))
    console.log(formatMs('ip netns exec NS true (x50, exec overhead)', bareMs))
    console.log(formatMs(`parseSsOutput per sample (x${RUNS})`, parseMs))
    const mean = summarizeMs(execMs).mean + summarizeMs(parseMs).mean
    console.log(`=> one sample costs ~${mean.toFixed(1)} ms; the shortest sensible sampler interval on this machine is ~${Math.ceil(summarizeMs(execMs).p95 * 2)} ms`)
  } finally {
    await Promise.allSettled(procs.map((p) => p.stop({ graceMs: 500 })))
    await tearDownNamespaces()
  }
}

await main()
