// The scenario file format, as zod schemas: the single source of truth for
// validation, for the TypeScript types and for the generated JSON Schema
// (schema/scenario.schema.json, referenced from each scenario for editors).

import { z } from 'zod'
import { parse as parseYaml } from 'yaml'
import { ACTIONS, ACTION_NAMES, type ActionName } from '../actions/index.js'
import { Comparator, CountComparator, Duration, EventRef, hasValidPort, HostName, Name, Port, PORT_MESSAGE, SysctlMap } from './fields.js'
import { EventValues, PacketAggregates, PacketEach, PacketFieldShape, SsAggregates } from './value-fields.js'

export { Comparator, Duration, EventRef } from './fields.js'
export { ACTIONS, ACTION_NAMES, actionOf, type ActionName } from '../actions/index.js'

/**
 * The example in a doc string: its first `code` span, a YAML flow value
 * (`{ socket: cli, how: wr }`), parsed; none when it does not parse.
 */
function parseDocExample(doc: string): unknown[] | undefined {
  const code = /`([^`]+)`/.exec(doc)?.[1]
  if (code === undefined) return undefined
  try {
    return [parseYaml(code) as unknown]
  } catch {
    return undefined
  }
}

/** A duration, or "end" (the end of the run) where a window's upper bound is expected. */
const DurationOrEnd = z.union([z.literal('end'), Duration])

// ---------------------------------------------------------------------------
// Actions: what a step does on its host. Each is defined once, with its schema,
// in src/actions/ (the registry ACTIONS).

/** The socket actions: the socket agent's ops of the same name (the others run commands or programs). */
export const AGENT_ACTIONS: ReadonlySet<ActionName> = new Set(ACTION_NAMES.filter((k) => ACTIONS[k].agentOp !== undefined))

/** What a step does on one host: exactly one action key. */
export const HostActions = z
  .object(Object.fromEntries(ACTION_NAMES.map((k) => [k, ACTIONS[k].schema.optional().meta({ description: ACTIONS[k].doc, examples: parseDocExample(ACTIONS[k].doc) })])) as {
    [K in ActionName]: z.ZodOptional<(typeof ACTIONS)[K]['schema']>
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

/** Mark references: NAME (its first moment), NAME.first, NAME.last, NAME.N (the nth, from 1). */
export const MARK_REF_RE = /^([A-Za-z][A-Za-z0-9_-]{0,31})(?:\.(first|last|[1-9]\d*))?$/

/**
 * What a step's `after:` waits for: an event (NAME.EVENT) or a mark that an
 * event, process or packets expectation sets (NAME: its first moment, NAME.N: its nth).
 */
export const StepAfterRef = z
  .string()
  .refine((v) => EventRef.safeParse(v).success || MARK_REF_RE.test(v), {
    message: 'expected an event reference like "cli.connected", or a mark like "zw" or "zw.2"',
  })
  .meta({
    description: 'run the step when this happens (plus `delay`): an event NAME.EVENT, or a mark (`mark:`) set by an event, process, packets, ss (quantifier eventually: a matching sample) or states expectation (not exact: NAME.N for its last transition): NAME (its first moment) or NAME.N (its nth)',
    examples: ['cli.connected', 'nc.exited', 'zero-window', 'reads.3'],
  })

/** `wait: 2s` or `wait: { for: nc.exited, timeout: 70s }` (an event or a mark): a step on no host. */
export const WaitAction = z.union([
  Duration,
  z.object({
    for: StepAfterRef.meta({ description: 'the event to wait for (NAME.EVENT), or a mark set by an event, process, packets, ss or states expectation (NAME, NAME.N)', examples: ['nc.exited', 'cli.connected', 'reads.3'] }),
    timeout: Duration.optional().meta({ description: 'how long to wait for it (default: the run\'s duration)', examples: ['70s'] }),
  }).strict(),
])

/**
 * A step: when (`at` a time since t0, or `after` an event or mark plus `delay`; neither
 * means right after the previous step) and, under the host's name, what.
 */
export const Step = z
  .object({
    at: Duration.optional().meta({ description: 'when the step runs: this long after t0 (the start of the timeline)', examples: ['0s', '1.5s'] }),
    after: StepAfterRef.optional(),
    delay: Duration.optional().meta({ description: 'with `after`: this long after the event or mark', examples: ['500ms'] }),
    timeout: Duration.optional().meta({ description: 'how long to wait for the `after` event or mark (default: the run\'s duration)', examples: ['10s'] }),
    wait: WaitAction.optional().meta({ description: 'a step on no host: wait this long, or `{ for: EVENT, timeout }`', examples: ['2s', { for: 'nc.exited', timeout: '70s' }] }),
  })
  .catchall(HostActions)
  .meta({ description: 'A step: at/after/delay, then HOST: { ACTION: ... } (or wait: DURATION)' })

export type Step = z.output<typeof Step>

// ---------------------------------------------------------------------------
// Expectations.

export const Tolerance = z.union([
  Duration,
  z.object({
    floor: Duration.optional().meta({ description: 'the smallest tolerance, whatever the percentage', examples: ['50ms'] }),
    percent: z.number().min(0).max(100).optional().meta({ description: 'a percentage of the expected time', examples: [10] }),
  }).strict(),
])

/**
 * A sysctl guard: "KEY" (exists), or "KEY=VALUE", "KEY!=VALUE", "KEY>VALUE", "KEY<VALUE", "KEY>=VALUE",
 * "KEY<=VALUE" (its value in force); "HOST:" in front tests that host's value.
 */
export const SYSCTL_GUARD_RE = /^(?:([a-z][a-z0-9]{0,7}):\s*)?([a-z0-9_]+(?:\.[A-Za-z0-9_-]+)+)\s*(?:(>=|<=|!=|=|>|<)\s*([^\s<>=!](?:.*\S)?))?$/

const SysctlGuardText = z.string().regex(SYSCTL_GUARD_RE, { message: 'expected a sysctl key, or KEY=VALUE, KEY>VALUE, KEY<VALUE (also >=, <=, !=), optionally after HOST:, e.g. "net.ipv4.tcp_syn_linear_timeouts=0" or "client:net.ipv4.tcp_syn_retries>2"' })

/**
 * `when: { sysctl: ... }`: one guard or several (all must hold). A bare key asks
 * whether the kernel has it; KEY OP VALUE tests the value in force in the lab
 * hosts, after the scenario's sysctls and any --sysctl override: on the
 * expectation's host (`on:`, or its named socket's), else on every host.
 */
export const SysctlGuard = z.union([SysctlGuardText, z.array(SysctlGuardText).min(1)]).meta({
  description: 'a sysctl key (it must exist), or KEY=VALUE / KEY>VALUE / KEY<VALUE / >= / <= / != tested against the value in force in the lab host (HOST:KEY=VALUE names it; else the expectation\'s `on:` host or its named socket\'s host; else every host); a list: all must hold',
  examples: ['net.ipv4.tcp_syn_linear_timeouts', 'net.ipv4.tcp_syn_linear_timeouts=0', 'client:net.ipv4.tcp_syn_linear_timeouts=2', ['net.ipv4.tcp_syn_retries>=2', 'net.ipv4.tcp_syn_linear_timeouts<4']],
})

/** Skip an expectation (with the reason shown) unless the machine matches. */
export const When = z
  .object({
    kernel: z.string().regex(/^(>=|<=|>|<|=)?\d+(\.\d+){0,2}$/, { message: 'expected a kernel version constraint like ">=5.7"' }).optional().meta({ description: 'a kernel version constraint', examples: ['>=5.7', '<6.5'] }),
    sysctl: SysctlGuard.optional().meta({ description: 'applies when the sysctl exists (KEY) or its value in force satisfies KEY=VALUE, KEY>VALUE, KEY<VALUE, ...', examples: ['net.ipv4.tcp_syn_linear_timeouts', 'net.ipv4.tcp_syn_linear_timeouts=0'] }),
    noSysctl: SysctlGuard.optional().meta({ description: 'applies when the sysctl does not exist (KEY), or its value in force does not satisfy KEY=VALUE, ...', examples: ['net.ipv4.tcp_syn_linear_timeouts'] }),
  })
  .strict()

/** `mark: NAME`: names the moments an expectation matched, for `since:` in other expectations. */
export const MarkName = Name.meta({
  description: 'name the moments this expectation matched (packets, events, matching samples, state transitions, the exit), so other expectations can measure `since: NAME` (first), NAME.last or NAME.N',
  examples: ['syn', 'last-syn', 'zero-window'],
})

/** `since:` an event (NAME.EVENT) or a mark (NAME, NAME.first, NAME.last, NAME.N). */
export const MomentRef = z
  .string()
  .refine((v) => EventRef.safeParse(v).success || MARK_REF_RE.test(v), {
    message: 'expected an event reference like "cli.connected", or a mark like "syn", "syn.last", "syn.3"',
  })
  .meta({
    description: 'times are relative to this moment (default: t0): an event NAME.EVENT (for events stamped after their syscall returns, e.g. sent, from when the call was issued), or a mark: NAME (its first moment), NAME.first, NAME.last, NAME.N',
    examples: ['cli.connected', 'syn.last', 'zw.2'],
  })

const WindowFields = {
  at: z.union([Duration, z.array(Duration).min(1)]).optional().meta({ description: 'when it should happen: a time, or one time per occurrence (each within the tolerance)', examples: ['1s', ['0s', '1s', '3s']] }),
  during: z.tuple([Duration, DurationOrEnd]).optional().meta({ description: 'the window it is checked in: [FROM, TO], TO may be "end"', examples: [['1s', '2.5s'], ['500ms', 'end']] }),
  before: Duration.optional().meta({ description: 'only what happens before this time', examples: ['5s'] }),
  after: Duration.optional().meta({ description: 'only what happens after this time', examples: ['1s'] }),
  since: MomentRef.optional(),
  tolerance: Tolerance.optional().meta({ description: 'how far a timing may be off: a duration, or { floor, percent } (default: the scenario\'s)', examples: ['100ms', { floor: '50ms', percent: 10 }] }),
  mark: MarkName.optional(),
  when: When.optional().meta({ description: 'judge it only on machines that match (skipped with the reason otherwise)', examples: [{ kernel: '>=6.5' }] }),
  description: z.string().optional().meta({ description: 'what it shows, in words (shown in reports)', examples: ['the SYN is retransmitted after 1s'] }),
}

const Endpoint = z.string().regex(/^([a-z][a-z0-9]{0,7}|[0-9a-fA-F.:[\]]+|\*)?(:\d+)?$/, {
  message: 'expected HOST, HOST:PORT or :PORT (e.g. "server:8000")',
}).refine(hasValidPort, { message: PORT_MESSAGE })

const EndpointFields = {
  local: z.union([Endpoint, Port]).optional().meta({ description: 'local endpoint: HOST:PORT, :PORT or a port number', examples: [8000, 'server:8000'] }),
  peer: z.union([Endpoint, Port]).optional().meta({ description: 'peer endpoint: HOST:PORT, HOST, :PORT or a port number', examples: ['client', 'server:8000'] }),
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
    on: HostName.meta({ description: 'the host whose sockets are named', examples: ['server'] }),
    ...EndpointFields,
  })
  .strict()

export const SsExpect = z
  .object({
    on: HostName.optional().meta({ description: 'the host whose sockets are checked (default: the host of the named socket)', examples: ['client'] }),
    socket: SocketSelector.optional().meta({ description: 'which sockets: a name, { listener: NAME }, or { local, peer, state }', examples: ['cli', { local: 8000, state: 'SYN-RECV' }] }),
    match: z.record(z.string(), Comparator).optional().meta({ description: 'ss fields: state, recvQ, sendQ, timer, timer.expiresMs, timer.retrans, skmem.r, rto, cwnd, backoff, ... (required unless `sockets` or `trend` is given)', examples: [{ state: 'ESTAB', recvQ: 6 }, { timer: 'on', backoff: '>=2' }] }),
    quantifier: z.enum(['always', 'eventually', 'never']).optional().meta({ description: 'in every sample of the window (always, the default), in at least one (eventually), or in none (never)', examples: ['eventually'] }),
    ...SsAggregates,
    ...WindowFields,
  })
  .strict()
  .refine((v) => v.match !== undefined || v.sockets !== undefined || v.trend !== undefined, {
    message: 'expected `match`, `sockets` or `trend`: what to check in the samples',
  })

/**
 * One state of a `states:` sequence with a time: the socket enters `state` at
 * `at` (after `since:`, else after the expectation's own `since:`/t0), within
 * `tolerance`. Times are judged packetdrill's way: from the previous timed
 * transition's measured time when there is one.
 */
export const StateTransition = z
  .object({
    state: z.string().meta({ description: 'ss state name, or CLOSED (the socket is gone)', examples: ['CLOSED', 'TIME-WAIT'] }),
    at: Duration.optional().meta({ description: 'when the socket enters this state', examples: ['63s'] }),
    since: MomentRef.optional(),
    tolerance: Tolerance.optional().meta({ description: 'how far this transition\'s time may be off (default: the expectation\'s)', examples: ['500ms'] }),
  })
  .strict()
  .meta({ description: 'a state with the time the socket enters it: { state: CLOSED, at: 63s, tolerance: 1s }' })

export const StatesExpect = z
  .object({
    on: HostName.optional().meta({ description: 'the host whose sockets are checked (default: the host of the named socket)', examples: ['client'] }),
    socket: SocketSelector.optional().meta({ description: 'which sockets: a name, { listener: NAME }, or { local, peer, state }', examples: ['cli', { local: 8000, state: 'SYN-RECV' }] }),
    sequence: z.array(z.union([z.string(), StateTransition])).min(1).meta({
      description: 'the states in order; an item { state, at, tolerance, since } also times the transition into it (dated by samples or destroy events; the verdict says which)',
      examples: [['ESTAB', 'FIN-WAIT-1', 'FIN-WAIT-2', 'TIME-WAIT'], ['ESTAB', { state: 'CLOSED', at: '63s', tolerance: '1s' }]],
    }),
    exact: z.boolean().optional().meta({ description: 'the observed states are exactly the sequence (default: it appears in order, other states may come between)', examples: [true] }),
    ...WindowFields,
  })
  .strict()

export const PacketsExpect = z
  .object({
    on: HostName.meta({ description: 'the host whose capture is read', examples: ['client'] }),
    dir: z.enum(['in', 'out', 'any']).optional().meta({ description: 'packets the host received (in), sent (out) or both (any, the default)', examples: ['out'] }),
    from: Endpoint.optional().meta({ description: 'source: HOST, HOST:PORT or :PORT', examples: ['client', ':8000'] }),
    to: Endpoint.optional().meta({ description: 'destination: HOST, HOST:PORT or :PORT', examples: ['server:8000'] }),
    socket: z.union([Name, z.object({ listener: Name.meta({ description: 'the listener whose never-accepted connections these are', examples: ['srv'] }) }).strict()]).optional().meta({
      description: 'packets of a named socket (its 4-tuple, from its first SYN to the tuple\'s reuse), or { listener: NAME } for the never-accepted connections of a listener',
      examples: ['cli', { listener: 'srv' }],
    }),
    flags: z.union([z.string(), z.array(z.string())]).optional().meta({ description: 'TCP flags as tcpdump prints them (S, S., F., R, P., .); several: any of them', examples: ['S', ['F.', 'FP.']] }),
    len: CountComparator.optional().meta({ description: 'the payload length', examples: ['>0', 0] }),
    ...PacketFieldShape,
    each: PacketEach.optional(),
    ...PacketAggregates,
    count: CountComparator.optional().meta({ description: 'how many packets match', examples: [3, '>=2'] }),
    gaps: z.array(Duration).min(1).optional().meta({ description: 'the time between consecutive matching packets (retransmission backoff), each within the tolerance', examples: [['1s', '2s', '4s']] }),
    ...WindowFields,
  })
  .strict()

export const ProcessExpect = z
  .object({
    name: Name.meta({ description: 'the process (a `run` step\'s name)', examples: ['nc'] }),
    exit: z.union([z.number().int(), z.string().regex(/^(SIG)?[A-Z0-9]+$|^running$/)]).optional().meta({ description: 'its exit code, the signal that killed it, or running (still alive at the end)', examples: [0, 'SIGKILL', 'running'] }),
    stdout: z.string().optional().meta({ description: 'its standard output contains this text (or matches /regex/)', examples: ['hello', '/refused/'] }),
    stderr: z.string().optional().meta({ description: 'its standard error contains this text (or matches /regex/)', examples: ['Connection timed out'] }),
    ...WindowFields,
  })
  .strict()

export const EventExpect = z
  .object({
    socket: Name.optional().meta({ description: 'events of this socket', examples: ['cli'] }),
    source: Name.optional().meta({ description: 'events of this process or socket, whatever it is', examples: ['nc'] }),
    type: z.string().optional().meta({ description: 'the event type: connected, accepted, sent, read, eof, error, closed, polled, started, exited, ...', examples: ['error', 'connected'] }),
    errno: z.string().optional().meta({ description: 'the errno of an error event', examples: ['ETIMEDOUT', 'ECONNRESET'] }),
    ...EventValues,
    count: CountComparator.optional().meta({ description: 'how many events match', examples: [1, '>=1'] }),
    sequence: z
      .array(z.object({
        type: z.string().meta({ description: 'the event type', examples: ['error'] }),
        errno: z.string().optional().meta({ description: 'its errno', examples: ['EPIPE'] }),
        n: CountComparator.optional().meta({ description: 'how many in a row', examples: [3, '>=1'] }),
      }).strict())
      .optional()
      .meta({ description: 'events in this order (others may come between)', examples: [[{ type: 'error', errno: 'ETIMEDOUT' }, { type: 'error', errno: 'EPIPE', n: '>=1' }]] }),
    ...WindowFields,
  })
  .strict()

export const CounterExpect = z
  .object({
    on: HostName.meta({ description: 'the host the counter is read on', examples: ['server'] }),
    name: z.string().meta({ description: 'a named iptables rule (its packet and byte counters) or a kernel counter (nstat name)', examples: ['drop-syn', 'TcpExtTCPTimeouts'] }),
    value: Comparator.optional().meta({ description: 'the counter\'s value (for a rule: its packet count)', examples: ['>=1'] }),
    packets: CountComparator.optional().meta({ description: 'packets the rule matched', examples: [3, '>0'] }),
    bytes: CountComparator.optional().meta({ description: 'bytes the rule matched', examples: ['>0'] }),
    when: When.optional().meta({ description: 'judge it only on machines that match', examples: [{ kernel: '>=6.5' }] }),
    description: z.string().optional().meta({ description: 'what it shows, in words', examples: ['three SYNs were dropped'] }),
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

/** What each expectation kind checks (the description editors show for the key). */
const EXPECTATION_DOCS: Record<keyof typeof EXPECTATIONS, string> = {
  ss: 'ss fields of sockets over a window: `{ socket: cli, match: { state: ESTAB, recvQ: 6 }, during: [1s, 2s] }`',
  states: 'the TCP states a socket goes through, in order: `{ socket: cli, sequence: [FIN-WAIT-1, FIN-WAIT-2, TIME-WAIT] }`',
  packets: 'packets in a host\'s capture: `{ on: client, dir: out, flags: S, at: [0s, 1s, 3s] }`',
  process: '`{ name: nc, exit: 1, stderr: refused }`: how the process of a run step ended and what it printed',
  event: 'socket and process events (errno, connected, eof...): `{ socket: cli, type: error, errno: ETIMEDOUT, at: 7s }`',
  counter: 'an iptables rule\'s or kernel counter: `{ on: server, name: drop-syn, packets: 3 }`',
}

export type ExpectKind = keyof typeof EXPECTATIONS
export const EXPECT_KINDS = Object.keys(EXPECTATIONS) as ExpectKind[]

export const Expectation = z
  .object(Object.fromEntries(EXPECT_KINDS.map((k) => [k, EXPECTATIONS[k].optional().meta({ description: EXPECTATION_DOCS[k], examples: parseDocExample(EXPECTATION_DOCS[k]) })])) as {
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
    sysctls: SysctlMap.optional().meta({ description: 'sysctls set on this host (over the scenario\'s); { value, optional: true } where the kernel may lack one', examples: [{ 'net.ipv4.tcp_syn_retries': 2 }, { 'net.ipv4.tcp_syn_linear_timeouts': { value: 2, optional: true } }] }),
    role: z.literal('wire').optional().meta({ description: 'a router between the other two hosts; faults on it sit in the middle of the path', examples: ['wire'] }),
    image: z.string().optional().meta({ description: 'docker backend: your own image (lab tools run in a sidecar)', examples: ['nginx:1.27'] }),
  })
  .strict()

export const Scenario = z
  .object({
    $schema: z.string().optional().meta({ description: 'the JSON Schema of this file, for editors', examples: ['../../schema/scenario.schema.json'] }),
    name: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, { message: 'expected a name of lowercase letters, digits and "-"' }).meta({ description: 'unique name: the results directory and `tcplab run NAME` use it', examples: ['syn-drop-timeout'] }),
    title: z.string().min(1).meta({ description: 'one line: what happens and what it shows', examples: ['Dropped SYNs - connect() retries, then fails with ETIMEDOUT'] }),
    tags: z.array(z.string().regex(/^[a-z0-9-]+$/)).default([]).meta({ description: 'for `--tag`; "slow" leaves a scenario out of the default run', examples: [['handshake', 'timeout']] }),
    explain: z.string().min(1).meta({ description: 'the story: what the scenario does and what to watch (`tcplab explain`)', examples: ['The server drops every SYN; connect() retries with backoff, then fails.'] }),
    seed: z.string().optional().meta({ description: 'where the experiment comes from', examples: ['001 (notes: SYN drop)'] }),
    requires: z
      .object({
        kernel: When.shape.kernel,
        sysctls: z.array(z.string()).optional().meta({ description: 'sysctls the kernel must have', examples: [['net.ipv4.tcp_syn_linear_timeouts']] }),
        qdiscs: z.array(z.string()).optional().meta({ description: 'qdiscs the kernel must have (tc)', examples: [['netem']] }),
        tools: z.array(z.string()).optional().meta({ description: 'programs the hosts must have', examples: [['nc', 'curl']] }),
      })
      .strict()
      .optional()
      .meta({ description: 'what the machine needs; without it the scenario is skipped with the reason', examples: [{ kernel: '>=5.7', qdiscs: ['netem'] }] }),
    hosts: z.record(HostName, HostSpecSchema.nullable().transform((h) => h ?? {})).meta({ description: 'the hosts, by name (lowercase, at most 8 characters): `{}` or their sysctls, role, image', examples: [{ client: {}, server: {} }] }),
    sysctls: SysctlMap.optional().meta({ description: 'sysctls set on every host', examples: [{ 'net.ipv4.tcp_retries2': 5 }] }),
    sockets: z.record(Name, SocketNaming).optional().meta({
      description: 'names for sockets that no agent step names (nc and other `run` commands): each 4-tuple whose ss row matches gets the name, from its first SYN until the tuple is reused',
      examples: [{ srv: { on: 'server', local: 8000, state: 'LISTEN' }, conn: { on: 'server', local: 8000, peer: 'client' } }],
    }),
    sample: z.object({ interval: Duration.optional().meta({ description: 'how often ss is sampled', examples: ['10ms'] }) }).strict().optional().meta({ description: 'socket sampling', examples: [{ interval: '10ms' }] }),
    capture: z.union([z.literal(false), z.object({
      snaplen: z.number().int().positive().max(262144).optional().meta({ description: 'bytes kept of each packet', examples: [128] }),
      filter: z.array(z.string()).optional().meta({ description: 'tcpdump filter words', examples: [['tcp', 'port', '8000']] }),
    }).strict()]).optional().meta({ description: 'tcpdump on every host: false for none, or { snaplen, filter }', examples: [false, { snaplen: 128 }] }),
    tolerance: Tolerance.optional().meta({ description: 'how far timings may be off, for every expectation (a duration, or { floor, percent })', examples: ['50ms', { floor: '20ms', percent: 10 }] }),
    duration: Duration.optional().meta({ description: 'the run lasts until t0 + duration (default: last step + 1s)', examples: ['10s'] }),
    timeout: Duration.optional().meta({
      description: 'the longest the scenario may take from lab setup to teardown; past it the scenario is stopped, its lab torn down, and its verdict is "timed out" (status error, exit 1). Default: no limit',
      examples: ['60s', '5m'],
    }),
    steps: z.array(Step).min(1).meta({ description: 'the timeline: what each host does, when', examples: [[{ at: '0s', server: { listen: { name: 'srv', port: 8000 } } }, { at: '200ms', client: { connect: { name: 'cli', to: 'server:8000' } } }]] }),
    expect: z.array(Expectation).min(1).meta({ description: 'what must be observed: one of ss, states, packets, process, event, counter each', examples: [[{ states: { socket: 'cli', sequence: ['SYN-SENT', 'ESTAB'] } }]] }),
  })
  .strict()

export type Scenario = z.output<typeof Scenario>
export type ScenarioInput = z.input<typeof Scenario>
