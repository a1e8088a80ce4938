// The stall probes of runner/canary.ts, with the real probe (agent/build/tcplab-stallprobe,
// `make agent`) started through a ProbeMachine as the vm backend starts it in a guest: a
// stopped probe is a stall on the span's list; a probe that cannot run leaves the stalls
// "not measured" (undefined), never an empty list that reads as "none".

import t from 'tap'
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { Canary, STALL_MS } from '../../../src/runner/canary.js'
import { spawnProcess } from '../../../src/util/proc.js'
import type { ProbeMachine, Proc } from '../../../src/lab/types.js'

const PROBE = fileURLToPath(new URL('../../../agent/build/tcplab-stallprobe', import.meta.url))
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

t.test('the probe is built', async (t) => {
  t.ok(existsSync(PROBE), `${PROBE} exists (make agent)`)
})

t.test('a probe stopped for 150 ms is a stall of about that length on the span', { skip: !existsSync(PROBE) && 'no probe binary' }, async (t) => {
  const started: Proc[] = []
  const machine: ProbeMachine = {
    label: 'this machine, through a ProbeMachine',
    cpus: [0],
    spawn: (argv, opts) => {
      const p = spawnProcess(argv, opts)
      started.push(p)
      return p
    },
  }
  const canary = await Canary.start(machine)
  try {
    t.equal(started.length, 1, 'one probe per CPU the machine names')
    t.match(started[0]?.argv, [PROBE, '0'], 'the probe is pinned to the machine\'s CPU 0')
    await sleep(100)
    const span = canary.measure()
    const before = Date.now()
    await started[0]?.signal('SIGSTOP')
    await sleep(150)
    await started[0]?.signal('SIGCONT')
    await sleep(100)
    const { stalls } = span.stop()
    t.ok(stalls !== undefined, 'stalls are measured')
    const st = stalls?.find((s) => s.ms >= STALL_MS)
    t.ok(st, `a stall is listed: ${JSON.stringify(stalls)}`)
    t.ok((st?.ms ?? 0) >= 140 && (st?.ms ?? 0) < 400, `it lasted about as long as the stop: ${st?.ms} ms`)
    t.ok((st?.endMs ?? 0) - (st?.ms ?? 0) >= before - 20, 'it began when the probe was stopped')
  } finally {
    await canary.stop()
  }
  t.ok(started.every((p) => p.hasExited), 'stop() ends the probes')
})

t.test('a probe that exits at once leaves the stalls not measured', async (t) => {
  const machine: ProbeMachine = {
    label: 'a machine where the probe cannot get SCHED_FIFO',
    cpus: [0, 1],
    // What the probe does without CAP_SYS_NICE: it starts, and exits 3.
    spawn: (_argv, opts) => spawnProcess(['sh', '-c', 'echo "tcplab-stallprobe: cpu 0: Operation not permitted" >&2; exit 3'], opts),
  }
  const canary = await Canary.start(machine)
  try {
    await sleep(200)
    const span = canary.measure()
    await sleep(50)
    t.equal(span.stop().stalls, undefined, 'undefined, not []: nothing measured them')
  } finally {
    await canary.stop()
  }
})

t.test('a running probe with no stall gives an empty list', { skip: !existsSync(PROBE) && 'no probe binary' }, async (t) => {
  const canary = await Canary.start({ label: 'this machine', cpus: [0], spawn: (argv, opts) => spawnProcess(argv, opts) })
  try {
    await sleep(100)
    const span = canary.measure()
    await sleep(100)
    const { stalls } = span.stop()
    t.ok(Array.isArray(stalls), `a list (${JSON.stringify(stalls)})`)
  } finally {
    await canary.stop()
  }
})
