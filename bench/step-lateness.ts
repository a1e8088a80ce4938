// How late the agents fire their plan steps (agent/plan.c), and how fast a
// cross-host relay goes (A's step done -> B's step fired). 16 agents run at
// once (plain processes: timing does not depend on the namespace), each with
// STEPS `atUs` steps 20 ms apart (mostly `list`, every 10th an `exec` of
// /bin/true). Then 8 pairs relay: A fires atUs steps, B's step K waits on
// afterStep K of A, three ways:
//   via Node   A's step-done on stdout -> Node -> `trigger` on B's stdin;
//   via agent  A sends a unix datagram to B's relay socket the moment the step
//              is done (`relayBind`, `relay`: agent/relay.c), Node not involved;
//   both       what the runner does on netns: both at once, the first wins.
// B's lateness is the relay latency (scheduled = A's done time). Every phase
// runs idle and with two busy loops (`node -e 'for(;;){}'` x2). Prints
// figures with /proc/loadavg beside each, asserts nothing.
// PRIORITY (fifo, the default, as the runner starts them: --agent-priority;
// nice; or normal, no --priority at all) is the agents' --priority (see
// plan_raise_priority in agent/plan.c; fifo and nice need CAP_SYS_NICE).
//
// Run:  npx tsx bench/step-lateness.ts [STEPS] [fifo|nice|normal]

import { mkdtemp, readFile, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { startAgent } from '../src/agent/client.js'
import type { AgentClient } from '../src/agent/client.js'
import type { AgentEvent, AgentEventOf, PlanStep } from '../src/agent/protocol.js'
import type { Host } from '../src/lab/types.js'
import { agentBinaryPath } from '../src/agent/client.js'
import { runCommand, spawnProcess } from '../src/util/proc.js'
import type { Proc } from '../src/lab/types.js'
import { buildAgent } from '../test/e2e/agent-host.js'

const STEPS = Number(process.argv[2] ?? 50)
const PRIORITY = process.argv[3] === 'normal' ? undefined : (process.argv[3] ?? 'fifo')
const AGENTS = 16
const GAP_US = 20_000
const LEAD_US = 500_000

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

const plainHost: Host = {
  name: 'plain',
  addr: '127.0.0.1',
  ifnames: ['lo'],
  agentPath: agentBinaryPath(),
  exec: (argv, opts) => runCommand(argv, opts),
  spawn: (argv, opts) => spawnProcess(PRIORITY !== undefined ? [...argv, `--priority=${PRIORITY}`] : argv, opts),
}

interface Agent {
  client: AgentClient
  events: AgentEvent[]
  onEvent?: (ev: AgentEvent) => void
}

async function openAgents(n: number): Promise<Agent[]> {
  return Promise.all(Array.from({ length: n }, async () => {
    const a: Agent = { client: undefined as unknown as AgentClient, events: [] }
    a.client = await startAgent(plainHost, { onEvent: (ev) => { a.events.push(ev); a.onEvent?.(ev) } })
    return a
  }))
}

async function loadavg(): Promise<string> {
  return (await readFile('/proc/loadavg', 'utf8')).split(' ').slice(0, 3).join(' ')
}

function summarize(label: string, us: number[], load: string): string {
  const s = [...us].sort((a, b) => a - b)
  const at = (q: number): number => s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? NaN
  const f = (v: number): string => `${(v / 1000).toFixed(3).padStart(7)} ms`
  return `${label.padEnd(46)} p50 ${f(at(0.5))}  p95 ${f(at(0.95))}  p99 ${f(at(0.99))}  max ${f(s.at(-1) ?? NaN)}  (n=${s.length})  loadavg ${load}`
}

const stepsOf = (a: Agent): AgentEventOf<'step'>[] => a.events.filter((e): e is AgentEventOf<'step'> => e.type === 'step')

/** Phase 1: every agent fires STEPS atUs steps; returns lateUs of all of them. */
async function runDeadlines(agents: Agent[]): Promise<number[]> {
  const t0 = Date.now() * 1000 + LEAD_US
  await Promise.all(agents.map(async (a, i) => {
    const steps: PlanStep[] = Array.from({ length: STEPS }, (_, k) => ({
      step: k,
      // Agents are offset by 1 ms so that they do not all wake at the same instant... and then
      // half of them are not: a pair shares each deadline.
      gate: { atUs: t0 + k * GAP_US + Math.floor(i / 2) * 1000 },
      cmd: k % 10 === 9 ? { op: 'exec', name: `t${k}`, argv: ['/bin/true'] } : { op: 'list' },
    }))
    await a.client.request({ op: 'cancel' })
    await a.client.request({ op: 'plan', steps })
    await a.client.request({ op: 'go' })
  }))
  await Promise.all(agents.map((a) => a.client.waitFor((e) => e.type === 'step' && e.step === STEPS - 1, 30_000)))
  await sleep(100)
  const all = agents.flatMap((a) => stepsOf(a).slice(-STEPS))
  const load = await loadavg()
  console.log(summarize('  of which list steps', all.filter((e) => e.op === 'list').map((e) => e.lateUs), load))
  console.log(summarize('  of which exec steps', all.filter((e) => e.op === 'exec').map((e) => e.lateUs), load))
  console.log(summarize('  of which steps right after an exec', all.filter((e) => e.step % 10 === 0 && e.step > 0).map((e) => e.lateUs), load))
  return all.map((e) => e.lateUs)
}

type RelayMode = 'node' | 'agent' | 'both'

/** B's relay socket (index in agents -> path), bound once per agent. */
const relaySockets = new Map<number, string>()

/** Phase 2: pairs (A, B); B's step K fires afterStep K of A, relayed by Node, by A itself, or both. */
async function runRelay(agents: Agent[], mode: RelayMode): Promise<{ relay: number[]; late: number[]; viaAgent: number; viaNode: number }> {
  const t0 = Date.now() * 1000 + LEAD_US
  const relay: number[] = []
  const late: number[] = []
  const pairs: [Agent, Agent][] = []
  for (let i = 0; i + 1 < agents.length; i += 2) pairs.push([agents[i] as Agent, agents[i + 1] as Agent])
  const sinceB = pairs.map(([, b]) => b.events.length)
  await Promise.all(pairs.map(async ([a, b], p) => {
    const base = 1000 * (p + 1)
    await a.client.request({ op: 'cancel' })
    await b.client.request({ op: 'cancel' })
    if (mode !== 'node') {
      const sock = relaySockets.get(2 * p + 1) as string
      for (let k = 0; k < STEPS; k++) await a.client.send({ op: 'relay', ref: `step:${base + k}`, to: [sock] })
    }
    a.onEvent = mode === 'agent' ? undefined : (ev) => {
      if (ev.type === 'step-done') void b.client.send({ op: 'trigger', ref: `step:${ev.step}`, tUs: ev.doneUs })
    }
    await a.client.request({
      op: 'plan',
      steps: Array.from({ length: STEPS }, (_, k) => ({ step: base + k, gate: { atUs: t0 + k * GAP_US + p * 1000 }, cmd: { op: 'list' } })),
    })
    await b.client.request({
      op: 'plan',
      steps: Array.from({ length: STEPS }, (_, k) => ({ step: 100_000 + base + k, gate: { afterStep: base + k }, cmd: { op: 'list' } })),
    })
    await Promise.all([a.client.request({ op: 'go' }), b.client.request({ op: 'go' })])
  }))
  await Promise.all(pairs.map(([, b], p) => b.client.waitFor((e) => e.type === 'step' && e.step === 100_000 + 1000 * (p + 1) + STEPS - 1, 30_000)))
  await sleep(50) // the losing triggers of `both`
  let viaAgent = 0
  let viaNode = 0
  for (const [p, [a, b]] of pairs.entries()) {
    a.onEvent = undefined
    // B's scheduledUs is A's done time (afterStep, delay 0): its lateness is the relay latency.
    relay.push(...stepsOf(b).slice(-STEPS).map((e) => e.lateUs))
    late.push(...stepsOf(a).slice(-STEPS).map((e) => e.lateUs))
    for (const e of b.events.slice(sinceB[p])) {
      if (e.type !== 'triggered' || !e.first) continue
      if (e.via === 'relay') viaAgent++
      else viaNode++
    }
  }
  return { relay, late, viaAgent, viaNode }
}

async function main(): Promise<void> {
  await buildAgent()
  const agents = await openAgents(AGENTS)
  const busy: Proc[] = []
  const dir = await mkdtemp(path.join(os.tmpdir(), 'tcplab-bench-relay-'))
  try {
    for (let i = 1; i < agents.length; i += 2) {
      const sock = path.join(dir, `b${i}.sock`)
      const ev = await (agents[i] as Agent).client.request({ op: 'relayBind', path: sock })
      if (ev.type !== 'relay-bound') throw new Error(`relayBind ${sock}: ${JSON.stringify(ev)}`)
      relaySockets.set(i, sock)
    }
    console.log(`${AGENTS} agents${PRIORITY !== undefined ? ` (--priority=${PRIORITY})` : ''}, ${STEPS} steps each, ${GAP_US / 1000} ms apart; ${(await readFile('/proc/cpuinfo', 'utf8')).split('\n').filter((l) => l.startsWith('processor')).length} CPUs`)
    for (const loaded of [false, true]) {
      if (loaded) {
        for (let i = 0; i < 2; i++) busy.push(spawnProcess(['node', '-e', 'for(;;){}']))
        await sleep(1000)
      }
      const tag = loaded ? '+2 busy loops' : 'idle'
      const late = await runDeadlines(agents)
      console.log(summarize(`atUs lateness (${tag})`, late, await loadavg()))
      for (const mode of ['node', 'agent', 'both'] as const) {
        const r = await runRelay(agents, mode)
        const label = mode === 'node' ? 'relay A->Node->B' : mode === 'agent' ? 'relay A->B (agent datagram)' : 'relay both, first wins'
        console.log(summarize(`${label} (${tag})`, r.relay, await loadavg()) + (mode === 'both' ? `  won: agent ${r.viaAgent}, Node ${r.viaNode}` : ''))
        console.log(summarize(`  A's atUs lateness meanwhile`, r.late, await loadavg()))
      }
    }
  } finally {
    await Promise.all(busy.map((p) => p.stop({ sig: 'SIGKILL' }).catch(() => undefined)))
    await Promise.all(agents.map((a) => a.client.close().catch(() => undefined)))
    await rm(dir, { recursive: true, force: true })
  }
}

await main()
