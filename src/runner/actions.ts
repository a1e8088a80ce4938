// What each step action does on its host. One entry per action of the schema
// (src/scenario/schema.ts ACTIONS); the mapped type makes the compiler reject
// a missing one.

import type { Host, Proc } from '../lab/index.js'
import { applySysctls } from '../lab/index.js'
import type { ActionName, HostActions } from '../scenario/schema.js'
import { fillPlaceholders, type HostFacts } from '../scenario/template.js'
import { addRule, buildRuleArgv, deleteRule, readRuleCounters, type InstalledRule, type IptablesCmd } from '../faults/iptables.js'
import type { Timeline } from '../recorder/timeline.js'
import { nowUs, secondsSince } from '../recorder/records.js'
import { StepError, ProcessError } from '../util/errors.js'
import { signalName } from '../util/proc.js'

/** Everything an action may touch while a scenario plays. */
export interface StepContext {
  stepIndex: number
  hostName: string
  host: Host
  timeline: Timeline
  /** Host facts for {{host}} placeholders. */
  facts: ReadonlyMap<string, HostFacts>
  /** Processes started by `run`, by name. */
  procs: Map<string, { host: string; proc: Proc }>
  /** Named iptables rules, by "cmd:name". */
  rules: Map<string, { host: string; rule: InstalledRule }>
  /** Socket actions go to the host's agent (started on first use). */
  agent(host: string): Promise<AgentPort>
  signal: AbortSignal
}

/** The runner's view of an agent: send a command, wait for its reply. */
export interface AgentPort {
  command(cmd: Record<string, unknown>): Promise<void>
}

type ActionImpl<K extends ActionName> = (ctx: StepContext, args: NonNullable<HostActions[K]>) => Promise<string>

function t(ctx: StepContext): number {
  return secondsSince(ctx.timeline.t0Us, nowUs())
}

/** Start a process on the host and record its life as events. */
const run: ActionImpl<'run'> = async (ctx, a) => {
  const argv = a.cmd.map((x) => fillPlaceholders(x, ctx.facts))
  const { timeline, hostName } = ctx
  const ev = (type: string, extra: Record<string, unknown> = {}): void =>
    timeline.add({ kind: 'event', t: t(ctx), host: hostName, source: a.name, type, ...extra })
  // "started" is when the runner started it: a backend may confirm the pid later
  // (docker exec takes ~50 ms), by which time the program may already be talking.
  const startedT = t(ctx)
  // The user's program lives in the host's own image (docker `image:`), not with the lab tools.
  const proc = ctx.host.spawn(argv, {
    inUserImage: true,
    stdin: a.stdin,
    onStdoutLine: (line) => ev('stdout', { text: line }),
    onStderrLine: (line) => ev('stderr', { text: line }),
  })
  ctx.procs.set(a.name, { host: hostName, proc })
  try {
    await proc.started
  } catch (e: unknown) {
    throw new StepError(`cannot start ${argv.join(' ')} on ${hostName}: ${(e as Error).message}`, { cause: e })
  }
  timeline.add({ kind: 'event', t: startedT, host: hostName, source: a.name, type: 'started', data: { argv } })
  void proc.exited.then((x) => {
    const stopped = (proc as Proc & { stoppedByRunner?: boolean }).stoppedByRunner === true
    ev('exited', { code: x.code, signal: signalName(x.signal), ...(stopped ? { data: { stoppedByRunner: true } } : {}) })
  })
  return argv.join(' ')
}

const write: ActionImpl<'write'> = async (ctx, a) => {
  const p = ctx.procs.get(a.to)
  if (!p) throw new StepError(`no process named ${a.to}`)
  if (a.data !== undefined) {
    try {
      await p.proc.write(fillPlaceholders(a.data, ctx.facts))
    } catch (e: unknown) {
      throw new StepError(`cannot write to ${a.to}: ${(e as Error).message}`, { hint: 'the process may have exited already, or was started with stdin: false', cause: e })
    }
  }
  if (a.eof) p.proc.endStdin()
  return `${a.data !== undefined ? JSON.stringify(a.data) : ''}${a.eof ? ' EOF' : ''} -> ${a.to}`
}

const signal: ActionImpl<'signal'> = async (ctx, a) => {
  const p = ctx.procs.get(a.to)
  if (!p) throw new StepError(`no process named ${a.to}`)
  await p.proc.signal(`SIG${a.signal}` as NodeJS.Signals)
  return `SIG${a.signal} -> ${a.to}`
}

function iptablesAction<K extends IptablesCmd>(cmd: K): ActionImpl<K> {
  return async (ctx, args) => {
    const a = args as NonNullable<HostActions['iptables']>
    if (typeof a === 'object' && !Array.isArray(a) && 'delete' in a) {
      const key = `${cmd}:${a.delete}`
      const held = ctx.rules.get(key)
      if (!held) throw new StepError(`no ${cmd} rule named ${a.delete}`)
      await recordCounters(ctx, cmd)
      await deleteRule(ctx.host, held.rule)
      ctx.rules.delete(key)
      return `${cmd} ${held.rule.argv.join(' ')} (deleted)`
    }
    const spec = typeof a === 'string' || Array.isArray(a) ? { rule: a, name: undefined, table: undefined } : a
    const name = spec.name ?? `step${ctx.stepIndex}`
    const filled = (typeof spec.rule === 'string' ? [spec.rule] : spec.rule).map((x) => fillPlaceholders(x, ctx.facts))
    const argv = buildRuleArgv(typeof spec.rule === 'string' ? (filled[0] as string) : filled, name, spec.table)
    const rule = await addRule(ctx.host, cmd, argv, name)
    ctx.rules.set(`${cmd}:${name}`, { host: ctx.hostName, rule })
    return `${cmd} ${argv.join(' ')}`
  }
}

/** Record the counters of every tcplab rule on the context's host. */
export async function recordCounters(ctx: Pick<StepContext, 'host' | 'hostName' | 'timeline'>, cmd: IptablesCmd): Promise<void> {
  const counters = await readRuleCounters(ctx.host, cmd)
  const now = secondsSince(ctx.timeline.t0Us, nowUs())
  for (const c of counters) {
    ctx.timeline.add({ kind: 'counter', t: now, host: ctx.hostName, name: c.name, value: c.packets, packets: c.packets, bytes: c.bytes })
  }
}

const sysctl: ActionImpl<'sysctl'> = async (ctx, a) => {
  await applySysctls(ctx.host, a)
  return Object.entries(a).map(([k, v]) => `${k}=${v}`).join(' ')
}

const link: ActionImpl<'link'> = async (ctx, a) => {
  const state = typeof a === 'string' ? a : a.state
  const dev = (typeof a === 'string' ? undefined : a.dev) ?? ctx.host.ifnames[0] ?? 'eth0'
  await ctx.host.exec(['ip', 'link', 'set', 'dev', dev, state])
  return `${dev} ${state}`
}

const tc: ActionImpl<'tc'> = async (ctx, a) => {
  const argv = a.args.map((x) => fillPlaceholders(x, ctx.facts))
  try {
    await ctx.host.exec(['tc', ...argv])
  } catch (e: unknown) {
    if (e instanceof ProcessError) throw new StepError(`tc rejected: tc ${argv.join(' ')}: ${e.failure.stderr.trim()}`, { hint: e.hint, cause: e })
    throw e
  }
  return `tc ${argv.join(' ')}`
}

/** Socket actions: forwarded to the host's agent as one JSON command. */
function agentAction<K extends ActionName>(op: K): ActionImpl<K> {
  return async (ctx, a) => {
    const agent = await ctx.agent(ctx.hostName)
    const cmd = toAgentCommand(op, a as Record<string, unknown>, ctx.facts)
    await agent.command(cmd)
    return JSON.stringify(a)
  }
}

/** Translate a scenario socket action into the agent's protocol (durations to ms/s, host:port to an address). */
export function toAgentCommand(op: ActionName, a: Record<string, unknown>, facts: ReadonlyMap<string, HostFacts>): Record<string, unknown> {
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
  return out
}

/** Every action, by name. */
export const ACTION_IMPLS: { [K in ActionName]: ActionImpl<K> } = {
  run,
  write,
  signal,
  iptables: iptablesAction('iptables'),
  ip6tables: iptablesAction('ip6tables'),
  sysctl,
  link,
  tc,
  listen: agentAction('listen'),
  connect: agentAction('connect'),
  accept: agentAction('accept'),
  send: agentAction('send'),
  read: agentAction('read'),
  pause: agentAction('pause'),
  resume: agentAction('resume'),
  poll: agentAction('poll'),
  getsockopt: agentAction('getsockopt'),
  setsockopt: agentAction('setsockopt'),
  shutdown: agentAction('shutdown'),
  close: agentAction('close'),
  abort: agentAction('abort'),
}
