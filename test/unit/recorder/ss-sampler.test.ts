// The sampler against a fake Host whose exec returns recorded ss output: timing,
// non-overlap, stop and error accounting. Not an end-to-end test (that needs root
// and namespaces); the real ss output is in the fixtures.
import t from 'tap'
import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { ExecOptions, ExecResult, Host } from '../../../src/lab/types.js'
import { nowUs, type SsRecord } from '../../../src/recorder/records.js'
import { startSsSampler } from '../../../src/recorder/ss-sampler.js'

const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), '../../fixtures/ss')
const acksDropped = readFileSync(join(FIXTURES, 'local-acks-dropped.txt'), 'utf8')
// One ss run = from one column header line to the next.
const samplesText = acksDropped.split(/(?=^State )/m).filter((s) => s.trim() !== '')

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

interface FakeHost extends Host {
  calls: Array<{ argv: readonly string[]; opts: ExecOptions | undefined; startUs: number; endUs: number }>
  maxConcurrent: number
}

/** A host whose exec answers with `respond(callIndex)` after `delayMs(callIndex)`. */
function createFakeHost(
  respond: (i: number) => Promise<ExecResult> | ExecResult,
  delayMs: (i: number) => number = () => 1,
): FakeHost {
  let inFlight = 0
  const host: FakeHost = {
    name: 'client',
    addr: '198.18.0.2',
    ifnames: ['veth0'],
    agentPath: '/nonexistent',
    calls: [],
    maxConcurrent: 0,
    async exec(argv, opts) {
      const i = host.calls.length
      const call = { argv, opts, startUs: nowUs(), endUs: 0 }
      host.calls.push(call)
      inFlight++
      host.maxConcurrent = Math.max(host.maxConcurrent, inFlight)
      try {
        await sleep(delayMs(i))
        return await respond(i)
      } finally {
        inFlight--
        call.endUs = nowUs()
      }
    },
    spawn() {
      throw new Error('not used')
    },
  }
  return host
}

const ok = (stdout: string): ExecResult => ({ exitCode: 0, stdout, stderr: 'Failed to find cgroup2 mount\n' })

t.test('records: kind, host, t at the middle of the exec, every socket', async (t) => {
  const host = createFakeHost((i) => ok(samplesText[i % samplesText.length] ?? ''), () => 40)
  const t0Us = nowUs() - 2_000_000
  const batches: SsRecord[][] = []
  const sampler = startSsSampler(host, { intervalMs: 50, t0Us, onRecords: (r) => batches.push(r) })
  await sleep(130)
  await sampler.stop()
  t.ok(batches.length >= 2, `${batches.length} samples`)
  t.equal(sampler.samples, batches.length)
  t.equal(sampler.errors, 0)
  t.same(host.calls[0]?.argv, ['ss', '-tanoiem'])
  t.equal(host.calls[0]?.opts?.reject, false, 'a non-zero exit is data for the sampler, not an exception')
  const first = batches[0] ?? []
  t.equal(first.length, 2, 'LISTEN + ESTAB')
  t.match(first[1], {
    kind: 'ss',
    host: 'client',
    state: 'ESTAB',
    sendQ: 6,
    local: '198.18.0.1:8001',
    timer: { name: 'on', expiresMs: 96, retrans: 0 },
  })
  for (const [i, batch] of batches.entries()) {
    const call = host.calls[i]
    if (!call) throw new Error('no call')
    const mid = ((call.startUs + call.endUs) / 2 - t0Us) / 1e6
    for (const r of batch) {
      t.equal(r.t, batch[0]?.t, 'one t per sample')
      // 40 ms of exec: the start or the end would be 20 ms off
      t.ok(Math.abs(r.t - mid) < 0.01, `t ${r.t} near the exec midpoint ${mid.toFixed(6)}`)
    }
  }
  t.equal(batches[0]?.[0]?.t && Math.round(batches[0][0].t), 2, 't counts from t0')
})

t.test('ticks never overlap; a slow sample skips ticks instead of queueing', async (t) => {
  const host = createFakeHost(() => ok(samplesText[0] ?? ''), () => 55)
  const sampler = startSsSampler(host, { intervalMs: 10, t0Us: nowUs(), onRecords: () => {} })
  await sleep(300)
  await sampler.stop()
  t.equal(host.maxConcurrent, 1, 'one ss at a time')
  t.ok(host.calls.length >= 2 && host.calls.length <= 7, `${host.calls.length} samples in 300 ms of 55 ms samples`)
  t.ok(sampler.skipped >= host.calls.length * 4, `${sampler.skipped} ticks skipped`)
  for (let i = 1; i < host.calls.length; i++) {
    const prev = host.calls[i - 1]
    const cur = host.calls[i]
    if (!prev || !cur) continue
    t.ok(cur.startUs >= prev.endUs, `sample ${i} starts after sample ${i - 1} ended`)
  }
})

t.test('fast samples stay on the interval grid', async (t) => {
  const host = createFakeHost(() => ok(''), () => 0)
  const batches: SsRecord[][] = []
  const sampler = startSsSampler(host, { intervalMs: 40, t0Us: nowUs(), onRecords: (r) => batches.push(r) })
  await sleep(210)
  await sampler.stop()
  t.ok(host.calls.length >= 2 && host.calls.length <= 7, `${host.calls.length} samples in 210 ms at 40 ms`)
  t.same(batches[0], [], 'an empty sample is still reported')
})

t.test('after one slow sample the next ones keep the interval (no burst of queued ticks)', async (t) => {
  const host = createFakeHost(() => ok(''), (i) => (i === 0 ? 120 : 0))
  const sampler = startSsSampler(host, { intervalMs: 30, t0Us: nowUs(), onRecords: () => {} })
  await sleep(260)
  await sampler.stop()
  t.ok(sampler.skipped >= 3, `${sampler.skipped} ticks skipped during the 120 ms sample`)
  const starts = host.calls.map((c) => c.startUs)
  t.ok(starts.length >= 3, `${starts.length} samples`)
  for (let i = 2; i < starts.length; i++) {
    const gapMs = ((starts[i] ?? 0) - (starts[i - 1] ?? 0)) / 1000
    t.ok(gapMs >= 25, `gap ${i - 1}->${i} is ${gapMs.toFixed(1)} ms, one interval`)
  }
})

t.test('stop() waits for the sample in flight and nothing runs after it', async (t) => {
  let release: (() => void) | undefined
  const gate = new Promise<void>((r) => (release = r))
  const host = createFakeHost(async () => {
    await gate
    return ok(samplesText[1] ?? '')
  }, () => 0)
  const batches: SsRecord[][] = []
  const sampler = startSsSampler(host, { intervalMs: 10, t0Us: nowUs(), onRecords: (r) => batches.push(r) })
  await sleep(20)
  t.equal(host.calls.length, 1)
  let stopped = false
  const stopping = sampler.stop().then(() => (stopped = true))
  await sleep(30)
  t.equal(stopped, false, 'stop() still waiting for ss')
  release?.()
  await stopping
  t.equal(batches.length, 1, 'the in-flight sample was delivered')
  await sleep(40)
  t.equal(host.calls.length, 1, 'no sample after stop')
  await sampler.stop()
  t.pass('stop() is idempotent')
})

t.test('failures are counted, never thrown: host gone, ss failing, consumer throwing', async (t) => {
  let unhandled = 0
  const onUnhandled = (): void => {
    unhandled++
  }
  process.on('unhandledRejection', onUnhandled)
  t.teardown(() => {
    process.off('unhandledRejection', onUnhandled)
  })
  const host = createFakeHost((i) => {
    if (i === 0) return ok(samplesText[0] ?? '')
    if (i === 1) return { exitCode: 1, stdout: '', stderr: 'Cannot open network namespace "tcplab-x-client": No such file or directory\n' }
    throw new Error('Cannot open network namespace: No such file or directory')
  }, () => 1)
  const sampler = startSsSampler(host, { intervalMs: 10, t0Us: nowUs(), onRecords: () => {} })
  await sleep(80)
  await sampler.stop()
  t.equal(unhandled, 0, 'no unhandled rejection')
  t.equal(sampler.samples, 1)
  t.equal(sampler.errors, host.calls.length - 1, `${sampler.errors} errors counted`)
  t.ok(sampler.errors >= 3)
  t.match(String(sampler.lastError), /No such file or directory/)

  const throwing = startSsSampler(createFakeHost(() => ok(samplesText[0] ?? '')), {
    intervalMs: 10,
    t0Us: nowUs(),
    onRecords: () => {
      throw new Error('consumer bug')
    },
  })
  await sleep(35)
  await throwing.stop()
  t.ok(throwing.errors >= 2)
  t.equal(throwing.samples, 0)
  t.match(String(throwing.lastError), /consumer bug/)
})

t.test('filter is appended to the argv; non-TCP sockets are dropped', async (t) => {
  const text = [
    'Netid State  Recv-Q Send-Q Local Address:Port Peer Address:Port Process',
    'udp   UNCONN 0      0         198.18.0.2:5353      0.0.0.0:*',
    'tcp   ESTAB  0      0         198.18.0.2:40000  198.18.0.1:8000',
    '',
  ].join('\n')
  const host = createFakeHost(() => ok(text))
  const batches: SsRecord[][] = []
  const sampler = startSsSampler(host, {
    intervalMs: 1000,
    t0Us: nowUs(),
    filter: ['sport', '=', ':40000'],
    onRecords: (r) => batches.push(r),
  })
  await sleep(20)
  await sampler.stop()
  t.same(host.calls[0]?.argv, ['ss', '-tanoiem', 'sport', '=', ':40000'])
  t.equal(batches[0]?.length, 1)
  t.match(batches[0]?.[0], { state: 'ESTAB', localPort: 40000, info: { netid: 'tcp' } })
})
