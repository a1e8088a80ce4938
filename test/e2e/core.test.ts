// End to end on the netns backend: the five seed scenarios run concurrently and
// hold; a wrong expectation exits 1; a malformed file exits 2 with file:line:col
// and creates nothing; a rule iptables rejects exits 2 and leaves nothing; Ctrl-C
// tears down and exits 130. After each: no namespace, process or host rule left.
import t, { type Test } from 'tap'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { e2eSkipReason, hostIptables, labNamespaces, labProcesses, readVerdict, runCli, sleep, tempDir, type CliResult } from './helpers.js'

const skip = e2eSkipReason()
if (skip) {
  t.plan(0, skip)
} else {
  const iptablesBefore = hostIptables()

  // Other tcplab runs may be going on at the same time on this machine, so the
  // checks look for what *these* runs created: their lab ids are in verdict.json.
  const labIdsIn = (dir: string): string[] => {
    const ids: string[] = []
    for (const name of readdirSync(dir)) {
      const f = path.join(dir, name, 'verdict.json')
      if (existsSync(f)) ids.push((JSON.parse(readFileSync(f, 'utf8')) as { labId: string }).labId)
    }
    return ids
  }
  const assertClean = async (t: Test, what: string, dir?: string): Promise<void> => {
    // Teardown is finished when the CLI exits; give the kernel a moment to reap.
    await sleep(100)
    const ids = dir ? labIdsIn(dir) : undefined
    if (ids) t.ok(ids.length > 0, `${what}: the run recorded its lab ids`)
    t.same(labNamespaces(ids), [], `${what}: no tcplab namespace of this run left`)
    t.same(labProcesses(ids), [], `${what}: no lab process of this run left`)
    t.equal(hostIptables(), iptablesBefore, `${what}: the host's iptables rules are unchanged`)
  }

  t.test('the five seed scenarios hold, run concurrently (--jobs 5)', async (t) => {
    const dir = tempDir('tcplab-e2e-seed-')
    const r = await runCli(['run', 'scenarios/seed', '--jobs', '5', '--results', dir, '--reporter', 'json'])
    t.equal(r.code, 0, `exit 0\n${r.stdout.slice(-3000)}\n${r.stderr}`)
    const summary = JSON.parse(readFileSync(path.join(dir, 'summary.json'), 'utf8')) as { passed: number; scenarios: Array<{ name: string; status: string }> }
    t.same(
      summary.scenarios.map((s) => s.name).sort(),
      ['seed-accept-queue', 'seed-close-wait', 'seed-recvq-stalled-reader', 'seed-sendq-ack-drop', 'seed-syn-drop-timeout'],
    )
    for (const s of summary.scenarios) t.equal(s.status, 'pass', `${s.name} passes`)
    for (const s of summary.scenarios) {
      const files = ['scenario.yaml', 'records.jsonl', 'verdict.json', 'env.json', 'client.pcap', 'server.pcap']
      for (const f of files) t.ok(readFileSync(path.join(dir, s.name, f)).length > 0, `${s.name}/${f} written`)
    }
    await assertClean(t, 'after the suite', dir)
  })

  t.test('a deliberately wrong expectation fails the run with exit 1 and says what was measured', async (t) => {
    const dir = tempDir('tcplab-e2e-wrong-')
    const r = await runCli(['run', 'test/fixtures/scenarios/e2e/wrong-expectation.yaml', '--results', dir])
    t.equal(r.code, 1)
    t.match(r.stdout, /FAIL e2e-wrong-expectation/)
    t.match(r.stdout, /recvQ = 7 always during \[1\.3s, 2\.8s\]/)
    t.match(r.stdout, /measured: 0 of \d+ samples matched; first mismatch at [\d.]+s: recvQ=6/)
    const verdict = readVerdict(dir, 'e2e-wrong-expectation')
    t.same(verdict.results.map((x) => x.status), ['pass', 'fail'], 'only the wrong expectation fails')
    await assertClean(t, 'after a failing run', dir)
  })

  t.test('a malformed scenario exits 2 with file:line:col and creates nothing', async (t) => {
    const r = await runCli(['run', 'test/fixtures/scenarios/bad-duration.yaml', 'scenarios/seed'])
    t.equal(r.code, 2)
    t.match(r.stderr, /test\/fixtures\/scenarios\/bad-duration\.yaml:6:9 steps\[0\]\.at: expected a duration like "200ms" or "2s", got "fast"/)
    t.notMatch(r.stdout, /PASS|FAIL/, 'no scenario ran')
    t.notMatch(r.stdout, /tcplab: \d+ scenario/, 'no run started')
    const v = await runCli(['validate', 'test/fixtures/scenarios/bad-host.yaml'])
    t.equal(v.code, 2)
    t.match(v.stderr, /bad-host\.yaml:9:5 steps\[1\]\.sever: unknown host "sever"/)
  })

  t.test('a rule iptables rejects stops the run before it starts (checked in a throwaway namespace), exit 2 naming file:line:col, and leaves nothing', async (t) => {
    const dir = tempDir('tcplab-e2e-badrule-')
    const r = await runCli(['run', 'test/fixtures/scenarios/e2e/bad-rule.yaml', '--results', dir])
    t.equal(r.code, 2)
    t.match(r.stderr, /bad-rule\.yaml:9:25 steps\[1\]\.server\.iptables: iptables rejects the rule "-A NOPE -p tcp -j DROP.*": .*(No chain|Chain 'NOPE')/)
    t.match(r.stderr, /hint: /)
    const v = await runCli(['validate', 'test/fixtures/scenarios/e2e/bad-rule.yaml'])
    t.equal(v.code, 2, 'validate finds it too')
    t.match(v.stderr, /bad-rule\.yaml:9:25 .*iptables rejects the rule/)
    t.same(readdirSync(dir), [], 'nothing written: no lab was made')
    t.equal(hostIptables(), iptablesBefore, "the host's iptables rules are unchanged")
  })

  t.test('a scenario that needs a sysctl this kernel lacks is skipped before its lab exists', async (t) => {
    const dir = tempDir('tcplab-e2e-requires-')
    const r = await runCli(['run', 'test/fixtures/scenarios/e2e/requires-missing-sysctl.yaml', '--results', dir])
    t.equal(r.code, 0, `exit 0 (a skip is not a failure)\n${r.stdout}\n${r.stderr}`)
    t.match(r.stdout, /SKIP e2e-requires-missing-sysctl/)
    const verdict = readVerdict(dir, 'e2e-requires-missing-sysctl')
    t.equal(verdict.status, 'skip')
    t.match(verdict.reason, /needs sysctl net\.ipv4\.tcp_tcplab_no_such_key, which this kernel lacks/)
    t.notOk(existsSync(path.join(dir, 'e2e-requires-missing-sysctl', 'client.pcap')), 'no capture: the lab was never created')
    await assertClean(t, 'after the skip', dir)
  })

  t.test('bad usage exits 2', async (t) => {
    const r: CliResult = await runCli(['run', '--jobs', 'many', 'scenarios/seed'])
    t.equal(r.code, 2)
    t.match(r.stderr, /--jobs expects "auto" or a whole number of scenarios run at once, got "many"/)
    const neg = await runCli(['run', '--jobs', '-1', 'scenarios/seed'])
    t.equal(neg.code, 2)
    t.match(neg.stderr, /--jobs expects "auto" or at least 1 scenario at a time, got -1/)
    const u = await runCli(['frobnicate'])
    t.equal(u.code, 2)
    t.match(u.stderr, /unknown command "frobnicate"/)
  })

  t.test('Ctrl-C in the middle of a run tears the lab down and exits 130', async (t) => {
    const dir = tempDir('tcplab-e2e-int-')
    const started = Date.now()
    const r = await runCli(['run', 'test/fixtures/scenarios/e2e/long-running.yaml', '--results', dir], {
      onSpawn: (child) => {
        void (async () => {
          // Wait until the lab exists and the rule is in, then interrupt.
          while (!existsSync(path.join(dir, 'e2e-long-running', 'env.json')) && Date.now() - started < 20_000) await sleep(50)
          await sleep(1500)
          child.kill('SIGINT')
        })()
      },
    })
    t.equal(r.code, 130, `exit 130 (stderr: ${r.stderr})`)
    t.ok(Date.now() - started < 20_000, 'it stopped long before the scenario would have ended')
    t.match(r.stderr, /interrupted; tearing down/)
    await assertClean(t, 'after Ctrl-C', dir)
  })

  t.test('tcplab gc removes the leftovers of a crashed run', async (t) => {
    const dir = tempDir('tcplab-e2e-crash-')
    const started = Date.now()
    let crashedPid = 0
    await runCli(['run', 'test/fixtures/scenarios/e2e/long-running.yaml', '--results', dir], {
      onSpawn: (child) => {
        crashedPid = child.pid ?? 0
        void (async () => {
          // Crash once the timeline is playing (its last step, the iptables rule, is recorded):
          // agents, relay sockets and rules all exist then, however slow the machine is.
          const records = path.join(dir, 'e2e-long-running', 'records.jsonl')
          const playing = (): boolean => existsSync(records) && readFileSync(records, 'utf8').includes('"action":"iptables"')
          while (!playing() && Date.now() - started < 40_000) await sleep(50)
          child.kill('SIGKILL') // a crash: no teardown at all
        })()
      },
    })
    // The crashed process's labs, from the registry (other tcplab runs may be live on this machine).
    const ids = readdirSync('/run/tcplab/labs')
      .map((f) => JSON.parse(readFileSync(path.join('/run/tcplab/labs', f), 'utf8')) as { labId: string; pid: number })
      .filter((r) => r.pid === crashedPid)
      .map((r) => r.labId)
    const left = labNamespaces(ids)
    t.ok(left.length >= 2, 'the crash left namespaces behind')
    const relays = ids.map((id) => path.join('/run/tcplab/relay', id)).filter((d) => existsSync(d))
    t.ok(relays.length >= 1, "and the agents' relay socket directory")
    const g = await runCli(['gc', '--backend', 'netns'])
    t.equal(g.code, 0)
    for (const d of relays) {
      t.match(g.stdout, `removed relay sockets ${d}`)
      t.notOk(existsSync(d), `gc removed ${d}`)
    }
    for (const ns of left) t.match(g.stdout, `removed network namespace ${ns}`)
    t.same(labNamespaces(left.map((n) => n.split('-')[1] as string)), [], 'gc removed them')
    t.same(labProcesses(left.map((n) => n.split('-')[1] as string)), [], 'and killed their processes')
  })
}
