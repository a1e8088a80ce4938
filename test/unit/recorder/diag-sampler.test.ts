// diag-sampler: the agent's sock_diag events (recorded from a real agent by
// test/fixtures/diag/record.sh) -> ss/sample records. The rows must read
// exactly like `ss -tanoiem` of the same sockets (recorded in the same run),
// and the change-only stream must expand into complete samples.

import t from 'tap'
import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { SsDestroyEvent, SsEvent } from '../../../src/agent/protocol.js'
import { parseAgentEvent } from '../../../src/agent/client.js'
import { DiagSampleExpander, diagRowToSsRecord, type DiagRecord } from '../../../src/recorder/diag-sampler.js'
import { parseSsOutput, type ParsedSocket } from '../../../src/recorder/ss-parse.js'
import type { SsRecord } from '../../../src/recorder/records.js'
import { evaluateStates } from '../../../src/expect/ss.js'

const DIR = join(dirname(fileURLToPath(import.meta.url)), '../../fixtures/diag')

function ssEvents(file: string): Array<SsEvent | SsDestroyEvent> {
  return readFileSync(join(DIR, file), 'utf8').split('\n').filter(Boolean)
    .map((l) => parseAgentEvent(l))
    .filter((e): e is SsEvent | SsDestroyEvent => e !== undefined && (e.type === 'ss' || e.type === 'ss-destroy'))
}

/** Records of a whole fixture, in order. */
function expand(file: string, host: string): { recs: DiagRecord[]; t0Us: number } {
  const evs = ssEvents(file)
  const t0Us = evs[0]?.t ?? 0
  const x = new DiagSampleExpander(host)
  return { recs: evs.flatMap((e) => x.apply(e, t0Us)), t0Us }
}

const SS_TIME_US = Number(readFileSync(join(DIR, 'ss-time-us.txt'), 'utf8'))

/** The ss records of the last sample at or before `beforeT` (default: when ss ran). */
function lastSample(recs: DiagRecord[], t0Us: number, beforeT = (SS_TIME_US - t0Us) / 1e6): SsRecord[] {
  let last = -1
  recs.forEach((r, i) => { if (r.kind === 'sample' && r.t <= beforeT) last = i })
  const end = recs.findIndex((r, i) => i > last && r.kind === 'sample')
  return recs.slice(last + 1, end < 0 ? undefined : end).filter((r): r is SsRecord => r.kind === 'ss')
}

// Fields that age between the agent's last dump and the ss run, or that ss
// prints from elsewhere (cgroup path): not compared.
const AGING = new Set(['lastsnd', 'lastrcv', 'lastack', 'cgroup', 'busy_ms'])

type TapTest = Parameters<Extract<Parameters<typeof t.test>[0], (...a: never[]) => unknown>>[0]

function compare(t: TapTest, diag: SsRecord, ss: ParsedSocket): void {
  t.equal(diag.state, ss.state, 'state')
  t.equal(diag.recvQ, ss.recvQ, 'Recv-Q')
  t.equal(diag.sendQ, ss.sendQ, 'Send-Q')
  t.equal(diag.local, ss.local, 'local')
  t.equal(diag.peer, ss.peer, 'peer')
  t.equal(diag.ino, ss.ino, 'ino')
  t.equal(diag.timer?.name, ss.timer?.name, 'timer name')
  t.equal(diag.timer?.retrans, ss.timer?.retrans, 'timer retrans')
  t.same(diag.skmem, ss.skmem, 'skmem')
  for (const [k, v] of Object.entries(ss.info)) {
    if (AGING.has(k)) continue
    t.same(diag.info[k], v, `info.${k}`)
  }
  for (const k of Object.keys(diag.info)) {
    if (AGING.has(k) || k === 'usec_ts' || k === 'rcv_wnd' || k === 'rehash') continue // printed by newer ss only
    t.ok(k in ss.info, `ss prints ${k} too`)
  }
}

for (const host of ['server', 'client']) {
  t.test(`${host}: the last sample reads like ss -tanoiem of the same sockets`, async (t) => {
    const { recs, t0Us } = expand(`${host}.jsonl`, host)
    const diag = lastSample(recs, t0Us)
    const ss = parseSsOutput(readFileSync(join(DIR, `${host}-ss.txt`), 'utf8'))
    t.ok(ss.length >= 2, 'the fixture has sockets')
    t.equal(diag.length, ss.length, 'same sockets')
    for (const s of ss) {
      const d = diag.find((r) => r.local === s.local && r.peer === s.peer)
      t.ok(d, `${s.state} ${s.local} ${s.peer} sampled`)
      if (d) await t.test(`${s.state} ${s.local}`, async (t) => compare(t, d, s))
    }
  })
}

t.test('server fixture: states and queues the scenario made', async (t) => {
  const { recs, t0Us } = expand('server.jsonl', 'server')
  const diag = lastSample(recs, t0Us)
  t.ok(diag.find((r) => r.state === 'ESTAB' && r.recvQ === 1000), 'paused reader holds 1000 bytes')
  t.ok(diag.find((r) => r.state === 'CLOSE-WAIT'), 'the closed connection is CLOSE-WAIT here')
  t.ok(diag.find((r) => r.state === 'LISTEN' && r.local === '*:8006' && r.info['v6only'] === 0), 'dual-stack listener is *:8006')
  t.ok(diag.find((r) => r.state === 'LISTEN' && r.local === '0.0.0.0:8000' && r.sendQ === 128), 'LISTEN Send-Q is the backlog')
})

t.test('change-only events expand into complete samples; gone and destroyed sockets are absent', async (t) => {
  const evs = ssEvents('server.jsonl')
  const full = evs.find((e): e is SsEvent => e.type === 'ss' && e.full && e.rows.length >= 3)
  t.ok(full, 'a full dump with sockets')
  if (!full) return
  const [a, b, c] = full.rows
  if (!a || !b || !c) return
  const t0Us = full.t
  const x = new DiagSampleExpander('server')
  x.apply(full, t0Us)
  const changed = { ...b, recvQ: b.recvQ + 7 }
  const recs = x.apply({ ...full, t: t0Us + 10_000, n: full.n + 1, full: false, rows: [changed], gone: [c.sk] }, t0Us)
  const sample = recs.find((r) => r.kind === 'sample')
  t.same(sample, { kind: 'sample', t: 0.01, host: 'server', sockets: full.rows.length - 1 })
  const ss = recs.filter((r): r is SsRecord => r.kind === 'ss')
  t.equal(ss.length, full.rows.length - 1, 'every present socket, not only the changed one')
  t.ok(ss.every((r) => r.t === 0.01), 'all at the dump time')
  t.equal(ss.find((r) => r.info['sk'] === b.sk)?.recvQ, b.recvQ + 7, 'changed row has its new value')
  t.equal(ss.find((r) => r.info['sk'] === a.sk)?.recvQ, a.recvQ, 'unchanged row carried')
  t.notOk(ss.find((r) => r.info['sk'] === c.sk), 'gone row absent')
  // A destroy: exact end, a sample without it.
  const destroy: SsDestroyEvent = { ...a, t: t0Us + 12_345, name: '', type: 'ss-destroy' }
  const after = x.apply(destroy, t0Us)
  t.same(after.find((r) => r.kind === 'sample'), { kind: 'sample', t: 0.012345, host: 'server', sockets: full.rows.length - 2 })
  t.notOk(after.find((r) => r.kind === 'ss' && r.info['sk'] === a.sk), 'destroyed socket absent')
  t.ok(after.find((r) => r.kind === 'event' && r.type === 'ss-destroy'), 'destroy recorded as an event')
  // A destroy of an unknown socket says nothing about presence.
  t.notOk(x.apply(destroy, t0Us).find((r) => r.kind === 'sample'))
  // An empty full dump is still a sample (the heartbeat).
  t.same(x.apply({ ...full, t: t0Us + 20_000, n: full.n + 9, rows: [], gone: undefined }, t0Us), [{ kind: 'sample', t: 0.02, host: 'server', sockets: 0 }])
})

t.test('states sees CLOSED at the destroy, and not without it', async (t) => {
  const evs = ssEvents('client.jsonl')
  const full = [...evs].reverse().find((e): e is SsEvent => e.type === 'ss' && e.full && e.rows.some((r) => r.state === 'ESTAB'))
  const estab = full?.rows.find((r) => r.state === 'ESTAB')
  t.ok(full && estab)
  if (!full || !estab) return
  const run = (withDestroy: boolean): ReturnType<typeof evaluateStates> => {
    const x = new DiagSampleExpander('client')
    const recs = [...x.apply(full, full.t)]
    if (withDestroy) recs.push(...x.apply({ ...estab, t: full.t + 5000, name: '', type: 'ss-destroy' }, full.t))
    const records = recs.map((r) => (r.kind === 'ss' && r.local === estab.local ? { ...r, socket: 'c1' } : r))
    const e = { states: { socket: 'c1', sequence: ['ESTAB', 'CLOSED'] } }
    const ctx = { records, endT: 1, hosts: new Map([['client', ['198.18.0.2']]]), tolerance: { floorMs: 10, percent: 0 }, kernel: '6.18', hasSysctl: () => true }
    return evaluateStates(e.states as never, ctx as never)
  }
  t.equal(run(true).pass, true, 'ESTAB -> CLOSED with the destroy')
  t.equal(run(false).pass, false, 'no CLOSED without it')
})

t.test('diagRowToSsRecord: %dev suffix and timer at its deadline', async (t) => {
  const r = diagRowToSsRecord({
    sk: '1', state: 'ESTAB', recvQ: 0, sendQ: 0, local: '198.18.0.1:8000', peer: '198.18.0.2:1', lport: 8000, rport: 1,
    dev: 'eth0', ino: 1, uid: 0, timer: { name: 'on', expiresMs: 0, retrans: 2 },
  }, 1, 'h')
  t.equal(r.local, '198.18.0.1%eth0:8000')
  t.equal(r.info['dev'], 'eth0')
  t.same(r.timer, { name: 'on', expiresMs: 0, retrans: 2 })
})

t.test('a dump that lands while the retransmission timer is being serviced keeps it running, once', async (t) => {
  // From a recorded ESTAB row; SYNTHETIC: its timer and unacked count are set to a data-in-flight state.
  const base = ssEvents('client.jsonl').flatMap((e) => (e.type === 'ss' ? e.rows : [])).find((r) => r.state === 'ESTAB')
  if (!base) throw new Error('the fixture has an ESTAB row')
  const inFlight = { ...base, timer: { name: 'on' as const, expiresMs: 180, retrans: 1 }, tcpInfo: { ...base.tcpInfo, unacked: 3 } }
  const { timer: _timer, ...noTimer } = inFlight
  const ev = (n: number, rows: typeof base[]): SsEvent => ({ t: 1_000_000 + n * 10_000, name: '', type: 'ss', n, full: false, rows, dumpUs: 100, missed: 0 })
  const timerOf = (recs: DiagRecord[]): string | undefined => recs.filter((r): r is SsRecord => r.kind === 'ss').find((r) => r.local === base.local)?.timer?.name
  const x = new DiagSampleExpander('client')
  t.equal(timerOf(x.apply(ev(1, [inFlight]), 0)), 'on')
  t.equal(timerOf(x.apply(ev(2, [noTimer]), 0)), 'on', 'no timer for one dump, with data in flight: the timer was being serviced')
  t.equal(timerOf(x.apply(ev(3, [noTimer]), 0)), undefined, 'still none at the next dump: it is none')
  const y = new DiagSampleExpander('client')
  y.apply(ev(1, [inFlight]), 0)
  const acked = { ...noTimer, tcpInfo: { ...noTimer.tcpInfo, unacked: 0 } }
  t.equal(timerOf(y.apply(ev(2, [acked]), 0)), undefined, 'everything acknowledged: the timer is really off')
  const z = new DiagSampleExpander('client')
  z.apply(ev(1, [inFlight]), 0)
  t.equal(timerOf(z.apply(ev(2, [{ ...noTimer, state: 'FIN-WAIT-1' }]), 0)), undefined, 'a state change is reported as it is')
})

t.test('a dump that lands while the persist timer is being serviced keeps it running, once', async (t) => {
  // From a recorded ESTAB row; SYNTHETIC: data queued against a zero window, none in flight, the persist timer armed.
  const base = ssEvents('client.jsonl').flatMap((e) => (e.type === 'ss' ? e.rows : [])).find((r) => r.state === 'ESTAB')
  if (!base) throw new Error('the fixture has an ESTAB row')
  const probing = { ...base, sendQ: 13824, timer: { name: 'persist' as const, expiresMs: 400, retrans: 2 }, tcpInfo: { ...base.tcpInfo, unacked: 0 } }
  const { timer: _timer, ...noTimer } = probing
  const ev = (n: number, rows: typeof base[]): SsEvent => ({ t: 1_000_000 + n * 10_000, name: '', type: 'ss', n, full: false, rows, dumpUs: 100, missed: 0 })
  const timerOf = (recs: DiagRecord[]): string | undefined => recs.filter((r): r is SsRecord => r.kind === 'ss').find((r) => r.local === base.local)?.timer?.name
  const x = new DiagSampleExpander('client')
  t.equal(timerOf(x.apply(ev(1, [probing]), 0)), 'persist')
  t.equal(timerOf(x.apply(ev(2, [noTimer]), 0)), 'persist', 'no timer for one dump, with data queued: the probe timer was being serviced')
  t.equal(timerOf(x.apply(ev(3, [noTimer]), 0)), undefined, 'still none at the next dump: it is none')
  const y = new DiagSampleExpander('client')
  y.apply(ev(1, [probing]), 0)
  t.equal(timerOf(y.apply(ev(2, [{ ...noTimer, sendQ: 0 }]), 0)), undefined, 'nothing queued any more: the timer is really off')
  const z = new DiagSampleExpander('client')
  z.apply(ev(1, [probing]), 0)
  t.equal(timerOf(z.apply(ev(2, [{ ...noTimer, tcpInfo: { ...noTimer.tcpInfo, unacked: 2 } }]), 0)), undefined, 'data in flight without the retransmission timer: not a persist case')
})
