// Several Docker daemons in one run (`--docker-host a,b`): a second dockerd is
// started on this machine (containers/start-dockerd.sh --name docker2: its own
// socket, data-root, exec-root and pidfile, no bridge, no host iptables), the
// lab image is loaded into it, and a run spreads two scenarios over both
// daemons, each lab whole on one daemon, the verdicts and summary naming the
// daemon. Then a run on the second daemon is killed (SIGKILL) in the middle and
// `tcplab gc --docker-host a,b` collects its containers and networks there. The
// second daemon is stopped at the end (when this test started it).
import t from 'tap'
import Docker from 'dockerode'
import { execFileSync, spawn } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import type { RunSummary, ScenarioVerdict } from '../../src/expect/verdict.js'
import { labImageName } from '../../src/lab/docker/image.js'
import { LABEL_RUN_ID, LABEL_SCENARIO } from '../../src/lab/docker/backend.js'
import { CLI, e2eSkipReason, runCli, sleep, tempDir } from './helpers.js'

const D1 = 'unix:///var/run/docker.sock'
const D2 = 'unix:///run/tcplab-docker2.sock'
const START_DOCKERD = fileURLToPath(new URL('../../containers/start-dockerd.sh', import.meta.url))
const IMAGE = labImageName()
const SCENARIOS = ['scenarios/errno/errno-shut-wr.yaml', 'scenarios/errno/errno-closed-fd.yaml']
const readJson = <T>(f: string): T => JSON.parse(readFileSync(f, 'utf8')) as T

const docker1 = new Docker({ socketPath: '/var/run/docker.sock' })
const docker2 = new Docker({ socketPath: '/run/tcplab-docker2.sock' })

async function whyNot(): Promise<string | undefined> {
  const base = e2eSkipReason()
  if (base) return base
  if (process.env.DOCKER_HOST && process.env.DOCKER_HOST !== D1) return `DOCKER_HOST=${process.env.DOCKER_HOST}: this test starts a second daemon beside the local one`
  if (!existsSync('/usr/sbin/dockerd') && !existsSync('/usr/bin/dockerd')) return 'dockerd is not installed (make docker)'
  if (!(await docker1.ping().then(() => true, () => false))) return `no Docker daemon at ${D1} (make docker)`
  if (!(await docker1.getImage(IMAGE).inspect().then(() => true, () => false))) return `the lab image ${IMAGE} is not built (make image)`
  return undefined
}

/** Containers and networks with tcplab labels on a daemon (of one lab id, or of one scenario). */
async function tcplabObjects(docker: Docker, label: string): Promise<string[]> {
  const filters = { label: [label] }
  const [cs, ns] = await Promise.all([docker.listContainers({ all: true, filters }), docker.listNetworks({ filters })])
  return [...cs.map((c) => `container ${c.Names.join(',')}`), ...ns.map((n) => `network ${n.Name}`)]
}

const reason = await whyNot()
if (reason) {
  t.plan(0, reason)
} else {
  const wasUp = await docker2.ping().then(() => true, () => false)
  if (!wasUp) execFileSync('bash', [START_DOCKERD, '--name', 'docker2', '--host', D2], { stdio: ['ignore', 'ignore', 'inherit'] })
  t.teardown(() => {
    if (!wasUp) execFileSync('bash', [START_DOCKERD, '--name', 'docker2', '--stop'], { stdio: ['ignore', 'ignore', 'inherit'] })
  })
  // The same lab image (same id) on the second daemon: docker save | docker load, through both APIs.
  const localId = (await docker1.getImage(IMAGE).inspect()).Id
  if ((await docker2.getImage(IMAGE).inspect().then((i) => i.Id, () => undefined)) !== localId) {
    const progress = await docker2.loadImage(await docker1.getImage(IMAGE).get(), {})
    for await (const _ of progress) void _
  }

  t.test('--docker-host a,b spreads the scenarios over both daemons and says which ran each', async (t) => {
    const dir = tempDir('tcplab-e2e-2daemons-')
    // While it runs, look on both daemons for the containers of each scenario's lab.
    const seenOn = new Map<string, Set<string>>()
    let running = true
    const watch = (async () => {
      while (running) {
        for (const [daemon, docker] of [[D1, docker1], [D2, docker2]] as const) {
          for (const c of await docker.listContainers({ all: true, filters: { label: [LABEL_SCENARIO] } }).catch(() => [])) {
            const name = c.Labels[LABEL_SCENARIO] ?? ''
            seenOn.set(name, new Set([...(seenOn.get(name) ?? []), daemon]))
          }
        }
        await sleep(150)
      }
    })()
    const r = await runCli(['run', ...SCENARIOS, '--docker-host', `${D1},${D2}`, '--jobs', '2', '--results', dir])
    running = false
    await watch
    // The verdicts themselves are timing checks (covered by the catalogue tests, and this daemon on
    // 127.0.0.1 is as local as the other: its agents run SCHED_FIFO too). What this test needs: both
    // labs came up and were judged (exit 0 or 1), each on the daemon the verdict names.
    t.ok(r.code === 0 || r.code === 1, `exit 0 or 1 (judged), got ${r.code}`)
    if (r.code !== 0) t.comment(`${r.stdout.slice(-3000)}\n${r.stderr.slice(-3000)}`)
    t.match(r.stdout, /tcplab: 2 scenario\(s\) on docker \(2 daemons\)/)
    const summary = readJson<RunSummary>(path.join(dir, 'summary.json'))
    t.equal(summary.backend, 'docker')
    t.same(summary.daemons, [D1, D2], 'summary.json lists the daemons')
    t.same(summary.scenarios.map((s) => s.daemon).sort(), [D2, D1].sort(), 'one scenario on each daemon')
    for (const s of summary.scenarios) {
      const v = readJson<ScenarioVerdict>(path.join(dir, s.name, 'verdict.json'))
      t.equal(v.daemon, s.daemon, `${s.name}: verdict.json names the daemon`)
      t.same([...(seenOn.get(s.name) ?? [])], [s.daemon], `${s.name}: its lab's containers were on that daemon, and only there`)
      t.ok(v.status !== 'error' && v.results.length > 0, `${s.name}: ran and was judged (${v.status})`)
      t.match(r.stdout, new RegExp(`(PASS|FAIL) ${s.name} \\(.*, on ${(s.daemon as string).replace(/[/.]/g, '\\$&')}`), `${s.name}: the pretty line names the daemon`)
      const env = readJson<{ kernel: string }>(path.join(dir, s.name, 'env.json'))
      t.ok(env.kernel.length > 0, `${s.name}: env.json probed on its daemon`)
      const docker = s.daemon === D2 ? docker2 : docker1
      t.same(await tcplabObjects(docker, `${LABEL_RUN_ID}=${v.labId ?? ''}`), [], `${s.name}: nothing left on its daemon`)
    }
    t.match(readFileSync(path.join(dir, 'junit.xml'), 'utf8'), `<property name="daemon" value="${D2}"/>`, 'junit.xml names the daemon')
    t.match(readFileSync(path.join(dir, 'index.html'), 'utf8'), `on ${D2}`, 'index.html names the daemon')
  })

  t.test('a daemon that does not answer: exit 3 naming it, before any lab is made', async (t) => {
    const nope = 'unix:///run/tcplab-no-such-daemon.sock'
    const r = await runCli(['run', ...SCENARIOS, '--docker-host', `${D1},${nope}`])
    t.equal(r.code, 3)
    t.match(r.stderr, `cannot reach the Docker daemon at ${nope}`)
    t.notMatch(r.stdout, /PASS|FAIL|RUN/, 'nothing ran')
  })

  t.test('gc collects a killed run on the second daemon (tcplab gc --docker-host a,b)', async (t) => {
    const scenario = 'errno-shut-rd'
    const child = spawn(process.execPath, [CLI, 'run', 'scenarios/errno/errno-shut-rd.yaml', '--docker-host', D2, '--results', tempDir('tcplab-e2e-killed-')], { stdio: 'ignore' })
    let made: string[] = []
    for (let i = 0; i < 600 && made.filter((m) => m.startsWith('container')).length < 2; i++) {
      await sleep(100)
      made = await tcplabObjects(docker2, `${LABEL_SCENARIO}=${scenario}`)
    }
    child.kill('SIGKILL')
    await new Promise((resolve) => child.on('close', resolve))
    t.ok(made.filter((m) => m.startsWith('container')).length >= 2, `the killed run left its containers on ${D2}: ${made.join(', ')}`)
    t.ok(made.some((m) => m.startsWith('network')), 'and its network')
    const gc = await runCli(['gc', '--backend', 'docker', '--docker-host', `${D1},${D2}`])
    t.equal(gc.code, 0, `gc exits 0\n${gc.stderr}`)
    t.match(gc.stdout, new RegExp(`docker ${D2.replace(/[/.]/g, '\\$&')}: removed container tcplab-`), 'gc says which daemon it removed them from')
    t.match(gc.stdout, new RegExp(`docker ${D2.replace(/[/.]/g, '\\$&')}: removed network tcplab-`))
    t.same(await tcplabObjects(docker2, `${LABEL_SCENARIO}=${scenario}`), [], `nothing of the killed run left on ${D2}`)
  })
}
