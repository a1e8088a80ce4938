// The agent's sock_diag sampler against ss: the same sockets recorded by the
// agent (op sample) and by `ss -tanoiem` a few milliseconds later must agree on
// state, queues, timer, rto, cwnd, mss, wscale, skmem... Sockets: a listener, a
// connection whose reader is paused (Recv-Q), one whose data is dropped on the
// way (Send-Q, retransmission timer), one with keepalive. Needs root.

import t from 'tap'
import { startAgent, type AgentClient } from '../../src/agent/client.js'
import type { AgentEvent, SsDestroyEvent, SsEvent } from '../../src/agent/protocol.js'
import { DiagSampleExpander } from '../../src/recorder/diag-sampler.js'
import type { SsRecord } from '../../src/recorder/records.js'
import { parseSsOutput, type ParsedSocket } from '../../src/recorder/ss-parse.js'
import { buildAgent, createAgentTestLab, isRoot, listOwnTestNamespaces, SERVER_ADDR } from './agent-host.js'

type TT = Parameters<Parameters<typeof t.test>[0]>[0]
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

/** Fields both must show with the same value (info keys as ss-parse names them). */
const EXACT_INFO = ['rto', 'cwnd', 'mss', 'rcvmss', 'advmss', 'pmtu', 'wscale', 'cc', 'ts', 'sack', 'backoff', 'retrans', 'unacked', 'bytes_acked', 'bytes_received', 'bytes_sent', 'rcv_space', 'snd_wnd', 'shutdown', 'sk', 'ssthresh']

/**
 * Differences between the agent's record and ss's line of one socket (empty: they agree).
 * `lagMs`: how long after the agent's dump ss had finished (measured, not assumed): a
 * countdown may have run down by at most that much between the two.
 */
function differences(d: SsRecord, s: ParsedSocket, lagMs: number): string[] {
  const out: string[] = []
  const eq = (what: string, a: unknown, b: unknown): void => {
    if (JSON.stringify(a) !== JSON.stringify(b)) out.push(`${what}: agent ${JSON.stringify(a)} ss ${JSON.stringify(b)}`)
  }
  eq('state', d.state, s.state)
  eq('recvQ', d.recvQ, s.recvQ)
  eq('sendQ', d.sendQ, s.sendQ)
  eq('ino', d.ino, s.ino)
  eq('timer.name', d.timer?.name, s.timer?.name)
  eq('timer.retrans', d.timer?.retrans, s.timer?.retrans)
  // ss reads the countdown after the dump (lagMs at most) and prints it rounded down
  // (print_ms_timer: whole seconds from 10 s up); the agent's is in ms (jiffies, 4 ms at HZ=250).
  const de = d.timer?.expiresMs ?? 0
  const se = s.timer?.expiresMs ?? 0
  const rounding = se >= 10_000 ? 1000 : 5
  if (de - se < -5 || de - se > Math.ceil(lagMs) + rounding) out.push(`timer.expiresMs: agent ${de} ss ${se} (ss done ${lagMs.toFixed(1)} ms after the dump)`)
  eq('skmem.rb', d.skmem?.rb, s.skmem?.rb)
  eq('skmem.tb', d.skmem?.tb, s.skmem?.tb)
  eq('skmem.r', d.skmem?.r, s.skmem?.r)
  eq('skmem.w', d.skmem?.w, s.skmem?.w)
  for (const k of EXACT_INFO) eq(`info.${k}`, d.info[k], s.info[k])
  return out
}

async function run(): Promise<void> {
  await buildAgent()
  const lab = await createAgentTestLab('diag')
  const agents: AgentClient[] = []
  try {
    await checks(lab, agents)
  } finally {
    await Promise.all(agents.map((a) => a.close({ graceMs: 500 })))
    await lab.down()
  }
  await t.test('leak check', async (tt: TT) => tt.same(await listOwnTestNamespaces(), [], 'no namespace left'))
}

async function checks(lab: Awaited<ReturnType<typeof createAgentTestLab>>, agents: AgentClient[]): Promise<void> {
  const expanders = new Map<string, DiagSampleExpander>()
  const start = async (host: typeof lab.server): Promise<AgentClient> => {
    const x = new DiagSampleExpander(host.name)
    expanders.set(host.name, x)
    const last: { recs: SsRecord[]; tUs: number } = { recs: [], tUs: 0 }
    const a = await startAgent(host, {
      onEvent: (ev: AgentEvent) => {
        if (ev.type !== 'ss') return
        last.recs = x.apply(ev, 0).filter((r): r is SsRecord => r.kind === 'ss')
        last.tUs = ev.t // CLOCK_REALTIME µs, when the dump was written
      },
    })
    ;(a as AgentClient & { last?: typeof last }).last = last
    agents.push(a)
    return a
  }
  const server = await start(lab.server)
  const client = await start(lab.client)
  await server.request({ op: 'listen', name: 'srv', port: 8000, read: 'pause' })
  await client.request({ op: 'connect', name: 'paused', host: SERVER_ADDR, port: 8000, opts: { keepalive: true, keepidle: 60 } })
  await client.request({ op: 'send', name: 'paused', bytes: 3000 })
  await client.request({ op: 'connect', name: 'lossy', host: SERVER_ADDR, port: 8000 })
  const lport = (await client.request({ op: 'list' })) as AgentEvent & { sockets: Array<{ name: string; lport?: number }> }
  const lossyPort = lport.sockets.find((s) => s.name === 'lossy')?.lport
  await lab.server.exec(['iptables', '-A', 'INPUT', '-p', 'tcp', '--sport', String(lossyPort), '-j', 'DROP'])
  await client.send({ op: 'send', name: 'lossy', bytes: 5000 })
  await sleep(700) // a few retransmissions of the lossy one

  for (const host of [lab.server, lab.client]) {
    await t.test(`${host.name}: agent and ss agree`, async (tt: TT) => {
      const a = host === lab.server ? server : client
      const last = (a as AgentClient & { last: { recs: SsRecord[]; tUs: number } }).last
      let diffs: string[] = []
      let compared = 0
      for (let attempt = 0; attempt < 5; attempt++) {
        // `sample` restarts with an immediate full dump; ss follows at once.
        await a.request({ op: 'sample', intervalMs: 1000, fullEveryMs: 1000 })
        const ss = parseSsOutput((await host.exec(['ss', '-tanoiem'])).stdout)
        const lagMs = (performance.timeOrigin + performance.now()) - last.tUs / 1000
        diffs = []
        compared = 0
        for (const s of ss) {
          const d = last.recs.find((r) => r.local === s.local && r.peer === s.peer)
          if (!d) {
            diffs.push(`${s.state} ${s.local} ${s.peer}: not in the agent's sample`)
            continue
          }
          compared++
          for (const x of differences(d, s, lagMs)) diffs.push(`${s.state} ${s.local} ${s.peer} ${x}`)
        }
        if (last.recs.length !== ss.length) diffs.push(`agent ${last.recs.length} sockets, ss ${ss.length}`)
        if (diffs.length === 0) break
        await sleep(37) // a retransmission fell between the two: try again
      }
      tt.ok(compared >= 2, `${compared} sockets compared`)
      tt.same(diffs, [], 'no differences')
    })
  }

  await t.test('the lossy connection shows a retransmission timer with backoff in both', async (tt: TT) => {
    const last = (client as AgentClient & { last: { recs: SsRecord[] } }).last
    const lossy = last.recs.find((r) => r.localPort === lossyPort)
    tt.equal(lossy?.timer?.name, 'on')
    tt.ok((lossy?.timer?.retrans ?? 0) >= 1, 'retransmitted')
    tt.ok((lossy?.sendQ ?? 0) > 0, 'Send-Q holds the data')
    const paused = (server as AgentClient & { last: { recs: SsRecord[] } }).last.recs.find((r) => r.state === 'ESTAB' && r.recvQ === 3000)
    tt.ok(paused, 'paused reader: Recv-Q 3000')
  })

  await t.test('change-only: an idle minute of sockets is not repeated between full dumps', async (tt: TT) => {
    const events: SsEvent[] = []
    const c2 = await startAgent(lab.server, { onEvent: (ev) => { if (ev.type === 'ss') events.push(ev) } })
    agents.push(c2)
    await lab.server.exec(['iptables', '-F', 'INPUT'])
    await sleep(1500) // let the lossy connection drain
    await c2.request({ op: 'sample', intervalMs: 10, fullEveryMs: 60_000 })
    await sleep(500)
    const reply = await c2.request({ op: 'unsample' })
    const n = reply.type === 'unsampled' ? reply.n : 0
    tt.ok(n >= 40, `~50 dumps in 500 ms at 10 ms (${n})`)
    tt.ok(events.length < n / 4, `only ${events.length} of ${n} dumps written (idle sockets)`)
    tt.ok(events[0]?.full === true && events[0].rows.length >= 3, 'the first is full')
  })

  // Both ways the sampler waits: the deadline of epoll_pwait2 (Linux 5.11), and the periodic
  // timerfd of older kernels, forced here by the agent's environment.
  for (const wait of ['deadline', 'timerfd'] as const) {
    await t.test(`ticks keep their times (${wait}): a dump every 10 ms, none twice`, async (tt: TT) => {
      const dumps: SsEvent[] = []
      // The agent's environment: its argv goes through env(1), as the spawner keeps its own.
      const host: typeof lab.server = wait === 'deadline' ? lab.server : Object.assign(Object.create(lab.server) as typeof lab.server, {
        spawn: (argv: readonly string[], o?: Parameters<typeof lab.server.spawn>[1]) => lab.server.spawn(['env', 'TCPLAB_SAMPLER_TIMERFD=1', ...argv], o),
      })
      const a = await startAgent(host, { onEvent: (ev) => { if (ev.type === 'ss') dumps.push(ev) } })
      agents.push(a)
      const started = await a.request({ op: 'sample', intervalMs: 10, fullEveryMs: 10 }) // every dump written
      tt.equal(started.type === 'sampling' ? started.wait : undefined, wait, `the sampler waits by ${wait}`)
      await sleep(600)
      const reply = await a.request({ op: 'unsample' })
      const n = reply.type === 'unsampled' ? reply.n : 0
      tt.ok(n >= 45 && n <= 65, `~60 dumps in 600 ms (${n}): not a busy loop, not stuck`)
      const gaps = dumps.slice(1).map((e, i) => (e.t - (dumps[i] as SsEvent).t) / 1000).sort((x, y) => x - y)
      const median = gaps[Math.floor(gaps.length / 2)] ?? NaN
      tt.ok(median > 9 && median < 11, `median gap between dumps ${median.toFixed(2)} ms`)
      tt.equal(new Set(dumps.map((e) => e.n)).size, dumps.length, 'every dump has its own number')
      tt.ok(dumps.every((e) => typeof e.dumpCpuUs === 'number'), 'full dumps carry their CPU cost')
    })
  }

  await t.test('a watch: the first matching row is NAME seen, and the plan fires on it without the runner', async (tt: TT) => {
    const evs: AgentEvent[] = []
    const c4 = await startAgent(lab.server, { onEvent: (ev) => { evs.push(ev) } })
    agents.push(c4)
    const bad = await c4.request({ op: 'watch', name: 'w-bad', states: ['BOGUS'] })
    tt.match(bad, { type: 'error', errno: 'EINVAL' }, 'an unknown state is refused')
    // A listener bound to any address matches a selector naming the host's address (as ss rows are matched).
    tt.match(await c4.request({ op: 'watch', name: 'w-lsn', states: ['LISTEN'], local: { addrs: [SERVER_ADDR], port: 8100 } }), { type: 'watching' })
    await c4.request({ op: 'watch', name: 'w-port', states: ['LISTEN'], local: { port: 8101 } })
    await c4.request({ op: 'watch', name: 'w-state', states: ['ESTAB'], local: { port: 8100 } })
    await c4.request({ op: 'plan', steps: [{ step: 1, gate: { on: 'w-lsn.seen' }, cmd: { op: 'list' } }] })
    await c4.request({ op: 'go' })
    await c4.request({ op: 'sample', intervalMs: 10 })
    await sleep(50)
    tt.notOk(evs.some((e) => e.type === 'seen'), 'nothing seen before the socket exists')
    await c4.request({ op: 'listen', name: 'l8100', port: 8100 })
    // The row may be seen (and the step fire) before the listen's reply is read: look in what came too.
    const already = async (pred: (e: AgentEvent) => boolean): Promise<AgentEvent> => evs.find(pred) ?? await c4.waitFor(pred, 2000)
    const seen = await already((e) => e.type === 'seen')
    tt.match(seen, { name: 'w-lsn', type: 'seen', state: 'LISTEN', local: '0.0.0.0:8100' }, 'the listener is seen')
    const step = await already((e) => e.type === 'step' && e.step === 1)
    tt.equal(step.type === 'step' ? step.scheduledUs : undefined, seen.t, 'the step was due at the seen time: the agent opened its own gate')
    await sleep(100)
    await c4.request({ op: 'unsample' })
    tt.same(evs.filter((e) => e.type === 'seen').map((e) => e.name), ['w-lsn'], 'a wrong port or a wrong state is never seen, and a watch fires once')
  })

  await t.test('a socket freed while sampling: a destroy event names it by cookie', async (tt: TT) => {
    const destroyed: SsDestroyEvent[] = []
    const rows: SsEvent[] = []
    const c3 = await startAgent(lab.client, {
      onEvent: (ev) => {
        if (ev.type === 'ss-destroy') destroyed.push(ev)
        if (ev.type === 'ss') rows.push(ev)
      },
    })
    agents.push(c3)
    await c3.request({ op: 'sample', intervalMs: 10, fullEveryMs: 10 })
    await c3.request({ op: 'connect', name: 'brief', host: SERVER_ADDR, port: 8000 })
    await sleep(50)
    const listed = (await c3.request({ op: 'list' })) as AgentEvent & { sockets: Array<{ name: string; lport?: number }> }
    const lport = listed.sockets.find((s) => s.name === 'brief')?.lport
    const sk = rows.flatMap((e) => e.rows).find((r) => r.lport === lport && r.state === 'ESTAB')?.sk
    tt.ok(sk !== undefined, `the dumps saw it (port ${lport}, sk ${sk})`)
    const abortedUs = Date.now() * 1000
    await c3.request({ op: 'abort', name: 'brief' })
    await sleep(100)
    await c3.request({ op: 'unsample' })
    const d = destroyed.find((e) => e.sk === sk)
    tt.ok(d !== undefined, 'its destroy event arrived (the destroy socket hears the kernel: it is bound)')
    tt.equal(d?.lport, lport, 'with its local port')
    tt.equal(d?.rport, 0, 'and no peer port: an abort disconnects before the socket is freed')
    // How soon is a figure for bench/sampling.ts (against the RST in a capture), not a test.
    tt.comment(`read ${d ? ((d.t - abortedUs) / 1000).toFixed(1) : '?'} ms after the abort was asked for`)
  })
}

if (!isRoot()) t.plan(0, 'skip: needs root to create network namespaces')
else await run()
