// What the socket actions (listen, connect, send, close, ...) share: socket
// options, the translation of a scenario action into the agent's command, and
// defineSocketAction, since each of them is the agent's op of the same name.

import { z } from 'zod'
import type { AgentCommand } from '../agent/protocol.js'
import { Duration, Name, MAX_INT32 } from '../scenario/fields.js'
import type { HostFacts } from '../scenario/template.js'
import { defineAction, type ActionDefinition, type NameRef } from './define.js'

export const SockOpts = z
  .object({
    rcvbuf: z.number().int().positive().max(MAX_INT32).optional().meta({ description: 'SO_RCVBUF, bytes (the kernel doubles it)', examples: [4096] }),
    sndbuf: z.number().int().positive().max(MAX_INT32).optional().meta({ description: 'SO_SNDBUF, bytes (the kernel doubles it)', examples: [4096] }),
    keepalive: z
      .union([
        z.boolean(),
        z.object({
          idle: Duration.optional().meta({ description: 'TCP_KEEPIDLE: idle time before the first probe', examples: ['2s'] }),
          interval: Duration.optional().meta({ description: 'TCP_KEEPINTVL: time between probes', examples: ['1s'] }),
          count: z.number().int().positive().max(MAX_INT32).optional().meta({ description: 'TCP_KEEPCNT: unanswered probes before the connection is dropped', examples: [3] }),
        }).strict(),
      ])
      .optional()
      .meta({ description: 'SO_KEEPALIVE: true (the kernel\'s timing), or the probe timing', examples: [true, { idle: '2s', interval: '1s', count: 3 }] }),
    userTimeout: Duration.optional().meta({ description: 'TCP_USER_TIMEOUT: how long sent data may stay unacknowledged before ETIMEDOUT', examples: ['10s'] }),
    nodelay: z.boolean().optional().meta({ description: 'TCP_NODELAY: turn Nagle\'s algorithm off', examples: [true] }),
    deferAccept: Duration.optional().meta({ description: 'TCP_DEFER_ACCEPT (whole seconds): wake accept() only when data arrives', examples: ['5s'] }),
    syncnt: z.number().int().min(1).max(127).optional().meta({ description: 'TCP_SYNCNT: SYN retransmissions before connect() fails', examples: [2] }),
    linger: Duration.optional().meta({ description: 'SO_LINGER on with this timeout (0 = abortive close)', examples: [0, '5s'] }),
    quickack: z.boolean().optional().meta({ description: 'TCP_QUICKACK: acknowledge at once instead of delaying ACKs', examples: [true] }),
    cork: z.boolean().optional().meta({ description: 'TCP_CORK: hold partial segments until uncorked', examples: [true] }),
    maxseg: z.number().int().positive().max(MAX_INT32).optional().meta({ description: 'TCP_MAXSEG: the largest segment to send, bytes', examples: [536] }),
    notsentLowat: z.number().int().nonnegative().max(MAX_INT32).optional().meta({ description: 'TCP_NOTSENT_LOWAT: writable only while fewer unsent bytes are queued', examples: [16384] }),
    windowClamp: z.number().int().nonnegative().max(MAX_INT32).optional().meta({ description: 'TCP_WINDOW_CLAMP: the largest window to advertise, bytes', examples: [1024] }),
  })
  .strict()

export const ReadMode = z.enum(['auto', 'pause'])

/** `{ socket: NAME }`: pause, resume, close, abort. */
export const SocketRef = z.object({ socket: Name.meta({ description: 'the socket (its name)', examples: ['cli', 'conn'] }) }).strict()

/** The socket actions: each is the agent's op of the same name. */
export type SocketOp = Extract<AgentCommand['op'], 'listen' | 'connect' | 'accept' | 'send' | 'read' | 'pause' | 'resume' | 'poll' | 'getsockopt' | 'setsockopt' | 'shutdown' | 'close' | 'abort'>

/** Translate a scenario socket action into the agent's protocol (durations to ms/s, host:port to an address, options into `opts`). */
export function toAgentCommand<Op extends SocketOp>(op: Op, a: object, facts: ReadonlyMap<string, HostFacts>): Extract<AgentCommand, { op: Op }> {
  const out: Record<string, unknown> = { op }
  const opts: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(a)) {
    switch (k) {
      case 'socket':
        out.name = v
        break
      case 'to': {
        const s = String(v)
        const i = s.lastIndexOf(':')
        const h = s.slice(0, i)
        out.host = facts.get(h)?.addr ?? h.replace(/^\[|\]$/g, '')
        out.port = Number(s.slice(i + 1))
        break
      }
      case 'keepalive':
        if (typeof v === 'boolean') opts.keepalive = v
        else if (v && typeof v === 'object') {
          const k2 = v as { idle?: number; interval?: number; count?: number }
          opts.keepalive = true
          if (k2.idle !== undefined) opts.keepidle = Math.round(k2.idle / 1000)
          if (k2.interval !== undefined) opts.keepintvl = Math.round(k2.interval / 1000)
          if (k2.count !== undefined) opts.keepcnt = k2.count
        }
        break
      case 'userTimeout':
        opts.userTimeoutMs = v
        break
      case 'deferAccept':
        opts.deferAccept = Math.round(Number(v) / 1000)
        break
      case 'linger':
        opts.linger = Math.round(Number(v) / 1000)
        break
      case 'rcvbuf': case 'sndbuf': case 'nodelay': case 'syncnt': case 'quickack': case 'cork': case 'maxseg': case 'notsentLowat': case 'windowClamp':
        opts[k] = v
        break
      case 'every':
        out.everyMs = v
        break
      case 'timeout':
        out.timeoutMs = v
        break
      default:
        out[k] = v
    }
  }
  if (Object.keys(opts).length > 0) out.opts = opts
  // The schemas of the socket actions (this folder) and the command types (agent/protocol.ts)
  // describe the same fields; test/unit/runner/plan.test.ts checks the translation.
  return out as Extract<AgentCommand, { op: Op }>
}

/** The name of a socket action's socket, for the action record. */
function targetName(a: object): string | undefined {
  const r = a as Record<string, unknown>
  for (const k of ['name', 'to', 'socket']) if (typeof r[k] === 'string') return r[k]
  return undefined
}

/** Most socket actions name an existing socket of their host. */
const usesSocket = (a: object): NameRef[] => [{ uses: 'socket', name: (a as { socket: string }).socket, key: 'socket' }]

/**
 * A socket action: the agent's op of the same name. `waitsForResult`: a later
 * step may rely on its result (listening, closed, options set...), so the next
 * step of the host waits for its final event.
 */
export function defineSocketAction<const N extends SocketOp, S extends z.ZodType<object>>(def: {
  name: N
  schema: S
  doc: string
  waitsForResult: boolean
  refs?: (args: z.output<S>) => NameRef[]
}): ActionDefinition<N, S> {
  const { name, waitsForResult } = def
  return defineAction({
    name,
    schema: def.schema,
    doc: def.doc,
    agentOp: name,
    refs: def.refs ?? usesSocket,
    compile: (a, ctx) => [{ cmd: toAgentCommand(name, a, ctx.facts), waits: waitsForResult, role: 'socket', detail: JSON.stringify(a), target: targetName(a) }],
    async run(ctx, a) {
      const agent = await ctx.agent(ctx.hostName)
      await agent.command(toAgentCommand(name, a, ctx.facts), waitsForResult)
      return JSON.stringify(a)
    },
  })
}
