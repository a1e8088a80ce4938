// Windows, tolerances, endpoints and kernel constraints (src/expect/context.ts),
// on a recorded timeline where times matter.

import t from 'tap'
import {
  DEFAULT_TOLERANCE, eventTime, inWindow, kernelSatisfies, matchesEndpoint, resolveEndpoint, resolveWindow,
  splitHostPort, toleranceFor, toleranceOf, type Window, type WindowSpec,
} from '../../../src/expect/context.js'
import { contextOf, evaluate, loadFixture, timeOf } from './timeline-fixture.js'

const recvq = loadFixture('seed-recvq-stalled-reader')
const syn = loadFixture('seed-syn-drop-timeout')

function win(w: Window | string): Window {
  if (typeof w === 'string') throw new Error(`expected a window, got "${w}"`)
  return w
}

t.test('the fixture context is the one the runner builds', async (t) => {
  const ctx = contextOf(recvq)
  t.equal(ctx.endT, ctx.records[ctx.records.length - 1]?.t, 'endT is the last record')
  t.same(Object.fromEntries(ctx.hosts), { client: ['198.19.60.1'], server: ['198.19.60.2'] })
  t.equal(ctx.kernel, '6.18.44-fc-v445')
  t.ok(ctx.hasSysctl('net.ipv4.tcp_syn_linear_timeouts'), 'a 6.18 kernel has tcp_syn_linear_timeouts')
  t.notOk(ctx.hasSysctl('net.ipv4.tcp_no_such_thing'))
  t.same(ctx.tolerance, { floorMs: 50, percent: 10 })
})

t.test('resolveWindow: every window form, relative to t0 or to an event', async (t) => {
  const ctx = contextOf(recvq)
  const started = timeOf(recvq, 'srv', 'started')
  t.equal(started, 0.160472)

  t.same(resolveWindow({}, ctx), { from: 0, to: ctx.endT, refT: 0, text: 'during the whole run' })
  t.same(resolveWindow({ since: 'srv.started' }, ctx), { from: started, to: ctx.endT, refT: started, text: 'after srv.started' })

  // at: ± max(floor 50ms, 10% of the interval since the reference)
  const at2 = win(resolveWindow({ at: 2000 }, ctx))
  t.equal(at2.from, 1.8)
  t.equal(at2.to, 2.2)
  t.equal(at2.text, 'at 2s ±200ms')
  const at300 = win(resolveWindow({ at: 300 }, ctx))
  t.same([at300.from, at300.to, at300.text], [0.25, 0.35, 'at 300ms ±50ms'], 'the floor wins for short intervals')
  const atSince = win(resolveWindow({ at: 1000, since: 'srv.started' }, ctx))
  t.equal(atSince.refT, started)
  t.ok(Math.abs(atSince.from - (started + 0.9)) < 1e-9 && Math.abs(atSince.to - (started + 1.1)) < 1e-9, `${atSince.from}..${atSince.to}`)
  t.equal(atSince.text, 'at 1s ±100ms after srv.started')

  const during = win(resolveWindow({ during: [1000, 'end'] }, ctx))
  t.same(during, { from: 1, to: ctx.endT, refT: 0, text: 'during [1s, end]' })
  const duringSince = win(resolveWindow({ during: [1000, 'end'], since: 'srv.started' }, ctx))
  t.same(duringSince, { from: started + 1, to: ctx.endT, refT: started, text: 'during [1s, end] after srv.started' }, '"end" is the end of the run, not end + since')
  const duringAB = win(resolveWindow({ during: [500, 2500], since: 'srv.started' }, ctx))
  t.same([duringAB.from, duringAB.to], [started + 0.5, started + 2.5])

  t.same(resolveWindow({ before: 1000 }, ctx), { from: 0, to: 1, refT: 0, text: 'before 1s (since t0)' })
  t.same(resolveWindow({ after: 1000 }, ctx), { from: 1, to: ctx.endT, refT: 0, text: 'after 1s (since t0)' })
  t.same(resolveWindow({ after: 1000, before: 2000 }, ctx), { from: 1, to: 2, refT: 0, text: 'after 1s and before 2s (since t0)' })
  const afterSince = win(resolveWindow({ after: 1000, since: 'srv.started' }, ctx))
  t.same([afterSince.from, afterSince.to, afterSince.text], [started + 1, ctx.endT, 'after 1s after srv.started'])

  t.equal(resolveWindow({ at: [1000, 2000] }, ctx), 'a list of times (at: [...]) applies to packets and event expectations only',
    'a list is not a window (packets and event take it out of the spec first)')
  t.equal(resolveWindow({ since: 'srv.connected' }, ctx), 'the reference event srv.connected never happened')
  t.equal(resolveWindow({ at: 1000, since: 'nobody.started' }, ctx), 'the reference event nobody.started never happened')
})

t.test('inWindow includes both bounds', async (t) => {
  const w: Window = { from: 1, to: 2, refT: 0, text: '' }
  t.ok(inWindow(1, w))
  t.ok(inWindow(2, w))
  t.notOk(inWindow(0.999999, w))
  t.notOk(inWindow(2.000001, w))
})

t.test('tolerance rule: max(floor, percent x interval)', async (t) => {
  t.same(DEFAULT_TOLERANCE, { floorMs: 50, percent: 10 })
  t.equal(toleranceFor({ floorMs: 50, percent: 10 }, 200), 50, 'floor')
  t.equal(toleranceFor({ floorMs: 50, percent: 10 }, 500), 50, 'equal arms')
  t.equal(toleranceFor({ floorMs: 50, percent: 10 }, 3000), 300, 'percent')
  t.equal(toleranceFor({ floorMs: 4, percent: 12.5 }, 1000), 125, 'packetdrill\'s 4 ms / 12.5 %')
  t.equal(toleranceFor({ floorMs: 50, percent: 10 }, -3000), 300, 'the interval\'s sign does not matter')
  t.equal(toleranceFor({ floorMs: 0, percent: 0 }, 3000), 0)

  const ctx = contextOf(recvq)
  const rule = (tolerance: WindowSpec['tolerance']) => toleranceOf({ tolerance }, ctx)
  t.same(rule(undefined), ctx.tolerance, 'the scenario\'s rule by default')
  t.same(rule(100), { floorMs: 100, percent: 10 }, 'a duration sets the floor, the percent stays')
  t.same(rule({ percent: 5 }), { floorMs: 50, percent: 5 })
  t.same(rule({ floor: 200 }), { floorMs: 200, percent: 10 })
  t.same(rule({ floor: 200, percent: 5 }), { floorMs: 200, percent: 5 })
  t.same(toleranceOf({}, { ...ctx, tolerance: { floorMs: 7, percent: 3 } }), { floorMs: 7, percent: 3 }, 'the run\'s --tolerance')
})

t.test('tolerance boundary on a real SYN (single at): floor arm and percent arm, 1 µs either side', async (t) => {
  // seed-syn-drop-timeout: cli.started at 0.464574s, its second SYN at 1.497394s,
  // i.e. 1032.820 ms after it. Expected `at: 1s` => |delta| = 32.820 ms.
  const ctx = contextOf(syn)
  t.equal(timeOf(syn, 'cli', 'started'), 0.464574)
  const synAt = (tolerance: unknown) => evaluate(ctx, {
    packets: { on: 'client', dir: 'out', flags: 'S', at: '1s', since: 'cli.started', tolerance },
  })
  // Floor arm: max(32.821, 1% x 1000 = 10) = 32.821 >= 32.820.
  const floorIn = synAt({ floor: '32.821ms', percent: 1 })
  t.equal(floorIn.status, 'pass')
  t.equal(floorIn.expected, '[S] out on client at 1s ±32.8ms after cli.started')
  t.equal(floorIn.measured, '1 packets at 1.033s')
  t.equal(floorIn.deltaMs, 32.82)
  t.equal(floorIn.toleranceMs, 32.821)
  t.equal(synAt({ floor: '32.819ms', percent: 1 }).status, 'fail', '1 µs short of the delta')
  // Percent arm: max(10, 3.2821% x 1000 = 32.821).
  t.equal(synAt({ floor: '10ms', percent: 3.2821 }).status, 'pass')
  const pctOut = synAt({ floor: '10ms', percent: 3.2819 })
  t.equal(pctOut.status, 'fail')
  t.equal(pctOut.measured, 'no matching packet in the window; nearest at 1.033s', 'a miss names the nearest packet')
  t.equal(pctOut.deltaMs, 32.82)
  t.ok(Math.abs((pctOut.toleranceMs ?? 0) - 32.819) < 1e-9, `tolerance ${pctOut.toleranceMs}`)
  t.equal(pctOut.t, 1.497394, 'points at the nearest packet')
  // A bare duration is the floor (the percent stays the default 10 % = 100 ms here).
  t.equal(synAt('20ms').status, 'pass', 'max(20, 100)')
  t.equal(synAt({ floor: '20ms', percent: 0 }).status, 'fail', 'max(20, 0)')
})

t.test('endpoints: host names, ports, addresses', async (t) => {
  const ctx = contextOf(recvq)
  t.same(resolveEndpoint('server', ctx), { addrs: ['198.19.60.2'], port: undefined })
  t.same(resolveEndpoint('server:8000', ctx), { addrs: ['198.19.60.2'], port: 8000 })
  t.same(resolveEndpoint(':8000', ctx), { port: 8000 })
  t.same(resolveEndpoint(8000, ctx), { port: 8000 })
  t.same(resolveEndpoint('*', ctx), {})
  t.same(resolveEndpoint('*:8000', ctx), { port: 8000 })
  t.same(resolveEndpoint('198.19.60.1:57472', ctx), { addrs: ['198.19.60.1'], port: 57472 })
  t.same(resolveEndpoint('[::1]:8000', ctx), { addrs: ['::1'], port: 8000 })
  t.same(resolveEndpoint('[::1]', ctx), { addrs: ['::1'], port: undefined })
  // The schema's Endpoint accepts a bare IPv6 address; it has no port.
  t.same(resolveEndpoint('fe80::1', ctx), { addrs: ['fe80::1'], port: undefined }, 'not "fe80:" port 1')
  t.same(resolveEndpoint('::1', ctx), { addrs: ['::1'], port: undefined })
  t.same(resolveEndpoint('[2001:db8::2]:443', ctx), { addrs: ['2001:db8::2'], port: 443 })

  t.ok(matchesEndpoint('198.19.60.2', 8000, { addrs: ['198.19.60.2'], port: 8000 }))
  t.notOk(matchesEndpoint('198.19.60.2', 8001, { addrs: ['198.19.60.2'], port: 8000 }))
  t.notOk(matchesEndpoint('198.19.60.1', 8000, { addrs: ['198.19.60.2'], port: 8000 }))
  t.ok(matchesEndpoint('198.19.60.1', 1, {}), 'an empty endpoint matches anything')

  // ss's address:port forms (ss(8)).
  t.same(splitHostPort('198.19.60.2:8000'), { addr: '198.19.60.2', port: 8000 })
  t.same(splitHostPort('0.0.0.0:*'), { addr: '0.0.0.0', port: 0 })
  t.same(splitHostPort('*:*'), { addr: '*', port: 0 })
  t.same(splitHostPort('[::]:8000'), { addr: '::', port: 8000 })
  t.same(splitHostPort('[::ffff:198.19.60.1]:57472'), { addr: '::ffff:198.19.60.1', port: 57472 })
  t.same(splitHostPort('[fe80::1]%eth0:22'), { addr: 'fe80::1', port: 22 })
  t.same(splitHostPort('127.0.0.1%lo:53'), { addr: '127.0.0.1', port: 53 })
})

t.test('eventTime: the first NAME.TYPE', async (t) => {
  const ctx = contextOf(recvq)
  t.equal(eventTime(ctx, 'srv.started'), 0.160472)
  t.equal(eventTime(ctx, 'srv.exited'), 5.129263)
  t.equal(eventTime(ctx, 'srv.connected'), undefined)
  t.equal(eventTime(ctx, 'nobody.started'), undefined)
  const twice = contextOf(recvq, {}, [
    { kind: 'event', t: 4, host: 'server', source: 'srv', type: 'stdout', text: 'later', data: { synthetic: true } },
  ])
  t.equal(eventTime(twice, 'srv.stdout'), 3.108694, 'the first one, not the last')
})

t.test('kernel constraints', async (t) => {
  const k = '6.18.44-fc-v445'
  const cases: Array<[string, boolean]> = [
    ['>=6.5', true], ['>=6.18.44', true], ['>6.18.44', false], ['>6.18', false], ['>=6.19', false],
    ['<6.5', false], ['<7', true], ['<=6.18', true], ['=6.18', true], ['=6.18.43', false], ['6.18', true],
    ['=6', true], ['>=4.18', true], ['nonsense', false], ['>=6.x', false],
  ]
  for (const [c, want] of cases) t.equal(kernelSatisfies(k, c), want, `${k} ${c}`)
  t.ok(kernelSatisfies('4.18.0-553.el8_10.x86_64', '<5'), 'a RHEL 8 release string')
  t.notOk(kernelSatisfies('4.18.0-553.el8_10.x86_64', '>=6.5'))
})
