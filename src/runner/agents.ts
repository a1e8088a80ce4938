// One socket agent per host, started on the first socket step; its events go
// onto the timeline.
import type { Host } from '../lab/index.js'
import type { Timeline } from '../recorder/timeline.js'
import { StepError } from '../util/errors.js'
import type { AgentPort } from './actions.js'

export interface HostAgent extends AgentPort {
  close(): Promise<void>
}

/** Start the agent on a host. */
export async function startHostAgent(host: Host, _timeline: Timeline): Promise<HostAgent> {
  throw new StepError(`socket steps need the socket agent, which is not available on ${host.name} yet`)
}
