// The scenario file format, as zod schemas: the single source of truth for
// validation, for the TypeScript types and for the generated JSON Schema
// (schema/scenario.schema.json, referenced from each scenario for editors).

import { z } from 'zod'
import { ACTIONS, ACTION_NAMES, type ActionName } from '../actions/index.js'
import { Comparator, CountComparator, Duration, EventRef, hasValidPort, HostName, Name, Port, PORT_MESSAGE, SysctlMap } from './fields.js'

export { Comparator, Duration, EventRef } from './fields.js'
export { ACTIONS, ACTION_NAMES, actionOf, type ActionName } from '../actions/index.js'

/** A duration, or "end" (the end of the run) where a window's upper bound is expected. */
const DurationOrEnd = z.union([z.literal('end'), Duration])

// ---------------------------------------------------------------------------
// Actions: what a step does on its host. Each is defined once, with its schema,
// in src/actions/ (the registry ACTIONS).

/** The socket actions: the socket agent's ops of the same name (the others run commands or programs). */
export const AGENT_ACTIONS: ReadonlySet<ActionName> = new Set(ACTION_NAMES.filter((k) => ACTIONS[k].agentOp !== undefined))

/** What a step does on one host: exactly one action key. */
export const HostActions = z
  .object(Object.fromEntries(ACTION_NAMES.map((k) => [k, ACTIONS[k].schema.optional()])) as {
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
    len: CountComparator.optional(),
    count: CountComparator.optional(),
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
    count: CountComparator.optional(),
    sequence: z
      .array(z.object({ type: z.string(), errno: z.string().optional(), n: CountComparator.optional() }).strict())
      .optional(),
    ...WindowFields,
  })
  .strict()

export const CounterExpect = z
  .object({
    on: HostName,
    name: z.string(),
    value: Comparator.optional(),
    packets: CountComparator.optional(),
    bytes: CountComparator.optional(),
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
    capture: z.union([z.literal(false), z.object({ snaplen: z.number().int().positive().max(262144).optional(), filter: z.array(z.string()).optional() }).strict()]).optional(),
    tolerance: Tolerance.optional(),
    duration: Duration.optional().meta({ description: 'the run lasts until t0 + duration (default: last step + 1s)' }),
    steps: z.array(Step).min(1),
    expect: z.array(Expectation).min(1),
  })
  .strict()

export type Scenario = z.output<typeof Scenario>
export type ScenarioInput = z.input<typeof Scenario>
