// Steps after a mark (`after: zw`, `after: reads.2` plus `delay:`): what the
// loader accepts and refuses before anything runs, and how the plan gates them.

import t from 'tap'
import { parseScenario } from '../../../src/scenario/loader.js'
import { stepMarkOf, type StepMark } from '../../../src/scenario/marks.js'
import { compilePlan } from '../../../src/runner/plan.js'
import { ScenarioError } from '../../../src/util/errors.js'

const head = `name: m
title: t
explain: x
hosts: { client: {}, server: {} }
steps:
  - at: 0s
    server: { listen: { name: srv, port: 8000, as: conn } }
  - at: 100ms
    client: { connect: { name: cli, to: "server:8000" } }
`

function issues(text: string): string[] {
  try {
    parseScenario(head + text, 'm.yaml')
  } catch (e: unknown) {
    if (e instanceof ScenarioError) return e.message.split('\n')
    throw e
  }
  return []
}

const EXPECT = `expect:
  - event: { socket: conn, type: accepted, mark: acc }
  - event: { socket: cli, type: read, match: { n: ">0" }, mark: reads }
  - event: { socket: cli, type: closed, at: 200ms, since: reads.2, mark: shut }
  - process: { name: pr, exit: 0, mark: gone }
  - packets: { on: client, dir: out, flags: S, mark: syn }
  - ss: { on: server, socket: conn, match: { state: ESTAB }, mark: est }
  - states: { on: client, socket: cli, sequence: [ESTAB], mark: st }
  - process: { name: pr, at: 1s, since: syn.last, mark: late }
`

t.test('after: a mark of an event, process or packets expectation is accepted, with a delay', async (t) => {
  t.same(issues(`  - after: acc\n    delay: 300ms\n    server: { send: { socket: conn, data: "a" } }\n  - after: reads.2\n    client: { close: { socket: cli } }\n  - after: cli.connected\n    client: { run: { name: pr, cmd: ["true"] } }\n  - after: gone.first\n    delay: 50ms\n    server: { close: { socket: conn } }\n${EXPECT}`), [])
})

t.test('after: a packets mark: the runner evaluates it from the captures as they come, on the hosts it reads', async (t) => {
  t.same(issues(`  - after: syn\n    delay: 100ms\n    client: { close: { socket: cli } }\n  - wait: { for: zw.2 }\n  - server: { close: { socket: conn } }\n  - at: 5s\n    client: { run: { name: pr, cmd: ["true"] } }\n${EXPECT}  - packets: { on: server, dir: out, socket: conn, win: 0, since: syn, mark: zw }\n`), [])
  const m = stepMarkOf('syn', [{ packets: { on: 'client', dir: 'out', flags: 'S', mark: 'syn' } }])
  t.match(m, { name: 'syn', pick: 'first', gateRef: 'mark:syn.first', direct: undefined, namedSockets: false, setters: [0] })
  t.same([...(m as StepMark).packetHosts], ['client'])
  t.same([...(m as StepMark).names], [], 'no socket or process name: the client\'s packets are what it waits for')
  // Measured since a packets mark, by socket: both hosts' captures, and the names for the loader's check.
  const zw = stepMarkOf('zw.2', [
    { packets: { on: 'client', dir: 'out', flags: 'S', mark: 'syn' } },
    { packets: { on: 'server', dir: 'out', socket: 'conn', win: 0, since: 'syn', mark: 'zw' } },
  ]) as StepMark
  t.same([[...zw.packetHosts].sort(), [...zw.names], zw.namedSockets, zw.setters], [['client', 'server'], ['conn'], true, [0, 1]])
  // A socket no earlier step defines: the step would wait for itself.
  t.match(issues(`  - after: zz\n    client: { close: { socket: cli } }\n  - at: 1s\n    client: { connect: { name: c2, to: "server:8000" } }\nexpect:\n  - packets: { on: client, socket: c2, flags: S, mark: zz }\n`).join('\n'), /steps\[2\]\.after: the mark "zz" is measured on "c2", which no earlier step defines/)
})

t.test('marks a step cannot wait for: exit 2 material, with file:line:col', async (t) => {
  const steps = (after: string): string => `  - after: ${after}\n    server: { close: { socket: conn } }\n  - at: 5s\n    client: { run: { name: pr, cmd: ["true"] } }\n`
  // ss marks: only a sample that matches (quantifier eventually, the default without a window) is a moment as it comes.
  t.same(issues(steps('al') + EXPECT + '  - ss: { on: server, socket: conn, match: { state: ESTAB }, during: [0s, 2s], mark: al }\n'), [
    'm.yaml:10:12 steps[2].after: a step cannot wait for the mark "al": it is set by a ss expectation (#9), and with quantifier always (the default with a window) its moments count only if every sample of the window matches, which is known when the window ends; for the first sample that matches, write quantifier: eventually',
  ])
  t.match(issues(steps('al') + EXPECT + '  - ss: { on: server, socket: conn, match: { state: ESTAB }, quantifier: always, mark: al }\n').join('\n'), /set by a ss expectation \(#9\), and with quantifier always its moments count only if every sample/)
  t.match(issues(steps('nv') + EXPECT + '  - ss: { on: server, socket: conn, match: { state: CLOSE-WAIT }, quantifier: never, mark: nv }\n').join('\n'), /steps\[2\]\.after: a step cannot wait for the mark "nv": it is set by a ss expectation \(#9\), and quantifier never marks no moment; for the first sample that matches, write quantifier: eventually/)
  t.match(issues(steps('one') + EXPECT + '  - ss: { on: server, socket: { local: 8000, state: CLOSE-WAIT }, sockets: 1, mark: one }\n').join('\n'), /mark "one": it is set by a ss expectation \(#9\), and counts and trends over samples \(sockets:\) mark no moment/)
  t.match(issues(steps('up') + EXPECT + '  - ss: { on: server, socket: conn, trend: { rto: increases }, mark: up }\n').join('\n'), /mark "up": it is set by a ss expectation \(#9\), and counts and trends over samples \(trend:\) mark no moment/)
  // states marks: the last transition of a sequence, not exact.
  t.match(issues(steps('ex') + EXPECT + '  - states: { on: client, socket: cli, sequence: [ESTAB, FIN-WAIT-2], exact: true, mark: ex }\n').join('\n'), /m\.yaml:10:12 steps\[2\]\.after: a step cannot wait for the mark "ex": it is set by a states expectation \(#9\), and exact: a sequence that matches now may gain a state later/)
  t.same(issues(steps('fw') + EXPECT + '  - states: { on: client, socket: cli, sequence: [ESTAB, FIN-WAIT-2], mark: fw }\n'), [
    'm.yaml:10:12 steps[2].after: a step cannot wait for fw (ESTAB): the mark "fw" is set by a states expectation (#9), whose moments (its transitions: ESTAB → FIN-WAIT-2) are known together once the last, FIN-WAIT-2, is seen, so the step would always run late; wait for fw.2 (FIN-WAIT-2), or mark a sequence that ends with the state to wait for',
  ])
  t.match(issues(steps('fw.3') + EXPECT + '  - states: { on: client, socket: cli, sequence: [ESTAB, FIN-WAIT-2], mark: fw }\n').join('\n'), /steps\[2\]\.after: a step cannot wait for fw\.3: the mark "fw" is set by a states expectation \(#9\) whose moments are the 2 transitions of its sequence \(ESTAB → FIN-WAIT-2\); there is no moment #3/)
  t.same(issues(steps('reads.last') + EXPECT), [
    'm.yaml:10:12 steps[2].after: a step cannot wait for reads.last: the last moment of a mark is known only when the run ends; wait for reads (its first moment) or reads.N (the nth)',
  ])
  // Through since: a mark measured since another's last moment, or since an ss mark.
  t.match(issues(steps('late') + EXPECT).join('\n'), /steps\[2\]\.after: a step cannot wait for the mark "late": expectation #8 measures it since syn.last, whose last moment is known only when the run ends/)
  t.match(issues(steps('late2') + EXPECT + '  - ss: { on: server, socket: conn, match: { state: ESTAB }, quantifier: always, mark: al }\n  - process: { name: pr, at: 1s, since: al.2, mark: late2 }\n').join('\n'), /steps\[2\]\.after: a step cannot wait for the mark "al" \(through "late2", measured since al.2\): it is set by a ss expectation \(#9\), and with quantifier always/)
  // A packets mark in a scenario that captures nothing would never come.
  t.same(issues(`${steps('syn')}capture: false\n${EXPECT}`), [
    'm.yaml:10:12 steps[2].after: the mark "syn" is set by packets, and this scenario captures none (capture: false): the step would never run',
  ])
  t.same(issues(steps('nope') + EXPECT), [
    'm.yaml:10:12 steps[2].after: "nope" is neither an event (NAME.EVENT) nor a mark (marks: "acc", "reads", "shut", "gone", "syn", "est", "st", "late")',
  ])
  t.match(issues(steps('nope.2') + EXPECT).join('\n'), /steps\[2\]\.after: "nope\.2" refers to "nope", which no earlier step defines \(run name or socket name\), and is not a mark \(marks: "acc"/)
  t.match(issues(steps('nope.first') + EXPECT).join('\n'), /steps\[2\]\.after: "nope\.first" refers to "nope", which no earlier step defines \(run name or socket name\), and is not a mark \(marks: "acc"/)
  t.match(issues(steps('"reads.0"') + EXPECT).join('\n'), /steps\[2\]\.after: expected an event reference like "cli.connected", or a mark like "zw" or "zw.2"/)
  t.same(issues(steps('{ mark: reads }') + EXPECT), [
    'm.yaml:10:12 steps[2].after: expected an event ("cli.connected") or a mark, written as in since: ("zw", "zw.2"), got a mapping',
  ])
})

t.test('a step that would wait for itself: its mark is measured on a name it, or a later step, defines', async (t) => {
  // gone is the exit of pr, which this very step starts: a cycle.
  t.same(issues(`  - after: gone\n    client: { run: { name: pr, cmd: ["true"] } }\n${EXPECT}`), [
    'm.yaml:10:12 steps[2].after: the mark "gone" is measured on "pr", which no earlier step defines: the step would wait for a moment that only it, or a step after it, can bring about',
  ])
  // shut counts since reads.2 on cli, and is the close of cli: fine; but measured since an event of a later name, not.
  t.match(issues(`  - after: m2\n    server: { close: { socket: conn } }\n  - at: 1s\n    client: { run: { name: pr, cmd: ["true"] } }\nexpect:\n  - event: { socket: cli, type: read, since: pr.started, mark: m2 }\n`).join('\n'), /steps\[2\]\.after: the mark "m2" is measured on "pr", which no earlier step defines/)
  // Marks in a circle stay a load error.
  t.match(issues(`  - after: a\n    server: { close: { socket: conn } }\nexpect:\n  - event: { socket: cli, type: read, since: b, mark: a }\n  - event: { socket: cli, type: eof, since: a, mark: b }\n`).join('\n'), /marks depend on each other in a circle/)
  t.match(issues(`  - at: 1s\n    delay: 1s\n    server: { close: { socket: conn } }\nexpect:\n  - event: { socket: cli, type: read }\n`).join('\n'), /steps\[2\]\.delay: delay only applies to after: EVENT or MARK/)
})

t.test('the plan: the agent gates a plain first event itself; the rest waits for the runner\'s trigger', async (t) => {
  const { scenario } = parseScenario(`${head}  - at: 200ms
    client: { run: { name: pr, cmd: ["true"] } }
  - after: acc
    delay: 300ms
    server: { send: { socket: conn, data: "a" } }
  - after: reads.2
    delay: 100ms
    server: { close: { socket: conn } }
  - after: gone
    client: { close: { socket: cli } }
${EXPECT}`, 'm.yaml')
  const facts = new Map([['client', { addr: '198.18.0.1', ifname: 'eth0' }], ['server', { addr: '198.18.0.2', ifname: 'eth0' }]])
  const hosts = new Map([['client', { ifnames: ['eth0'] }], ['server', { ifnames: ['eth0'] }]])
  const p = compilePlan(scenario, 0, facts, hosts)
  const gates = p.steps.filter((c) => c.sub === 0).map((c) => c.gate)
  t.same(gates.slice(3), [
    { on: 'conn.accepted', delayMs: 300 },
    { on: 'mark:reads.2', delayMs: 100 },
    { on: 'pr.exited', delayMs: 0 },
  ])
  t.same([...p.eventRefs.keys()].sort(), ['conn.accepted', 'pr.exited'], 'direct gates: the agents relay them like any event')
  t.same([...p.markRefs.keys()], ['mark:reads.2'], 'the rest: the runner evaluates and triggers')
  t.same([...(p.markRefs.get('mark:reads.2')?.hosts ?? [])], ['server'])
})

t.test('wait: { for: MARK } takes marks as after: does', async (t) => {
  t.same(issues(`  - wait: { for: reads.2, timeout: 5s }\n  - server: { close: { socket: conn } }\n  - at: 5s\n    client: { run: { name: pr, cmd: ["true"] } }\n${EXPECT}`), [])
  t.match(issues(`  - wait: { for: ex }\n  - server: { close: { socket: conn } }\n${EXPECT}  - states: { on: client, socket: cli, sequence: [ESTAB], exact: true, mark: ex }\n`).join('\n'), /m\.yaml:10:18 steps\[2\]\.wait\.for: a step cannot wait for the mark "ex": it is set by a states expectation \(#9\), and exact/)
  t.same(issues(`  - wait: { for: est }\n  - server: { close: { socket: conn } }\n  - wait: { for: st }\n  - at: 5s\n    client: { run: { name: pr, cmd: ["true"] } }\n${EXPECT}`), [], 'an ss mark (eventually) and a states one: fine')
  t.same(issues(`  - wait: { for: syn.2 }\n  - server: { close: { socket: conn } }\n  - at: 5s\n    client: { run: { name: pr, cmd: ["true"] } }\n${EXPECT}`), [], 'a packets mark: fine')
  t.match(issues(`  - wait: { for: { mark: reads } }\n  - server: { close: { socket: conn } }\n${EXPECT}`).join('\n'), /steps\[2\]\.wait: expected a duration \("2s"\) or \{ for: EVENT or MARK \("cli\.error", "zw\.2"\), timeout \}, got a mapping/)
  const { scenario } = parseScenario(`${head}  - at: 200ms\n    client: { run: { name: pr, cmd: ["true"] } }\n  - wait: { for: reads.2 }\n  - wait: 100ms\n  - server: { close: { socket: conn } }\n  - wait: { for: gone }\n  - server: { send: { socket: conn, data: "x" } }\n${EXPECT}`, 'm.yaml')
  const facts = new Map([['client', { addr: '198.18.0.1', ifname: 'eth0' }], ['server', { addr: '198.18.0.2', ifname: 'eth0' }]])
  const hosts = new Map([['client', { ifnames: ['eth0'] }], ['server', { ifnames: ['eth0'] }]])
  const p = compilePlan(scenario, 0, facts, hosts)
  t.same(p.steps.filter((c) => c.sub === 0).slice(3).map((c) => c.gate), [{ on: 'mark:reads.2', delayMs: 100 }, { on: 'pr.exited', delayMs: 0 }])
  t.same([...p.markRefs.keys()], ['mark:reads.2'])
})

t.test('stepMarkOf: direct gates only for exactly the first SRC.TYPE, or a process exit', async (t) => {
  const ex = (body: string): Array<Record<string, unknown>> => (parseScenario(`${head}  - at: 200ms\n    client: { run: { name: pr, cmd: ["true"] } }\n${body}`, 'm.yaml').scenario.expect as unknown as Array<Record<string, unknown>>)
  const list = ex(EXPECT)
  t.match(stepMarkOf('acc', list), { name: 'acc', pick: 'first', gateRef: 'mark:acc.first', direct: 'conn.accepted' })
  t.match(stepMarkOf('acc.2', list), { gateRef: 'mark:acc.2', direct: undefined })
  t.match(stepMarkOf('reads', list), { direct: undefined })
  t.match(stepMarkOf('gone', list), { direct: 'pr.exited' })
  t.match(stepMarkOf('shut', list), { setters: [1, 2], direct: undefined })
  t.same([...(stepMarkOf('shut', list) as { names: Set<string> }).names].sort(), ['cli'])
  t.equal(stepMarkOf('cli.connected', list), undefined)
})
