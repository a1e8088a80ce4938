// The socket agent on real namespaces: every option read back, every errno
// produced by a real failing call, pause/untilFull queues seen with ss, and a
// clean exit. Needs root (network namespaces, iptables inside them).

import t from 'tap'
import { startAgent } from '../../src/agent/client.js'
import type { AgentClient } from '../../src/agent/client.js'
import type { AgentCommand, AgentEvent, AgentEventOf, AgentEventType, SocketOptionName } from '../../src/agent/protocol.js'
import type { Host } from '../../src/lab/types.js'
import { buildAgent, createAgentTestLab, isRoot, listOwnTestNamespaces, SERVER_ADDR } from './agent-host.js'
import type { AgentTestLab } from './agent-host.js'

/** An agent plus the log of everything it said. */
interface Agent {
  client: AgentClient
  events: AgentEvent[]
  /** Send a command and wait for its final event. */
  req(cmd: AgentCommand, timeoutMs?: number): Promise<AgentEvent>
  /** First event (already received or future) of this type on this socket. */
  next<T extends AgentEventType>(name: string, type: T, timeoutMs?: number, since?: number): Promise<AgentEventOf<T>>
}

async function openAgent(host: Host): Promise<Agent> {
  const events: AgentEvent[] = []
  const client = await startAgent(host, { onEvent: (ev) => events.push(ev) })
  return {
    client,
    events,
    req: (cmd, timeoutMs = 10_000) => client.request(cmd, { timeoutMs }),
    async next(name, type, timeoutMs = 10_000, since = 0) {
      const isIt = (ev: AgentEvent): ev is AgentEventOf<typeof type> => ev.name === name && ev.type === type
      const seen = events.slice(since).find(isIt)
      if (seen) return seen
      return (await client.waitFor(isIt, timeoutMs)) as AgentEventOf<typeof type>
    },
  }
}

/** Assert an event is an error with this errno; return it typed. */
function expectError(tt: TT, ev: AgentEvent, errno: string, op?: string): AgentEventOf<'error'> | undefined {
  if (ev.type !== 'error') {
    tt.fail(`expected error ${errno}, got ${JSON.stringify(ev)}`)
    return undefined
  }
  tt.equal(ev.errno, errno, `errno ${errno}${op ? ` (${op})` : ''}: ${ev.message}`)
  if (op) tt.equal(ev.op, op)
  return ev
}

function expectType<T extends AgentEventType>(tt: TT, ev: AgentEvent, type: T): AgentEventOf<T> {
  tt.equal(ev.type, type, `event ${type}${ev.type === 'error' ? `: ${ev.errno} ${ev.message}` : ''}`)
  return ev as AgentEventOf<T>
}

/** `ss -tan` lines (without the header) inside a host. */
async function ssLines(host: Host, args: string[] = ['-tan']): Promise<string[]> {
  const r = await host.exec(['ss', '-H', ...args])
  return r.stdout.split('\n').map((l) => l.trim()).filter(Boolean)
}

/** Recv-Q and Send-Q of the socket with this local port. */
async function ssQueues(host: Host, lport: number): Promise<{ recvQ: number; sendQ: number } | undefined> {
  for (const line of await ssLines(host, ['-tn'])) {
    const f = line.split(/\s+/)
    if (f[3]?.endsWith(`:${lport}`)) return { recvQ: Number(f[1]), sendQ: Number(f[2]) }
  }
  return undefined
}

/** A subtest (the callback argument of t.test; its last overload takes only the callback). */
type TT = Parameters<Parameters<typeof t.test>[0]>[0]

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

if (!isRoot()) {
  t.plan(0, 'skip: needs root to create network namespaces and iptables rules inside them')
} else {
  await runAll()
}

async function runAll(): Promise<void> {
  await buildAgent()
  const lab: AgentTestLab = await createAgentTestLab('e2e')
  t.teardown(() => lab.down()) // idempotent: the leak check below normally did it already
  const cli = await openAgent(lab.client)
  const srv = await openAgent(lab.server)
  let agentsOpen = true
  t.teardown(async () => {
    if (agentsOpen) await Promise.all([cli.client.close(), srv.client.close()])
  })

  /** A listener on the server and a connected client socket, with the accepted socket's name. */
  async function connectPair(tt: TT, port: number, opts: { srvRead?: 'auto' | 'pause'; cliRead?: 'auto' | 'pause' } = {}) {
    const name = `p${port}`
    expectType(tt, await srv.req({ op: 'listen', name: `${name}-l`, port, read: opts.srvRead ?? 'auto', as: `${name}-s` }), 'listening')
    const since = srv.events.length
    const conn = expectType(tt, await cli.req({ op: 'connect', name, host: SERVER_ADDR, port, read: opts.cliRead ?? 'auto' }), 'connected')
    const acc = await srv.next(`${name}-s`, 'accepted', 5000, since)
    tt.equal(acc.rport, conn.lport, 'accepted the same connection')
    return { name, accepted: `${name}-s`, conn }
  }

  await t.test('options are set before listen/connect and read back', async (tt) => {
    const lopts = { rcvbuf: 4096, sndbuf: 8192, keepalive: true, nodelay: true, deferAccept: 10 } as const
    const l = expectType(tt, await srv.req({ op: 'listen', name: 'optl', port: 7001, opts: lopts }), 'listening')
    tt.equal(l.opts.rcvbuf, 8192, 'SO_RCVBUF is doubled by the kernel (socket(7))')
    tt.equal(l.opts.sndbuf, 16384, 'SO_SNDBUF is doubled')
    tt.equal(l.opts.reuseaddr, true, 'SO_REUSEADDR defaults to on for listeners')
    tt.ok(typeof l.opts.deferAccept === 'number' && l.opts.deferAccept >= 10, `TCP_DEFER_ACCEPT read back rounded up: ${l.opts.deferAccept}`)
    tt.equal(l.lport, 7001)

    const copts = {
      rcvbuf: 65536, sndbuf: 32768, keepalive: true, keepidle: 5, keepintvl: 3, keepcnt: 4, userTimeoutMs: 3000,
      nodelay: true, syncnt: 2, linger: 3, reuseaddr: true, reuseport: true, quickack: true, cork: false,
      maxseg: 1000, notsentLowat: 16384, windowClamp: 20000, congestion: 'reno',
    } as const
    const since = srv.events.length
    const c = expectType(tt, await cli.req({ op: 'connect', name: 'optc', host: SERVER_ADDR, port: 7001, opts: copts }), 'connected')
    tt.equal(c.opts.rcvbuf, 131072)
    tt.equal(c.opts.sndbuf, 65536)
    for (const k of ['keepalive', 'keepidle', 'keepintvl', 'keepcnt', 'userTimeoutMs', 'nodelay', 'syncnt', 'linger',
      'reuseaddr', 'reuseport', 'cork', 'notsentLowat', 'congestion'] as const) {
      tt.equal(c.opts[k], copts[k], `${k} reads back as set`)
    }
    tt.ok(typeof c.opts.maxseg === 'number' && c.opts.maxseg <= 1000 && c.opts.maxseg > 0, `TCP_MAXSEG read back (the MSS in use): ${c.opts.maxseg}`)
    tt.ok(typeof c.opts.windowClamp === 'number' && c.opts.windowClamp > 0, `TCP_WINDOW_CLAMP read back: ${c.opts.windowClamp}`)
    tt.equal(typeof c.opts.quickack, 'boolean')
    tt.same(Object.keys(c.opts).sort(), Object.keys(copts).sort(), 'every option set is read back')

    await sleep(200)
    tt.notOk(srv.events.slice(since).some((e) => e.type === 'accepted'), 'TCP_DEFER_ACCEPT: no accept before data arrives')
    expectType(tt, await cli.req({ op: 'send', name: 'optc', data: 'wake up' }), 'sent')
    const acc = await srv.next('optl-conn', 'accepted', 5000, since)
    tt.equal(acc.opts.rcvbuf, 8192, 'the accepted socket inherits SO_RCVBUF from the listener')
    tt.equal(acc.opts.keepalive, true, 'and SO_KEEPALIVE')

    // getsockopt of each option agrees with the read-back in `connected`.
    for (const k of Object.keys(copts) as SocketOptionName[]) {
      if (k === 'quickack') continue // not sticky: the kernel leaves quickack mode by itself (tcp(7))
      const ev = expectType(tt, await cli.req({ op: 'getsockopt', name: 'optc', opt: k }), 'sockopt')
      tt.equal(ev.value, c.opts[k], `getsockopt ${k}`)
    }
    const cname = expectType(tt, await cli.req({ op: 'getsockopt', name: 'optc', opt: 'SO_KEEPALIVE' as SocketOptionName }), 'sockopt')
    tt.equal(cname.value, true, 'C option names are accepted too')
    const all = expectType(tt, await cli.req({ op: 'getsockopt', name: 'optc', opt: 'all' }), 'opts')
    tt.equal(all.opts.v6only, null, 'IPV6_V6ONLY cannot be read on an IPv4 socket: null in "all"')
    expectError(tt, await cli.req({ op: 'getsockopt', name: 'optc', opt: 'v6only' }), 'EOPNOTSUPP', 'getsockopt')

    const set = expectType(tt, await cli.req({ op: 'setsockopt', name: 'optc', opts: { linger: -1, keepidle: 7 } }), 'opts')
    tt.same(set.opts, { keepidle: 7, linger: -1 }, 'setsockopt reads back what it set')
    expectError(tt, await cli.req({ op: 'setsockopt', name: 'optc', opts: { keepidle: 0 } }), 'EINVAL', 'setsockopt')
    const typo = expectError(tt, await cli.req({ op: 'setsockopt', name: 'optc', opts: { keepIdle: 1 } as never }), 'EINVAL')
    tt.match(typo?.message, /unknown option "keepIdle"/)
    expectError(tt, await cli.req({ op: 'setsockopt', name: 'optc', opts: { nodelay: 'yes' } as never }), 'EINVAL')

    const info = expectType(tt, await cli.req({ op: 'getsockopt', name: 'optc', opt: 'TCP_INFO' }), 'tcpinfo')
    tt.equal(info.info.state, 'ESTAB')
    tt.equal(info.info.ca_state, 'Open')
    for (const f of ['rto', 'rtt', 'snd_mss', 'snd_cwnd', 'bytes_acked', 'notsent_bytes', 'rcv_space']) {
      tt.equal(typeof info.info[f], 'number', `tcp_info has ${f}`)
    }
    const inq = expectType(tt, await cli.req({ op: 'getsockopt', name: 'optc', opt: 'SIOCINQ' }), 'sockopt')
    tt.equal(inq.value, 0)
    const soerr = expectType(tt, await cli.req({ op: 'getsockopt', name: 'optc', opt: 'SO_ERROR' }), 'sockopt')
    tt.equal(soerr.value, 0)
  })

  await t.test('ECONNREFUSED: connect to a closed port', async (tt) => {
    const ev = expectError(tt, await cli.req({ op: 'connect', name: 'refused', host: SERVER_ADDR, port: 7999 }), 'ECONNREFUSED', 'connect')
    tt.match(ev?.id, /^r\d+$/, 'the error echoes the command id')
    const again = await cli.req({ op: 'connect', name: 'refused', host: SERVER_ADDR, port: 7999 })
    expectError(tt, again, 'EEXIST', 'connect')
  })

  await t.test('ETIMEDOUT / EINPROGRESS: SYNs dropped by iptables in the server namespace', async (tt) => {
    const rule = ['INPUT', '-p', 'tcp', '--dport', '7002', '-j', 'DROP']
    await lab.server.exec(['iptables', '-A', ...rule])
    tt.teardown(() => lab.server.exec(['iptables', '-D', ...rule]))
    const t0 = Date.now()
    const bySyncnt = cli.req({ op: 'connect', name: 'to-syncnt', host: SERVER_ADDR, port: 7002, opts: { syncnt: 1 } }, 15_000)
    const byUserTimeout = cli.req({ op: 'connect', name: 'to-uto', host: SERVER_ADDR, port: 7002, opts: { userTimeoutMs: 1000 } }, 15_000)
    const nb = expectType(tt, await cli.req({ op: 'connect', name: 'to-nb', host: SERVER_ADDR, port: 7002, nonblock: true, opts: { syncnt: 1 } }), 'connecting')
    tt.equal(nb.errno, 'EINPROGRESS', 'nonblock connect reports EINPROGRESS at once')
    tt.ok(nb.lport > 0, 'with its local port')
    const polled = expectType(tt, await cli.req({ op: 'poll', name: 'to-nb', events: ['out'], timeoutMs: 10_000 }, 15_000), 'polled')

    const uto = expectError(tt, await byUserTimeout, 'ETIMEDOUT', 'connect')
    const utoMs = (uto?.t ?? 0) / 1000 - t0
    tt.ok(utoMs > 800 && utoMs < 2500, `TCP_USER_TIMEOUT 1000 ms ended the handshake after ${utoMs.toFixed(0)} ms`)
    const sc = expectError(tt, await bySyncnt, 'ETIMEDOUT', 'connect')
    const scMs = (sc?.t ?? 0) / 1000 - t0
    tt.ok(scMs > 2500 && scMs < 4500, `TCP_SYNCNT 1 (SYN at 0 s and 1 s) timed out after ${scMs.toFixed(0)} ms`)

    tt.ok(polled.revents.includes('err') && polled.revents.includes('hup'), `poll(out) on the failed nonblock connect: ${polled.revents.join(',')}`)
    tt.notOk(polled.timeout, 'poll did not time out')
    tt.notOk(cli.events.some((e) => e.name === 'to-nb' && e.type === 'error'), 'the agent did not consume the nonblock connect\'s error')
    const so = expectType(tt, await cli.req({ op: 'getsockopt', name: 'to-nb', opt: 'SO_ERROR' }), 'sockopt')
    tt.equal(so.errno, 'ETIMEDOUT', 'SO_ERROR holds ETIMEDOUT for the application, as in the seed')
    const so2 = expectType(tt, await cli.req({ op: 'getsockopt', name: 'to-nb', opt: 'SO_ERROR' }), 'sockopt')
    tt.equal(so2.value, 0, 'reading SO_ERROR cleared it')
  })

  await t.test('nonblock connect that succeeds: connecting, then connected', async (tt) => {
    expectType(tt, await srv.req({ op: 'listen', name: 'nbl', port: 7003 }), 'listening')
    const ev = expectType(tt, await cli.req({ op: 'connect', name: 'nbc', host: SERVER_ADDR, port: 7003, nonblock: true }), 'connecting')
    const conn = await cli.next('nbc', 'connected')
    tt.equal(conn.id, ev.id, 'connected echoes the connect id')
    tt.ok(conn.t >= ev.t)
    tt.equal(conn.peer, `${SERVER_ADDR}:7003`)
  })

  await t.test('ETIMEDOUT on an established connection (TCP_USER_TIMEOUT), then EPIPE', async (tt) => {
    expectType(tt, await srv.req({ op: 'listen', name: 'utl', port: 7004 }), 'listening')
    expectType(tt, await cli.req({ op: 'connect', name: 'utc', host: SERVER_ADDR, port: 7004, opts: { userTimeoutMs: 1000 } }), 'connected')
    const rule = ['INPUT', '-p', 'tcp', '--dport', '7004', '-j', 'DROP']
    await lab.server.exec(['iptables', '-A', ...rule])
    tt.teardown(() => lab.server.exec(['iptables', '-D', ...rule]))
    const since = cli.events.length
    const sent = expectType(tt, await cli.req({ op: 'send', name: 'utc', data: 'hello' }), 'sent')
    tt.equal(sent.n, 5, 'the write itself succeeds (the bytes are queued)')
    const err = await cli.next('utc', 'error', 5000, since)
    tt.equal(err.op, 'read', 'auto read mode found the error')
    tt.equal(err.errno, 'ETIMEDOUT')
    const ms = (err.t - sent.t) / 1000
    tt.ok(ms > 800 && ms < 2500, `ETIMEDOUT ${ms.toFixed(0)} ms after the write`)
    expectError(tt, await cli.req({ op: 'send', name: 'utc', data: 'again' }), 'EPIPE', 'send')
  })

  await t.test('a write loop under TCP_USER_TIMEOUT: ETIMEDOUT once, then EPIPE (continueOnError)', async (tt) => {
    expectType(tt, await srv.req({ op: 'listen', name: 'loopl', port: 7018 }), 'listening')
    expectType(tt, await cli.req({ op: 'connect', name: 'loopc', host: SERVER_ADDR, port: 7018, read: 'pause', opts: { userTimeoutMs: 1000 } }), 'connected')
    const rule = ['INPUT', '-p', 'tcp', '--dport', '7018', '-j', 'DROP']
    await lab.server.exec(['iptables', '-A', ...rule])
    tt.teardown(() => lab.server.exec(['iptables', '-D', ...rule]))
    const since = cli.events.length
    const last = await cli.req({ op: 'send', name: 'loopc', data: 'hello', count: 8, everyMs: 400, continueOnError: true }, 10_000)
    const mine = cli.events.slice(since).filter((e) => e.id === last.id)
    const kinds = mine.map((e) => (e.type === 'error' ? e.errno : e.type))
    tt.match(kinds.join(' '), /^(sent )+ETIMEDOUT( EPIPE)+$/, `writes succeed, then ETIMEDOUT once, then EPIPE: ${kinds.join(' ')}`)
    tt.equal(mine.length, 8, 'every repeat was attempted')
    tt.match(last, { type: 'error', errno: 'EPIPE', done: true }, 'the last repeat ends the command')
    tt.ok(mine.slice(0, -1).every((e) => e.type !== 'error' || e.done === false), 'earlier errors say done: false')
    expectType(tt, await cli.req({ op: 'read', name: 'loopc' }), 'eof')
  })

  await t.test('ECONNRESET: the peer aborts while we read', async (tt) => {
    const p = await connectPair(tt, 7005)
    const since = cli.events.length
    expectType(tt, await srv.req({ op: 'abort', name: p.accepted }), 'closed')
    const err = await cli.next(p.name, 'error', 5000, since)
    tt.equal(err.op, 'read')
    tt.equal(err.errno, 'ECONNRESET')
  })

  await t.test('after the peer\'s RST: first write ECONNRESET, then EPIPE', async (tt) => {
    const p = await connectPair(tt, 7006, { cliRead: 'pause' })
    expectType(tt, await srv.req({ op: 'abort', name: p.accepted }), 'closed')
    const polled = expectType(tt, await cli.req({ op: 'poll', name: p.name, events: ['in'], timeoutMs: 5000 }), 'polled')
    tt.ok(polled.revents.includes('err'), `poll sees the reset: ${polled.revents.join(',')}`)
    expectError(tt, await cli.req({ op: 'send', name: p.name, data: 'x' }), 'ECONNRESET', 'send')
    expectError(tt, await cli.req({ op: 'send', name: p.name, data: 'x' }), 'EPIPE', 'send')
    expectType(tt, await cli.req({ op: 'read', name: p.name }), 'eof')
  })

  await t.test('EPIPE: write after own shutdown(SHUT_WR)', async (tt) => {
    const p = await connectPair(tt, 7007)
    const sh = expectType(tt, await cli.req({ op: 'shutdown', name: p.name, how: 'wr' }), 'shutdown')
    tt.equal(sh.how, 'wr')
    expectError(tt, await cli.req({ op: 'send', name: p.name, data: 'x' }), 'EPIPE', 'send')
    await srv.next(p.accepted, 'eof')
    tt.pass('the peer read EOF (our FIN)')
  })

  await t.test('read after own shutdown(SHUT_RD) returns EOF; EAGAIN when nothing is there', async (tt) => {
    const p = await connectPair(tt, 7008, { cliRead: 'pause' })
    const ag = expectType(tt, await cli.req({ op: 'read', name: p.name }), 'read')
    tt.equal(ag.n, 0)
    tt.equal(ag.errno, 'EAGAIN', 'read with nothing available: EAGAIN')
    expectType(tt, await cli.req({ op: 'shutdown', name: p.name, how: 'rd' }), 'shutdown')
    expectType(tt, await cli.req({ op: 'read', name: p.name, bytes: 100 }), 'eof')
  })

  await t.test('EBADF: operations on own closed socket', async (tt) => {
    const p = await connectPair(tt, 7009)
    expectType(tt, await cli.req({ op: 'close', name: p.name }), 'closed')
    expectError(tt, await cli.req({ op: 'send', name: p.name, data: 'x' }), 'EBADF', 'send')
    expectError(tt, await cli.req({ op: 'read', name: p.name }), 'EBADF', 'read')
    expectError(tt, await cli.req({ op: 'getsockopt', name: p.name, opt: 'SO_ERROR' }), 'EBADF', 'getsockopt')
    expectError(tt, await cli.req({ op: 'shutdown', name: p.name, how: 'wr' }), 'EBADF', 'shutdown')
    expectError(tt, await cli.req({ op: 'close', name: p.name }), 'EBADF', 'close')
    const nval = expectType(tt, await cli.req({ op: 'poll', name: p.name }), 'polled')
    tt.same(nval.revents, ['nval'], 'poll on a closed descriptor: POLLNVAL')
    const list = expectType(tt, await cli.req({ op: 'list' }), 'sockets')
    tt.match(list.sockets.find((s) => s.name === p.name), { fd: -1, state: 'closed' })
  })

  await t.test('EADDRINUSE: a second listener on the same port', async (tt) => {
    expectType(tt, await srv.req({ op: 'listen', name: 'inuse1', port: 7010 }), 'listening')
    const ev = expectError(tt, await srv.req({ op: 'listen', name: 'inuse2', port: 7010 }), 'EADDRINUSE', 'listen')
    tt.equal(ev?.syscall, 'bind')
    expectError(tt, await srv.req({ op: 'send', name: 'inuse2', data: 'x' }), 'EINVAL', 'send')
  })

  await t.test('untilFull fills the send buffer; pause makes Recv-Q grow', async (tt) => {
    const p = await connectPair(tt, 7011, { srvRead: 'pause' })
    const full = expectType(tt, await cli.req({ op: 'send', name: p.name, untilFull: true }), 'sent')
    tt.equal(full.full, true, `untilFull stopped on EAGAIN after ${full.n} bytes`)
    tt.ok(full.n > 10_000)
    const outq = expectType(tt, await cli.req({ op: 'getsockopt', name: p.name, opt: 'SIOCOUTQ' }), 'sockopt')
    tt.ok(typeof outq.value === 'number' && outq.value > 0, `SIOCOUTQ ${outq.value}`)
    await sleep(100)
    const cq = await ssQueues(lab.client, p.conn.lport)
    tt.ok(cq && cq.sendQ > 0, `ss: Send-Q ${cq?.sendQ} on the client`)
    const sq = await ssQueues(lab.server, 7011)
    tt.ok(sq && sq.recvQ > 0, `ss: Recv-Q ${sq?.recvQ} on the paused server`)
    tt.equal((sq?.recvQ ?? 0) + (cq?.sendQ ?? 0), full.n, 'every byte is in one of the two queues')
    const inq = expectType(tt, await srv.req({ op: 'getsockopt', name: p.accepted, opt: 'SIOCINQ' }), 'sockopt')
    tt.equal(inq.value, sq?.recvQ, 'SIOCINQ agrees with ss')

    const since = srv.events.length
    expectType(tt, await srv.req({ op: 'resume', name: p.accepted }), 'resumed')
    const readAll = (): boolean => srv.events.slice(since).some((e) => e.name === p.accepted && e.type === 'read' && e.total >= full.n)
    for (const until = Date.now() + 5000; !readAll() && Date.now() < until;) await sleep(20)
    const total = Math.max(0, ...srv.events.filter((e): e is AgentEventOf<'read'> => e.name === p.accepted && e.type === 'read').map((e) => e.total))
    tt.equal(total, full.n, 'resume reads everything that was queued')
  })

  await t.test('pause: Recv-Q grows by what was sent', async (tt) => {
    const p = await connectPair(tt, 7012, { srvRead: 'pause' })
    const s = expectType(tt, await cli.req({ op: 'send', name: p.name, bytes: 30_000 }), 'sent')
    tt.equal(s.total, 30_000)
    await sleep(100)
    const q = await ssQueues(lab.server, 7012)
    tt.equal(q?.recvQ, 30_000, 'ss Recv-Q on the paused socket')
  })

  await t.test('manual accept, names of accepted sockets', async (tt) => {
    expectType(tt, await srv.req({ op: 'listen', name: 'man', port: 7013, accept: 'manual' }), 'listening')
    expectType(tt, await cli.req({ op: 'connect', name: 'man-c1', host: SERVER_ADDR, port: 7013 }), 'connected')
    expectType(tt, await cli.req({ op: 'connect', name: 'man-c2', host: SERVER_ADDR, port: 7013 }), 'connected')
    const listen = (await ssLines(lab.server, ['-tln'])).find((l) => /:7013\s/.test(l))
    tt.match(listen, /^LISTEN\s+2\s/, `LISTEN Recv-Q counts the accept queue: ${listen}`)
    const a1 = expectType(tt, await srv.req({ op: 'accept', name: 'man' }), 'accepted')
    tt.equal(a1.name, 'man-conn', 'first accepted socket: <name>-conn')
    tt.equal(a1.listener, 'man')
    const a2 = expectType(tt, await srv.req({ op: 'accept', name: 'man' }), 'accepted')
    tt.equal(a2.name, 'man-conn-2', 'then <as>-2')
    const a3p = srv.req({ op: 'accept', name: 'man', as: 'third' })
    await sleep(50)
    tt.notOk(srv.events.some((e) => e.name === 'third'), 'accept waits while the queue is empty')
    expectType(tt, await cli.req({ op: 'connect', name: 'man-c3', host: SERVER_ADDR, port: 7013 }), 'connected')
    const a3 = expectType(tt, await a3p, 'accepted')
    tt.equal(a3.name, 'third', 'accept "as" names the socket')

    expectType(tt, await srv.req({ op: 'listen', name: 'auto', port: 7014 }), 'listening')
    const since = srv.events.length
    expectType(tt, await cli.req({ op: 'connect', name: 'auto-c1', host: SERVER_ADDR, port: 7014 }), 'connected')
    expectType(tt, await cli.req({ op: 'connect', name: 'auto-c2', host: SERVER_ADDR, port: 7014 }), 'connected')
    await srv.next('auto-conn', 'accepted', 5000, since)
    await srv.next('auto-conn-2', 'accepted', 5000, since)
    tt.pass('auto accept names: auto-conn, auto-conn-2')
    expectError(tt, await srv.req({ op: 'accept', name: 'auto' }), 'EINVAL', 'accept')
  })

  await t.test('send count/everyMs paces writes; poll times out', async (tt) => {
    const p = await connectPair(tt, 7015)
    const since = cli.events.length
    const last = expectType(tt, await cli.req({ op: 'send', name: p.name, data: 'tick', count: 3, everyMs: 200 }), 'sent')
    const sents = cli.events.slice(since).filter((e): e is AgentEventOf<'sent'> => e.type === 'sent' && e.id === last.id)
    tt.equal(sents.length, 3)
    tt.equal(last.total, 12)
    for (let i = 1; i < sents.length; i++) {
      const gapMs = ((sents[i]?.t ?? 0) - (sents[i - 1]?.t ?? 0)) / 1000
      // Never early (a timer); late only by scheduling delay, which a loaded machine stretches.
      tt.ok(gapMs >= 195 && gapMs < 320, `repeat ${i} after ${gapMs.toFixed(1)} ms`)
    }
    const pr = expectType(tt, await cli.req({ op: 'poll', name: p.name, events: ['in'], timeoutMs: 150 }), 'polled')
    tt.equal(pr.timeout, true)
    tt.ok(pr.elapsedMs >= 150 && pr.elapsedMs < 270, `poll timed out after ${pr.elapsedMs} ms`)
    const busy = cli.req({ op: 'poll', name: p.name, events: ['in'], timeoutMs: 300 })
    expectError(tt, await cli.req({ op: 'poll', name: p.name, timeoutMs: 10 }), 'EALREADY', 'poll')
    expectType(tt, await busy, 'polled')
    const out = expectType(tt, await cli.req({ op: 'poll', name: p.name, events: ['out'] }), 'polled')
    tt.same(out.revents, ['out'], 'an idle connected socket is writable')
  })

  await t.test('IPv6 on loopback', async (tt) => {
    const l = expectType(tt, await srv.req({ op: 'listen', name: 'v6l', addr: '::1', port: 7016, opts: { v6only: true } }), 'listening')
    tt.equal(l.local, '[::1]:7016')
    tt.equal(l.opts.v6only, true)
    const c = expectType(tt, await srv.req({ op: 'connect', name: 'v6c', host: '::1', port: 7016 }), 'connected')
    tt.equal(c.peer, '[::1]:7016')
    tt.match(c.local, /^\[::1\]:\d+$/)
  })

  await t.test('commands the agent cannot run: EINVAL with the reason', async (tt) => {
    const since = cli.events.length
    await cli.client.proc.write('this is not json\n')
    const bad = await cli.next('', 'error', 5000, since)
    tt.equal(bad.errno, 'EINVAL')
    tt.match(bad.message, /unparseable/)
    const unknownOp = expectError(tt, await cli.req({ op: 'jump', name: 'x' } as unknown as AgentCommand), 'EINVAL')
    tt.match(unknownOp?.message, /unknown op/)
    const unknownField = expectError(tt, await cli.req({ op: 'send', name: 'optc', data: 'x', every: 5 } as unknown as AgentCommand), 'EINVAL')
    tt.match(unknownField?.message, /unknown field "every"/)
    const both = expectError(tt, await cli.req({ op: 'send', name: 'optc', data: 'x', bytes: 3 }), 'EINVAL')
    tt.match(both?.message, /exactly one/)
    const noName = expectError(tt, await cli.req({ op: 'read', name: 'never-made' }), 'EINVAL', 'read')
    tt.match(noName?.message, /no socket named/)
    expectError(tt, await cli.req({ op: 'connect', name: 'badhost', host: 'example.org', port: 1 }), 'EINVAL', 'connect')
    expectError(tt, await cli.req({ op: 'listen', name: 'badport', port: 70000 }), 'EINVAL', 'listen')
  })

  await t.test('SIGTERM: sockets closed, exit 0', async (tt) => {
    const extra = await openAgent(lab.server)
    expectType(tt, await extra.req({ op: 'listen', name: 'term', port: 7017 }), 'listening')
    tt.ok((await ssLines(lab.server, ['-tln'])).some((l) => /:7017\s/.test(l)), 'listening before')
    const info = await extra.client.proc.stop({ sig: 'SIGTERM' })
    tt.same(info, { code: 0, signal: undefined }, 'exit code 0')
    const bye = extra.events.at(-1)
    tt.match(bye, { type: 'exit', reason: 'signal', signal: 'SIGTERM', closed: 1 })
    tt.notOk((await ssLines(lab.server, ['-tln'])).some((l) => /:7017\s/.test(l)), 'the listener is gone')
  })

  await t.test('stdin EOF: every socket closed, exit 0, nothing left in ss', async (tt) => {
    const [ci, si] = await Promise.all([cli.client.close(), srv.client.close()])
    agentsOpen = false
    tt.same(ci, { code: 0, signal: undefined }, 'client agent exit 0')
    tt.same(si, { code: 0, signal: undefined }, 'server agent exit 0')
    tt.equal(cli.events.at(-1)?.type, 'exit')
    tt.match(srv.events.at(-1), { type: 'exit', reason: 'stdin' })
    await sleep(300)
    for (const host of [lab.client, lab.server]) {
      const left = (await ssLines(host, ['-tan'])).filter((l) => !l.startsWith('TIME-WAIT'))
      tt.same(left, [], `ss -tan in ${host.name}: nothing but TIME-WAIT`)
      tt.same(await ssLines(host, ['-tanp']).then((ls) => ls.filter((l) => l.includes('users:'))), [], 'no socket owned by a process')
    }
  })

  await t.test('leak check: the namespaces are gone', async (tt) => {
    await lab.down()
    tt.same(await listOwnTestNamespaces(), [], 'no tcplabagent namespace of this run left')
  })
}
