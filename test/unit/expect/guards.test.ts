// `when:` guards on the values of sysctls in force, on two real runs of
// seed-syn-drop-timeout: the scenario's own tcp_syn_linear_timeouts=2 on the
// client (the server keeps the kernel's 4), and the same run with
// --sysctl net.ipv4.tcp_syn_linear_timeouts=0 (test/fixtures/runs/linear-0).

import { join } from 'node:path'
import t from 'tap'
import { parseSysctlGuard, valueSatisfies } from '../../../src/expect/guards.js'
import { contextOf, evaluate, loadFixture, TIMELINES } from './timeline-fixture.js'

const syn = loadFixture('seed-syn-drop-timeout')
const lin0 = loadFixture('seed-syn-drop-timeout', join(TIMELINES, '../runs/linear-0/seed-syn-drop-timeout'))
// The linear schedule: 0, 1, 2, 3, 5 s.
const linear = (when: unknown): unknown => ({ packets: { on: 'client', dir: 'out', flags: 'S', gaps: ['1s', '1s', '1s', '2s'], tolerance: { floor: '100ms', percent: 10 }, when } })
const expo = (when: unknown): unknown => ({ packets: { on: 'client', dir: 'out', flags: 'S', gaps: ['1s', '2s'], tolerance: { floor: '100ms', percent: 10 }, when } })

t.test('the recorded values in force', async (t) => {
  t.equal(syn.env.hosts.client?.sysctls['net.ipv4.tcp_syn_linear_timeouts'], '2')
  t.equal(syn.env.hosts.server?.sysctls['net.ipv4.tcp_syn_linear_timeouts'], '4')
  t.equal(lin0.env.hosts.client?.sysctls['net.ipv4.tcp_syn_linear_timeouts'], '0')
})

t.test('today\'s existence test runs the linear expectation on a run where the key is 0, and it fails', async (t) => {
  const r = evaluate(contextOf(lin0), linear({ sysctl: 'net.ipv4.tcp_syn_linear_timeouts' }))
  t.equal(r.status, 'fail', 'the key exists, so it applies: the case the value guard is for')
})

t.test('KEY=VALUE: applies where the value in force is that, skips elsewhere with the value seen', async (t) => {
  const guard = { sysctl: 'net.ipv4.tcp_syn_linear_timeouts=2' }
  t.equal(evaluate(contextOf(syn), linear(guard)).status, 'pass')
  const skipped = evaluate(contextOf(lin0), linear(guard))
  t.equal(skipped.status, 'skip')
  t.equal(skipped.reason, 'needs net.ipv4.tcp_syn_linear_timeouts = 2; in force: client: 0', 'on the expectation\'s host (on: client)')
  // The exponential schedule for "absent or 0": noSysctl KEY>0.
  const unless = { noSysctl: 'net.ipv4.tcp_syn_linear_timeouts>0' }
  t.equal(evaluate(contextOf(lin0), expo(unless)).status, 'pass')
  const s = evaluate(contextOf(syn), expo(unless))
  t.equal(s.status, 'skip')
  t.equal(s.reason, 'applies unless net.ipv4.tcp_syn_linear_timeouts > 0; in force: client: 2')
})

t.test('a changed value makes the guarded expectation apply, and fail with its delta', async (t) => {
  // Guard written for 0 on the run with 0, but the schedule of 2: it applies and fails.
  const r = evaluate(contextOf(lin0), linear({ sysctl: 'net.ipv4.tcp_syn_linear_timeouts=0' }))
  t.equal(r.status, 'fail')
  t.equal(r.measured, '3 packets (expected 5); gaps 1.002s, 2.016s')
  // Guard on the wrong value: skipped, not passed.
  t.equal(evaluate(contextOf(syn), linear({ sysctl: 'net.ipv4.tcp_syn_linear_timeouts=3' })).status, 'skip')
})

t.test('>, <, >=, <=, != and lists; the host: the guard\'s own, the expectation\'s, else every host', async (t) => {
  const ctx = contextOf(syn)
  t.equal(evaluate(ctx, linear({ sysctl: 'net.ipv4.tcp_syn_linear_timeouts>1' })).status, 'pass')
  t.equal(evaluate(ctx, linear({ sysctl: 'net.ipv4.tcp_syn_linear_timeouts<2' })).status, 'skip')
  t.equal(evaluate(ctx, linear({ sysctl: 'net.ipv4.tcp_syn_linear_timeouts<=2' })).status, 'pass')
  t.equal(evaluate(ctx, linear({ sysctl: 'net.ipv4.tcp_syn_linear_timeouts!=2' })).status, 'skip')
  t.equal(evaluate(ctx, linear({ sysctl: ['net.ipv4.tcp_syn_retries=2', 'net.ipv4.tcp_syn_linear_timeouts>=2'] })).status, 'pass')
  t.equal(evaluate(ctx, linear({ sysctl: ['net.ipv4.tcp_syn_retries=3', 'net.ipv4.tcp_syn_linear_timeouts>=2'] })).status, 'skip')
  // The counter is on the server (value 4): name the client in the guard.
  const counter = (when: unknown): unknown => ({ counter: { on: 'server', name: 'drop-syn', packets: 5, when } })
  const onServer = evaluate(ctx, counter({ sysctl: 'net.ipv4.tcp_syn_linear_timeouts=2' }))
  t.equal(onServer.status, 'skip')
  t.equal(onServer.reason, 'needs net.ipv4.tcp_syn_linear_timeouts = 2; in force: server: 4')
  t.equal(evaluate(ctx, counter({ sysctl: 'client:net.ipv4.tcp_syn_linear_timeouts=2' })).status, 'pass')
  // No host at all (a process): every host must agree.
  const proc = evaluate(ctx, { process: { name: 'cli', exit: 1, when: { sysctl: 'net.ipv4.tcp_syn_linear_timeouts=2' } } })
  t.equal(proc.status, 'skip')
  t.equal(proc.reason, 'needs net.ipv4.tcp_syn_linear_timeouts = 2; in force: client: 2, server: 4')
  t.equal(evaluate(ctx, { process: { name: 'cli', exit: 1, when: { sysctl: 'net.ipv4.tcp_syn_linear_timeouts>=2' } } }).status, 'pass')
  // A key this kernel lacks never satisfies a value guard.
  t.match(evaluate(ctx, linear({ sysctl: 'net.ipv4.tcp_no_such_key=1' })).reason, /^needs net\.ipv4\.tcp_no_such_key = 1; in force: client: \(absent\)$/)
})

t.test('guard parsing and comparison', async (t) => {
  t.same(parseSysctlGuard('client: net.ipv4.tcp_rmem = 4096 131072 6291456'), { host: 'client', key: 'net.ipv4.tcp_rmem', op: '=', value: '4096 131072 6291456', text: 'client: net.ipv4.tcp_rmem = 4096 131072 6291456' })
  t.equal(parseSysctlGuard('net.ipv4.tcp_syn_retries')?.op, undefined)
  t.equal(parseSysctlGuard('not a key'), undefined)
  t.ok(valueSatisfies('4096\t131072 6291456', '=', '4096 131072  6291456'), 'whitespace runs are one space')
  t.ok(valueSatisfies('cubic', '!=', 'bbr'))
  t.notOk(valueSatisfies('cubic', '>', 'bbr'), 'no order on words')
  t.ok(valueSatisfies('10', '>', '9'), 'numbers compare as numbers, not text')
})
