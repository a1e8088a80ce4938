// What each step action does when the runner plays it (where the agents
// cannot: a user image, sysctls set from outside). The implementations live
// with their actions (src/actions/, the `run` of each definition); this is the
// runner's table of them, one per action by construction.

import { ACTIONS, ACTION_NAMES, type ActionName, type StepContext } from '../actions/index.js'
import type { HostActions } from '../scenario/schema.js'

export { recordCounters, type AgentPort, type StepContext } from '../actions/index.js'

type ActionImpl<K extends ActionName> = (ctx: StepContext, args: NonNullable<HostActions[K]>) => Promise<string>

/** Every action, by name. */
export const ACTION_IMPLS = Object.fromEntries(
  ACTION_NAMES.map((k) => [k, (ctx: StepContext, a: never) => ACTIONS[k].run(ctx, a)]),
) as { [K in ActionName]: ActionImpl<K> }
