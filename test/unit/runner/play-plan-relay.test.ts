// play-plan.ts, the agents' direct relay (netns): which agent sends which ref
// to which socket, the socket paths (sun_path is 107 bytes), and the per-lab
// directory that the teardown removes. The datagrams themselves:
// test/e2e/agent-plan.test.ts.

import { existsSync } from 'node:fs'
import path from 'node:path'
import t from 'tap'
import type { CompiledPlan, CompiledStep } from '../../../src/runner/plan.js'
import { relayCommands, relayDirFor, relaySocketPaths } from '../../../src/runner/play-plan.js'
import { Teardown } from '../../../src/util/teardown.js'

type RelayPlan = Pick<CompiledPlan, 'steps' | 'eventRefs' | 'stepRefs'>
const step = (planStep: number, host: string): CompiledStep => ({ planStep, host }) as CompiledStep

const sockets = new Map([['client', '/r/client.sock'], ['server', '/r/server.sock'], ['mid', '/r/mid.sock']])
const hosts = ['client', 'server', 'mid']

t.test('step:K: only the host of step K sends, to the hosts waiting for it', async (t) => {
  const plan: RelayPlan = { steps: [step(0, 'server'), step(8, 'client')], eventRefs: new Map(), stepRefs: new Map([[0, new Set(['client', 'mid'])]]) }
  const r = relayCommands(plan, hosts, sockets)
  t.same([...r.keys()], ['server'])
  t.same(r.get('server'), [{ op: 'relay', id: 'relay', ref: 'step:0', to: ['/r/client.sock', '/r/mid.sock'] }])
})

t.test('NAME.TYPE: every host but the waiting one sends (any of them may write it)', async (t) => {
  const plan: RelayPlan = { steps: [], eventRefs: new Map([['cli.connected', new Set(['server'])]]), stepRefs: new Map() }
  const r = relayCommands(plan, hosts, sockets)
  t.same([...r.keys()].sort(), ['client', 'mid'])
  t.same(r.get('client'), [{ op: 'relay', id: 'relay', ref: 'cli.connected', to: ['/r/server.sock'] }])
  t.notOk(r.has('server'), 'a host never relays to itself (its own events open its gates)')
})

t.test('must not relay: to a host without a socket, or when only the host itself waits', async (t) => {
  const plan: RelayPlan = {
    steps: [step(0, 'server')],
    eventRefs: new Map([['srv.listening', new Set(['server'])], ['cli.eof', new Set(['docker1'])]]),
    stepRefs: new Map([[0, new Set(['docker1'])], [99, new Set(['client'])]]),
  }
  const r = relayCommands(plan, [...hosts, 'docker1'], sockets)
  t.same(r.get('client'), [{ op: 'relay', id: 'relay', ref: 'srv.listening', to: ['/r/server.sock'] }])
  t.same(r.get('mid'), [{ op: 'relay', id: 'relay', ref: 'srv.listening', to: ['/r/server.sock'] }])
  t.notOk(r.has('server'), 'server: only itself waits for srv.listening, docker1 has no socket, step 99 is unknown')
  t.same(r.get('docker1'), [{ op: 'relay', id: 'relay', ref: 'srv.listening', to: ['/r/server.sock'] }], 'sending needs no socket of its own')
})

t.test('socket paths fit sun_path', async (t) => {
  const p = relaySocketPaths('/run/tcplab/relay/0123abcd', ['client', 'x'.repeat(90), 'bad/name'])
  t.equal(p.get('client'), '/run/tcplab/relay/0123abcd/client.sock')
  t.equal(p.get('x'.repeat(90)), '/run/tcplab/relay/0123abcd/=1.sock', 'too long: by index')
  t.equal(p.get('bad/name'), '/run/tcplab/relay/0123abcd/=2.sock', 'not a file name: by index')
  t.equal(relaySocketPaths(`/${'d'.repeat(110)}`, ['client']).size, 0, 'a directory too deep: no socket, the runner relays')
  for (const v of p.values()) t.ok(Buffer.byteLength(v) <= 107, v)
})

t.test('the relay directory lives as long as the lab', async (t) => {
  const td = new Teardown()
  const dir = await relayDirFor(`unit-${process.pid}`, td)
  t.ok(dir !== undefined && existsSync(dir), `made ${dir}`)
  t.match(path.basename(dir ?? ''), `unit-${process.pid}`)
  await td.run()
  t.notOk(existsSync(dir ?? '/nonexistent'), 'removed by the teardown')
})
