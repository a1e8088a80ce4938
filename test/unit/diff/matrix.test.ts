// The kernel matrix on recorded runs (test/fixtures/runs: the host kernel with and without
// net.ipv4.tcp_syn_linear_timeouts). A kernel that lacks the sysctl (5.10, 6.1) behaves like
// tcp_syn_linear_timeouts=0: its column is emulated by the linear-0 run with the key removed
// from env.json, as such a kernel's `sysctl -a` would not list it.
import { invokeCommand } from '../../../src/cli/invoke.js'
import t from 'tap'
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { Writable } from 'node:stream'
import { readRunResults } from '../../../src/report/results.js'
import { buildKernelMatrix, classifyBackoff, explainScenarioDiff, diffRuns, formatDiffText, renderMatrixPage } from '../../../src/diff/index.js'
import { matrixCommand } from '../../../src/cli/report-commands.js'
import { exitCodeOf } from '../../../src/util/errors.js'
import { RUN_A, RUN_A2, RUN_LINEAR0 } from '../report/runs.js'

/** linear-0 as a kernel without tcp_syn_linear_timeouts would have recorded it. */
function emulateOldKernel(t: { teardown(fn: () => void): void }): string {
  const tmp = mkdtempSync(path.join(tmpdir(), 'tcplab-matrix-'))
  t.teardown(() => rmSync(tmp, { recursive: true, force: true }))
  const dir = path.join(tmp, 'old-kernel')
  cpSync(RUN_LINEAR0, dir, { recursive: true })
  for (const s of ['seed-syn-drop-timeout', 'seed-sendq-ack-drop']) {
    const f = path.join(dir, s, 'env.json')
    const env = JSON.parse(readFileSync(f, 'utf8')) as { kernel: string; sysctlOverrides: Record<string, string>; hosts: Record<string, { sysctls: Record<string, string> }> }
    env.kernel = '6.1.0-57-cloud-amd64'
    env.sysctlOverrides = {}
    for (const h of Object.values(env.hosts)) delete h.sysctls['net.ipv4.tcp_syn_linear_timeouts']
    writeFileSync(f, JSON.stringify(env))
  }
  return dir
}

t.test('backoff shapes', async (t) => {
  t.equal(classifyBackoff([1, 2, 4, 8]), 'doubling')
  t.equal(classifyBackoff([1.026, 1.024, 1.03, 2.014]), 'linear, then doubling')
  t.equal(classifyBackoff([1, 1, 1]), 'linear')
  t.equal(classifyBackoff([1, 3]), 'irregular')
  t.equal(classifyBackoff([1, 2, 2]), 'irregular', 'doubling then flat is neither')
  t.equal(classifyBackoff([1]), 'single')
})

t.test('host kernel vs tcp_syn_linear_timeouts=0: the SYN schedule difference, its shape and the sysctl', async (t) => {
  const m = buildKernelMatrix([readRunResults(RUN_A), readRunResults(RUN_LINEAR0)])
  t.same(m.columns.map((c) => c.label), ['6.18.44-fc-v445', '6.18.44-fc-v445 + tcp_syn_linear_timeouts=0'])
  t.same(m.rows.map((r) => [r.name, r.cells.map((c) => c.status), r.verdictsDiffer, r.differences.length]), [
    ['seed-syn-drop-timeout', ['pass', 'fail'], true, 1],
    ['seed-sendq-ack-drop', ['pass', 'pass'], false, 0],
  ])
  const d = m.rows[0]?.differences[0]
  t.match(d?.headline, /^SYN schedule client→server \[S\] seq 0: linear, then doubling → doubling \(5 → 3 transmissions\); net\.ipv4\.tcp_syn_linear_timeouts client: 2 → 0, server: 4 → 0$/)
  t.match(d?.changes[0], /A: 5 transmissions, linear, then doubling \(gaps 1\.0, 1\.0, 1\.0, 2\.0 s\); B: 3 transmissions, doubling \(gaps 1\.0, 2\.0 s\)/)
  t.match(d?.causes[0], /^net\.ipv4\.tcp_syn_linear_timeouts: client: 2 → 0/, 'the sysctl before the run\'s --sysctl')
  t.same(m.pairs[0], { from: 0, to: 1, onlyFrom: [], onlyTo: [], defaults: [] }, 'the same kernel: nothing it lacks; the override is not a default')
})

t.test('a kernel without the sysctl: named as present on one kernel only', async (t) => {
  const old = emulateOldKernel(t)
  const m = buildKernelMatrix([readRunResults(old), readRunResults(RUN_A)])
  t.same(m.columns.map((c) => c.label), ['6.1.0-57-cloud-amd64', '6.18.44-fc-v445'])
  t.same(m.pairs[0]?.onlyTo, ['net.ipv4.tcp_syn_linear_timeouts'])
  const d = m.rows.find((r) => r.name === 'seed-syn-drop-timeout')?.differences[0]
  t.match(d?.headline, /doubling → linear, then doubling \(3 → 5 transmissions\); net\.ipv4\.tcp_syn_linear_timeouts exists only on B's kernel/)
  t.match(d?.causes[0], /^net\.ipv4\.tcp_syn_linear_timeouts exists only on B's kernel \(client=2, server=4\); A's kernel has no such setting$/)
  // tcplab diff between the two kernels' results says it too, unprompted.
  const text = formatDiffText(diffRuns(readRunResults(old), readRunResults(RUN_A)))
  t.match(text, /in short: SYN schedule .*doubling → linear, then doubling .*tcp_syn_linear_timeouts exists only on B's kernel/)
  t.match(text, /backoff: doubling → linear, then doubling/)
  t.match(text, /kernel: 6\.1\.0-57-cloud-amd64 → 6\.18\.44-fc-v445/)
})

t.test('the same suite twice: no differences, nothing explained', async (t) => {
  const m = buildKernelMatrix([readRunResults(RUN_A), readRunResults(RUN_A2)])
  t.same(m.rows.map((r) => r.differences.length), [0, 0])
  t.same(m.columns.map((c) => c.label), ['6.18.44-fc-v445 (default-a)', '6.18.44-fc-v445 (default-b)'], 'same kernel twice: the folder tells them apart')
  t.match(renderMatrixPage(m, '/tmp'), /Every scenario measured the same on every kernel/)
})

t.test('the page and the command', async (t) => {
  const old = emulateOldKernel(t)
  const out = path.join(path.dirname(old), 'matrix.html')
  let text = ''
  let err = ''
  const w = new Writable({ write(c: Buffer, _e, cb) { text += c.toString(); cb() } })
  const e = new Writable({ write(c: Buffer, _e, cb) { err += c.toString(); cb() } })
  const code = await invokeCommand(matrixCommand, [old, RUN_A, RUN_LINEAR0, '--out', out], { out: w, err: e })
  t.equal(code, 0)
  t.match(err, `wrote ${out}`)
  t.match(text, /^scenario\s+6\.1\.0-57-cloud-amd64\s+6\.18\.44-fc-v445\s+6\.18\.44-fc-v445 \+ tcp_syn_linear_timeouts=0/)
  t.match(text, /seed-syn-drop-timeout\s+fail\s+pass Δ\s+fail Δ/)
  const html = readFileSync(out, 'utf8')
  t.match(html, /<title>tcplab kernel matrix: 6\.1\.0-57-cloud-amd64, 6\.18\.44-fc-v445, /)
  t.match(html, /exists only on B(&#39;|&apos;|&#x27;|')s kernel/)
  t.match(html, /href="#d-seed-syn-drop-timeout"/)
  t.match(html, /<code>net\.ipv4\.tcp_syn_linear_timeouts<\/code>/)
  t.notMatch(html, /undefined|NaN/)
  // Default output: the runs' common parent.
  const code2 = await invokeCommand(matrixCommand, [old], { out: w, err: e })
  t.equal(code2, 0)
  t.ok(existsSync(path.join(path.dirname(old), 'matrix.html')))
  for (const positionals of [[], ['/nonexistent/run']]) {
    const failure = await invokeCommand(matrixCommand, positionals, { out: w, err: e }).then(() => undefined, (x: unknown) => x)
    t.equal(exitCodeOf(failure), 2, `exit 2 for ${JSON.stringify(positionals)}`)
  }
})

t.test('explanations of a scenario with no metric change still have a headline', async (t) => {
  const d = diffRuns(readRunResults(RUN_A), readRunResults(RUN_LINEAR0)).scenarios.find((s) => s.name === 'seed-syn-drop-timeout')
  t.ok(d)
  const ex = explainScenarioDiff({ ...(d as NonNullable<typeof d>), metrics: [] })
  t.equal(ex.headline, 'verdict pass → fail; net.ipv4.tcp_syn_linear_timeouts client: 2 → 0, server: 4 → 0')
})

t.test('the headline names the sysctl that explains the change, not the first one that differs', async (t) => {
  const d = diffRuns(readRunResults(emulateOldKernel(t)), readRunResults(RUN_A)).scenarios.find((s) => s.name === 'seed-syn-drop-timeout')
  t.ok(d)
  const base = d as NonNullable<typeof d>
  const only = (key: string, b: string): (typeof base.env)[number] => ({ key, summary: `only on B: ${b}`, values: [{ b }], related: true })
  // A kernel that also gained an unrelated key, listed first: the SYN schedule change is still put on the SYN key.
  const env = [only('net.ipv4.tcp_rto_min_us', '200000'), ...base.env.filter((e) => e.key !== 'net.ipv4.tcp_rto_min_us')]
  const ex = explainScenarioDiff({ ...base, env })
  t.match(ex.headline, /SYN schedule .*; net\.ipv4\.tcp_syn_linear_timeouts /)
  t.notMatch(ex.headline, /tcp_rto_min_us/)
  t.match(ex.causes[0] ?? '', /tcp_syn_linear_timeouts/, 'and lists it first among the causes')
})
