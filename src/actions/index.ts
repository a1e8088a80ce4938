// Every step action, by name: the one registry the scenario schema, the loader,
// the plan compiler and the runner iterate. Adding an action: one file in this
// folder (defineAction), its line here, its handler in the agent if it needs a
// new op. The order is the scenario schema's (and the JSON Schema's).

import { accept } from './accept.js'
import { abort } from './abort.js'
import { close } from './close.js'
import { connect } from './connect.js'
import type { ActionDefinition } from './define.js'
import { getsockopt } from './getsockopt.js'
import { ip6tables, iptables } from './iptables.js'
import { link } from './link.js'
import { listen } from './listen.js'
import { pause } from './pause.js'
import { poll } from './poll.js'
import { read } from './read.js'
import { resume } from './resume.js'
import { run } from './run.js'
import { send } from './send.js'
import { setsockopt } from './setsockopt.js'
import { shutdown } from './shutdown.js'
import { signal } from './signal.js'
import { sysctl } from './sysctl.js'
import { tc } from './tc.js'
import { write } from './write.js'

export const ACTIONS = {
  run,
  write,
  signal,
  iptables,
  ip6tables,
  sysctl,
  link,
  tc,
  listen,
  connect,
  accept,
  send,
  read,
  pause,
  resume,
  poll,
  getsockopt,
  setsockopt,
  shutdown,
  close,
  abort,
} as const

export type ActionName = keyof typeof ACTIONS
export const ACTION_NAMES = Object.keys(ACTIONS) as ActionName[]

/** Each entry is filed under its own name (the compiler rejects a mismatch). */
const _named: { [K in ActionName]: { name: K } } = ACTIONS
void _named

/** An action's definition, for code that handles any action (its args are then unknown). */
export function actionOf(name: ActionName): ActionDefinition {
  return ACTIONS[name] as ActionDefinition
}

export { defineAction, type ActionDefinition, type AgentHostCaps, type AgentPort, type CompileContext, type CompiledCommand, type NameRef, type PlanStepRole, type StepContext } from './define.js'
export { recordCounters } from './iptables.js'
export { toAgentCommand } from './socket.js'
