// The agent client and the agent's command reader, without root: the agent
// runs as a plain local process (its only socket traffic is on 127.0.0.1).

import t from 'tap'
import { agentBinaryPath, isFinalEventFor, parseAgentEvent, startAgent } from '../../../src/agent/client.js'
import type { AgentClient } from '../../../src/agent/client.js'
import type { AgentCommand, AgentEvent } from '../../../src/agent/protocol.js'
import type { Host } from '../../../src/lab/types.js'
import { ProcessError, TcplabError, TimeoutError } from '../../../src/util/errors.js'
import { runCommand, spawnProcess } from '../../../src/util/proc.js'
import { buildAgent } from '../../e2e/agent-host.js'

/** The local machine as a Host (no namespace). */
function localHost(agentPath = agentBinaryPath()): Host {
  return {
    name: 'local',
    addr: '127.0.0.1',
    ifnames: ['lo'],
    agentPath,
    exec: (argv, opts) => runCommand(argv, { ...opts, host: 'local' }),
    spawn: (argv, opts) => spawnProcess(argv, opts),
  }
}

const ev = (o: Record<string, unknown>): AgentEvent => ({ t: 1, name: 'x', ...o }) as unknown as AgentEvent

t.test('parseAgentEvent', async (t) => {
  t.match(parseAgentEvent('{"t":1,"name":"a","type":"eof"}'), { t: 1, name: 'a', type: 'eof' })
  t.equal(parseAgentEvent('not json'), undefined)
  t.equal(parseAgentEvent('[1,2]'), undefined)
  t.equal(parseAgentEvent('{"name":"a","type":"eof"}'), undefined, 'no t')
  t.equal(parseAgentEvent('{"t":1,"type":"eof"}'), undefined, 'no name')
})

t.test('isFinalEventFor', async (t) => {
  const send: AgentCommand = { op: 'send', name: 'x', data: 'a', count: 2, id: 7 }
  t.notOk(isFinalEventFor(send, ev({ type: 'sent', id: 7, n: 1, total: 1 })), 'not the first of two writes')
  t.ok(isFinalEventFor(send, ev({ type: 'sent', id: 7, n: 1, total: 2, done: true })), 'the done one')
  t.ok(isFinalEventFor(send, ev({ type: 'error', id: 7, op: 'send', errno: 'EPIPE', done: true })), 'an error ends it')
  t.notOk(isFinalEventFor(send, ev({ type: 'error', id: 7, op: 'send', errno: 'EPIPE', done: false })), 'unless continueOnError goes on')
  t.notOk(isFinalEventFor(send, ev({ type: 'sent', id: 8, done: true })), 'another id')
  const nb: AgentCommand = { op: 'connect', name: 'x', host: '::1', port: 1, nonblock: true, id: 'c' }
  t.ok(isFinalEventFor(nb, ev({ type: 'connecting', id: 'c' })), 'nonblock connect: connecting')
  t.notOk(isFinalEventFor({ ...nb, nonblock: false }, ev({ type: 'connecting', id: 'c' })), 'blocking connect waits for connected')
  t.notOk(isFinalEventFor({ op: 'list' }, ev({ type: 'sockets' })), 'a command without id matches nothing')
})

t.test('agentBinaryPath', async (t) => {
  const saved = process.env.TCPLAB_AGENT
  delete process.env.TCPLAB_AGENT
  t.match(agentBinaryPath(), /\/agent\/build\/tcplab-agent$/)
  t.equal(agentBinaryPath(), new URL('../../../agent/build/tcplab-agent', import.meta.url).pathname, 'repository root /agent/build')
  process.env.TCPLAB_AGENT = '/opt/x/tcplab-agent'
  t.equal(agentBinaryPath(), '/opt/x/tcplab-agent')
  if (saved === undefined) delete process.env.TCPLAB_AGENT
  else process.env.TCPLAB_AGENT = saved
})

t.test('a local agent', async (t) => {
  await buildAgent()
  const events: AgentEvent[] = []
  const agent: AgentClient = await startAgent(localHost(), { onEvent: (e) => events.push(e) })
  t.teardown(() => agent.close())
  t.equal(events[0]?.type, 'ready', 'first event: ready')
  t.ok(agent.pid > 0)

  await t.test('request resolves with the final event; ids are assigned and echoed', async (t) => {
    const l = await agent.request({ op: 'listen', name: 'l', addr: '127.0.0.1', port: 0 })
    t.equal(l.type, 'listening')
    t.match(l.id, /^r\d+$/, 'request assigns ids r<N>')
    const lport = l.type === 'listening' ? l.lport : 0
    t.ok(lport > 0, `port ${lport}`)
    const c = await agent.request({ op: 'connect', name: 'c', host: '127.0.0.1', port: lport })
    t.match(c, { type: 'connected', peer: `127.0.0.1:${lport}` })
    const s = await agent.request({ op: 'send', name: 'c', data: 'hello', count: 3 })
    t.match(s, { type: 'sent', total: 15, done: true })
    const isAllRead = (e: AgentEvent): boolean => e.name === 'l-conn' && e.type === 'read' && e.total === 15
    const r = events.find(isAllRead) ?? (await agent.waitFor(isAllRead, 2000))
    t.equal(r.type, 'read', 'the accepted socket (auto read) read all 15 bytes')
  })

  await t.test('request with until, and its timeout', async (t) => {
    const seen = await agent.request({ op: 'list' }, { until: (e) => e.type === 'sockets' })
    t.equal(seen.type, 'sockets')
    const late = await agent.request({ op: 'list' }, { until: () => false, timeoutMs: 100 }).catch((e: unknown) => e)
    t.type(late, TimeoutError, 'no matching event: TimeoutError')
  })

  await t.test('the command reader: JSON strings, numbers, errors', async (t) => {
    const tricky = 'q"b\\s/\u00e9\u{1F600}\n\ttab'
    const r = await agent.request({ op: 'list', id: tricky })
    t.equal(r.id, tricky, 'escapes, non-ASCII and a surrogate pair survive the round trip')
    // The next event, leaving out what the accepted socket reads by itself meanwhile.
    const notServerRead = (e: AgentEvent): boolean => e.name !== 'l-conn'
    const raw = async (line: string): Promise<AgentEvent> => {
      const next = agent.waitFor(notServerRead, 2000)
      await agent.proc.write(`${line}\n`)
      return next
    }
    t.match(await raw('{"op":"list","id":"\\ud83d\\ude00"}'), { type: 'sockets', id: '\u{1F600}' }, '\\u escapes with a surrogate pair')
    t.match(await raw('  {"op" : "list" , "id" : -12}\r'), { type: 'sockets', id: -12 }, 'whitespace, CRLF, negative id')
    t.match(await raw('{"op":"list","id":1.5}'), { type: 'error', errno: 'EINVAL', message: /"id"/ })
    t.match(await raw('{"op":"list","op":"list"}'), { type: 'error', errno: 'EINVAL', message: /duplicate/ })
    t.match(await raw('{"op":"list"} x'), { type: 'error', errno: 'EINVAL', message: /trailing/ })
    t.match(await raw('{"op":"list","id":"\\ud800"}'), { type: 'error', errno: 'EINVAL', message: /surrogate/ })
    t.match(await raw('{"op":"list","id":"a\u0001"}'), { type: 'error', errno: 'EINVAL', message: /control character/ })
    t.match(await raw('{"a":[[[[[[[[[[1]]]]]]]]]]}'), { type: 'error', errno: 'EINVAL', message: /nested too deeply/ })
    t.match(await raw('{"op":"list","id":01}'), { type: 'error', errno: 'EINVAL', message: /expected ',' or '}'/ }, 'a leading zero ends the number')
    const badUtf8 = agent.waitFor(notServerRead, 2000)
    await agent.proc.write(Buffer.concat([Buffer.from('{"op":"list","id":"'), Buffer.from([0xc3, 0x28]), Buffer.from('"}\n')]))
    t.match(await badUtf8, { type: 'error', errno: 'EINVAL', message: /invalid UTF-8/ }, 'strings must be UTF-8 (RFC 8259)')
    t.match(await raw('"just a string"'), { type: 'error', errno: 'EINVAL', message: /JSON object/ })
    t.match(await raw('{"op":"poll","name":"l","events":["in","sideways"]}'), { type: 'error', name: 'l', op: 'poll', errno: 'EINVAL' })
    t.match(await raw('{"op":"send","name":"c","bytes":1e3,"id":"sci"}'), { type: 'sent', id: 'sci', n: 1000 }, '1e3 is an integer')
    const blankThenList = agent.waitFor(notServerRead, 2000)
    await agent.proc.write('\n   \n{"op":"list","id":"after-blank"}\n')
    t.match(await blankThenList, { id: 'after-blank' }, 'blank lines are ignored')
    const long = agent.waitFor(notServerRead, 5000)
    await agent.proc.write(`{"op":"list","id":"${'x'.repeat(5 * 1024 * 1024)}"}\n`)
    t.match(await long, { type: 'error', errno: 'EINVAL', message: /longer than/ }, 'a line over 4 MiB is refused')
    t.match(await agent.request({ op: 'list', id: 'still-alive' }), { type: 'sockets' }, 'and the agent carries on')
  })

  await t.test('close: stdin EOF, exit 0, an exit event', async (t) => {
    const info = await agent.close()
    t.same(info, { code: 0, signal: undefined })
    t.match(events.at(-1), { type: 'exit', reason: 'stdin', closed: 3 })
    await t.rejects(agent.request({ op: 'list' }), 'requests after exit fail')
  })
})

t.test('an agent that cannot start', async (t) => {
  const missing = await startAgent(localHost('/nonexistent/tcplab-agent'), { onEvent: () => undefined }).catch((e: unknown) => e)
  t.type(missing, TcplabError, `a missing binary: ${(missing as Error).message}`)
  const err = await startAgent(localHost('/bin/false'), { onEvent: () => undefined }).catch((e: unknown) => e)
  t.type(err, ProcessError, 'exits before ready: ProcessError')
  t.match((err as ProcessError).failure, { exitCode: 1, host: 'local' })
})

t.test('the agent says in ready how it is scheduled, and where a priority was refused, why', async (t) => {
  await buildAgent()
  const started = async (host: Host, priority?: 'fifo' | 'normal'): Promise<AgentClient> => {
    const a = await startAgent(host, { onEvent: () => undefined, priority })
    t.teardown(() => a.close())
    return a
  }
  t.equal((await started(localHost())).sched, 'normal', 'nothing asked: normal')
  const root = process.getuid?.() === 0
  if (root) {
    const fifo = await started(localHost(), 'fifo')
    t.equal(fifo.sched, 'fifo', 'root: SCHED_FIFO granted')
    t.equal(fifo.schedError, undefined)
  }
  // Host.spawnAgent, where a host has one, starts it: here as nobody (setpriv; root only), who may not.
  let viaSpawnAgent = 0
  const asNobody: Host = {
    ...localHost(),
    spawnAgent: async (argv, opts) => {
      viaSpawnAgent++
      return spawnProcess(root ? ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', '--', ...argv] : argv, opts)
    },
  }
  const refused = await started(asNobody, 'fifo')
  t.equal(viaSpawnAgent, 1, 'started through spawnAgent')
  if (root || (await runCommand(['sh', '-c', 'ulimit -r'])).stdout.trim() === '0') {
    t.equal(refused.sched, 'normal', 'refused: normal')
    t.match(refused.schedError, /not permitted/, 'and why')
  }
})

t.test('--caps keeps only the capabilities given, for the agent and what it starts; a bad mask is exit 2', async (t) => {
  await buildAgent()
  if (process.getuid?.() !== 0) {
    t.plan(0, 'needs root (dropping from the bounding set needs CAP_SETPCAP)')
    return
  }
  const kill = '20' // CAP_KILL only
  const host: Host = { ...localHost(), spawnAgent: async (argv, opts) => spawnProcess([...argv, `--caps=${kill}`], opts) }
  const a = await startAgent(host, { onEvent: () => undefined, priority: 'fifo' })
  t.teardown(() => a.close())
  t.equal(a.sched, 'fifo', 'the priority is taken before the capabilities go')
  const ran = await a.request({ op: 'exec', name: 'caps', argv: ['cat', '/proc/self/status'] })
  const status = ran.type === 'exited' ? ran.stdoutTail : ''
  for (const set of ['CapPrm', 'CapEff', 'CapBnd']) t.match(status, new RegExp(`^${set}:\\s*0*${kill}$`, 'm'), `${set} of a program it starts: CAP_KILL only`)
  const bad = await runCommand([agentBinaryPath(), '--caps=zz'], { reject: false })
  t.equal(bad.exitCode, 2)
  t.match(bad.stderr, /--caps=zz: Invalid argument/)
})
