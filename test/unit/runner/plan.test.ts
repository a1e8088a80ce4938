// compilePlan: scenario steps -> per-host agent plans (gates, commands, waits,
// relays). Scenarios are parsed exactly as the loader does (schema), so every
// step form of the language is compiled here once.

import t from 'tap'
import { parse } from 'yaml'
import { Scenario } from '../../../src/scenario/schema.js'
import { compilePlan, planUnsupported, resolveDeletes, STEP_STRIDE, type CompiledPlan } from '../../../src/runner/plan.js'

const T0 = 1_700_000_000_000_000
const facts = new Map([
  ['client', { addr: '198.18.0.1', ifname: 'eth0' }],
  ['server', { addr: '198.18.0.2', ifname: 'eth0' }],
])
const hosts = new Map([['client', { ifnames: ['eth0'] }], ['server', { ifnames: ['eth0'] }]])

function scenario(steps: string): Scenario {
  const doc = parse(`name: x\ntitle: x\nexplain: x\nhosts: { client: {}, server: {} }\nsteps:\n${steps}\nexpect:\n  - event: { socket: srv, type: listening }\n`)
  return Scenario.parse(doc)
}
const compile = (steps: string): CompiledPlan => compilePlan(scenario(steps), T0, facts, hosts)

t.test('at: absolute deadlines on the scenario clock', async (t) => {
  const p = compile(`
  - at: 0s
    server: { listen: { name: srv, port: 8000 } }
  - at: 250ms
    client: { connect: { name: cli, to: "server:8000", nodelay: true } }`)
  t.equal(p.steps.length, 2)
  t.same(p.steps[0]?.gate, { atUs: T0 })
  t.same(p.steps[1]?.gate, { atUs: T0 + 250_000, notBefore: [0] }, 'and not before the listen is done (a slow guest)')
  t.equal(p.steps[0]?.waits, true, 'listen: a later step may rely on the listener')
  t.equal(p.steps[1]?.waits, false, 'connect: the next step does not wait for the handshake')
  t.same(p.steps[1]?.cmd, { op: 'connect', name: 'cli', host: '198.18.0.2', port: 8000, opts: { nodelay: true }, id: `s${STEP_STRIDE}` })
  t.same([...p.byHost.keys()].sort(), ['client', 'server'])
  t.same([...(p.stepRefs.get(0) ?? [])], ['client'], "the listen's done is relayed to the client")
  t.not(p.steps[1]?.gate, { atUs: T0 }, 'a later step is not at t0')
})

t.test('an at: step never runs before an earlier rule, sysctl or listen of another host is done', async (t) => {
  const p = compile(`
  - at: 0s
    server: { listen: { name: srv, port: 8000 } }
  - at: 100ms
    client: { connect: { name: cli, to: "server:8000" } }
  - at: 500ms
    server: { iptables: { name: drop, rule: "-A INPUT -p tcp --dport 8000 -j DROP" } }
  - at: 600ms
    server: { sysctl: { net.ipv4.tcp_retries2: 3 } }
  - at: 700ms
    client: { send: { socket: cli, data: "x" } }
  - at: 300ms
    client: { send: { socket: cli, data: "early" } }
  - at: 2s
    server: { iptables: { delete: drop } }
  - after: cli.sent
    client: { send: { socket: cli, data: "y" } }`)
  const gateOf = (i: number): unknown => p.steps.find((c) => c.index === i && c.sub === 0)?.gate
  t.same(gateOf(1), { atUs: T0 + 100_000, notBefore: [0] }, 'connect waits for the listen')
  t.same(gateOf(4), { atUs: T0 + 700_000, notBefore: [STEP_STRIDE * 3] }, "the send waits for the server's latest setup step (its sysctl, after the rule)")
  t.same(gateOf(5), { atUs: T0 + 300_000, notBefore: [0] }, 'a step due before a later rule does not wait for it')
  t.same(gateOf(6), { atUs: T0 + 2_000_000 }, 'steps of the same host keep their own order: no notBefore')
  t.same(gateOf(7), { on: 'cli.sent', delayMs: 0 }, 'after: steps are anchored on their event already')
  t.same([...(p.stepRefs.get(STEP_STRIDE * 3) ?? [])], ['client'])
})

t.test('same instant on two hosts keeps file order through a relayed step', async (t) => {
  const p = compile(`
  - at: 0s
    server: { iptables: { name: drop, rule: "-A INPUT -p tcp --dport 8000 -j DROP" } }
  - at: 0s
    client: { connect: { name: cli, to: "server:8000" } }`)
  t.same(p.steps[1]?.gate, { afterStep: 0 })
  t.same([...(p.stepRefs.get(0) ?? [])], ['client'], "the client waits for the server's step: relayed")
  t.equal(p.steps[0]?.role, 'command')
  t.same(p.steps[0]?.cmd.op === 'exec' && p.steps[0].cmd.argv.slice(0, 4), ['iptables', '-w', '-A', 'INPUT'])
  t.equal(p.steps[0]?.waits, true, 'a rule is in place before the next step of its host')
})

t.test('after: an event plus a delay; wait for: the next step on that event', async (t) => {
  const p = compile(`
  - at: 0s
    server: { listen: { name: srv, port: 8000 } }
  - at: 100ms
    client: { connect: { name: cli, to: "server:8000", nonblock: true } }
  - after: cli.connecting
    delay: 50ms
    server: { iptables: { name: drop, rule: "-A INPUT -j DROP" } }
  - wait: { for: cli.connected, timeout: 5s }
  - client: { send: { socket: cli, data: "x" } }
  - wait: 2s
  - client: { close: { socket: cli } }`)
  const [, , ipt, send, close] = p.steps
  t.same(ipt?.gate, { on: 'cli.connecting', delayMs: 50 })
  t.same(send?.gate, { on: 'cli.connected', delayMs: 0 })
  t.same(close?.gate, { afterStep: send?.planStep, delayMs: 2000 }, 'wait 2s: after the previous step is done')
  t.same([...(p.eventRefs.get('cli.connecting') ?? [])], ['server'], 'the server waits for a client event: relayed')
  t.same([...(p.eventRefs.get('cli.connected') ?? [])], ['client'])
  t.same(p.waits.map((w) => w.detail), ['for cli.connected', '2s'])
})

t.test('a step with neither at nor after follows the previous step', async (t) => {
  const p = compile(`
  - at: 1s
    client: { run: { name: cli, cmd: [nc, "{{server}}", "8000"], stdin: true } }
  - client: { write: { to: cli, data: "hello {{server}}\\n", eof: true } }
  - client: { signal: { to: cli, signal: INT } }`)
  const [run, write, eof, sig] = p.steps
  t.same(run?.cmd, { op: 'exec', name: 'cli', argv: ['nc', '198.18.0.2', '8000'], stdin: true, lines: true, id: 's0' })
  t.equal(run?.waits, false, 'a program keeps running: the next step does not wait for its exit')
  t.same(write?.gate, { afterStep: 0, delayMs: 0 })
  t.same(write?.cmd, { op: 'write', name: 'cli', data: 'hello 198.18.0.2\n', id: `s${STEP_STRIDE}` })
  t.same(eof?.cmd, { op: 'endStdin', name: 'cli', id: `s${STEP_STRIDE + 1}` }, 'eof: a second command of the same step')
  t.same(eof?.gate, { afterStep: STEP_STRIDE })
  t.same(sig?.cmd, { op: 'signal', name: 'cli', signal: 'INT', id: `s${2 * STEP_STRIDE}` })
  t.same(sig?.gate, { afterStep: STEP_STRIDE + 1, delayMs: 0 })
})

t.test('deleting a rule: counters first, then the same argv with -D', async (t) => {
  const p = compile(`
  - at: 0s
    server: { iptables: { name: drop, rule: "-I INPUT 1 -p tcp -j DROP" } }
  - at: 1s
    server: { iptables: { delete: drop } }`)
  t.equal(resolveDeletes(p), undefined)
  const [, counters, del] = p.steps
  t.equal(counters?.role, 'counters')
  t.same(counters?.cmd.op === 'exec' && counters.cmd.argv, ['iptables-save', '-c'])
  t.same(del?.cmd.op === 'exec' && del.cmd.argv, ['iptables', '-w', '-D', 'INPUT', '-p', 'tcp', '-j', 'DROP', '-m', 'comment', '--comment', 'tcplab:drop'])
  const bad = compile(`
  - at: 0s
    server: { iptables: { name: drop, rule: "-A INPUT -j DROP" } }
  - at: 1s
    server: { iptables: { delete: drop } }
  - at: 2s
    server: { iptables: { delete: drop } }`)
  t.match(resolveDeletes(bad), /step 2: no iptables rule named drop/, 'a rule deleted twice')
})

t.test('sysctl, link and tc run as commands; optional sysctls with -e', async (t) => {
  const p = compile(`
  - at: 0s
    client: { sysctl: { net.ipv4.tcp_syn_retries: 2, net.ipv4.tcp_syn_linear_timeouts: { value: 0, optional: true } } }
  - at: 1s
    client: { link: down }`)
  const argvs = p.steps.map((c) => (c.cmd.op === 'exec' ? c.cmd.argv : []))
  t.same(argvs[0], ['sysctl', '-q', '-w', 'net.ipv4.tcp_syn_retries=2'])
  t.same(argvs[1], ['sysctl', '-e', '-q', '-w', 'net.ipv4.tcp_syn_linear_timeouts=0'])
  t.same(argvs[2], ['ip', 'link', 'set', 'dev', 'eth0', 'down'])
  t.ok(p.steps.every((c) => c.cmd.op === 'exec' && c.cmd.name.startsWith('.')), 'internal names: they never reach the timeline')
})

t.test('hosts where the agent cannot play are named', async (t) => {
  const s = scenario(`
  - at: 0s
    server: { run: { name: srv, cmd: [nc, -l, "8000"] } }
  - at: 1s
    client: { sysctl: { net.ipv4.tcp_syn_retries: 2 } }`)
  const base = { ifnames: ['eth0'], setsSysctlsOutside: false, hasUserImage: false }
  t.equal(planUnsupported(s, new Map([['client', base], ['server', base]])), undefined)
  t.match(planUnsupported(s, new Map([['client', base], ['server', { ...base, hasUserImage: true }]])), /step 0: server runs its own image/)
  t.match(planUnsupported(s, new Map([['client', { ...base, setsSysctlsOutside: true }], ['server', base]])), /step 1: this backend sets client's sysctls/)
})
