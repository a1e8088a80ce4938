// protocol.ts and agent/*.c describe the same protocol: this reads the C
// tables (commands and their fields, options, event types) and compares them
// with the TypeScript ones, so that neither side drifts. No root, no binary.

import { readFile } from 'node:fs/promises'
import t from 'tap'
import { AGENT_EVENT_TYPES, AGENT_OPS, SOCKET_OPTION_NAMES } from '../../../src/agent/protocol.js'
import type { AgentEventType, AgentOp, SocketOptionName } from '../../../src/agent/protocol.js'

const root = new URL('../../../', import.meta.url)
const agentC = await readFile(new URL('agent/tcplab-agent.c', root), 'utf8')
// Events are written by the main file and by the process, plan, relay and socket-sampler modules.
const eventSourcesC = agentC + (await Promise.all(['procs.c', 'plan.c', 'relay.c', 'sockdiag.c'].map((f) => readFile(new URL(`agent/${f}`, root), 'utf8')))).join('\n')
const optionsC = await readFile(new URL('agent/options.c', root), 'utf8')
const protocolTs = await readFile(new URL('src/agent/protocol.ts', root), 'utf8')

// Compile-time: the TS lists name every member of their unions.
type MissingOps = Exclude<AgentOp, (typeof AGENT_OPS)[number]>
type MissingEvents = Exclude<AgentEventType, (typeof AGENT_EVENT_TYPES)[number]>
type MissingOptions = Exclude<SocketOptionName, (typeof SOCKET_OPTION_NAMES)[number]>
const exhaustive: [MissingOps, MissingEvents, MissingOptions] extends [never, never, never] ? true : false = true

/** The C dispatch table: op -> allowed fields (besides op and id). */
function readCommandTable(src: string): Map<string, string[]> {
  const table = new Map<string, string[]>()
  for (const m of src.matchAll(/\{ "(\w+)", cmd_\w+, "([\w ]*)" \}/g)) {
    table.set(m[1] as string, (m[2] as string).split(' ').filter(Boolean))
  }
  return table
}

/** Fields of each `interface XCommand extends CommandBase { op: '...' ... }` in protocol.ts. */
function readCommandInterfaces(src: string): Map<string, string[]> {
  const out = new Map<string, string[]>()
  for (const m of src.matchAll(/export interface \w+Command extends CommandBase \{\n([\s\S]*?)\n\}/g)) {
    const body = m[1] as string
    const op = /^\s+op: '(\w+)'/m.exec(body)?.[1]
    if (op === undefined) continue
    const fields = [...body.matchAll(/^ {2}(\w+)\??:/gm)].map((f) => f[1] as string).filter((f) => f !== 'op')
    out.set(op, fields)
  }
  return out
}

/** Every event type the C program writes. */
function readEventTypes(src: string): Set<string> {
  const types = new Set<string>()
  for (const m of src.matchAll(/ev_begin\([^,]+, [^,]+, "([\w-]+)"/g)) types.add(m[1] as string)
  for (const m of src.matchAll(/ev_begin_at\([^,]+, [^,]+, [^,]+, "([\w-]+)"/g)) types.add(m[1] as string)
  for (const m of src.matchAll(/ev_begin_observed_at\([^,]+, [^,]+, [^,]+, "([\w-]+)"/g)) types.add(m[1] as string)
  for (const m of src.matchAll(/emit_simple\([^,]+, "([\w-]+)"/g)) types.add(m[1] as string)
  // procs.c: a stream's event type is its name (.type = "stdout").
  for (const m of src.matchAll(/\.type = "(\w+)" \}/g)) types.add(m[1] as string)
  for (const m of src.matchAll(/\? "(\w+)" : "(\w+)"/g)) {
    // read_auto ? "resumed" : "paused"
    if (/resumed|paused/.test(m[0])) {
      types.add(m[1] as string)
      types.add(m[2] as string)
    }
  }
  if (/ev_error_begin\(/.test(src)) types.add('error')
  return types
}

t.test('the TS unions are listed exhaustively', async (t) => {
  t.equal(exhaustive, true)
})

t.test('ops and their fields match the C dispatch table', async (t) => {
  const c = readCommandTable(agentC)
  const ts = readCommandInterfaces(protocolTs)
  t.same([...c.keys()], [...AGENT_OPS], 'same ops, same order')
  t.same([...ts.keys()].sort(), [...AGENT_OPS].sort(), 'one Command interface per op')
  for (const op of AGENT_OPS) {
    t.same((ts.get(op) ?? []).sort(), (c.get(op) ?? []).sort(), `fields of ${op}`)
  }
})

t.test('option names match the C option table', async (t) => {
  const keys = [...optionsC.matchAll(/\{ "(\w+)", "([A-Z_0-9]+)", (?:SOL_SOCKET|IPPROTO_TCP|IPPROTO_IPV6),/g)].map((m) => m[1])
  t.same(keys, [...SOCKET_OPTION_NAMES])
})

t.test('event types match what the C program writes', async (t) => {
  t.same([...readEventTypes(eventSourcesC)].sort(), [...AGENT_EVENT_TYPES].sort())
})

t.test('the sync check can fail: a drifted table is noticed', async (t) => {
  const drifted = agentC.replace('{ "list", cmd_list, "" }', '{ "list", cmd_list, "name" }')
  t.notSame(readCommandTable(drifted).get('list'), readCommandInterfaces(protocolTs).get('list'))
  const noEof = eventSourcesC.replaceAll('"eof"', '"end"')
  t.notSame([...readEventTypes(noEof)].sort(), [...AGENT_EVENT_TYPES].sort())
})
