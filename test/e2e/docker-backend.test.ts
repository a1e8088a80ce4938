// The docker backend on a real Docker daemon: containers from the lab image on
// internal networks, exec and spawn through the API, signals delivered inside
// the container, a wire host, sysctls, errors, gc, and the same lab driven
// through a second daemon reached only over TCP (DOCKER_HOST=tcp://127.0.0.1).
// Hosts from a user's own image (a scratch image with one static program, built
// here offline) get the lab's tools from a sidecar; sysctls change at runtime.
// Every test ends with a leak check: nothing labelled with its lab id is left.
// Skips, with the reason, where there is no daemon or no lab image
// (`make docker image` makes both).

import t from 'tap'
import Docker from 'dockerode'
import { execFileSync, spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises'
import { Readable } from 'node:stream'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startAgent } from '../../src/agent/client.js'
import type { AgentEvent } from '../../src/agent/protocol.js'
import { createDockerBackend, LABEL_OWNER, LABEL_ROLE, LABEL_RUN_ID, LABEL_SCENARIO } from '../../src/lab/docker/backend.js'
import { applySysctls } from '../../src/lab/index.js'
import { parseScenario } from '../../src/scenario/loader.js'
import { runScenario } from '../../src/runner/run-scenario.js'
import { labImageName } from '../../src/lab/docker/image.js'
import { followRoutesAtStart, routesAtStartCmd } from '../../src/lab/docker/routes.js'
import { startCapture } from '../../src/recorder/capture.js'
import type { Backend, Host, HostSpec, Lab } from '../../src/lab/types.js'
import { EnvironmentError, InterruptedError, LabError, ProcessError, StepError } from '../../src/util/errors.js'

type TT = Parameters<Parameters<typeof t.test>[0]>[0]

const IMAGE = labImageName()
/**
 * The user-image test's image: a scratch filesystem with one static program (test/fixtures/user-image/tcp-echo.c).
 * Tagged per test run, so that runs on one daemon do not remove each other's.
 */
const RUN_TAG = `${process.pid}-${Date.now().toString(36)}`
const USER_IMAGE = `tcplab-test-echo:${RUN_TAG}`
/** The image name the scenario fixture names (replaced by USER_IMAGE when it is loaded). */
const FIXTURE_IMAGE = 'tcplab-test-echo:1'
const USER_SOURCE = fileURLToPath(new URL('../fixtures/user-image/tcp-echo.c', import.meta.url))
const USER_SCENARIO = fileURLToPath(new URL('../fixtures/scenarios/docker/user-image.yaml', import.meta.url))
const builtImages = new Set<string>()
const TCP_HOST = 'tcp://127.0.0.1:23750'
const START_DOCKERD = fileURLToPath(new URL('../../containers/start-dockerd.sh', import.meta.url))
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))
let labSeq = 0
const newId = (): string => `${(process.pid % 0x10000).toString(16).padStart(4, '0')}${(labSeq++).toString(16).padStart(4, '0')}`

const host = (name: string, extra: Partial<HostSpec> = {}): HostSpec => ({ name, sysctls: {}, isWire: false, ...extra })

/** Why the tests cannot run here, or undefined. */
async function whyNotRunnable(docker: Docker): Promise<string | undefined> {
  try {
    await docker.ping()
  } catch (e: unknown) {
    return `no Docker daemon at ${process.env.DOCKER_HOST ?? 'unix:///var/run/docker.sock'} (${(e as Error).message}); run \`make docker\``
  }
  try {
    await docker.getImage(IMAGE).inspect()
  } catch {
    return `the lab image ${IMAGE} is not built; run \`make image\``
  }
  return undefined
}

/** Containers and networks labelled with this lab id. */
async function leftovers(docker: Docker, labId: string): Promise<string[]> {
  const filters = { label: [`${LABEL_RUN_ID}=${labId}`] }
  const [cs, ns] = await Promise.all([docker.listContainers({ all: true, filters }), docker.listNetworks({ filters })])
  return [...cs.map((c) => `container ${c.Names.join(',')}`), ...ns.map((n) => `network ${n.Name}`)]
}

/** The host's iptables rules (counters stripped) and forwarding sysctls: must not change. */
function hostNetworkState(): string {
  const save = (cmd: string): string => {
    const r = spawnSync(cmd, [], { encoding: 'utf8' })
    return (r.stdout ?? '').split('\n').filter((l) => !l.startsWith('#')).map((l) => l.replace(/\[\d+:\d+\]/g, '')).join('\n')
  }
  const fwd = spawnSync('sysctl', ['-n', 'net.ipv4.ip_forward', 'net.ipv6.conf.all.forwarding'], { encoding: 'utf8' }).stdout
  return `${save('iptables-save')}\n${save('ip6tables-save')}\n${fwd}`
}

/** Host-side links a lab left behind (bridges are named tcpl-<labId>-<n>). */
function hostLinksOf(labId: string): string[] {
  const r = spawnSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' })
  return (r.stdout ?? '').split('\n').filter((l) => l.includes(`tcpl-${labId}-`))
}

async function waitUntil(what: string, cond: () => Promise<boolean> | boolean, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for: ${what}`)
    await sleep(50)
  }
}

/** State letter(s) of the first process whose args start with `prefix` (ps STAT: T = stopped). */
async function psState(h: Host, prefix: string): Promise<string | undefined> {
  const r = await h.exec(['ps', '-eo', 'stat=,args='])
  const line = r.stdout.split('\n').map((l) => l.trim()).find((l) => l.split(/\s+/).slice(1).join(' ').startsWith(prefix))
  return line?.split(/\s+/)[0]
}

/** Receive queue of the established socket on `port` (ss Recv-Q). */
async function recvQ(h: Host, port: number): Promise<number> {
  const r = await h.exec(['ss', '-Htn', 'state', 'established', `( sport = :${port} )`])
  return Number(r.stdout.trim().split(/\s+/)[0] ?? 0)
}

/**
 * Build `tag` offline: a scratch root filesystem holding only the static tcp-echo (cc -static), imported
 * with `cmd` as its CMD. Removed when the tests end. Returns why it cannot be built, or undefined.
 */
async function buildUserImage(docker: Docker, tag: string, cmd: string[]): Promise<string | undefined> {
  if (builtImages.has(tag)) return undefined
  const dir = await mkdtemp(join(tmpdir(), 'tcplab-user-image-'))
  try {
    await mkdir(join(dir, 'rootfs'))
    const cc = spawnSync('cc', ['-O2', '-static', '-Wall', '-Wextra', '-Werror', '-o', join(dir, 'rootfs', 'tcp-echo'), USER_SOURCE], { encoding: 'utf8' })
    if (cc.error || cc.status !== 0) return `cannot build the test program with cc -static: ${cc.error?.message ?? cc.stderr}`
    const tar = execFileSync('tar', ['-C', join(dir, 'rootfs'), '-c', '.'])
    const [repo, version] = tag.split(':') as [string, string]
    const progress = await docker.importImage(Readable.from(tar), { repo, tag: version, changes: `CMD ${JSON.stringify(cmd)}` })
    for await (const _ of progress) void _
    const info = await docker.getImage(tag).inspect()
    if (JSON.stringify(info.Config.Cmd) !== JSON.stringify(cmd)) return `the imported image has CMD ${JSON.stringify(info.Config.Cmd)}, not ${JSON.stringify(cmd)}`
    builtImages.add(tag)
    t.teardown(() => docker.getImage(tag).remove({ force: true }).then(() => undefined, () => undefined))
    return undefined
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

/** The core of the backend contract on two hosts; used for the local and the TCP daemon. */
async function exerciseTwoHosts(tt: TT, backend: Backend, docker: Docker): Promise<void> {
  const labId = newId()
  const lab = await backend.up({ labId, scenario: 'docker-e2e', hosts: [host('client', { sysctls: { 'net.ipv4.tcp_syn_retries': '3' } }), host('server')] })
  try {
    const cli = lab.hosts.get('client') as Host
    const srv = lab.hosts.get('server') as Host
    tt.match(cli.addr, /^198\.(18|19)\.\d+\.1$/, 'client address in 198.18.0.0/15')
    tt.match(srv.addr, /^198\.(18|19)\.\d+\.2$/, 'server address in the same /24')
    tt.same(cli.ifnames, ['eth0'], 'one lab interface')
    tt.equal(cli.agentPath, '/usr/local/bin/tcplab-agent', 'agent path inside the image')

    const labels = (await docker.getContainer(`tcplab-${labId}-client`).inspect()).Config.Labels
    tt.equal(labels[LABEL_RUN_ID], labId, 'container labelled with the run id')
    tt.equal(labels[LABEL_SCENARIO], 'docker-e2e', 'container labelled with the scenario')
    const hc = (await docker.getContainer(`tcplab-${labId}-client`).inspect()).HostConfig
    tt.equal(hc.Privileged, false, 'not privileged')
    tt.same(hc.CapDrop, ['ALL'], 'all capabilities dropped first')

    tt.equal((await cli.exec(['sysctl', '-n', 'net.ipv4.tcp_syn_retries'])).stdout.trim(), '3', 'sysctl from the host spec')
    const routes = (await cli.exec(['ip', 'route'])).stdout
    tt.notMatch(routes, /default/, 'no default route out of the lab')
    tt.match(routes, /dev eth0/, 'the lab route is there')
    tt.equal((await cli.exec(['cat'], { input: 'to stdin\n' })).stdout, 'to stdin\n', 'exec with input')
    const r = await cli.exec(['sh', '-c', 'echo out; echo err >&2; exit 3'], { reject: false })
    tt.same(r, { exitCode: 3, stdout: 'out\n', stderr: 'err\n' }, 'exit code, stdout and stderr kept apart')
    await tt.rejects(cli.exec(['ls', '/nonexistent']), ProcessError, 'a failing command rejects')
    const missing = await cli.exec(['no-such-program', 'x']).catch((e: unknown) => e)
    tt.ok(missing instanceof ProcessError && missing.failure.argv[0] === 'no-such-program' && /not installed/.test(missing.hint ?? ''),
      'a missing program: ProcessError with the argv as given and a hint')
    const slow = Date.now()
    const timedOut = await cli.exec(['sleep', '30'], { timeoutMs: 300 }).catch((e: unknown) => e)
    tt.ok(timedOut instanceof ProcessError && timedOut.failure.signal === 'timeout', 'exec timeout rejects')
    tt.ok(Date.now() - slow < 5000, 'and does not wait for the command')
    await waitUntil('the timed-out sleep is killed inside', async () => (await psState(cli, 'sleep 30')) === undefined)
    tt.pass('the timed-out command was killed inside the container')

    // An nc pair: data flows; SIGSTOP on the reader lets Recv-Q grow; SIGCONT drains it.
    const got: string[] = []
    const server = srv.spawn(['nc', '-l', '8000'], { onStdoutLine: (l) => got.push(l) })
    await server.started
    await waitUntil('nc listening', async () => (await srv.exec(['ss', '-Hltn', '( sport = :8000 )'])).stdout.includes('8000'))
    const client = cli.spawn(['nc', srv.addr, '8000'], { stdin: true })
    await client.started
    await client.write('hello\n')
    await waitUntil('line at the server', () => got.includes('hello'))
    tt.pass('spawned nc pair talks through the lab network')

    await server.signal('SIGSTOP')
    tt.match(await psState(srv, 'nc -l 8000'), /^T/, 'SIGSTOP stops the process inside the container')
    await client.write('while stopped\n')
    await waitUntil('Recv-Q grows', async () => (await recvQ(srv, 8000)) === 14)
    tt.equal(got.includes('while stopped'), false, 'a stopped reader reads nothing')
    tt.pass('Recv-Q holds the 14 unread bytes')
    await server.signal('SIGCONT')
    await waitUntil('line after SIGCONT', () => got.includes('while stopped'))
    tt.equal(await recvQ(srv, 8000), 0, 'SIGCONT: the reader drains Recv-Q')

    const exit = await server.stop()
    tt.same(exit, { code: undefined, signal: 'SIGTERM' }, 'stop(): SIGTERM ends it, reported as a signal')
    tt.equal(server.hasExited, true, 'hasExited')
    client.endStdin()
    await client.stop({ graceMs: 500 })
    await waitUntil('no nc left', async () => (await psState(cli, 'nc')) === undefined && (await psState(srv, 'nc')) === undefined)
    tt.pass('no nc left in either container')
  } finally {
    await lab.down()
  }
  tt.same(await leftovers(docker, labId), [], 'down() leaves no container or network with the lab label')
  await lab.down()
  tt.pass('down() is idempotent')
}

const docker = new Docker()
const reason = await whyNotRunnable(docker)
if (reason !== undefined) {
  t.plan(0, reason)
} else {
  const backend = createDockerBackend()
  const isLocal = !process.env.DOCKER_HOST || process.env.DOCKER_HOST.startsWith('unix://')

  t.test('check() passes with a daemon and the image', async (tt) => {
    await backend.check()
    tt.pass('check')
  })

  t.test('two hosts on the local daemon: exec, spawn, signals, down leaves nothing', async (tt) => {
    const before = isLocal ? hostNetworkState() : ''
    await exerciseTwoHosts(tt, backend, docker)
    if (isLocal) tt.equal(hostNetworkState(), before, "the host's iptables rules and forwarding sysctls are unchanged")
  })

  t.test('the socket agent runs in the lab image', async (tt) => {
    const labId = newId()
    const lab = await backend.up({ labId, scenario: 'docker-e2e-agent', hosts: [host('client'), host('server')] })
    try {
      const evs: AgentEvent[] = []
      const srv = await startAgent(lab.hosts.get('server') as Host, { onEvent: (e) => evs.push(e), priority: 'fifo' })
      const cli = await startAgent(lab.hosts.get('client') as Host, { onEvent: (e) => evs.push(e), priority: 'fifo' })
      if (isLocal && process.getuid?.() === 0) {
        // Started from here into the container's namespaces (not its cgroup, which has no real-time budget).
        tt.equal(cli.sched, 'fifo', `the agent runs SCHED_FIFO (${cli.schedError ?? 'granted'})`)
        const client = lab.hosts.get('client') as Host
        const comm = await client.exec(['cat', `/proc/${cli.pid}/comm`])
        tt.equal(comm.stdout.trim(), 'tcplab-agent', "the agent's pid is in the container's pid namespace")
        const capsOf = (text: string): string | undefined => /^CapEff:\s*(\S+)/m.exec(text)?.[1]
        const inContainer = capsOf((await client.exec(['cat', '/proc/self/status'])).stdout)
        const run = await cli.request({ op: 'exec', name: 'caps', argv: ['cat', '/proc/self/status'] })
        tt.equal(run.type, 'exited')
        tt.equal(capsOf(run.type === 'exited' ? run.stdoutTail ?? '' : ''), inContainer, "a program the agent starts holds the container's capabilities, no more")
        tt.not(inContainer, undefined)
      }
      const l = await srv.request({ op: 'listen', name: 'l', port: 7000, as: 's' })
      tt.equal(l.type, 'listening', 'agent listens')
      const c = await cli.request({ op: 'connect', name: 'c', host: (lab.hosts.get('server') as Host).addr, port: 7000 })
      tt.equal(c.type, 'connected', 'agent connects across the lab network')
      tt.same(await cli.close(), { code: 0, signal: undefined }, 'client agent exits 0 on stdin EOF')
      tt.same(await srv.close(), { code: 0, signal: undefined }, 'server agent exits 0 on stdin EOF')
      // Where the daemon is elsewhere: `docker exec`, inside the container's cgroup, where SCHED_FIFO is refused.
      process.env.TCPLAB_DOCKER_AGENT_EXEC = '1'
      try {
        const remote = await startAgent(lab.hosts.get('client') as Host, { onEvent: () => undefined, priority: 'fifo' })
        tt.equal(remote.sched, 'normal', 'by docker exec: the normal priority')
        tt.match(remote.schedError, /not permitted/, 'and why')
        tt.equal((await remote.request({ op: 'listen', name: 'l2', port: 7001 })).type, 'listening', 'and it works')
        tt.same(await remote.close(), { code: 0, signal: undefined }, 'it exits 0 on stdin EOF')
      } finally {
        delete process.env.TCPLAB_DOCKER_AGENT_EXEC
      }
    } finally {
      await lab.down()
    }
    tt.same(await leftovers(docker, labId), [], 'nothing left')
  })

  t.test('tcpdump captures inside a lab host with the lab capabilities', async (tt) => {
    const labId = newId()
    const dir = await mkdtemp(join(tmpdir(), 'tcplab-docker-e2e-'))
    const lab = await backend.up({ labId, scenario: 'docker-e2e-capture', hosts: [host('client'), host('server')] })
    try {
      const cli = lab.hosts.get('client') as Host
      const srv = lab.hosts.get('server') as Host
      const cap = await startCapture(srv, { file: join(dir, 'server.pcap') })
      tt.pass(`tcpdump is capturing (${cap.linkType})`)
      const r = await cli.exec(['nc', '-z', '-w', '1', srv.addr, '9'], { reject: false })
      tt.not(r.exitCode, 0, 'nothing listens on port 9 (the server answers RST)')
      const res = await cap.stop()
      const flags = res.packets.filter((p) => p.dport === 9 || p.sport === 9).map((p) => `${p.dir}:${p.flags}`)
      tt.ok(flags.includes('in:S') && flags.some((f) => f.startsWith('out:R')), `SYN in, RST out on the server (${flags.join(' ')})`)
      tt.equal(res.exit.code, 0, 'tcpdump exits 0 after SIGINT')
    } finally {
      await lab.down()
      await rm(dir, { recursive: true, force: true })
    }
    tt.same(await leftovers(docker, labId), [], 'nothing left')
  })

  t.test('a wire host routes between two networks; faults sit in its FORWARD chain', async (tt) => {
    const labId = newId()
    const lab = await backend.up({ labId, scenario: 'docker-e2e-wire', hosts: [host('client'), host('wire', { isWire: true }), host('server')] })
    try {
      const [cli, wire, srv] = ['client', 'wire', 'server'].map((n) => lab.hosts.get(n) as Host) as [Host, Host, Host]
      tt.same(wire.ifnames, ['eth0', 'eth1'], 'wire has two interfaces')
      tt.equal((await wire.exec(['sysctl', '-n', 'net.ipv4.ip_forward'])).stdout.trim(), '1', 'wire forwards')
      tt.equal((await cli.exec(['sysctl', '-n', 'net.ipv4.ip_forward'])).stdout.trim(), '0', 'endpoints do not')
      const wireAddrs = (await wire.exec(['ip', '-o', '-4', 'addr', 'show'])).stdout
      tt.match(wireAddrs, /eth0\s+inet \S+\.126\/25/, 'eth0 on the client side')
      tt.match(wireAddrs, /eth1\s+inet \S+\.254\/25/, 'eth1 on the server side')
      tt.notMatch((await cli.exec(['ip', 'route'])).stdout + (await wire.exec(['ip', 'route'])).stdout, /default/, 'no default routes')
      await wire.exec(['iptables', '-A', 'FORWARD', '-p', 'tcp', '--dport', '8000', '-m', 'comment', '--comment', 'count'])
      const got: string[] = []
      const server = srv.spawn(['nc', '-l', '8000'], { onStdoutLine: (l) => got.push(l) })
      await server.started
      await waitUntil('nc listening', async () => (await srv.exec(['ss', '-Hltn', '( sport = :8000 )'])).stdout.includes('8000'))
      await cli.exec(['nc', '-N', '-w', '3', srv.addr, '8000'], { input: 'across\n' })
      await server.exited
      tt.same(got, ['across'], 'data crossed the wire')
      const counters = (await wire.exec(['iptables', '-L', 'FORWARD', '-v', '-n', '-x'])).stdout
      const pkts = Number(/^\s*(\d+)\s+\d+.*count/m.exec(counters)?.[1] ?? 0)
      tt.ok(pkts >= 3, `the wire's FORWARD rule counted the client's packets (${pkts})`)
      await wire.exec(['iptables', '-I', 'FORWARD', '-p', 'tcp', '--dport', '8001', '-j', 'DROP'])
      const dropped = await cli.exec(['nc', '-z', '-w', '1', srv.addr, '8001'], { reject: false })
      tt.not(dropped.exitCode, 0, 'a DROP in the wire stops the connection')
    } finally {
      await lab.down()
    }
    tt.same(await leftovers(docker, labId), [], 'nothing left')
    if (isLocal) tt.same(hostLinksOf(labId), [], 'no host-side bridge left')
  })

  t.test("a sysctl the kernel refuses is the scenario's error and leaves nothing", async (tt) => {
    const labId = newId()
    const err = await backend.up({ labId, scenario: 'docker-e2e-sysctl', hosts: [host('a', { sysctls: { 'net.ipv4.no_such_key': '1' } }), host('b')] })
      .catch((e: unknown) => e)
    tt.ok(err instanceof StepError, `StepError (${String(err)})`)
    tt.match((err as StepError).message, /net\.ipv4\.no_such_key/, 'names the key')
    tt.same(await leftovers(docker, labId), [], 'nothing left')
  })

  t.test('optional sysctls ("?key") are set where the kernel has them and skipped elsewhere', async (tt) => {
    const labId = newId()
    const hasLinear = existsSync('/proc/sys/net/ipv4/tcp_syn_linear_timeouts') || !isLocal
    const lab = await backend.up({ labId, scenario: 'docker-e2e-sysctl-opt', hosts: [
      host('a', { sysctls: { '?net.ipv4.no_such_key': '1', '?net.ipv4.tcp_syn_linear_timeouts': '2', 'net.ipv4.tcp_syn_retries': '4' } }),
      host('b'),
    ] })
    try {
      const a = lab.hosts.get('a') as Host
      tt.equal((await a.exec(['sysctl', '-n', 'net.ipv4.tcp_syn_retries'])).stdout.trim(), '4', 'the required one is set')
      if (hasLinear) tt.equal((await a.exec(['sysctl', '-n', 'net.ipv4.tcp_syn_linear_timeouts'])).stdout.trim(), '2', 'an optional one this kernel has is set')
      tt.equal((await a.exec(['sysctl', '-n', 'net.ipv4.no_such_key'], { reject: false })).exitCode === 0, false, 'the missing optional one is skipped')
    } finally {
      await lab.down()
    }
    tt.same(await leftovers(docker, labId), [], 'nothing left (the container made with the missing key is gone too)')
  })

  t.test('an aborted setup tears down what it built', async (tt) => {
    const labId = newId()
    const ac = new AbortController()
    ac.abort()
    await tt.rejects(backend.up({ labId, scenario: 'docker-e2e-abort', hosts: [host('a'), host('b')] }, ac.signal), InterruptedError)
    tt.same(await leftovers(docker, labId), [], 'nothing left')
  })

  t.test('routes set at start: a route ip refuses is a LabError with its message, read through the attach', async (tt) => {
    // A real container running the start command with a route over a gateway it has no network
    // for: the report must carry ip's failure (a host whose routes failed must not come up).
    const labId = newId()
    const plan = { name: 'r', isWire: false, attachments: [{ network: 'net0', ip: '198.18.7.1', prefixLen: 24 }], routes: [['198.18.9.0/24', 'via', '198.18.7.126']] }
    const c = await docker.createContainer({
      name: `tcplab-${labId}-r`, Image: IMAGE, Cmd: routesAtStartCmd(plan), Labels: { [LABEL_RUN_ID]: labId, [LABEL_SCENARIO]: 'docker-e2e-routes' },
      HostConfig: { NetworkMode: 'none', Init: true, CapDrop: ['ALL'], CapAdd: ['NET_ADMIN'], LogConfig: { Type: 'none', Config: {} } },
    })
    try {
      const routes = await followRoutesAtStart(docker, c, 'r')
      await c.start()
      const err = await routes.outcome().catch((e: unknown) => e)
      tt.ok(err instanceof LabError, 'LabError')
      tt.match((err as Error).message, /cannot set the routes of r: ip -batch exited [1-9]\d*: .*(gateway|unreachable)/i, "with ip's own message")
      tt.match((await c.inspect()).State, { Running: true }, 'the host went on to sleep (up() removes it)')
    } finally {
      await c.remove({ force: true })
    }
    tt.same(await leftovers(docker, labId), [], 'nothing left')
  })

  t.test("gc removes a lab's leftovers and leaves another machine's labs alone", async (tt) => {
    const labId = newId()
    const lab: Lab = await backend.up({ labId, scenario: 'docker-e2e-gc', hosts: [host('a'), host('b')] })
    const removed = await backend.gc(labId)
    tt.ok(removed.includes(`container tcplab-${labId}-a`) && removed.includes(`network tcplab-${labId}-net0`), `gc(labId) lists what it removed: ${removed.join('; ')}`)
    tt.same(await leftovers(docker, labId), [], 'gc(labId) left nothing')
    await lab.down()
    tt.pass('down() after gc is fine')

    const foreignId = newId()
    await docker.createNetwork({
      Name: `tcplab-${foreignId}-net0`, Internal: true, CheckDuplicate: true,
      Labels: { [LABEL_RUN_ID]: foreignId, [LABEL_SCENARIO]: 'foreign', [LABEL_OWNER]: 'some-other-machine:1' },
    })
    try {
      const all = await backend.gc()
      tt.notOk(all.some((l) => l.includes(foreignId)), "gc() leaves a lab owned by another machine's live run alone")
      tt.same(await backend.gc(foreignId), [`network tcplab-${foreignId}-net0`], 'gc(labId) removes it when asked')
    } finally {
      await docker.getNetwork(`tcplab-${foreignId}-net0`).remove().catch(() => undefined)
    }
  })

  t.test('sysctls at runtime: a helper container sets them in the host\'s namespace; bad ones are the scenario\'s error', async (tt) => {
    const labId = newId()
    const lab = await backend.up({ labId, scenario: 'docker-e2e-sysctl-runtime', hosts: [host('a'), host('b')] })
    try {
      const a = lab.hosts.get('a') as Host
      const b = lab.hosts.get('b') as Host
      tt.ok(a.setSysctls, 'docker hosts set sysctls their own way (sysctl -w cannot: /proc/sys is read-only)')
      await applySysctls(a, { 'net.ipv4.tcp_syn_retries': '3', '?net.ipv4.no_such_key': '1' })
      tt.equal((await a.exec(['sysctl', '-n', 'net.ipv4.tcp_syn_retries'])).stdout.trim(), '3', 'set on a (a missing optional key is skipped)')
      tt.equal((await b.exec(['sysctl', '-n', 'net.ipv4.tcp_syn_retries'])).stdout.trim(), '6', 'b keeps its own')
      const missing = await applySysctls(a, { 'net.ipv4.no_such_key': '1' }).catch((e: unknown) => e)
      tt.ok(missing instanceof StepError && /net\.ipv4\.no_such_key.*does not have it/.test(missing.message), `a missing key: StepError naming it (${String(missing)})`)
      const bad = await applySysctls(a, { 'net.ipv4.tcp_syn_retries': 'abc' }).catch((e: unknown) => e)
      tt.ok(bad instanceof StepError && /tcp_syn_retries/.test(bad.message) && /expected an integer/.test(bad.message), `a bad value: StepError, refused by type before it reaches the kernel (${String(bad)})`)
      const helpers = await docker.listContainers({ all: true, filters: { label: [`${LABEL_RUN_ID}=${labId}`, `${LABEL_ROLE}=sysctl`] } })
      tt.same(helpers.map((c) => c.Names[0]), [], 'the helper containers are gone once done')
    } finally {
      await lab.down()
    }
    tt.same(await leftovers(docker, labId), [], 'nothing left')
  })

  t.test('a host with its own image (no shell, no tools in it): the lab\'s tools run in a sidecar', async (tt) => {
    const why = await buildUserImage(docker, USER_IMAGE, ['/tcp-echo', '8000'])
    if (why !== undefined) {
      tt.plan(0, why)
      return
    }
    const labId = newId()
    const lab = await backend.up({ labId, scenario: 'docker-e2e-user-image', hosts: [
      host('client'),
      host('server', { image: USER_IMAGE, sysctls: { 'net.ipv4.tcp_syn_retries': '2' } }),
    ] })
    try {
      const cli = lab.hosts.get('client') as Host
      const srv = lab.hosts.get('server') as Host
      const user = await docker.getContainer(`tcplab-${labId}-server`).inspect()
      const side = await docker.getContainer(`tcplab-${labId}-server-tools`).inspect()
      tt.equal(user.Config.Image, USER_IMAGE, 'the host runs the user\'s image')
      tt.same(user.Config.Cmd, ['/tcp-echo', '8000'], 'with its own command')
      tt.equal(side.HostConfig.NetworkMode, `container:${user.Id}`, 'the sidecar shares its network namespace')
      tt.equal(side.HostConfig.PidMode, `container:${user.Id}`, 'and its processes')
      for (const [what, c] of [['user container', user], ['sidecar', side]] as const) {
        tt.equal(c.Config.Labels[LABEL_RUN_ID], labId, `${what} labelled with the run id`)
        tt.ok(c.HostConfig.Privileged === false && (c.HostConfig.CapDrop ?? []).includes('ALL'), `${what}: not privileged, capabilities dropped`)
      }
      tt.equal(side.Config.Labels[LABEL_ROLE], 'sidecar', 'the sidecar says what it is')
      tt.equal((await srv.exec(['sysctl', '-n', 'net.ipv4.tcp_syn_retries'])).stdout.trim(), '2', 'host sysctls go into the user\'s container config')
      tt.match((await srv.exec(['ss', '-Hltn'])).stdout, /:8000\s/, 'ss in the sidecar sees the user\'s listener')
      tt.match((await srv.exec(['ps', '-eo', 'args'])).stdout, /^\/tcp-echo 8000$/m, 'ps in the sidecar sees the user\'s program')
      tt.notMatch((await srv.exec(['ip', 'route'])).stdout, /default/, 'no default route out of the lab')

      const r = await srv.exec(['/tcp-echo', '--exit', '3'], { inUserImage: true, reject: false })
      tt.same({ code: r.exitCode, err: r.stderr.trim() }, { code: 3, err: 'tcp-echo: exiting with 3 as asked' }, 'exec in the user\'s image: exit code and stderr')
      tt.match((await srv.exec(['cat', '/etc/debian_version'], { inUserImage: true })).stdout, /^\d/, 'a program the image lacks runs with the lab tools')
      const neither = await srv.exec(['no-such-program'], { inUserImage: true }).catch((e: unknown) => e)
      tt.ok(neither instanceof ProcessError && /neither in the image/.test(neither.hint ?? ''), `in neither image: ProcessError with a hint (${String((neither as ProcessError).hint)})`)

      // A second copy of the program, started in the user's image, signalled from the sidecar.
      const lines: string[] = []
      const echo = srv.spawn(['/tcp-echo', '9000'], { inUserImage: true, onStdoutLine: (l) => lines.push(l) })
      await echo.started
      await waitUntil('listening 9000', () => lines.includes('listening 9000'))
      const nc = cli.spawn(['nc', srv.addr, '9000'], { stdin: true, onStdoutLine: (l) => lines.push(`nc: ${l}`) })
      await nc.started
      await nc.write('ping\n')
      await waitUntil('echoed', () => lines.includes('nc: ping'))
      tt.pass('the user\'s program serves the lab network')
      await echo.signal('SIGSTOP')
      tt.match(await psState(srv, '/tcp-echo 9000'), /^T/, 'SIGSTOP from the sidecar stops it')
      await nc.write('held\n')
      await waitUntil('Recv-Q grows', async () => (await recvQ(srv, 9000)) === 5)
      tt.pass('a stopped user program leaves the data in Recv-Q')
      await echo.signal('SIGCONT')
      await waitUntil('echo after SIGCONT', () => lines.includes('nc: held'))
      tt.pass('SIGCONT: it goes on')

      // The lab's faults and recorders act on the user's namespace.
      const dir = await mkdtemp(join(tmpdir(), 'tcplab-docker-user-'))
      try {
        const cap = await startCapture(srv, { file: join(dir, 'server.pcap') })
        await srv.exec(['iptables', '-A', 'INPUT', '-p', 'tcp', '--dport', '8000', '-j', 'DROP'])
        const dropped = await cli.exec(['nc', '-z', '-w', '1', srv.addr, '8000'], { reject: false })
        tt.not(dropped.exitCode, 0, 'an iptables DROP in the sidecar stops connections to the user\'s program')
        await srv.exec(['iptables', '-D', 'INPUT', '-p', 'tcp', '--dport', '8000', '-j', 'DROP'])
        tt.equal((await cli.exec(['nc', '-z', '-w', '2', srv.addr, '8000'], { reject: false })).exitCode, 0, 'without it they get through')
        const res = await cap.stop()
        const syns = res.packets.filter((p) => p.dport === 8000 && p.flags === 'S' && p.dir === 'in').length
        tt.ok(syns >= 2, `tcpdump in the sidecar saw the SYNs to the user's program (${syns})`)
      } finally {
        await rm(dir, { recursive: true, force: true })
      }
      await srv.setSysctls?.({ 'net.ipv4.tcp_syn_retries': '4' })
      tt.equal((await srv.exec(['sysctl', '-n', 'net.ipv4.tcp_syn_retries'])).stdout.trim(), '4', 'runtime sysctls reach the user\'s namespace')

      tt.same(await echo.stop(), { code: undefined, signal: 'SIGTERM' }, 'stop(): SIGTERM from the sidecar ends the user\'s program')
      nc.endStdin()
      await nc.stop({ graceMs: 500 })
    } finally {
      await lab.down()
    }
    tt.same(await leftovers(docker, labId), [], 'down() removes the user\'s container and the sidecar')
  })

  t.test("a host's image whose program exits at once: StepError with its exit code and output; nothing left", async (tt) => {
    const image = `tcplab-test-echo:exits-${RUN_TAG}`
    const why = await buildUserImage(docker, image, ['/tcp-echo', '--exit', '3'])
    if (why !== undefined) {
      tt.plan(0, why)
      return
    }
    const labId = newId()
    const err = await backend.up({ labId, scenario: 'docker-e2e-user-exits', hosts: [host('client'), host('server', { image })] }).catch((e: unknown) => e)
    tt.ok(err instanceof StepError, `StepError (${String(err)})`)
    tt.match((err as StepError).message, /host server .*exited with code 3/, 'names the host and the exit code')
    tt.match((err as StepError).message, /exiting with 3 as asked/, 'shows what it printed')
    tt.match((err as StepError).hint ?? '', /docker run --rm tcplab-test-echo:exits-/, 'hint: try the image on its own')
    tt.same(await leftovers(docker, labId), [], 'nothing left')
  })

  t.test('a user image that is not on the daemon: EnvironmentError before anything is made', async (tt) => {
    const labId = newId()
    const err = await backend.up({ labId, scenario: 'docker-e2e-user-missing', hosts: [host('a'), host('b', { image: 'tcplab-no-such-image:1' })] }).catch((e: unknown) => e)
    tt.ok(err instanceof EnvironmentError && err.exitCode === 3, `EnvironmentError, exit 3 (${String(err)})`)
    tt.match((err as EnvironmentError).message, /tcplab-no-such-image:1 of host b/, 'names the image and the host')
    tt.match((err as EnvironmentError).hint ?? '', /never pulls/, 'hint: build or load it')
    tt.same(await leftovers(docker, labId), [], 'nothing left')
  })

  t.test('a scenario whose server is a user image: recorded, faulted and signalled through the sidecar', async (tt) => {
    const why = await buildUserImage(docker, USER_IMAGE, ['/tcp-echo', '8000'])
    if (why !== undefined) {
      tt.plan(0, why)
      return
    }
    const dir = await mkdtemp(join(tmpdir(), 'tcplab-docker-user-scenario-'))
    try {
      const loaded = parseScenario((await readFile(USER_SCENARIO, 'utf8')).replaceAll(FIXTURE_IMAGE, USER_IMAGE), USER_SCENARIO)
      const v = await runScenario(loaded, { backend, resultsDir: dir })
      const lines = v.results.map((r) => `${r.status} ${r.description}${r.status === 'pass' ? '' : `: ${String(r.measured)}`}`)
      tt.equal(v.status, 'pass', `the scenario holds\n${lines.join('\n')}${v.error ? `\n${v.error.message}` : ''}`)
      tt.equal(v.results.length, 6, 'all six expectations were evaluated')
      tt.same(await leftovers(docker, v.labId ?? ''), [], 'nothing left')
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })

  t.test('check() names the fix', async (tt) => {
    const saved = { image: process.env.TCPLAB_IMAGE, host: process.env.DOCKER_HOST }
    try {
      process.env.TCPLAB_IMAGE = 'tcplab-lab:does-not-exist'
      const e1 = await createDockerBackend().check().catch((e: unknown) => e)
      tt.ok(e1 instanceof EnvironmentError && e1.code === 'E_DOCKER_IMAGE' && e1.exitCode === 3, 'missing image: EnvironmentError, exit 3')
      tt.match((e1 as EnvironmentError).hint ?? '', /make image/, 'hint: make image')
      delete process.env.TCPLAB_IMAGE
      // An image whose agent is not this checkout's (built before the agent changed).
      const savedAgent = process.env.TCPLAB_AGENT
      process.env.TCPLAB_AGENT = fileURLToPath(import.meta.url)
      const stale = await createDockerBackend().check().catch((e: unknown) => e)
      if (savedAgent === undefined) delete process.env.TCPLAB_AGENT
      else process.env.TCPLAB_AGENT = savedAgent
      tt.ok(stale instanceof EnvironmentError && stale.code === 'E_DOCKER_IMAGE' && /out of date/.test(stale.message), `a stale image: EnvironmentError (${String(stale)})`)
      tt.match((stale as EnvironmentError).hint ?? '', /make image/, 'hint: make image')
      process.env.DOCKER_HOST = 'unix:///nonexistent/docker.sock'
      const e2 = await createDockerBackend().check().catch((e: unknown) => e)
      tt.ok(e2 instanceof EnvironmentError && e2.code === 'E_DOCKER', 'no daemon: EnvironmentError')
      tt.match((e2 as EnvironmentError).hint ?? '', /start-dockerd|DOCKER_HOST/, 'hint: start one or set DOCKER_HOST')
    } finally {
      if (saved.image === undefined) delete process.env.TCPLAB_IMAGE
      else process.env.TCPLAB_IMAGE = saved.image
      if (saved.host === undefined) delete process.env.DOCKER_HOST
      else process.env.DOCKER_HOST = saved.host
    }
  })

  t.test(`a daemon reached only over TCP (${TCP_HOST})`, async (tt) => {
    if (process.getuid?.() !== 0 || !existsSync('/usr/sbin/dockerd') || !isLocal) {
      tt.plan(0, 'needs root, dockerd installed and the local daemon, to start a second daemon on 127.0.0.1')
      return
    }
    const tcp = new Docker({ host: '127.0.0.1', port: 23750, protocol: 'http' })
    const wasUp = await tcp.ping().then(() => true, () => false)
    if (!wasUp) execFileSync('bash', [START_DOCKERD, '--name', 'tcp', '--host', TCP_HOST], { stdio: ['ignore', 'ignore', 'inherit'] })
    const saved = process.env.DOCKER_HOST
    try {
      // The same image (same id) on both daemons; an older copy there is replaced.
      const localId = (await docker.getImage(IMAGE).inspect()).Id
      if ((await tcp.getImage(IMAGE).inspect().then((i) => i.Id, () => undefined)) !== localId) {
        // docker save | docker load, through the API of both daemons.
        const progress = await tcp.loadImage(await docker.getImage(IMAGE).get(), {})
        for await (const _ of progress) void _
        await tcp.getImage(IMAGE).inspect()
      }
      process.env.DOCKER_HOST = TCP_HOST
      const remote = createDockerBackend()
      await remote.check()
      tt.pass('check() over TCP')
      await exerciseTwoHosts(tt, remote, tcp)
    } finally {
      if (saved === undefined) delete process.env.DOCKER_HOST
      else process.env.DOCKER_HOST = saved
      if (!wasUp) execFileSync('bash', [START_DOCKERD, '--name', 'tcp', '--stop'], { stdio: ['ignore', 'ignore', 'inherit'] })
    }
  })
}
