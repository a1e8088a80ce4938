// What N agents at --priority=fifo that also sample their sockets (op sample,
// sock_diag every SAMPLE_MS) cost the rest of the machine, and whether their
// plan deadlines hold: the situation of `tcplab run --jobs 16` (~3 agents a
// job). Each agent plays STEPS atUs steps 20 ms apart (every 10th an exec of
// /bin/true) while sampling; a normal-priority canary (python3, 1 ms sleeps)
// reports how late it wakes. Prints step lateness, canary lateness, the
// agents' CPU split by thread (main = plan, other = sampler), the achieved
// sampling interval, and /proc/loadavg beside each figure. Asserts nothing.
//
// Run:  npx tsx bench/fifo-sampling.ts [AGENTS=16] [SAMPLE_MS=10] [STEPS=100] [AGENT_BINARY]
// (AGENT_BINARY: another build to compare with, e.g. one of the parent commit;
// SAMPLE_MS 0: no sampling.)

import { readdirSync, readFileSync } from 'node:fs'
import { agentBinaryPath, startAgent } from '../src/agent/client.js'
import type { AgentClient } from '../src/agent/client.js'
import type { AgentEvent, AgentEventOf, PlanStep, SsEvent } from '../src/agent/protocol.js'
import type { Host } from '../src/lab/types.js'
import { runCommand, spawnProcess } from '../src/util/proc.js'
import { buildAgent } from '../test/e2e/agent-host.js'
import { $bench } from './lib/procs.js'

const AGENTS = Number(process.argv[2] ?? 16)
const SAMPLE_MS = Number(process.argv[3] ?? 10)
const STEPS = Number(process.argv[4] ?? 100)
const BINARY = process.argv[5]
const GAP_US = 20_000
const LEAD_US = 700_000

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))
const loadavg = (): string => `loadavg ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}`

const host: Host = {
  name: 'plain',
  addr: '127.0.0.1',
  ifnames: ['lo'],
  agentPath: BINARY ?? agentBinaryPath(),
  exec: (argv, opts) => runCommand(argv, opts),
  spawn: (argv, opts) => spawnProcess(argv, opts),
}

function quantiles(label: string, v: number[], unit = 'ms', scale = 1): string {
  const s = [...v].sort((a, b) => a - b)
  const at = (q: number): number => s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? NaN
  const f = (x: number): string => `${(x / scale).toFixed(3).padStart(8)} ${unit}`
  return `${label.padEnd(34)} p50 ${f(at(0.5))}  p99 ${f(at(0.99))}  max ${f(s.at(-1) ?? NaN)}  (n=${s.length})`
}

/** utime+stime (s) of each thread of pid: [main, others summed]. */
function threadCpu(pid: number): [number, number] {
  let main = 0
  let other = 0
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const st = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8')
      const f = st.slice(st.lastIndexOf(')') + 2).split(' ')
      const s = (Number(f[11]) + Number(f[12])) / 100
      if (Number(tid) === pid) main += s
      else other += s
    } catch { /* the thread ended */ }
  }
  return [main, other]
}

// argv[1]: how long to run (s); prints "n p50 p99 max" (ms) and exits.
const CANARY = `
import time, sys
late = []
end = time.monotonic() + float(sys.argv[1])
while time.monotonic() < end:
    t = time.monotonic()
    time.sleep(0.001)
    late.append((time.monotonic() - t - 0.001) * 1000)
late.sort()
n = len(late)
print(n, late[n // 2], late[int(n * 0.99)], late[-1], flush=True)
`

async function main(): Promise<void> {
  if (BINARY === undefined) await buildAgent()
  const events = new Map<AgentClient, AgentEvent[]>()
  const agents = await Promise.all(Array.from({ length: AGENTS }, async () => {
    const list: AgentEvent[] = []
    const c = await startAgent(host, { priority: 'fifo', onEvent: (ev) => list.push(ev) })
    events.set(c, list)
    return c
  }))
  console.log(`${AGENTS} agents --priority=fifo, sampling every ${SAMPLE_MS} ms, ${STEPS} steps 20 ms apart; ${host.agentPath}; ${loadavg()}`)
  try {
    const cpu0 = agents.map((a) => threadCpu(a.pid))
    const wall0 = performance.now()
    if (SAMPLE_MS > 0) await Promise.all(agents.map((a) => a.request({ op: 'sample', intervalMs: SAMPLE_MS, fullEveryMs: 1000 }, { timeoutMs: 20_000 })))
    const canary = $bench({ stdio: ['ignore', 'pipe', 'inherit'] })`python3 -c ${CANARY} ${String((LEAD_US + STEPS * GAP_US) / 1e6)}`
    let canaryOut = ''
    canary.stdout.on('data', (d: Buffer) => { canaryOut += d.toString() })
    const t0 = Date.now() * 1000 + LEAD_US
    await Promise.all(agents.map(async (a, i) => {
      const steps: PlanStep[] = Array.from({ length: STEPS }, (_, k) => ({
        step: k,
        gate: { atUs: t0 + k * GAP_US + (i % 20) * 1000 },
        cmd: k % 10 === 9 ? { op: 'exec', name: `t${k}`, argv: ['/bin/true'] } : { op: 'list' },
      }))
      await a.request({ op: 'plan', steps })
      await a.request({ op: 'go' })
    }))
    await Promise.all(agents.map((a) => a.waitFor((e) => e.type === 'step' && e.step === STEPS - 1, 60_000)))
    const load = loadavg()
    await Promise.race([canary.then(() => undefined), sleep(30_000)])
    const wall = (performance.now() - wall0) / 1000
    const cpu1 = agents.map((a) => threadCpu(a.pid))
    if (SAMPLE_MS > 0) await Promise.all(agents.map((a) => a.request({ op: 'unsample' }, { timeoutMs: 20_000 }).catch(() => undefined)))
    const late = agents.flatMap((a) => (events.get(a) ?? []).filter((e): e is AgentEventOf<'step'> => e.type === 'step').map((e) => e.lateUs))
    console.log(`${quantiles('step lateness (all steps)', late, 'ms', 1000)}  ${load}`)
    const [n, p50, p99, max] = canaryOut.trim().split(' ').map(Number)
    console.log(`${'canary 1 ms sleep, lateness'.padEnd(34)} p50 ${p50?.toFixed(3).padStart(8)} ms  p99 ${p99?.toFixed(3).padStart(8)} ms  max ${max?.toFixed(3).padStart(8)} ms  (n=${n})  ${load}`)
    const mainPct = cpu1.map((c, i) => ((c[0] - (cpu0[i] as [number, number])[0]) / wall) * 100)
    const otherPct = cpu1.map((c, i) => ((c[1] - (cpu0[i] as [number, number])[1]) / wall) * 100)
    const sum = (v: number[]): number => v.reduce((x, y) => x + y, 0)
    console.log(`agent CPU per agent: main thread ${(sum(mainPct) / AGENTS).toFixed(1)} %, other threads ${(sum(otherPct) / AGENTS).toFixed(1)} %; all agents ${(sum(mainPct) + sum(otherPct)).toFixed(0)} % of a CPU  ${load}`)
    if (SAMPLE_MS > 0) {
      const gaps: number[] = []
      const dumps: number[] = []
      let missed = 0
      for (const a of agents) {
        const ss = (events.get(a) ?? []).filter((e): e is SsEvent => e.type === 'ss')
        // Dump numbers: the interval achieved is (t_last - t_first) / (n_last - n_first).
        for (let i = 1; i < ss.length; i++) {
          const x = ss[i - 1] as SsEvent
          const y = ss[i] as SsEvent
          if (y.n > x.n) gaps.push((y.t - x.t) / 1000 / (y.n - x.n))
        }
        dumps.push(...ss.map((e) => e.dumpUs / 1000))
        const u = (events.get(a) ?? []).find((e) => e.type === 'unsampled')
        if (u?.type === 'unsampled') missed += u.missed
      }
      console.log(`${quantiles('achieved interval per dump', gaps)}  missed ticks ${missed}  ${load}`)
      console.log(`${quantiles('dump cost (dumpUs)', dumps)}  ${load}`)
    }
  } finally {
    await Promise.all(agents.map((a) => a.close().catch(() => undefined)))
  }
}

main().catch((err) => { console.error(err); process.exit(1) })
