// The scenario file format, as zod schemas: the single source of truth for
// validation, for the TypeScript types and for the generated JSON Schema
// (schema/scenario.schema.json, referenced from each scenario for editors).

import { z } from 'zod'
import { parseDurationMs } from '../util/duration.js'
import { parseComparator } from './comparator.js'

/** A duration written "250ms", "2s", "1m30s" (or 0), parsed to milliseconds. */
export const Duration = z
  .union([z.string(), z.number()])
  .transform((v, ctx) => {
    const ms = typeof v === 'number' ? (v === 0 ? 0 : undefined) : parseDurationMs(v)
    if (ms === undefined) {
      ctx.addIssue({ code: 'custom', message: `expected a duration like "200ms" or "2s", got ${JSON.stringify(v)}` })
      return z.NEVER
    }
    return ms
  })
  .meta({ description: 'A duration: "250ms", "2s", "1.5s", "1m", "2m30s", "100us"', examples: ['200ms', '2s'] })

/** A duration, or "end" (the end of the run) where a window's upper bound is expected. */
const DurationOrEnd = z.union([z.literal('end'), Duration])

/** A reference to an endpoint event: `NAME.EVENT` (`cli.connected`, `srv.started`, `nc.exited`). */
export const EventRef = z
  .string()
  .regex(/^[A-Za-z0-9_-]+\.[a-z_]+$/, { message: 'expected an event reference like "cli.connected" or "srv.started"' })
  .meta({ description: 'NAME.EVENT: a process or socket name and one of its events (started, exited, stdout, connected, accepted, error, eof, ...)' })

/** A comparison: 6, ">0", ">=3", "<=60000", "!=0", "1..5"; strings compare exactly ("ESTAB") or as /regex/. */
export const Comparator = z
  .union([z.number(), z.string(), z.boolean()])
  .superRefine((v, ctx) => {
    const err = typeof v === 'string' ? parseComparator(v).error : undefined
    if (err) ctx.addIssue({ code: 'custom', message: err })
  })
  .meta({ description: 'A value or a comparison: 6, ">0", ">=3", "<=60000", "!=0", "1..5", "ESTAB", "/re/"' })

const Name = z.string().regex(/^[A-Za-z][A-Za-z0-9_-]{0,31}$/, {
  message: 'expected a name of letters, digits, "-" and "_" (starting with a letter, at most 32 characters)',
})

const HostName = z.string().regex(/^[a-z][a-z0-9]{0,7}$/, {
  message: 'expected a host name of lowercase letters and digits, at most 8 characters (it becomes part of interface names)',
})

const Argv = z.array(z.union([z.string(), z.number(), z.boolean()]).transform(String)).min(1)

/** An iptables rule: a string split on whitespace (quotes allowed), or an argv array. */
const Rule = z.union([z.string().min(1), Argv])

/**
 * Sysctls: key -> value. `{ value: 2, optional: true }` sets it only where the
 * kernel has it (e.g. net.ipv4.tcp_syn_linear_timeouts, new in 6.5). Optional
 * keys come out prefixed with "?" (see applySysctls).
 */
const SysctlMap = z
  .record(
    z.string().regex(/^[a-z0-9_]+(\.[A-Za-z0-9_-]+)+$/, { message: 'expected a sysctl key like net.ipv4.tcp_syn_retries' }),
    z.union([
      z.union([z.string(), z.number()]).transform(String),
      z.object({ value: z.union([z.string(), z.number()]).transform(String), optional: z.boolean().optional() }).strict(),
    ]),
  )
  .transform((m) =>
    Object.fromEntries(Object.entries(m).map(([k, v]) => (typeof v === 'string' ? [k, v] : [v.optional ? `?${k}` : k, v.value]))),
  )

const Signal = z.enum(['STOP', 'CONT', 'INT', 'TERM', 'KILL', 'HUP', 'QUIT', 'USR1', 'USR2'])

// ---------------------------------------------------------------------------
// Actions: what a step does on its host. Each action's implementation lives in
// src/runner/actions/, keyed by the same name (the compiler checks coverage).

export const RunAction = z
  .object({
    name: Name,
    cmd: Argv.meta({ description: 'argv; {{host}} placeholders are replaced by that host\'s address' }),
    stdin: z.boolean().default(true).meta({ description: 'keep stdin open so that later `write` steps can type into it' }),
  })
  .strict()

export const WriteAction = z
  .object({
    to: Name,
    data: z.string().optional(),
    eof: z.boolean().optional().meta({ description: 'close stdin after writing (Ctrl-D)' }),
  })
  .strict()

export const SignalAction = z.object({ to: Name, signal: Signal }).strict()

export const IptablesAction = z.union([
  Rule,
  z
    .object({
      name: Name.optional().meta({ description: 'name the rule, so a later step deletes it and its counters are recorded under this name' }),
      rule: Rule,
      table: z.string().optional(),
    })
    .strict(),
  z.object({ delete: Name }).strict(),
])

export const LinkAction = z.union([
  z.enum(['up', 'down']),
  z.object({ state: z.enum(['up', 'down']), dev: z.string().optional() }).strict(),
])

export const TcAction = z.object({ args: Argv, qdisc: z.string().optional() }).strict()

const SockOpts = z
  .object({
    rcvbuf: z.number().int().positive().optional(),
    sndbuf: z.number().int().positive().optional(),
    keepalive: z
      .union([
        z.boolean(),
        z.object({ idle: Duration.optional(), interval: Duration.optional(), count: z.number().int().positive().optional() }).strict(),
      ])
      .optional(),
    userTimeout: Duration.optional().meta({ description: 'TCP_USER_TIMEOUT' }),
    nodelay: z.boolean().optional(),
    deferAccept: Duration.optional().meta({ description: 'TCP_DEFER_ACCEPT (whole seconds)' }),
    syncnt: z.number().int().min(1).max(127).optional().meta({ description: 'TCP_SYNCNT' }),
    linger: Duration.optional().meta({ description: 'SO_LINGER on with this timeout (0 = abortive close)' }),
    quickack: z.boolean().optional(),
    cork: z.boolean().optional(),
    maxseg: z.number().int().positive().optional(),
    notsentLowat: z.number().int().nonnegative().optional(),
    windowClamp: z.number().int().nonnegative().optional(),
  })
  .strict()

const ReadMode = z.enum(['auto', 'pause'])

export const ListenAction = z
  .object({
    name: Name,
    port: z.number().int().min(1).max(65535),
    addr: z.string().optional(),
    backlog: z.number().int().min(0).optional(),
    accept: z.enum(['auto', 'manual', 'never']).default('auto'),
    as: Name.optional().meta({ description: 'name of accepted sockets (default NAME-conn; later ones get -2, -3, ...)' }),
    read: ReadMode.optional(),
    ...SockOpts.shape,
  })
  .strict()

export const ConnectAction = z
  .object({
    name: Name,
    to: z.string().regex(/^[a-z][a-z0-9]{0,7}:\d+$|^[0-9a-fA-F.:[\]]+:\d+$/, { message: 'expected HOST:PORT, e.g. server:8000' }),
    sport: z.number().int().min(1).max(65535).optional(),
    nonblock: z.boolean().optional(),
    read: ReadMode.optional(),
    ...SockOpts.shape,
  })
  .strict()

const SocketRef = z.object({ socket: Name }).strict()

export const SendAction = z
  .object({
    socket: Name,
    data: z.string().optional(),
    bytes: z.number().int().positive().optional(),
    count: z.number().int().positive().optional(),
    every: Duration.optional(),
    untilFull: z.boolean().optional(),
    continueOnError: z.boolean().optional().meta({ description: 'keep repeating after a failed write, like a write loop that ignores errors (ETIMEDOUT, then EPIPE, EPIPE...)' }),
  })
  .strict()

export const ReadAction = z.object({ socket: Name, bytes: z.number().int().positive().optional() }).strict()
export const PollAction = z
  .object({
    socket: Name,
    events: z.array(z.enum(['in', 'out', 'err', 'hup', 'rdhup'])).default(['in', 'err']),
    timeout: Duration.optional(),
  })
  .strict()
export const GetsockoptAction = z.object({ socket: Name, opt: z.string() }).strict()
export const SetsockoptAction = z.object({ socket: Name, ...SockOpts.shape }).strict()
export const ShutdownAction = z.object({ socket: Name, how: z.enum(['wr', 'rd', 'rdwr']) }).strict()
export const AcceptAction = z.object({ socket: Name, as: Name.optional() }).strict()

/** Every action a step may perform on a host. */
export const ACTIONS = {
  run: RunAction,
  write: WriteAction,
  signal: SignalAction,
  iptables: IptablesAction,
  ip6tables: IptablesAction,
  sysctl: SysctlMap,
  link: LinkAction,
  tc: TcAction,
  listen: ListenAction,
  connect: ConnectAction,
  accept: AcceptAction,
  send: SendAction,
  read: ReadAction,
  pause: SocketRef,
  resume: SocketRef,
  poll: PollAction,
  getsockopt: GetsockoptAction,
  setsockopt: SetsockoptAction,
  shutdown: ShutdownAction,
  close: SocketRef,
  abort: SocketRef,
} as const

export type ActionName = keyof typeof ACTIONS
export const ACTION_NAMES = Object.keys(ACTIONS) as ActionName[]
/** Actions handled by the socket agent. */
export const AGENT_ACTIONS = new Set<ActionName>([
  'listen', 'connect', 'accept', 'send', 'read', 'pause', 'resume', 'poll', 'getsockopt', 'setsockopt', 'shutdown', 'close', 'abort',
])

/** What a step does on one host: exactly one action key. */
export const HostActions = z
  .object(Object.fromEntries(ACTION_NAMES.map((k) => [k, ACTIONS[k].optional()])) as {
    [K in ActionName]: z.ZodOptional<(typeof ACTIONS)[K]>
  })
  .strict()
  .superRefine((v, ctx) => {
    const keys = Object.keys(v).filter((k) => (v as Record<string, unknown>)[k] !== undefined)
    if (keys.length !== 1) {
      ctx.addIssue({
        code: 'custom',
        message: keys.length === 0
          ? `expected one action (${ACTION_NAMES.join(', ')})`
          : `expected one action per step, got ${keys.join(' and ')} (split them into two steps)`,
      })
    }
  })

export type HostActions = z.output<typeof HostActions>

/** `wait: 2s` or `wait: { for: nc.exited, timeout: 70s }`: a step on no host. */
export const WaitAction = z.union([
  Duration,
  z.object({ for: EventRef, timeout: Duration.optional() }).strict(),
])

/**
 * A step: when (`at` a time since t0, or `after` an event plus `delay`; neither
 * means right after the previous step) and, under the host's name, what.
 */
export const Step = z
  .object({
    at: Duration.optional(),
    after: EventRef.optional(),
    delay: Duration.optional(),
    timeout: Duration.optional().meta({ description: 'how long to wait for the `after` event (default: the run\'s duration)' }),
    wait: WaitAction.optional(),
  })
  .catchall(HostActions)
  .meta({ description: 'A step: at/after/delay, then HOST: { ACTION: ... } (or wait: DURATION)' })

export type Step = z.output<typeof Step>

// ---------------------------------------------------------------------------
// Expectations.

export const Tolerance = z.union([
  Duration,
  z.object({ floor: Duration.optional(), percent: z.number().min(0).max(100).optional() }).strict(),
])

/** Skip an expectation (with the reason shown) unless the machine matches. */
export const When = z
  .object({
    kernel: z.string().regex(/^(>=|<=|>|<|=)?\d+(\.\d+){0,2}$/, { message: 'expected a kernel version constraint like ">=5.7"' }).optional(),
    sysctl: z.string().optional().meta({ description: 'the sysctl must exist on this kernel' }),
    noSysctl: z.string().optional().meta({ description: 'the sysctl must not exist on this kernel' }),
  })
  .strict()

const WindowFields = {
  at: z.union([Duration, z.array(Duration).min(1)]).optional(),
  during: z.tuple([Duration, DurationOrEnd]).optional(),
  before: Duration.optional(),
  after: Duration.optional(),
  since: EventRef.optional().meta({ description: 'times are relative to this event (default: t0)' }),
  tolerance: Tolerance.optional(),
  when: When.optional(),
  description: z.string().optional(),
}

const Endpoint = z.string().regex(/^([a-z][a-z0-9]{0,7}|[0-9a-fA-F.:[\]]+|\*)?(:\d+)?$/, {
  message: 'expected HOST, HOST:PORT or :PORT (e.g. "server:8000")',
})

const EndpointFields = {
  local: z.union([Endpoint, z.number().int()]).optional().meta({ description: 'local endpoint: HOST:PORT, :PORT or a port number', examples: [8000, 'server:8000'] }),
  peer: z.union([Endpoint, z.number().int()]).optional().meta({ description: 'peer endpoint: HOST:PORT, HOST, :PORT or a port number', examples: ['client', 'server:8000'] }),
  state: z.union([z.string(), z.array(z.string())]).optional().meta({ description: 'ss state(s), e.g. ESTAB, SYN-RECV, LISTEN', examples: ['ESTAB', ['FIN-WAIT-1', 'FIN-WAIT-2']] }),
}

/**
 * Which sockets of a host: by name, by the listener whose not-accepted
 * connections they are, or by local/peer endpoint and state.
 */
export const SocketSelector = z.union([
  Name,
  z
    .object({
      ...EndpointFields,
      listener: Name.optional().meta({
        description: "the connections that arrived at this named listener and were never accepted (SYN-RECV, or waiting in the accept queue): they have no name of their own",
        examples: ['srv'],
      }),
    })
    .strict(),
])

/** A name for the sockets of command endpoints (nc, curl, the user's program): the 4-tuples whose ss rows match. */
export const SocketNaming = z
  .object({
    on: HostName.meta({ description: "the host whose sockets are named" }),
    ...EndpointFields,
  })
  .strict()

export const SsExpect = z
  .object({
    on: HostName.optional(),
    socket: SocketSelector.optional(),
    match: z.record(z.string(), Comparator).meta({ description: 'ss fields: state, recvQ, sendQ, timer, timer.expiresMs, timer.retrans, skmem.r, rto, cwnd, backoff, ...' }),
    quantifier: z.enum(['always', 'eventually', 'never']).optional(),
    ...WindowFields,
  })
  .strict()

export const StatesExpect = z
  .object({
    on: HostName.optional(),
    socket: SocketSelector.optional(),
    sequence: z.array(z.string()).min(1),
    exact: z.boolean().optional().meta({ description: 'the observed states are exactly the sequence (default: it appears in order, other states may come between)' }),
    ...WindowFields,
  })
  .strict()

export const PacketsExpect = z
  .object({
    on: HostName,
    dir: z.enum(['in', 'out', 'any']).optional(),
    from: Endpoint.optional(),
    to: Endpoint.optional(),
    socket: z.union([Name, z.object({ listener: Name }).strict()]).optional().meta({
      description: 'packets of a named socket (its 4-tuple, from its first SYN to the tuple\'s reuse), or { listener: NAME } for the never-accepted connections of a listener',
    }),
    flags: z.union([z.string(), z.array(z.string())]).optional(),
    len: Comparator.optional(),
    count: Comparator.optional(),
    gaps: z.array(Duration).min(1).optional(),
    ...WindowFields,
  })
  .strict()

export const ProcessExpect = z
  .object({
    name: Name,
    exit: z.union([z.number().int(), z.string().regex(/^(SIG)?[A-Z0-9]+$|^running$/)]).optional(),
    stdout: z.string().optional(),
    stderr: z.string().optional(),
    ...WindowFields,
  })
  .strict()

export const EventExpect = z
  .object({
    socket: Name.optional(),
    source: Name.optional(),
    type: z.string().optional(),
    errno: z.string().optional(),
    count: Comparator.optional(),
    sequence: z
      .array(z.object({ type: z.string(), errno: z.string().optional(), n: Comparator.optional() }).strict())
      .optional(),
    ...WindowFields,
  })
  .strict()

export const CounterExpect = z
  .object({
    on: HostName,
    name: z.string(),
    value: Comparator.optional(),
    packets: Comparator.optional(),
    bytes: Comparator.optional(),
    when: When.optional(),
    description: z.string().optional(),
  })
  .strict()

export const EXPECTATIONS = {
  ss: SsExpect,
  states: StatesExpect,
  packets: PacketsExpect,
  process: ProcessExpect,
  event: EventExpect,
  counter: CounterExpect,
} as const

export type ExpectKind = keyof typeof EXPECTATIONS
export const EXPECT_KINDS = Object.keys(EXPECTATIONS) as ExpectKind[]

export const Expectation = z
  .object(Object.fromEntries(EXPECT_KINDS.map((k) => [k, EXPECTATIONS[k].optional()])) as {
    [K in ExpectKind]: z.ZodOptional<(typeof EXPECTATIONS)[K]>
  })
  .strict()
  .superRefine((v, ctx) => {
    const keys = Object.keys(v).filter((k) => (v as Record<string, unknown>)[k] !== undefined)
    if (keys.length !== 1) {
      ctx.addIssue({
        code: 'custom',
        message: keys.length === 0 ? `expected one expectation kind (${EXPECT_KINDS.join(', ')})` : `expected one kind per expectation, got ${keys.join(' and ')}`,
      })
    }
  })

export type Expectation = z.output<typeof Expectation>
export type ExpectationOf<K extends ExpectKind> = z.output<(typeof EXPECTATIONS)[K]>

// ---------------------------------------------------------------------------

export const HostSpecSchema = z
  .object({
    sysctls: SysctlMap.optional(),
    role: z.literal('wire').optional().meta({ description: 'a router between the other two hosts; faults on it sit in the middle of the path' }),
    image: z.string().optional().meta({ description: 'docker backend: your own image (lab tools run in a sidecar)' }),
  })
  .strict()

export const Scenario = z
  .object({
    $schema: z.string().optional(),
    name: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, { message: 'expected a name of lowercase letters, digits and "-"' }),
    title: z.string().min(1),
    tags: z.array(z.string().regex(/^[a-z0-9-]+$/)).default([]),
    explain: z.string().min(1),
    seed: z.string().optional().meta({ description: 'where the experiment comes from' }),
    requires: z
      .object({
        kernel: When.shape.kernel,
        sysctls: z.array(z.string()).optional(),
        qdiscs: z.array(z.string()).optional(),
        tools: z.array(z.string()).optional(),
      })
      .strict()
      .optional(),
    hosts: z.record(HostName, HostSpecSchema.nullable().transform((h) => h ?? {})),
    sysctls: SysctlMap.optional().meta({ description: 'sysctls set on every host' }),
    sockets: z.record(Name, SocketNaming).optional().meta({
      description: 'names for sockets that no agent step names (nc and other `run` commands): each 4-tuple whose ss row matches gets the name, from its first SYN until the tuple is reused',
      examples: [{ srv: { on: 'server', local: 8000, state: 'LISTEN' }, conn: { on: 'server', local: 8000, peer: 'client' } }],
    }),
    sample: z.object({ interval: Duration.optional() }).strict().optional(),
    capture: z.union([z.literal(false), z.object({ snaplen: z.number().int().positive().optional(), filter: z.array(z.string()).optional() }).strict()]).optional(),
    tolerance: Tolerance.optional(),
    duration: Duration.optional().meta({ description: 'the run lasts until t0 + duration (default: last step + 1s)' }),
    steps: z.array(Step).min(1),
    expect: z.array(Expectation).min(1),
  })
  .strict()

export type Scenario = z.output<typeof Scenario>
export type ScenarioInput = z.input<typeof Scenario>
