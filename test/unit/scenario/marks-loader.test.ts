// What the loader says about marks (`mark:`, `since:` a mark) and sysctl guards
// that it can check before anything runs.

import t from 'tap'
import { parseScenario } from '../../../src/scenario/loader.js'
import { ScenarioError } from '../../../src/util/errors.js'

const head = `name: m\ntitle: t\nexplain: x\nhosts: { client: {}, server: {} }\nsteps:\n  - at: 0s\n    client: { run: { name: cli, cmd: [nc, server, 8000] } }\nexpect:\n`

function issues(expect: string): string[] {
  try {
    parseScenario(head + expect, 'm.yaml')
  } catch (e: unknown) {
    if (e instanceof ScenarioError) return e.message.split('\n')
    throw e
  }
  return []
}

t.test('since: a mark, or an event; anything else names the marks there are', async (t) => {
  t.same(issues(`  - packets: { on: client, flags: S, mark: syn }\n  - process: { name: cli, at: 4s, since: syn.last }\n  - process: { name: cli, at: 4s, since: cli.started }\n`), [])
  t.same(issues(`  - packets: { on: client, flags: S, mark: syn }\n  - process: { name: cli, at: 4s, since: syns.last }\n`), [
    'm.yaml:10:42 expect[1].process.since: "syns.last" is neither a mark ("syn") nor an event of a name a step defines',
  ])
  t.same(issues(`  - process: { name: cli, at: 4s, since: syn }\n`), [
    'm.yaml:9:42 expect[0].process.since: "syn" is neither a mark (no expectation sets one with mark:) nor an event of a name a step defines',
  ])
  t.same(issues(`  - process: { name: cli, at: 4s, since: "syn.0" }\n`), [
    'm.yaml:9:42 expect[0].process.since: expected an event reference like "cli.connected", or a mark like "syn", "syn.last", "syn.3"',
  ])
})

t.test('a mark may not take a socket or process name, nor measure itself, nor go round in a circle', async (t) => {
  t.match(issues(`  - packets: { on: client, flags: S, mark: cli }\n`).join('\n'), /expect\[0\]\.packets\.mark: mark "cli" has the name of a socket or process/)
  t.match(issues(`  - packets: { on: client, flags: S, mark: a, since: a, at: 1s }\n`).join('\n'), /expect\[0\]\.packets\.since: "a" is the mark this expectation sets/)
  t.match(issues(`  - packets: { on: client, flags: S, mark: a, since: b, after: 1s }\n  - packets: { on: client, flags: S., mark: b, since: a, after: 1s }\n`).join('\n'), /marks depend on each other in a circle: expectations #1 → #2 → #1/)
})

t.test('states items: since is checked too; sysctl guards: syntax and host', async (t) => {
  t.match(issues(`  - states: { on: client, sequence: [ESTAB, { state: CLOSED, at: 5s, since: nope }] }\n`).join('\n'), /expect\[0\]\.states\.sequence\[1\]\.since: "nope" is neither a mark/)
  t.same(issues(`  - process: { name: cli, when: { sysctl: "net.ipv4.tcp_syn_linear_timeouts=0", noSysctl: ["client:net.ipv4.tcp_syn_retries>2"] } }\n`), [])
  t.match(issues(`  - process: { name: cli, when: { sysctl: "nowhere:net.ipv4.tcp_syn_retries=2" } }\n`).join('\n'), /expect\[0\]\.process\.when\.sysctl: unknown host "nowhere"/)
  t.match(issues(`  - process: { name: cli, when: { sysctl: "net.ipv4.tcp_syn_retries=>2" } }\n`).join('\n'), /when\.sysctl: expected a sysctl key, or KEY=VALUE/)
})
