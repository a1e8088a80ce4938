// The agent runs processes and its host's timeline itself (agent/procs.c,
// agent/plan.c): exec with output lines, stdin and signals, groups killed at
// exit; steps fired at CLOCK_REALTIME deadlines, on local events, on relayed
// triggers and after other steps, in order; cross-host gates relayed straight
// from agent to agent over unix datagram sockets (relay.c). Each behaviour has a case where
// it must not happen. Needs root (network namespaces).
// TCPLAB_AGENT=agent/build/tcplab-agent-debug runs it under ASan/UBSan.

import { existsSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import t from 'tap'
import { startAgent } from '../../src/agent/client.js'
import type { AgentClient } from '../../src/agent/client.js'
import type { AgentCommand, AgentEvent, AgentEventOf, AgentEventType, PlanStep } from '../../src/agent/protocol.js'
import type { Host } from '../../src/lab/types.js'
import { buildAgent, createAgentTestLab, isRoot, listOwnTestNamespaces, SERVER_ADDR } from './agent-host.js'

type TT = Parameters<Parameters<typeof t.test>[0]>[0]

interface Agent {
  client: AgentClient
  events: AgentEvent[]
  req(cmd: AgentCommand, timeoutMs?: number): Promise<AgentEvent>
  /** First event (seen since `since`, or to come) matching. */
  next(match: (ev: AgentEvent) => boolean, timeoutMs?: number, since?: number): Promise<AgentEvent>
}

async function openAgent(host: Host): Promise<Agent> {
  const events: AgentEvent[] = []
  const client = await startAgent(host, { onEvent: (ev) => events.push(ev) })
  return {
    client,
    events,
    req: (cmd, timeoutMs = 10_000) => client.request(cmd, { timeoutMs }),
    async next(match, timeoutMs = 10_000, since = 0) {
      return events.slice(since).find(match) ?? (await client.waitFor(match, timeoutMs))
    },
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))
const nowUs = (): number => Date.now() * 1000
const is = <T extends AgentEventType>(type: T, name?: string) =>
  (ev: AgentEvent): ev is AgentEventOf<T> => ev.type === type && (name === undefined || ev.name === name)
const stepEv = (step: number) => (ev: AgentEvent): boolean => ev.type === 'step' && ev.step === step

function expectType<T extends AgentEventType>(tt: TT, ev: AgentEvent, type: T): AgentEventOf<T> {
  tt.equal(ev.type, type, `event ${type}${ev.type === 'error' ? `: ${ev.errno} ${ev.message}` : ''}`)
  return ev as AgentEventOf<T>
}

function expectErrno(tt: TT, ev: AgentEvent, errno: string): void {
  tt.match(ev, { type: 'error', errno }, `error ${errno}`)
}

/** `sleep <marker>` processes, inside or outside the namespaces (one pid space). */
async function sleepsWith(host: Host, marker: string): Promise<string[]> {
  const r = await host.exec(['ps', '-eo', 'pid,args'])
  return r.stdout.split('\n').filter((l) => l.trim().split(/\s+/).slice(1).join(' ') === `sleep ${marker}`)
}

if (!isRoot()) {
  t.plan(0, 'skip: needs root to create network namespaces')
} else {
  await runAll()
}

async function runAll(): Promise<void> {
  await buildAgent()
  const lab = await createAgentTestLab('plan')
  t.teardown(() => lab.down())
  const a = await openAgent(lab.client)
  t.teardown(() => a.client.close().then(() => undefined))

  await t.test('exec: started, lines, exit code, tails', async (tt) => {
    const ex = expectType(tt, await a.req({ op: 'exec', name: 'sh1', argv: ['sh', '-c', 'echo one; echo two; echo oops >&2; printf last; exit 3'] }), 'exited')
    tt.equal(ex.code, 3, 'exit code')
    tt.equal(ex.stdoutTail, 'one\ntwo\nlast')
    tt.equal(ex.stderrTail, 'oops\n')
    const mine = a.events.filter((e) => e.name === 'sh1')
    tt.equal(mine.length, 6, 'started, 3 stdout, 1 stderr, exited')
    tt.equal(mine[0]?.type, 'started', 'started first')
    tt.equal(mine.at(-1)?.type, 'exited', 'exited after every line')
    tt.same(mine.filter(is('stdout')).map((e) => e.text), ['one', 'two', 'last'], 'stdout lines (the last without newline)')
    tt.same(mine.filter(is('stderr')).map((e) => e.text), ['oops'])
    const st = mine[0] as AgentEventOf<'started'>
    tt.ok(st.pid > 0 && st.t <= ex.t, 'started.t (exec time) before exited.t')
  })

  await t.test('exec failures: ENOENT, duplicate name, bad argv', async (tt) => {
    expectErrno(tt, await a.req({ op: 'exec', name: 'nope', argv: ['/no/such/program'] }), 'ENOENT')
    tt.notOk(a.events.some((e) => e.name === 'nope' && (e.type === 'started' || e.type === 'exited')), 'no started/exited after a failed exec')
    const since = a.events.length
    await a.client.send({ op: 'exec', id: 'long', name: 'dup', argv: ['sleep', '5'] })
    await a.next(is('started', 'dup'), 5000, since)
    expectErrno(tt, await a.req({ op: 'exec', name: 'dup', argv: ['true'] }), 'EEXIST')
    expectErrno(tt, await a.req({ op: 'listen', name: 'dup', port: 7300 }), 'EEXIST')
    expectErrno(tt, await a.req({ op: 'exec', name: 'x', argv: [] }), 'EINVAL')
    expectErrno(tt, await a.req({ op: 'signal', name: 'dup', signal: 'NOPE' as 'TERM' }), 'EINVAL')
    expectType(tt, await a.req({ op: 'signal', name: 'dup', signal: 'TERM' }), 'signalled')
    const ex = (await a.next((e) => e.type === 'exited' && e.name === 'dup', 5000, since)) as AgentEventOf<'exited'>
    tt.equal(ex.signal, 'SIGTERM', 'killed by SIGTERM')
    expectErrno(tt, await a.req({ op: 'signal', name: 'dup', signal: 'KILL' }), 'ESRCH')
    expectType(tt, await a.req({ op: 'exec', name: 'dup', argv: ['true'] }), 'exited')
  })

  await t.test('signals go to the group: STOP holds output, CONT releases it', async (tt) => {
    const since = a.events.length
    await a.client.send({ op: 'exec', id: 'tick', name: 'tick', argv: ['sh', '-c', 'while :; do echo x; sleep 0.02; done'] })
    await a.next(is('stdout', 'tick'), 5000, since)
    expectType(tt, await a.req({ op: 'signal', name: 'tick', signal: 'STOP' }), 'signalled')
    await sleep(50)
    const n0 = a.events.filter(is('stdout', 'tick')).length
    await sleep(200)
    tt.equal(a.events.filter(is('stdout', 'tick')).length, n0, 'no line while stopped')
    expectType(tt, await a.req({ op: 'signal', name: 'tick', signal: 'SIGCONT' }), 'signalled')
    await sleep(200)
    tt.ok(a.events.filter(is('stdout', 'tick')).length > n0, 'lines again after CONT')
    expectType(tt, await a.req({ op: 'signal', name: 'tick', signal: 'KILL' }), 'signalled')
    const ex = (await a.next(is('exited', 'tick'), 5000, since)) as AgentEventOf<'exited'>
    tt.equal(ex.signal, 'SIGKILL')
  })

  await t.test('stdin: write, endStdin; write without a stdin pipe fails', async (tt) => {
    const since = a.events.length
    await a.client.send({ op: 'exec', id: 'cat', name: 'cat', argv: ['cat'], stdin: true })
    expectType(tt, await a.req({ op: 'write', name: 'cat', data: 'hello\nwor' }), 'written')
    expectType(tt, await a.req({ op: 'write', name: 'cat', data: 'ld\n' }), 'written')
    expectType(tt, await a.req({ op: 'endStdin', name: 'cat' }), 'stdin-closed')
    // EBADF while cat still runs, EPIPE once it has exited: both say stdin is gone.
    tt.match(await a.req({ op: 'write', name: 'cat', data: 'late' }), { type: 'error', errno: /^(EBADF|EPIPE)$/ }, 'no write after endStdin')
    const ex = (await a.next(is('exited', 'cat'), 5000, since)) as AgentEventOf<'exited'>
    tt.equal(ex.code, 0, 'cat ends at EOF')
    tt.same(a.events.slice(since).filter(is('stdout', 'cat')).map((e) => e.text), ['hello', 'world'])
    await a.client.send({ op: 'exec', id: 'slp', name: 'nostdin', argv: ['sleep', '1'] })
    expectErrno(tt, await a.req({ op: 'write', name: 'nostdin', data: 'x' }), 'EBADF')
  })

  await t.test('agent exit kills every process group and reports each exit', async (tt) => {
    const b = await openAgent(lab.server)
    const marker = '987654.25'
    // A shell with two background children: all in the group the agent made.
    await b.client.send({ op: 'exec', id: 'grp', name: 'grp', argv: ['sh', '-c', `sleep ${marker} & sleep ${marker} & wait`] })
    await b.client.send({ op: 'exec', id: 'trap', name: 'stubborn', argv: ['sh', '-c', `trap '' TERM; sleep ${marker}`] })
    await b.next(is('started', 'stubborn'))
    await sleep(100)
    tt.equal((await sleepsWith(lab.server, marker)).length, 3, 'three sleeps running')
    const info = await b.client.close({ graceMs: 5000 })
    tt.same(info, { code: 0, signal: undefined }, 'agent exit 0')
    const exits = b.events.filter(is('exited'))
    tt.same(exits.map((e) => e.name).sort(), ['grp', 'stubborn'], 'one exited per process')
    tt.equal(exits.find((e) => e.name === 'stubborn')?.signal, 'SIGKILL', 'SIGTERM ignored: SIGKILL after the grace')
    tt.match(b.events.at(-1), { type: 'exit', processes: 2 })
    tt.same(await sleepsWith(lab.server, marker), [], 'no process left behind')
  })

  await t.test('plan: atUs deadlines are met; a bad plan loads nothing', async (tt) => {
    const t0 = nowUs() + 300_000
    const steps: PlanStep[] = Array.from({ length: 20 }, (_, i) => ({
      step: 100 + i,
      gate: { atUs: t0 + i * 10_000 },
      cmd: i % 5 === 4 ? { op: 'exec', name: `tr${i}`, argv: ['true'] } : { op: 'list' },
    }))
    expectType(tt, await a.req({ op: 'plan', steps }), 'planned')
    // Must fail: two gates in one step, an unknown op, a step number already loaded.
    expectErrno(tt, await a.req({ op: 'plan', steps: [{ step: 1, gate: { atUs: t0, on: 'a.b' } as never, cmd: { op: 'list' } }] }), 'EINVAL')
    expectErrno(tt, await a.req({ op: 'plan', steps: [{ step: 1, gate: { atUs: t0 }, cmd: { op: 'fly' } as never }] }), 'EINVAL')
    expectErrno(tt, await a.req({ op: 'plan', steps: [{ step: 2, gate: { atUs: t0 }, cmd: { op: 'list' } }, { step: 100, gate: { atUs: t0 }, cmd: { op: 'list' } }] }), 'EEXIST')
    const go = expectType(tt, await a.req({ op: 'go' }), 'go')
    tt.equal(go.pending, 20, 'only the good plan was loaded')
    await a.next(stepEv(119), 5000)
    const fired = a.events.filter(is('step')).filter((e) => e.step >= 100)
    tt.equal(fired.length, 20, 'every step fired')
    tt.same(fired.map((e) => e.step), steps.map((s) => s.step), 'in step order')
    for (const e of fired) {
      tt.ok(e.lateUs >= 0 && e.lateUs < 5000, `step ${e.step} late ${e.lateUs} µs (never early, < 5 ms)`)
      tt.equal(e.scheduledUs, t0 + (e.step - 100) * 10_000)
    }
    const sock = a.events.find((e) => e.type === 'sockets' && e.id === 'step-100')
    tt.ok(sock !== undefined, 'a step without an id gets "step-N"')
    tt.match(await a.next((e) => e.type === 'step-done' && e.step === 119), { doneUs: fired.at(-1)?.actualUs }, 'step-done (waits false: done = fired)')
  })

  await t.test('plan: on a local event; a gate that never opens stays pending', async (tt) => {
    expectType(tt, await a.req({ op: 'cancel' }), 'cancelled')
    const since = a.events.length
    expectType(tt, await a.req({
      op: 'plan',
      steps: [
        { step: 1, gate: { atUs: nowUs() + 50_000 }, cmd: { op: 'listen', name: 'onl', port: 7310 } },
        { step: 2, gate: { on: 'onl.listening', delayMs: 30 }, cmd: { op: 'connect', name: 'onc', host: '127.0.0.1', port: 7310 }, waits: true },
        { step: 3, gate: { on: 'onc.connected', delayMs: 0 }, cmd: { op: 'close', name: 'onc' } },
        { step: 4, gate: { on: 'onc.eof' }, cmd: { op: 'list' } },
      ],
    }), 'planned')
    expectType(tt, await a.req({ op: 'go' }), 'go')
    const s3 = (await a.next(stepEv(3), 5000, since)) as AgentEventOf<'step'>
    const listening = a.events.slice(since).find(is('listening', 'onl'))
    const connected = a.events.slice(since).find(is('connected', 'onc'))
    const s2 = a.events.slice(since).find(stepEv(2)) as AgentEventOf<'step'>
    tt.equal(s2.scheduledUs, (listening?.t ?? 0) + 30_000, 'on gate: event t + delay')
    tt.ok(s2.lateUs >= 0 && s2.lateUs < 5000, `late ${s2.lateUs} µs`)
    tt.equal(s3.scheduledUs, connected?.t, 'delay 0: the event time itself')
    tt.ok(s3.lateUs < 2000, `fired ${s3.lateUs} µs after the event`)
    await sleep(200)
    tt.notOk(a.events.slice(since).some(stepEv(4)), 'onc.eof never happens (the client closed itself): step 4 pending')
  })

  await t.test('plan: trigger from outside anchors on the original time', async (tt) => {
    expectType(tt, await a.req({ op: 'cancel' }), 'cancelled')
    const since = a.events.length
    expectType(tt, await a.req({
      op: 'plan',
      steps: [
        { step: 1, gate: { on: 'remote.connected', delayMs: 100 }, cmd: { op: 'list' } },
        { step: 2, gate: { afterStep: 77, delayMs: 20 }, cmd: { op: 'list' } },
        { step: 3, gate: { afterStep: 78 }, cmd: { op: 'list' } },
      ],
    }), 'planned')
    expectType(tt, await a.req({ op: 'go' }), 'go')
    await sleep(100)
    tt.notOk(a.events.slice(since).some(is('step')), 'nothing fires before the trigger')
    const tUs = nowUs() - 40_000 // the remote event happened 40 ms ago
    expectType(tt, await a.req({ op: 'trigger', ref: 'remote.connected', tUs }), 'triggered')
    const s1 = (await a.next(stepEv(1), 5000, since)) as AgentEventOf<'step'>
    tt.equal(s1.scheduledUs, tUs + 100_000, 'scheduled at the original time + delay')
    tt.ok(s1.lateUs >= 0 && s1.lateUs < 5000, `late ${s1.lateUs} µs`)
    const kUs = nowUs()
    expectType(tt, await a.req({ op: 'trigger', ref: 'step:77', tUs: kUs }), 'triggered')
    const s2 = (await a.next(stepEv(2), 5000, since)) as AgentEventOf<'step'>
    tt.equal(s2.scheduledUs, kUs + 20_000, 'afterStep of another host: its done time + delay')
    await sleep(150)
    tt.notOk(a.events.slice(since).some(stepEv(3)), 'step 78 never done: step 3 pending')
    expectErrno(tt, await a.req({ op: 'trigger', ref: 'nodot', tUs }), 'EINVAL')
  })

  await t.test('plan: atUs with notBefore waits for another host\'s step, and stays due at atUs', async (tt) => {
    expectType(tt, await a.req({ op: 'cancel' }), 'cancelled')
    const since = a.events.length
    const t0 = nowUs() + 50_000
    expectType(tt, await a.req({
      op: 'plan',
      steps: [
        { step: 1, gate: { atUs: t0, notBefore: [91] }, cmd: { op: 'list' } },
        { step: 2, gate: { atUs: t0, notBefore: [92] }, cmd: { op: 'list' } },
      ],
    }), 'planned')
    expectType(tt, await a.req({ op: 'go' }), 'go')
    await sleep(150)
    tt.notOk(a.events.slice(since).some(is('step')), 'past atUs, but step 91 is not done: nothing fires')
    expectType(tt, await a.req({ op: 'trigger', ref: 'step:91', tUs: nowUs() }), 'triggered')
    const s1 = (await a.next(stepEv(1), 5000, since)) as AgentEventOf<'step'>
    tt.equal(s1.scheduledUs, t0, 'still due at atUs')
    tt.ok(s1.lateUs >= 100_000, `so its lateness shows the wait: ${s1.lateUs} µs`)
    await sleep(50)
    tt.notOk(a.events.slice(since).some(stepEv(2)), 'step 92 never done: step 2 pending')
    expectErrno(tt, await a.req({ op: 'plan', steps: [{ step: 5, gate: { on: 'x.y', notBefore: [1] }, cmd: { op: 'list' } }] }), 'EINVAL')
    expectErrno(tt, await a.req({ op: 'plan', steps: [{ step: 5, gate: { atUs: 0, notBefore: ['x'] }, cmd: { op: 'list' } }] } as never), 'EINVAL')
  })

  await t.test('plan: ordering with waits, and afterStep on a local step', async (tt) => {
    for (const waits of [true, false]) {
      expectType(tt, await a.req({ op: 'cancel' }), 'cancelled')
      const since = a.events.length
      const t0 = nowUs() + 100_000
      expectType(tt, await a.req({
        op: 'plan',
        steps: [
          { step: 1, gate: { atUs: t0 }, cmd: { op: 'exec', name: `w${waits}`, argv: ['sleep', '0.2'] }, waits },
          { step: 2, gate: { atUs: t0 + 20_000 }, cmd: { op: 'list' } },
          { step: 3, gate: { afterStep: 1, delayMs: 10 }, cmd: { op: 'list' } },
        ],
      }), 'planned')
      expectType(tt, await a.req({ op: 'go' }), 'go')
      const s3 = (await a.next(stepEv(3), 5000, since)) as AgentEventOf<'step'>
      const s2 = a.events.slice(since).find(stepEv(2)) as AgentEventOf<'step'>
      const exited = (await a.next(is('exited', `w${waits}`), 5000, since)) as AgentEventOf<'exited'>
      const done1 = a.events.slice(since).find((e) => e.type === 'step-done' && e.step === 1) as AgentEventOf<'step-done'>
      if (waits) {
        tt.ok(s2.actualUs >= exited.t, 'waits: step 2 fires only after step 1 is done (exited)')
        tt.equal(done1.doneUs, exited.t, 'done = the exited event')
        tt.ok(s2.lateUs > 100_000, `so step 2 is late: ${s2.lateUs} µs`)
      } else {
        tt.ok(s2.actualUs < exited.t, 'no waits: step 2 fires on time, before step 1 exits')
        tt.ok(s2.lateUs < 5000, `on time: ${s2.lateUs} µs`)
        tt.equal(done1.doneUs, (a.events.slice(since).find(stepEv(1)) as AgentEventOf<'step'>).actualUs, 'done = fired')
      }
      tt.equal(s3.scheduledUs, done1.doneUs + 10_000, 'afterStep 1: its done time + delay')
    }
  })

  await t.test('steps drive sockets across hosts: Node relays the server event', async (tt) => {
    const srv = await openAgent(lab.server)
    tt.teardown(() => srv.client.close().then(() => undefined))
    expectType(tt, await a.req({ op: 'cancel' }), 'cancelled')
    const since = a.events.length
    const t0 = nowUs() + 100_000
    expectType(tt, await srv.req({ op: 'plan', steps: [{ step: 1, gate: { atUs: t0 }, cmd: { op: 'listen', name: 'xl', port: 7320 } }] }), 'planned')
    expectType(tt, await a.req({ op: 'plan', steps: [{ step: 2, gate: { on: 'xl.listening', delayMs: 5 }, cmd: { op: 'connect', name: 'xc', host: SERVER_ADDR, port: 7320 } }] }), 'planned')
    await Promise.all([srv.req({ op: 'go' }), a.req({ op: 'go' })])
    const listening = await srv.next(is('listening', 'xl'))
    await a.req({ op: 'trigger', ref: 'xl.listening', tUs: listening.t })
    const s2 = (await a.next(stepEv(2), 5000, since)) as AgentEventOf<'step'>
    tt.equal(s2.scheduledUs, listening.t + 5000, 'anchored on the server event')
    expectType(tt, await a.next(is('connected', 'xc'), 5000, since), 'connected')
  })

  await t.test('agents relay to each other across namespaces (relayBind, relay): no Node in the path', async (tt) => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'tcplab-relay-test-'))
    tt.teardown(() => rm(dir, { recursive: true, force: true }))
    const srv = await openAgent(lab.server)
    tt.teardown(() => srv.client.close().then(() => undefined))
    const srvSock = path.join(dir, 'server.sock')
    const cliSock = path.join(dir, 'client.sock')
    expectType(tt, await a.req({ op: 'cancel' }), 'cancelled')
    expectType(tt, await srv.req({ op: 'relayBind', path: srvSock }), 'relay-bound')
    expectType(tt, await a.req({ op: 'relayBind', path: cliSock }), 'relay-bound')
    // Must fail: a second socket, a path that exists, a directory that does not, a path too long for sun_path.
    expectErrno(tt, await a.req({ op: 'relayBind', path: path.join(dir, 'again.sock') }), 'EALREADY')
    const b = await openAgent(lab.server)
    tt.teardown(() => b.client.close().then(() => undefined))
    expectErrno(tt, await b.req({ op: 'relayBind', path: srvSock }), 'EADDRINUSE')
    expectErrno(tt, await b.req({ op: 'relayBind', path: path.join(dir, 'no', 'such.sock') }), 'ENOENT')
    expectErrno(tt, await b.req({ op: 'relayBind', path: `/tmp/${'x'.repeat(120)}` }), 'EINVAL')
    expectErrno(tt, await srv.req({ op: 'relay', ref: 'nodot', to: [cliSock] }), 'EINVAL')
    expectErrno(tt, await srv.req({ op: 'relay', ref: 'a.b', to: [] }), 'EINVAL')
    expectErrno(tt, await srv.req({ op: 'plan', steps: [{ step: 9, gate: { atUs: nowUs() }, cmd: { op: 'relayBind', path: cliSock } }] }), 'EINVAL')

    const since = a.events.length
    const sinceSrv = srv.events.length
    const t0 = nowUs() + 150_000
    expectType(tt, await srv.req({ op: 'relay', ref: 'rl.listening', to: [cliSock] }), 'relaying')
    expectType(tt, await srv.req({ op: 'relay', ref: 'step:1', to: [cliSock] }), 'relaying')
    // Must fail: nobody is bound at that path, so its gate never opens (and Node relays nothing here).
    expectType(tt, await srv.req({ op: 'relay', ref: 'ghost.listening', to: [path.join(dir, 'nobody.sock')] }), 'relaying')
    expectType(tt, await srv.req({
      op: 'plan',
      steps: [
        { step: 1, gate: { atUs: t0 }, cmd: { op: 'listen', name: 'rl', port: 7330 }, waits: true },
        { step: 2, gate: { atUs: t0 + 20_000 }, cmd: { op: 'listen', name: 'ghost', port: 7331 } },
      ],
    }), 'planned')
    expectType(tt, await a.req({
      op: 'plan',
      steps: [
        { step: 11, gate: { on: 'rl.listening', delayMs: 5 }, cmd: { op: 'connect', name: 'rc', host: SERVER_ADDR, port: 7330 } },
        { step: 12, gate: { afterStep: 1 }, cmd: { op: 'list' } },
        { step: 13, gate: { on: 'ghost.listening' }, cmd: { op: 'list' } },
      ],
    }), 'planned')
    await Promise.all([srv.req({ op: 'go' }), a.req({ op: 'go' })])

    const listening = await srv.next(is('listening', 'rl'), 5000, sinceSrv)
    const done1 = (await srv.next((e) => e.type === 'step-done' && e.step === 1, 5000, sinceSrv)) as AgentEventOf<'step-done'>
    const s11 = (await a.next(stepEv(11), 5000, since)) as AgentEventOf<'step'>
    const s12 = (await a.next(stepEv(12), 5000, since)) as AgentEventOf<'step'>
    tt.equal(s11.scheduledUs, listening.t + 5000, 'on gate: the server event t + delay, relayed by the server agent')
    tt.equal(s12.scheduledUs, done1.doneUs, 'afterStep of the other host: its done time')
    expectType(tt, await a.next(is('connected', 'rc'), 5000, since), 'connected')
    const trig = a.events.slice(since).filter(is('triggered'))
    tt.same(trig.map((e) => [e.ref, e.via, e.first]).sort(), [['rl.listening', 'relay', true], ['step:1', 'relay', true]], 'both gates opened by datagrams, once each')
    const relayed = srv.events.slice(sinceSrv).filter(is('relayed'))
    tt.match(relayed.find((e) => e.ref === 'rl.listening'), { tUs: listening.t, sent: 1, failed: [] })
    tt.match(relayed.find((e) => e.ref === 'step:1'), { tUs: done1.doneUs, sent: 1, failed: [] })
    tt.comment(`relay latency: server event -> client triggered ${(((trig.find((e) => e.ref === 'rl.listening')?.t ?? 0) - listening.t) / 1000).toFixed(3)} ms`)

    // The gate whose datagram found nobody stays shut; the send failure is reported.
    await srv.next(is('listening', 'ghost'), 5000, sinceSrv)
    const ghost = (await srv.next((e) => e.type === 'relayed' && e.ref === 'ghost.listening', 5000, sinceSrv)) as AgentEventOf<'relayed'>
    tt.match(ghost, { sent: 0, failed: [{ path: path.join(dir, 'nobody.sock'), errno: 'ENOENT' }] }, 'ENOENT: no socket there')
    await sleep(200)
    tt.notOk(a.events.slice(since).some(stepEv(13)), 'ghost.listening never reached the client: step 13 pending')

    // The runner's trigger arriving second changes nothing (first wins).
    const late = expectType(tt, await a.req({ op: 'trigger', ref: 'rl.listening', tUs: listening.t + 99_000 }), 'triggered')
    tt.equal(late.first, false, 'a duplicate trigger is a no-op')
    tt.equal(late.via, undefined, 'a trigger command has no via')

    // cancel drops the relays: the same event again sends nothing.
    expectType(tt, await srv.req({ op: 'cancel' }), 'cancelled')
    expectType(tt, await srv.req({ op: 'relay', ref: 'rl2.listening', to: [cliSock] }), 'relaying')
    expectType(tt, await srv.req({ op: 'cancel' }), 'cancelled')
    const sinceCancel = srv.events.length
    expectType(tt, await srv.req({ op: 'listen', name: 'rl2', port: 7332 }), 'listening')
    await sleep(100)
    tt.notOk(srv.events.slice(sinceCancel).some(is('relayed')), 'no relay after cancel')

    // The agent unlinks its socket when it exits.
    tt.ok(existsSync(srvSock), 'socket file while the agent runs')
    await srv.client.close()
    tt.notOk(existsSync(srvSock), 'unlinked at exit')
    expectType(tt, await a.req({ op: 'cancel' }), 'cancelled')
  })

  await t.test('leak check', async (tt) => {
    await a.client.close()
    await lab.down()
    tt.same(await listOwnTestNamespaces(), [], 'no namespace of this run left')
  })
}
