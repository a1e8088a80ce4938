// One socket agent per host, started on the first socket step; every event it
// writes becomes an `event` record on the timeline (source = socket name).

import { startAgent, type AgentClient, type AgentCommand, type AgentEvent } from '../agent/index.js'
import type { Host } from '../lab/index.js'
import { secondsSince } from '../recorder/records.js'
import type { Timeline } from '../recorder/timeline.js'
import { StepError } from '../util/errors.js'
import type { AgentPort } from './actions.js'

export interface HostAgent extends AgentPort {
  close(): Promise<void>
}

/** Commands whose result the next step may rely on: wait for their final event. */
const WAIT_FOR_RESULT = new Set(['listen', 'setsockopt', 'getsockopt', 'shutdown', 'close', 'abort', 'pause', 'resume', 'read'])

/** Start the agent on a host; its events go onto the timeline. */
export async function startHostAgent(host: Host, timeline: Timeline): Promise<HostAgent> {
  let client: AgentClient
  try {
    client = await startAgent(host, { onEvent: (ev) => timeline.add(toEventRecord(ev, host.name, timeline.t0Us)) })
  } catch (e: unknown) {
    throw new StepError(`cannot start the socket agent on ${host.name}: ${(e as Error).message}`, {
      hint: 'build it with `make agent` (needs gcc and the static libc, package libc6-dev)',
      cause: e,
    })
  }
  let nextId = 1
  return {
    async command(cmd: Record<string, unknown>): Promise<void> {
      const c = { ...cmd, id: nextId++ } as AgentCommand
      if (WAIT_FOR_RESULT.has(c.op)) await client.request(c, { timeoutMs: 10_000 })
      else await client.send(c)
    },
    async close(): Promise<void> {
      await client.close({ graceMs: 1000 })
    },
  }
}

/** An agent event as a timeline record: t in seconds since t0, errno and byte counts lifted. */
export function toEventRecord(ev: AgentEvent, host: string, t0Us: number) {
  const { t, name, type, id: _id, ...rest } = ev as AgentEvent & Record<string, unknown>
  const errno = typeof rest.errno === 'string' ? rest.errno : undefined
  const n = typeof rest.n === 'number' ? rest.n : undefined
  return {
    kind: 'event' as const,
    t: secondsSince(t0Us, t),
    host,
    source: name === '' ? 'agent' : name,
    type,
    errno,
    n,
    data: rest,
  }
}
