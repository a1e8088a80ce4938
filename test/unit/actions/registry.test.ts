// The step actions' registry (src/actions): every action is filed under its
// own name, socket actions are agent ops, each has its docs line in the README,
// and what it says of names is what the loader checks.

import { readFileSync } from 'node:fs'
import t from 'tap'
import { ACTIONS, ACTION_NAMES, actionOf } from '../../../src/actions/index.js'
import { AGENT_OPS } from '../../../src/agent/protocol.js'
import { HostActions } from '../../../src/scenario/schema.js'

t.test('every action is filed under its name, with a docs line', async (t) => {
  for (const k of ACTION_NAMES) {
    t.equal(ACTIONS[k].name, k)
    t.ok(ACTIONS[k].doc.length > 0, `${k} has a docs line`)
  }
  t.same(Object.keys(HostActions.shape), ACTION_NAMES, 'the step union has every action, in registry order')
})

t.test('socket actions are agent ops of the same name', async (t) => {
  const socket = ACTION_NAMES.filter((k) => actionOf(k).agentOp !== undefined)
  t.same(socket, ['listen', 'connect', 'accept', 'send', 'read', 'pause', 'resume', 'poll', 'getsockopt', 'setsockopt', 'shutdown', 'close', 'abort'])
  for (const k of socket) t.ok((AGENT_OPS as readonly string[]).includes(k), `${k} is an agent op`)
})

t.test('the README lists every action', async (t) => {
  const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8')
  const table = readme.slice(readme.indexOf('| action | example |'), readme.indexOf('| `wait`'))
  for (const k of ACTION_NAMES) t.match(table, `\`${k}\``, `README's step table names ${k}`)
})

t.test('names defined and used', async (t) => {
  const refs = (k: (typeof ACTION_NAMES)[number], v: unknown) => actionOf(k).refs(actionOf(k).schema.parse(v))
  t.same(refs('listen', { name: 'srv', port: 8000 }), [{ defines: 'socket', name: 'srv', key: 'name' }, { accepts: 'srv-conn' }])
  t.same(refs('connect', { name: 'cli', to: 'server:8000' }), [{ defines: 'socket', name: 'cli', key: 'name' }, { hostPort: 'server:8000', key: 'to' }])
  t.same(refs('accept', { socket: 'srv', as: 'c' }), [{ uses: 'socket', name: 'srv', key: 'socket' }, { accepts: 'c' }])
  t.same(refs('close', { socket: 'cli' }), [{ uses: 'socket', name: 'cli', key: 'socket' }])
  t.same(refs('run', { name: 'nc', cmd: ['nc'] }), [{ defines: 'process', name: 'nc', key: 'name' }])
  t.same(refs('signal', { to: 'nc', signal: 'STOP' }), [{ uses: 'process', name: 'nc', key: 'to' }])
  t.same(refs('iptables', { name: 'drop', rule: '-A INPUT -j DROP' }), [{ addsRule: 'drop', key: 'name' }])
  t.same(refs('ip6tables', { delete: 'drop' }), [{ deletesRule: 'drop', key: 'delete' }])
  t.same(refs('iptables', '-A INPUT -j DROP'), [], 'an unnamed rule defines no name')
  t.same(refs('sysctl', { 'net.ipv4.tcp_syn_retries': 2 }), [])
})

t.test('which hosts the agent cannot play an action on', async (t) => {
  const caps = { setsSysctlsOutside: true, hasUserImage: true }
  const why = ACTION_NAMES.filter((k) => actionOf(k).unplayable?.(caps, 'server') !== undefined)
  t.same(why, ['run', 'write', 'signal', 'sysctl'])
  t.equal(actionOf('sysctl').unplayable?.({ setsSysctlsOutside: false, hasUserImage: true }, 'server'), undefined)
})
