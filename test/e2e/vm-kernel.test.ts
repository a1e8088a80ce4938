// End to end on the vm backend: `tcplab run --kernel 6.1,host --kernels-at-once 2`
// boots the cached Debian 6.1 kernel in QEMU (TCG here) while the host's kernel
// runs the same suite beside it, runs three short scenarios in network
// namespaces inside it (agent-only ones: a command such as iptables takes
// 0.1-1 s to start in a TCG guest, seconds on a loaded machine), and writes results/kernel-6.1/ with env.json naming the
// guest's kernel and clock offset. Then: no guest, QEMU or virtiofsd of the run
// is left, and a guest whose runner was SIGKILLed is removed by `tcplab gc`.
// Skips (with the reason) where there is no root, no QEMU, or no 6.1 kernel in
// the cache and no way to fetch one (.ci/run fetches it).
import t from 'tap'
import { execFileSync } from 'node:child_process'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { release } from 'node:os'
import path from 'node:path'
import { e2eSkipReason, readVerdict, runCli, sleep, tempDir } from './helpers.js'

const KERNEL = '6.1'
const VM_DIR = path.join(process.env.TCPLAB_STATE_DIR ?? '/run/tcplab', 'vm')
const SCENARIOS = ['scenarios/errno/errno-shut-wr.yaml', 'scenarios/close/close-unread-data.yaml', 'scenarios/window/zero-window.yaml']

function hasCommand(argv: string[]): boolean {
  try {
    execFileSync(argv[0] as string, argv.slice(1), { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}

function cachedKernel(): boolean {
  const cache = process.env.TCPLAB_KERNEL_CACHE ?? '/var/cache/tcplab/kernels'
  try {
    return readdirSync(cache).some((d) => {
      try {
        const info = JSON.parse(readFileSync(path.join(cache, d, 'kernel.json'), 'utf8')) as { version: string; release: string }
        return (info.version === KERNEL || info.release.startsWith(`${KERNEL}.`)) && existsSync(path.join(cache, d, 'vmlinux'))
      } catch {
        return false
      }
    })
  } catch {
    return false
  }
}

async function skipReason(): Promise<string | undefined> {
  const base = e2eSkipReason()
  if (base) return base
  if (!hasCommand(['qemu-system-x86_64', '--version'])) return 'qemu-system-x86_64 is not installed (apt-get install -y qemu-system-x86)'
  if (cachedKernel()) return undefined
  // Not cached: fetch it where this tcplab can (`tcplab kernels fetch`, with network access).
  const r = await runCli(['kernels', 'fetch', KERNEL], { timeoutMs: 600_000 })
  if (r.code === 0 && cachedKernel()) return undefined
  return `no ${KERNEL} kernel in the cache and fetching it failed (exit ${r.code}: ${(r.stderr.trim().split('\n')[0] ?? '').slice(0, 200)})`
}

/** Guest directories (and their state) owned by process `pid`. */
function guestsOf(pid: number): Array<{ dir: string; qemuPid?: number; virtiofsdPid?: number }> {
  if (!existsSync(VM_DIR)) return []
  return readdirSync(VM_DIR).flatMap((n) => {
    try {
      const st = JSON.parse(readFileSync(path.join(VM_DIR, n, 'state.json'), 'utf8')) as { ownerPid: number; qemuPid?: number; virtiofsdPid?: number }
      return st.ownerPid === pid ? [{ dir: path.join(VM_DIR, n), qemuPid: st.qemuPid, virtiofsdPid: st.virtiofsdPid }] : []
    } catch {
      return []
    }
  })
}

/** Processes whose command line names `dir` (QEMU and virtiofsd of a guest). */
function processesNaming(dir: string): string[] {
  return execFileSync('ps', ['-eo', 'pid,args'], { encoding: 'utf8' }).split('\n').filter((l) => l.includes(dir) && !l.includes('ps -eo'))
}

const skip = await skipReason()
if (skip) {
  t.plan(0, skip)
} else {
  t.test(`three scenarios on kernel ${KERNEL} in a QEMU guest`, async (t) => {
    const dir = tempDir('tcplab-e2e-vm-')
    let pid = 0
    const dirsSeen = new Set<string>()
    const watch = setInterval(() => {
      for (const g of guestsOf(pid)) dirsSeen.add(g.dir)
    }, 200)
    // With the host's kernel beside it (--kernels-at-once 2): the two suites run at once.
    let wroteAt = 0
    const r = await runCli(['run', ...SCENARIOS, '--kernel', `${KERNEL},host`, '--kernels-at-once', '2', '--results', dir, '--reporter', 'json'], {
      onSpawn: (c) => {
        pid = c.pid ?? 0
        c.stderr?.on('data', (b: Buffer) => {
          if (b.toString().includes('matrix.html')) wroteAt = Date.now()
        })
      },
      timeoutMs: 240_000,
    })
    const exitedAfterMs = Date.now() - wroteAt
    clearInterval(watch)
    t.equal(r.code, 0, `exit 0\n${r.stdout.slice(-3000)}\n${r.stderr.slice(-2000)}`)
    // Side by side: progress lines say whose they are, and each kernel's JSON document is written whole.
    t.match(r.stderr, new RegExp(`tcplab: \\[${KERNEL}\\] booting `))
    const docs = r.stdout.trim().split(/\n(?=\{\n {2}"summary")/).map((d) => JSON.parse(d) as { summary: { backend: string } })
    t.same(docs.map((d) => d.summary.backend).sort(), ['netns', 'vm'], 'two whole JSON documents, one per kernel')
    t.ok(existsSync(path.join(dir, 'matrix.html')), 'the matrix page of the two kernels')
    // Nothing of a guest (its boot timer, its multiplexer) keeps the runner alive once the page is written.
    t.ok(wroteAt > 0 && exitedAfterMs < 10_000, `the run exits once it is done (${exitedAfterMs} ms after the matrix page)`)
    const kdir = path.join(dir, `kernel-${KERNEL}`)
    const env = JSON.parse(readFileSync(path.join(kdir, 'env.json'), 'utf8')) as { backend: string; kernelRelease: string; clockOffsetUs: number; clockRttUs: number; accel: string }
    t.equal(env.backend, 'vm')
    t.match(env.kernelRelease, /^6\.1\.\d+-/, 'the guest runs the 6.1 kernel')
    t.not(env.kernelRelease, release(), 'not the host kernel')
    t.type(env.clockOffsetUs, 'number', 'the clock offset is recorded')
    t.ok(Math.abs(env.clockOffsetUs) <= 1000 + env.clockRttUs / 2, `guest clock within 1 ms of the host's after boot (${env.clockOffsetUs} µs, rtt ${env.clockRttUs} µs)`)
    const summary = JSON.parse(readFileSync(path.join(kdir, 'summary.json'), 'utf8')) as { backend: string; scenarios: Array<{ name: string; status: string }> }
    t.equal(summary.backend, 'vm')
    t.same(summary.scenarios.map((s) => s.name).sort(), ['close-unread-data', 'errno-shut-wr', 'zero-window'])
    for (const s of summary.scenarios) t.equal(s.status, 'pass', `${s.name} passes on ${env.kernelRelease}`)
    for (const s of summary.scenarios) {
      const senv = JSON.parse(readFileSync(path.join(kdir, s.name, 'env.json'), 'utf8')) as { kernel: string; vm?: { clockOffsetUs: number; tracepoints: boolean } }
      t.equal(senv.kernel, env.kernelRelease, `${s.name}: env.json names the guest's kernel`)
      t.type(senv.vm?.clockOffsetUs, 'number', `${s.name}: env.json has the clock offset`)
      for (const f of ['client.pcap', 'server.pcap', 'records.jsonl']) t.ok(readFileSync(path.join(kdir, s.name, f)).length > 0, `${s.name}/${f} written`)
      // The stall probe ran in the guest (Backend.probeMachine): its stalls are measured, a list.
      const verdict = readVerdict(kdir, s.name)
      t.ok(Array.isArray(verdict.load?.stalls), `${s.name}: the guest's stalls were measured (${JSON.stringify(verdict.load?.stalls)})`)
      t.equal(verdict.load?.stallsOn, `the guest on ${env.kernelRelease}`, `${s.name}: by probes inside the guest, not this machine's`)
      if (senv.vm?.tracepoints) {
        const recs = readFileSync(path.join(kdir, s.name, 'records.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { kind: string; source?: string; type?: string; text?: string })
        const states = recs.filter((x) => x.kind === 'event' && x.source === 'tracepoint' && x.type === 'tcp-state')
        t.ok(states.some((x) => x.text === 'SYN_SENT -> ESTABLISHED'), `${s.name}: the kernel's state changes are recorded (tracepoint)`)
      }
    }
    // Nothing of the run's guest is left: it was seen while running, and is gone now.
    t.ok(dirsSeen.size > 0, 'the run had a guest directory')
    await sleep(200)
    for (const d of dirsSeen) {
      t.notOk(existsSync(d), `${d} removed`)
      t.same(processesNaming(d), [], `no QEMU or virtiofsd of ${d} left`)
    }
  })

  t.test('a guest whose runner was killed (SIGKILL) is removed by `tcplab gc`', async (t) => {
    const dir = tempDir('tcplab-e2e-vm-kill-')
    let pid = 0
    const child = runCli(['run', 'scenarios/errno/errno-shut-wr.yaml', '--kernel', KERNEL, '--results', dir], {
      onSpawn: (c) => {
        pid = c.pid ?? 0
        // Kill it once QEMU runs (the state file has its pid).
        const poll = setInterval(() => {
          if (guestsOf(pid).some((g) => g.qemuPid !== undefined)) {
            clearInterval(poll)
            c.kill('SIGKILL')
          }
        }, 100)
        c.on('close', () => clearInterval(poll))
      },
      timeoutMs: 120_000,
    })
    const r = await child
    t.equal(r.signal, 'SIGKILL', 'the runner was killed while its guest ran')
    const left = guestsOf(pid)
    t.equal(left.length, 1, 'its guest directory is left behind')
    const g = left[0] as { dir: string; qemuPid?: number }
    const gc = await runCli(['gc', '--backend', 'vm'])
    t.equal(gc.code, 0, gc.stderr)
    t.match(gc.stdout, new RegExp(`vm: removed guest files ${g.dir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`))
    await sleep(300)
    t.notOk(existsSync(g.dir), 'the guest directory is gone')
    t.same(processesNaming(g.dir), [], 'QEMU and virtiofsd are gone')
    const again = await runCli(['gc', '--backend', 'vm'])
    t.notMatch(again.stdout, g.dir, 'a second gc finds nothing of it')
  })
}
