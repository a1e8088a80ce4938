// How close the socket agent's event timestamps are to the wire: tcpdump runs
// in the client namespace while the agent connects, sends 100 bytes and closes,
// ROUNDS times. For each round it compares
//   connected.t  with the capture time of the SYN-ACK arriving, and
//   sent.t       with the capture time of the data segment leaving,
// and prints the differences (target: within 1 ms). Prints figures, asserts nothing.
//
// Run as root:  npx tsx bench/agent-timestamps.ts [ROUNDS] [BUSY_LOOPS] [normal|nice|fifo]
// Uses two namespaces tcplabagent-<pid>-bench-{client,server} (198.18.250.0/24),
// deleted in `finally`.

import { readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startAgent } from '../src/agent/client.js'
import type { AgentClient, AgentPriority } from '../src/agent/client.js'
import type { AgentEvent } from '../src/agent/protocol.js'
import type { Proc } from '../src/lab/types.js'
import { parsePcap } from '../src/recorder/pcap.js'
import type { PcapPacket } from '../src/recorder/pcap.js'
import { buildAgent, createAgentTestLab, isRoot, SERVER_ADDR } from '../test/e2e/agent-host.js'
import type { AgentTestLab } from '../test/e2e/agent-host.js'
import { startBusyLoops } from './lib/procs.js'

const ROUNDS = Number(process.argv[2] ?? 50)
/** CPU-bound busy loops beside the bench (second argument; default 2: the target is "with the busy loops running"). */
const BUSY = Number(process.argv[3] ?? 2)
/** The agents' scheduling, as the runner starts them (default fifo; third argument: normal|nice|fifo). */
const PRIORITY = (process.argv[4] ?? 'fifo') as AgentPriority
const loadavg = async (): Promise<string> => (await readFile('/proc/loadavg', 'utf8')).split(' ').slice(0, 3).join(' ')
const PORT = 7100
const PAYLOAD_BYTES = 100
const TARGET_US = 1000

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

interface Round {
  lport: number
  connectedUs: number
  sentUs: number
}

/** min / p50 / p95 / max / mean of microsecond differences. */
function summarizeUs(values: readonly number[]): string {
  const sorted = [...values].sort((a, b) => a - b)
  const at = (q: number): number => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN
  const mean = sorted.reduce((s, v) => s + v, 0) / Math.max(1, sorted.length)
  const f = (v: number): string => `${v.toFixed(0).padStart(6)} µs`
  return `min ${f(sorted[0] ?? NaN)}  p50 ${f(at(0.5))}  p95 ${f(at(0.95))}  p99 ${f(at(0.99))}  max ${f(sorted.at(-1) ?? NaN)}  mean ${f(mean)}  (n=${values.length})`
}

/** Start tcpdump in a host and wait until it is capturing (it says "listening on" on stderr). */
async function startCapture(lab: AgentTestLab, file: string, stats: string[]): Promise<Proc> {
  let capturing: () => void = () => undefined
  const ready = new Promise<void>((resolve) => { capturing = resolve })
  const proc = lab.client.spawn(
    ['tcpdump', '-i', 'any', '-n', '-U', '--immediate-mode', '--time-stamp-precision', 'micro', '-w', file, 'tcp', 'port', String(PORT)],
    {
      onStderrLine: (line) => {
        if (/listening on/.test(line)) capturing()
        if (/packets? (captured|received|dropped)/.test(line)) stats.push(line.trim())
      },
    },
  )
  await proc.started
  await Promise.race([ready, sleep(5000).then(() => { throw new Error('tcpdump did not start capturing within 5 s') })])
  return proc
}

/** One connect / send / close round; returns the agent's timestamps. */
async function playRound(cli: AgentClient, i: number): Promise<Round> {
  const name = `c${i}`
  const conn = await cli.request({ op: 'connect', name, host: SERVER_ADDR, port: PORT, opts: { nodelay: true } })
  if (conn.type !== 'connected') throw new Error(`connect: ${JSON.stringify(conn)}`)
  const sent = await cli.request({ op: 'send', name, bytes: PAYLOAD_BYTES })
  if (sent.type !== 'sent') throw new Error(`send: ${JSON.stringify(sent)}`)
  await cli.request({ op: 'close', name })
  return { lport: conn.lport, connectedUs: conn.t, sentUs: sent.t }
}

/** Differences agent - wire for the SYN-ACK in and the data segment out of each round. */
function compare(rounds: readonly Round[], pkts: readonly PcapPacket[]): { synack: number[]; data: number[]; missing: number } {
  const synack: number[] = []
  const data: number[] = []
  let missing = 0
  for (const r of rounds) {
    // -i any sees a packet once per interface; in this namespace only eth0 carries it.
    const sa = pkts.find((p) => p.dir === 'in' && p.dport === r.lport && p.flags === 'S.')
    const d = pkts.find((p) => p.dir === 'out' && p.sport === r.lport && p.len === PAYLOAD_BYTES)
    if (sa) synack.push(r.connectedUs - sa.tsUs)
    else missing++
    if (d) data.push(r.sentUs - d.tsUs)
    else missing++
  }
  return { synack, data, missing }
}

async function main(): Promise<number> {
  if (!isRoot()) {
    console.error('agent-timestamps: needs root (network namespaces, tcpdump)')
    return 3
  }
  await buildAgent()
  const busy = startBusyLoops(BUSY)
  const lab = await createAgentTestLab('bench')
  const file = join(tmpdir(), `tcplabagent-${process.pid}-bench.pcap`)
  const agents: AgentClient[] = []
  let tcpdump: Proc | undefined
  try {
    const stats: string[] = []
    tcpdump = await startCapture(lab, file, stats)
    const ignore = (_ev: AgentEvent): void => undefined
    const srv = await startAgent(lab.server, { onEvent: ignore, priority: PRIORITY })
    agents.push(srv)
    const cli = await startAgent(lab.client, { onEvent: ignore, priority: PRIORITY })
    agents.push(cli)
    const l = await srv.request({ op: 'listen', name: 'l', port: PORT })
    if (l.type !== 'listening') throw new Error(`listen: ${JSON.stringify(l)}`)

    const rounds: Round[] = []
    for (let i = 0; i < ROUNDS; i++) {
      rounds.push(await playRound(cli, i))
      await sleep(10)
    }
    await sleep(300) // drain: the last packets reach the file before SIGINT
    await tcpdump.stop({ sig: 'SIGINT' })
    const pkts = parsePcap(await readFile(file))
    const { synack, data, missing } = compare(rounds, pkts)
    const abs = (xs: number[]): number[] => xs.map(Math.abs)
    const within = [...synack, ...data].filter((v) => Math.abs(v) <= TARGET_US).length

    console.log(`socket agent timestamps vs tcpdump (${ROUNDS} rounds, ${pkts.length} packets captured, kernel ${(await lab.client.exec(['uname', '-r'])).stdout.trim()}, ${BUSY} busy loop(s), agents ${PRIORITY}, loadavg ${await loadavg()})`)
    console.log(`  connected.t - SYN-ACK in   ${summarizeUs(synack)}`)
    console.log(`  sent.t      - data out     ${summarizeUs(data)}`)
    console.log(`  |difference|               ${summarizeUs(abs([...synack, ...data]))}`)
    console.log(`  within ${TARGET_US} µs: ${within}/${synack.length + data.length}${missing ? `   (${missing} packets not found in the capture)` : ''}`)
    console.log(`  tcpdump: ${stats.join(', ')}`)
    return 0
  } finally {
    await Promise.allSettled(agents.map((a) => a.close()))
    await tcpdump?.stop({ sig: 'SIGINT' })
    await lab.down()
    await rm(file, { force: true })
    await busy.stop()
  }
}

process.exitCode = await main()
