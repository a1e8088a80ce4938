// Live ss and states marks keep only what they need of the samples
// (src/expect/live-samples.ts) and yet give the moments the end of the run
// gives: on every recorded timeline, for setters made from what each run's
// sockets went through (every state seen, every pair of states in order, with
// and without a window that starts amid a stretch), evaluated after each
// sample over what is kept and over everything so far. And a mark that reads
// several hosts waits until each has been sampled past its moment.

import t from 'tap'
import { compactSamples, type SampleNeed } from '../../../src/expect/live-samples.js'
import { evaluateExpectation } from '../../../src/expect/index.js'
import { LiveMarks } from '../../../src/expect/live-marks.js'
import { nameSockets } from '../../../src/runner/name-sockets.js'
import { emptyMarkTable } from '../../../src/expect/marks.js'
import { ssField } from '../../../src/expect/ss.js'
import type { SsRecord, TimelineRecord } from '../../../src/recorder/records.js'
import { Expectation } from '../../../src/scenario/schema.js'
import { contextOf, evaluateList, FIXTURE_NAMES, loadFixture, markOf, sampleBatches } from './timeline-fixture.js'


/** Setters from what the run's sockets went through: per host and local port, each state seen, and each socket's first and last states in order. */
function settersOf(records: readonly TimelineRecord[]): Array<Record<string, unknown>> {
  const runs = new Map<string, { host: string; lport: number; rport: number; states: string[]; t: number[] }>()
  for (const r of records) {
    if (r.kind !== 'ss') continue
    const key = `${r.host} ${r.local} ${r.peer}`
    const s = runs.get(key) ?? { host: r.host, lport: r.localPort, rport: r.peerPort, states: [], t: [] }
    if (s.states[s.states.length - 1] !== r.state) s.states.push(r.state)
    s.t.push(r.t)
    runs.set(key, s)
  }
  const out: Array<Record<string, unknown>> = []
  for (const s of runs.values()) {
    const socket = s.rport === 0 ? { local: s.lport } : { local: s.lport, peer: s.rport }
    // Amid the socket's life: a window that starts in the middle of a stretch.
    const mid = `${Math.round(((s.t[0] as number) + (s.t[s.t.length - 1] as number)) / 2 * 1000)}ms`
    const [first, last] = [s.states[0] as string, s.states[s.states.length - 1] as string]
    out.push({ states: { on: s.host, socket, sequence: first === last ? [first] : [first, last] } })
    out.push({ states: { on: s.host, socket, sequence: [last, 'CLOSED'] } })
    out.push({ states: { on: s.host, socket, sequence: [last], after: mid } })
    for (const st of new Set(s.states)) {
      out.push({ ss: { on: s.host, socket, match: { state: st }, quantifier: 'eventually' } })
      out.push({ ss: { on: s.host, socket, match: { state: st }, quantifier: 'eventually', after: mid } })
    }
  }
  return out
}

/** What compaction is told of a setter, as LiveMarks tells it (windows resolved over the records so far). */
function needOf(e: Expectation, firstMatches?: number): SampleNeed {
  const body = (e.ss ?? e.states) as { on?: string; after?: number; match?: Record<string, string> }
  const from = (body.after ?? 0) / 1000
  if (e.ss) {
    const want = body.match?.state
    return { kind: 'ss', on: body.on, from, to: Infinity, matches: (r: SsRecord) => ssField(r, 'state') === want, firstMatches }
  }
  return { kind: 'states', on: body.on, from, to: Infinity }
}

for (const name of FIXTURE_NAMES) {
  t.test(`${name}: over what is kept, after every sample, the moments of every setter are those over every record so far`, async (t) => {
    const fx = loadFixture(name)
    const all = contextOf(fx).records
    const setters = settersOf(all).map((x, i) => {
      const [k, b] = Object.entries(x)[0] as [string, Record<string, unknown>]
      return Expectation.parse({ [k]: { ...b, mark: `m${i}` } })
    })
    t.ok(setters.length > 0, `${setters.length} setters`)
    const base = contextOf(fx)
    let held: TimelineRecord[] = []
    const prefix: TimelineRecord[] = []
    let bad = 0
    let checks = 0
    let moments = 0
    for (const b of sampleBatches(all)) {
      prefix.push(...b)
      held = compactSamples([...held, ...b], setters.map((e) => needOf(e)))
      if (b[0]?.kind !== 'sample') continue
      for (const e of setters) {
        checks++
        const want = JSON.stringify(evaluateExpectation(e, 0, { ...base, records: prefix, endT: Infinity, marks: emptyMarkTable() }).mark)
        const got = JSON.stringify(evaluateExpectation(e, 0, { ...base, records: held, endT: Infinity, marks: emptyMarkTable() }).mark)
        if (want === undefined) throw new Error('a setter without a mark')
        if (want !== '{"name":"' + ((e.ss ?? e.states) as { mark: string }).mark + '","t":[]}') moments++
        if (want !== got && bad++ < 3) t.fail(`at ${b[0].t}: ${JSON.stringify(e)}: kept ${got}, all ${want}`)
      }
    }
    t.equal(bad, 0, `${checks} evaluations agree`)
    t.ok(moments > checks / 4, `${moments} of them with moments`)
    const rows = (rs: readonly TimelineRecord[]): number => rs.filter((r) => r.kind === 'ss' || r.kind === 'sample').length
    t.ok(rows(held) <= rows(all), `kept ${rows(held)} of ${rows(all)} rows and samples`)
  })
}

t.test('the samples kept grow with the transitions, not with the run: zero-window keeps a fraction', async (t) => {
  const fx = loadFixture('zero-window')
  const all = contextOf(fx).records
  const setters = settersOf(all).map((x) => Expectation.parse(x))
  const rows = (rs: readonly TimelineRecord[]): number => rs.filter((r) => r.kind === 'ss' || r.kind === 'sample').length
  // Steps after NAME or NAME.2 of each: 2 moments of each ss setter count.
  const held = compactSamples(all, setters.map((e) => needOf(e, 2)))
  t.ok(rows(held) * 2 < rows(all), `kept ${rows(held)} of ${rows(all)}`)
  // Every moment of every ss setter counts (NAME.last): their matching rows are all kept.
  t.ok(rows(compactSamples(all, setters.map((e) => needOf(e)))) > rows(held))
  // One states setter: the transitions of the sockets and their samples.
  const states = [Expectation.parse({ states: { on: 'client', socket: 'cli', sequence: ['ESTAB', 'CLOSED'] } })]
  const few = compactSamples(all, states.map((e) => needOf(e)))
  t.ok(rows(few) < 40, `one states setter: kept ${rows(few)} of ${rows(all)}`)
})


for (const name of FIXTURE_NAMES) {
  t.test(`${name}: a step after each setter's first and second moment fires at the moment the end of the run gives, or never`, async (t) => {
    const fx = loadFixture(name)
    const ctx = contextOf(fx)
    const raw = settersOf(ctx.records).map((x, i) => {
      const [k, b] = Object.entries(x)[0] as [string, Record<string, unknown>]
      return { [k]: { ...b, mark: `m${i}` } }
    })
    // And without on: (every host's samples).
    const anyHost = raw.slice(0, 4).map((x, i) => {
      const [k, b] = Object.entries(x)[0] as [string, Record<string, unknown>]
      const { on: _on, ...rest } = b
      return { [k]: { ...rest, mark: `any${i}` } }
    })
    const expect = [...raw, ...anyHost]
    const end = evaluateList(ctx, expect)
    const refs: string[] = []
    const want = new Map<string, number | undefined>()
    expect.forEach((x, i) => {
      const b = Object.values(x)[0] as { mark: string; sequence?: string[] }
      // A states mark: its last transition (the loader refuses the earlier ones).
      const picks = b.sequence ? [b.sequence.length] : [1, 2]
      for (const p of picks) {
        const ref = `${b.mark}.${p}`
        refs.push(ref)
        want.set(`mark:${ref}`, end[i]?.mark?.t[p - 1])
      }
    })
    // A moment after the last sample of some host cannot be known live (that host may still show
    // an earlier one) when the mark reads every host; the run is over by then.
    const sampledTo = Math.min(...[...ctx.hosts.keys()].map((h) => Math.max(...ctx.records.filter((r) => r.kind === 'sample' && r.host === h).map((r) => r.t))))
    for (const [ref, w] of want) if (ref.startsWith('mark:any') && w !== undefined && w > sampledTo) want.set(ref, undefined)
    const live = new LiveMarks(expect.map((x) => Expectation.parse(x)), refs.map((r) => markOf(r, expect)), ctx)
    const got = new Map<string, number>()
    for (const b of sampleBatches(ctx.records)) for (const m of live.addAll(b)) got.set(m.ref, m.t)
    let bad = 0
    for (const [ref, w] of want) if (got.get(ref) !== w && bad++ < 5) t.fail(`${ref}: live ${got.get(ref)}, end of run ${w}`)
    t.equal(bad, 0, `${want.size} marks, ${[...want.values()].filter((x) => x !== undefined).length} reached`)
  })
}

t.test('several hosts: a mark waits until every host it reads has been sampled past its moment', async (t) => {
  const fx = loadFixture('seed-close-wait')
  const ctx = contextOf(fx)
  // Any host's ESTAB row: the server's at 0.964463 s comes before the client's at 1.041659 s.
  const expect = [{ ss: { match: { state: 'ESTAB' }, quantifier: 'eventually', mark: 'est' } }]
  t.equal(evaluateList(ctx, expect)[0]?.mark?.t[0], 0.964463)
  // The server's agent lags: its samples come 0.5 s late.
  const lagged = sampleBatches(ctx.records).map((b) => ({ b, at: (b[0]?.t ?? 0) + (b[0]?.host === 'server' ? 0.5 : 0) })).sort((x, y) => x.at - y.at)
  const live = new LiveMarks(expect.map((x) => Expectation.parse(x)), [markOf('est', expect)], ctx)
  const reached: Array<{ t: number; at: number }> = []
  for (const { b, at } of lagged) for (const m of live.addAll(b)) reached.push({ t: m.t, at })
  t.same(reached.map((r) => r.t), [0.964463], 'the server\'s row, not the client\'s that came first')
  t.ok((reached[0]?.at as number) >= 1.041659 + 0.0, 'known once the server was sampled past the client\'s row')
  // On one host there is nothing to wait for.
  const one = [{ ss: { on: 'client', match: { state: 'ESTAB' }, quantifier: 'eventually', mark: 'est' } }]
  const l1 = new LiveMarks(one.map((x) => Expectation.parse(x)), [markOf('est', one)], ctx)
  const r1: number[] = []
  for (const { b } of lagged) for (const m of l1.addAll(b)) r1.push(m.t)
  t.same(r1, [1.041659])
})

t.test('sockets named from ss rows (sockets:): compacted, the names and moments are those of the end of the run', async (t) => {
  const fx = loadFixture('seed-close-wait')
  const declared = { lsn: { on: 'server', local: 8000, state: 'LISTEN' as const } }
  const name = (recs: TimelineRecord[]): TimelineRecord[] => nameSockets(recs, { declared, hosts: fx.hosts })
  // The records as they come: without names.
  const bare = contextOf(fx).records.map((r) => (r.kind === 'pkt' || r.kind === 'ss' ? ({ ...r, socket: undefined, listener: undefined } as TimelineRecord) : r))
  const expect = [
    { ss: { on: 'server', socket: 'lsn', match: { recvQ: 1 }, quantifier: 'eventually', mark: 'queued' } },
    { states: { on: 'client', socket: { peer: 8000 }, sequence: ['FIN-WAIT-2', 'CLOSED'], mark: 'gone' } },
  ]
  const end = evaluateList({ ...contextOf(fx), records: name(bare) }, expect)
  const want = [end[0]?.mark?.t[0], end[0]?.mark?.t[2], end[1]?.mark?.t[1]]
  t.ok(want.every((x) => typeof x === 'number'), `the end of the run: ${want.join(', ')}`)
  const live = new LiveMarks(expect.map((x) => Expectation.parse(x)), ['queued', 'queued.3', 'gone.2'].map((r) => markOf(r, expect)), { ...contextOf(fx), nameSockets: { name, fromSs: true } })
  const got = new Map<string, number>()
  let maxHeld = 0
  for (const b of sampleBatches(bare)) {
    for (const m of live.addAll(b)) got.set(m.ref, m.t)
    maxHeld = Math.max(maxHeld, live.held)
  }
  t.same([got.get('mark:queued.first'), got.get('mark:queued.3'), got.get('mark:gone.2')], want)
  // Without the names no row is lsn's: so the names are what found it.
  const unnamed = new LiveMarks(expect.map((x) => Expectation.parse(x)), [markOf('queued', expect)], contextOf(fx))
  t.same(sampleBatches(bare).flatMap((b) => unnamed.addAll(b)), [])
  t.ok(maxHeld < bare.length, `held at most ${maxHeld} of ${bare.length} records`)
})
