// The docker backend: one container per lab host, from the lab image
// (tcplab-lab:<version>, `make image`), on per-lab `internal` networks in the
// lab's leased /24 of 198.18.0.0/15. Everything goes through the Docker API
// (dockerode), so DOCKER_HOST may name a remote daemon. One exception where the
// daemon is on this machine: the socket agent starts from here into its
// container's namespaces (nsenter), to run at a real-time priority that the
// container's cgroup does not allow (see AGENT_NAMESPACES).
//
// Isolation: containers get capabilities NET_ADMIN, NET_RAW, SETUID, SETGID and
// KILL only (see LAB_CAPABILITIES), never --privileged; sysctls are set through
// the container config (/proc/sys is read-only inside); the agent started by
// nsenter keeps only the container's capabilities. Docker gives every
// container a default route via the bridge's gateway (on the daemon's host),
// even on an `internal` network: the backend deletes it, so a lab host only
// has routes to the lab's own /24.
//
// Everything created carries labels tcplab.run-id and tcplab.scenario (and the
// owner's hostname and pid), so `tcplab gc` finds leftovers of a crashed run.

import type Docker from 'dockerode'
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { hostname } from 'node:os'
import { EnvironmentError, InterruptedError, LabError, StepError, TcplabError } from '../../util/errors.js'
import { Teardown } from '../../util/teardown.js'
import { agentBinaryPath } from '../agent-path.js'
import { isLabLive, leaseSubnet, pruneStale, registerLab, type SubnetLease } from '../lease.js'
import type { Backend, ExecOptions, ExecResult, Host, HostSpec, Lab, LabSpec, Proc, SpawnOptions } from '../types.js'
import { planDockerLab, type HostPlan, type LabPlan } from './addressing.js'
import { connectDocker, daemonOf, describeDaemon, errorText, statusOf, toLabError, unreachableError } from './client.js'
import { DockerProc, dropConnections, execInContainer, execWith, LauncherPool, launcherStarter, type ContainerRef, type ProcStarter } from './exec.js'
import { exitedError, userImageStarter, type UserImageHost } from './user-exec.js'
import { LAB_AGENT_PATH, labImageName } from './image.js'
import { PhaseClock } from './phases.js'
import { canRouteAtStart, followRoutesAtStart, routesAtStartCmd, setRoutes } from './routes.js'
import { spawnProcess } from '../../util/proc.js'
import { sysctlKeyProblem, sysctlValueProblem, SYSCTL_KEY_HINT } from '../../scenario/sysctl-values.js'

export const LABEL_RUN_ID = 'tcplab.run-id'
export const LABEL_SCENARIO = 'tcplab.scenario'
export const LABEL_HOST = 'tcplab.host'
/** "<hostname>:<pid>" of the tcplab process that made it: gc leaves live labs and other machines' labs alone. */
export const LABEL_OWNER = 'tcplab.owner'
/** What a container is: "host" (a lab host, or a host's own image), "sidecar" (lab tools next to a user image), "sysctl" (a helper). */
export const LABEL_ROLE = 'tcplab.role'
/** Image label: sha256 of the agent inside (containers/build-image.sh). */
const LABEL_AGENT_SHA = 'tcplab.agent-sha256'

/**
 * Capabilities of lab containers (everything else dropped): NET_ADMIN for iptables, tc, ip and
 * net.* sysctls; NET_RAW for tcpdump and raw sockets; SETUID+SETGID because tcpdump always
 * switches user after opening the capture, even with `-Z root`; KILL to signal processes that
 * changed user. Docker keeps ip_unprivileged_port_start=0 in containers, so ports < 1024 work.
 */
export const LAB_CAPABILITIES = ['NET_ADMIN', 'NET_RAW', 'SETUID', 'SETGID', 'KILL'] as const

/** Container name of a host: tcplab-<labId>-<host>. */
export function containerName(labId: string, host: string): string {
  return `tcplab-${labId}-${host}`
}

/** Network name: tcplab-<labId>-net0. */
export function networkName(labId: string, key: string): string {
  return `tcplab-${labId}-${key}`
}

/** Host-side bridge name within IFNAMSIZ (15): tcpl-<labId>-<n>, or a hash of a longer labId. */
function bridgeName(labId: string, index: number): string {
  const name = `tcpl-${labId}-${index}`
  return name.length <= 15 ? name : `tcpl-${createHash('sha256').update(labId).digest('hex').slice(0, 8)}-${index}`
}

/** The Docker backend on `address` (`--docker-host`), else on the daemon DOCKER_HOST names (it may be remote). */
export function createDockerBackend(address?: string): Backend {
  let docker: Docker | undefined
  const client = (): Docker => (docker ??= connectDocker(address))
  return {
    name: 'docker',
    daemon: describeDaemon(address),
    check: () => checkDocker(client()),
    describe: () => describeDocker(client()),
    up: (spec, signal) => upDockerLab(client(), spec, signal),
    gc: (labId) => gcDocker(client(), labId),
    // Only when this process used docker: connecting here would load nothing worth removing.
    removeOwnLabsNow: () => (docker ? removeOwnContainersNow(docker) : undefined),
  }
}

/**
 * The docker backend's last resort (second Ctrl-C): remove, by label, every container and network
 * this process made (tcplab.owner = "<hostname>:<pid>"), without waiting for the labs' teardown.
 * A container's processes go with it (a `docker exec` client's death would not stop them).
 */
async function removeOwnContainersNow(docker: Docker): Promise<void> {
  const filters = { label: [`${LABEL_OWNER}=${hostname()}:${process.pid}`] }
  const containers = await docker.listContainers({ all: true, filters }).catch(() => [] as Docker.ContainerInfo[])
  await Promise.allSettled(containers.map((c) => docker.getContainer(c.Id).remove({ force: true, v: true })))
  const networks = await docker.listNetworks({ filters }).catch(() => [] as Docker.NetworkInspectInfo[])
  await Promise.allSettled(networks.map((n) => docker.getNetwork(n.Id).remove()))
}

async function checkDocker(docker: Docker): Promise<void> {
  await inspectDaemon(docker)
  await checkImage(docker, labImageName())
}

/** The daemon's facts; not reachable or not a Linux engine: EnvironmentError with the fix. */
async function inspectDaemon(docker: Docker): Promise<{ version: string; kernel: string; os: string; arch: string }> {
  let info: { ServerVersion?: string; KernelVersion?: string; OperatingSystem?: string; OSType?: string; Architecture?: string }
  try {
    info = await withTimeout(docker.info() as Promise<typeof info>, 10_000, `no answer from ${daemonOf(docker)} within 10 s`)
  } catch (e: unknown) {
    throw unreachableError(e, daemonOf(docker))
  }
  if (info.OSType !== undefined && info.OSType !== 'linux') {
    throw new EnvironmentError('E_DOCKER', `the Docker daemon at ${daemonOf(docker)} runs ${info.OSType} containers; lab hosts are Linux containers`, {
      hint: 'switch the engine to Linux containers, or point DOCKER_HOST at a Linux daemon',
    })
  }
  return { version: info.ServerVersion ?? '?', kernel: info.KernelVersion ?? '?', os: info.OperatingSystem ?? '?', arch: info.Architecture ?? '?' }
}

/** sha256 of the local agent binary (what `make image` puts in the image), or undefined when it is not built. */
function localAgentSha256(): string | undefined {
  try {
    return createHash('sha256').update(readFileSync(agentBinaryPath())).digest('hex')
  } catch {
    return undefined
  }
}

/**
 * The lab image is on the daemon and carries this checkout's agent: an image built before the
 * agent changed speaks an older protocol (new command fields fail with EINVAL in the middle of a
 * scenario), so a stale one is refused here. An image without the label (built by hand, or named
 * by TCPLAB_IMAGE) is taken as it is.
 */
async function checkImage(docker: Docker, image: string): Promise<Docker.ImageInspectInfo> {
  let info: Docker.ImageInspectInfo
  try {
    info = await docker.getImage(image).inspect()
  } catch (e: unknown) {
    if (statusOf(e) === 404) throw missingImageError(docker, image, e)
    throw toLabError(e, `cannot inspect the lab image ${image}`)
  }
  const inImage = info.Config.Labels?.[LABEL_AGENT_SHA]
  const local = localAgentSha256()
  if (inImage && local && inImage !== local) {
    // build-image.sh writes "none" when the agent was not built yet.
    const what = inImage === 'none' ? 'has no agent (it was built before `make agent`)' : `has another agent (sha256 ${inImage.slice(0, 12)}) than ${agentBinaryPath()} (sha256 ${local.slice(0, 12)})`
    throw new EnvironmentError('E_DOCKER_IMAGE', `the lab image ${image} on ${daemonOf(docker)} is out of date: it ${what}`, {
      hint: 'rebuild it: make image (a few seconds once the root filesystem is cached); with DOCKER_HOST set it is built on that daemon',
    })
  }
  return info
}

/** Daemon, kernel and image in one line (for `tcplab doctor`). */
async function describeDocker(docker: Docker): Promise<string> {
  const d = await inspectDaemon(docker)
  const image = labImageName()
  const info = await checkImage(docker, image)
  const agent = info.Config.Labels?.[LABEL_AGENT_SHA] ? (localAgentSha256() ? 'agent current' : 'agent not built here to compare') : 'no agent label'
  return `${daemonOf(docker)}: Docker ${d.version} on ${d.os} (${d.arch}), kernel ${d.kernel}; ${image} ${(info.Size / 1e6).toFixed(0)} MB, ${agent}`
}

function missingImageError(docker: Docker, image: string, cause: unknown): EnvironmentError {
  const where = daemonOf(docker)
  const isDefault = where === 'unix:///var/run/docker.sock'
  return new EnvironmentError('E_DOCKER_IMAGE', `the lab image ${image} is not on the Docker daemon at ${where}`, {
    hint: isDefault
      ? 'build it: make image (containers/build-image.sh; no registry needed)'
      : `build it there (DOCKER_HOST=${where} make image), or copy it: docker save ${image} | DOCKER_HOST=${where} docker load`,
    cause,
  })
}

function labelsOf(spec: LabSpec, host?: string): Record<string, string> {
  return {
    [LABEL_RUN_ID]: spec.labId,
    [LABEL_SCENARIO]: spec.scenario,
    [LABEL_OWNER]: `${hostname()}:${process.pid}`,
    ...(host === undefined ? {} : { [LABEL_HOST]: host }),
  }
}

async function upDockerLab(docker: Docker, spec: LabSpec, signal?: AbortSignal): Promise<Lab> {
  const td = new Teardown()
  const clock = new PhaseClock(spec.labId, 'up')
  // Every undo is timed as a phase of the down (bench/lab-updown.ts prints them).
  let downClock: PhaseClock | undefined
  const undo: Undo = (label, fn) => td.push(label, () => (downClock ? downClock.time(label, fn) : fn()))
  const procs = new Set<Proc>()
  const checkAbort = (): void => {
    if (signal?.aborted) throw new InterruptedError(`lab ${spec.labId} setup interrupted`)
  }
  let deaths: Promise<Deaths> | undefined
  try {
    checkAbort()
    const image = labImageName()
    // The user's images are checked before anything is made (tcplab never pulls).
    const userImages = await clock.time('inspect user images', () => inspectUserImages(docker, spec))
    const unregister = await clock.time('register lab', () => registerLab({ labId: spec.labId, backend: 'docker', scenario: spec.scenario }))
    undo('unregister lab', unregister)
    // The events of the lab's containers are followed from the start, beside the network and the
    // containers (one round trip less on the way); deaths matter once the hosts exist (see watchDeaths).
    deaths = clock.time('follow events', () => followDeaths(docker, spec, undo))
    deaths.catch(() => undefined)
    const plan = await clock.time('create networks', () => createNetworks(docker, spec, undo))
    checkAbort()

    // Containers: create and start all at once. One undo removes every container made so far
    // (hosts, sidecars, sysctl helpers), in parallel (registered before the first create, so none can be missed).
    const containers: Docker.Container[] = []
    undo('remove containers', () => settleAll(containers.map((c) => removeContainer(c))))
    // Launchers start once a host needs no more setup commands (earlier, they would slow its setup),
    // before the recorders and agents start.
    const pools: LauncherPool[] = []
    undo('close launchers', () => {
      for (const p of pools) p.close()
    })
    const made: MadeContainers = { docker, spec, labImage: image, containers, pools, clock }
    const refs = await clock.time('start hosts', () => settleAll(plan.hosts.map(async (hp): Promise<HostRefs> => {
      const h = spec.hosts.find((x) => x.name === hp.name)
      if (!h) throw new LabError(`lab ${spec.labId}: no spec for host ${hp.name}`)
      const userImage = h.image === undefined ? undefined : userImages.get(h.image)
      return userImage && h.image !== undefined ? startUserHost(made, hp, h, h.image, userImage) : startLabHost(made, hp, h)
    })))
    checkAbort()

    // Further networks after the start, so that interface order is attachment order (eth1, ...).
    await clock.time('connect networks', async () => {
      for (const [i, hp] of plan.hosts.entries()) {
        for (const at of hp.attachments.slice(1)) {
          await docker.getNetwork(networkName(spec.labId, at.network)).connect({
            Container: (refs[i] as HostRefs).netOwner.id,
            EndpointConfig: { IPAMConfig: { IPv4Address: at.ip }, Aliases: [hp.name] },
          }).catch((e: unknown) => {
            throw toLabError(e, `cannot connect ${hp.name} to ${networkName(spec.labId, at.network)}`)
          })
        }
      }
    })
    checkAbort()

    // Routes of the hosts that could not set them as they started: drop Docker's default route
    // (no way out of the lab), add the lab routes.
    await clock.time('routes by exec', () => settleAll(plan.hosts.map((hp, i) => ((refs[i] as HostRefs).routedAtStart ? Promise.resolve() : setRoutes((refs[i] as HostRefs).tools, hp)))))
    // A host's own program must still be running (one that exits at once is the image's problem: say so).
    await settleAll(refs.map(async (r) => {
      if (!r.user) return
      const err = await exitedError(r.user.user.container, r.user.user.host, r.user.image)
      if (err) throw err
    }))
    checkAbort()

    ;(await deaths).watch(refs)
    for (const p of pools) p.fill()
    const hosts = new Map<string, Host>()
    for (const [i, hp] of plan.hosts.entries()) hosts.set(hp.name, createDockerHost(made, refs[i] as HostRefs, hp, procs))
    // Processes are stopped (gracefully) before their containers go (pushed last, so undone first).
    undo('stop processes', () => stopAll(procs))
    clock.report()
    return {
      labId: spec.labId,
      hosts,
      down: async () => {
        downClock ??= new PhaseClock(spec.labId, 'down')
        try {
          await td.run()
        } finally {
          downClock.report()
        }
      },
    }
  } catch (e: unknown) {
    // The events' undo is registered once they are followed: wait for that, so that it runs too.
    await deaths?.catch(() => undefined)
    await td.run().catch(() => undefined)
    throw e
  }
}

/** Register an undo (timed as a phase of the lab's down). */
type Undo = (label: string, fn: () => Promise<unknown> | unknown) => void

/** What the lab's containers are made with, and the list teardown removes. */
interface MadeContainers {
  docker: Docker
  spec: LabSpec
  labImage: string
  containers: Docker.Container[]
  pools: LauncherPool[]
  /** The up's phases (each host's create, attach, start and routes). */
  clock: PhaseClock
}

/** A tools container's ref, with a pool of launchers (filled once the lab is up). */
function toolsRef(m: MadeContainers, container: Docker.Container, host: string): ContainerRef {
  const ref: ContainerRef = { docker: m.docker, container, host, live: new Set() }
  ref.pool = new LauncherPool(ref)
  m.pools.push(ref.pool)
  return ref
}

/** The containers behind one host. */
interface HostRefs {
  /** Where the lab tools run: the host's container, or the sidecar of a host with its own image. */
  tools: ContainerRef
  /** The container that owns the host's network namespace (networks connect to it, sysctl helpers join it). */
  netOwner: Docker.Container
  /** A host with its own image. */
  user?: UserImageHost | undefined
  /** The host set its routes as it started (routes.ts): no exec for them. */
  routedAtStart: boolean
}

/** The lab's container deaths, followed from before its containers exist; watch() says whose matter. */
interface Deaths {
  watch(refs: readonly HostRefs[]): void
}

/**
 * Follow the daemon's `die` events for the lab's containers: once watch() names the hosts, when one
 * dies (a host's own program exits and takes its pid namespace, with the sidecar's processes,
 * along), its open exec connections are dropped so that commands fail at once instead of at their
 * timeout.
 */
async function followDeaths(docker: Docker, spec: LabSpec, undo: Undo): Promise<Deaths> {
  const byId = new Map<string, ContainerRef[]>()
  let events: NodeJS.ReadableStream
  try {
    events = await docker.getEvents({ filters: { type: ['container'], event: ['die'], label: [`${LABEL_RUN_ID}=${spec.labId}`] } })
  } catch (e: unknown) {
    throw toLabError(e, `cannot follow the events of lab ${spec.labId}`)
  }
  undo('stop following events', () => {
    ;(events as NodeJS.ReadableStream & { destroy(): void }).destroy()
  })
  let buf = ''
  events.on('data', (chunk: Buffer) => {
    buf += chunk.toString()
    let nl: number
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl)
      buf = buf.slice(nl + 1)
      try {
        const ev = JSON.parse(line) as { id?: string }
        for (const ref of byId.get(ev.id ?? '') ?? []) dropConnections(ref)
      } catch {
        // not an event line
      }
    }
  })
  events.on('error', () => undefined)
  return {
    watch(refs) {
      for (const r of refs) {
        for (const ref of [r.tools, ...(r.user ? [r.user.user] : [])]) byId.set(ref.container.id, [...(byId.get(ref.container.id) ?? []), ref])
      }
    },
  }
}

/** Inspect every user image the scenario names: each must be on the daemon and have a command. */
async function inspectUserImages(docker: Docker, spec: LabSpec): Promise<Map<string, Docker.ImageInspectInfo>> {
  const out = new Map<string, Docker.ImageInspectInfo>()
  for (const h of spec.hosts) {
    if (h.image === undefined || out.has(h.image)) continue
    let info: Docker.ImageInspectInfo
    try {
      info = await docker.getImage(h.image).inspect()
    } catch (e: unknown) {
      if (statusOf(e) !== 404) throw toLabError(e, `cannot inspect the image ${h.image} of host ${h.name}`)
      throw new EnvironmentError('E_DOCKER_IMAGE', `the image ${h.image} of host ${h.name} is not on the Docker daemon at ${daemonOf(docker)}`, {
        hint: `build or load it there first (docker build -t ${h.image} ., or docker save ${h.image} | docker load); tcplab never pulls`,
        cause: e,
      })
    }
    if ((info.Config.Entrypoint ?? []).length === 0 && (info.Config.Cmd ?? []).length === 0) {
      throw new StepError(`the image ${h.image} of host ${h.name} has no ENTRYPOINT or CMD: its program is the host and must keep running`, {
        hint: 'give the image a command (CMD ["/your-server", "8000"]; with docker import: -c \'CMD ["/your-server","8000"]\')',
      })
    }
    out.set(h.image, info)
  }
  return out
}

/**
 * Create and start a host's container (the lab image, or the user's image with its own command).
 * Optional sysctls ("?key") go in too; a key this kernel lacks fails the start, and the container
 * is made again without it (only costs time on kernels that lack one). A lab-image host on one
 * network sets its routes as it starts (routes.ts): its report is followed from before the start.
 */
async function createAndStart(m: MadeContainers, hp: HostPlan, h: HostSpec, userImage?: string): Promise<{ container: Docker.Container; routedAtStart: boolean }> {
  const { sysctls, optional } = splitSysctls(h.sysctls, h.isWire)
  const routeAtStart = canRouteAtStart(hp, userImage !== undefined)
  const phase = (what: string): string => `${what} ${hp.name}`
  for (;;) {
    const container = await m.clock.time(phase('create'), () => createContainer(m.docker, m.spec, hp, userImage ?? m.labImage, sysctls, userImage !== undefined,
      routeAtStart ? routesAtStartCmd(hp) : undefined))
    m.containers.push(container)
    const routes = routeAtStart ? await m.clock.time(phase('attach'), () => followRoutesAtStart(m.docker, container, hp.name)) : undefined
    try {
      await m.clock.time(phase('start'), () => container.start())
    } catch (e: unknown) {
      routes?.close()
      const key = missingSysctlKey(e)
      if (key === undefined || !optional.has(key)) throw sysctlError(e, hp.name) ?? toLabError(e, `cannot start the container of ${hp.name}`)
      await removeContainer(container)
      delete sysctls[key]
      optional.delete(key)
      continue
    }
    if (routes) await m.clock.time(phase('routes at start'), () => routes.outcome())
    return { container, routedAtStart: routeAtStart }
  }
}

/** A host from the lab image: one container. */
async function startLabHost(m: MadeContainers, hp: HostPlan, h: HostSpec): Promise<HostRefs> {
  const { container, routedAtStart } = await createAndStart(m, hp, h)
  const tools = toolsRef(m, container, hp.name)
  // Routed already: nothing of the setup runs in it any more, so its launchers start now (in the
  // background), ready for the first commands (agent, capture) when up() returns.
  if (routedAtStart) tools.pool?.fill()
  return { tools, netOwner: container, routedAtStart }
}

/**
 * A host from the user's image: its container runs the image's own entrypoint and command (with the
 * host's sysctls); a sidecar from the lab image joins its network and pid namespaces and runs the
 * lab's tools, agent, sampler and tcpdump.
 */
async function startUserHost(m: MadeContainers, hp: HostPlan, h: HostSpec, image: string, info: Docker.ImageInspectInfo): Promise<HostRefs> {
  const { container: user } = await createAndStart(m, hp, h, image)
  const name = `${containerName(m.spec.labId, hp.name)}-tools`
  let sidecar: Docker.Container
  try {
    sidecar = await m.docker.createContainer({
      name,
      Image: m.labImage,
      Labels: { ...labelsOf(m.spec, hp.name), [LABEL_ROLE]: 'sidecar' },
      Tty: false,
      HostConfig: {
        // Hostname, /etc/hosts and the network come from the user's container.
        NetworkMode: `container:${user.id}`,
        // Same processes: `kill` and `ps` here reach the user's programs; orphans go to its docker-init.
        PidMode: `container:${user.id}`,
        CapDrop: ['ALL'],
        CapAdd: [...LAB_CAPABILITIES],
        Privileged: false,
        SecurityOpt: ['no-new-privileges'],
        LogConfig: { Type: 'none', Config: {} },
      },
    })
  } catch (e: unknown) {
    if (statusOf(e) === 404 && /no such image/i.test(errorText(e))) throw missingImageError(m.docker, m.labImage, e)
    throw toLabError(e, `cannot create container ${name}`)
  }
  m.containers.push(sidecar)
  try {
    await sidecar.start()
  } catch (e: unknown) {
    // "cannot join network of a non running container": the user's program has exited already.
    throw (await exitedError(user, hp.name, image, e)) ?? toLabError(e, `cannot start the sidecar of ${hp.name}`)
  }
  const tools = toolsRef(m, sidecar, hp.name)
  return {
    tools,
    netOwner: user,
    routedAtStart: false,
    user: { user: { docker: m.docker, container: user, host: hp.name, live: new Set() }, tools, image, finderUser: await imageUser(tools, info) },
  }
}

/** "uid:gid" the user's image runs as, when not root (read from its pid 1, docker-init, which runs as that user). */
async function imageUser(tools: ContainerRef, info: Docker.ImageInspectInfo): Promise<string | undefined> {
  const configured = info.Config.User ?? ''
  if (configured === '' || /^(root|0)(:(root|0))?$/.test(configured)) return undefined
  const status = (await execInContainer(tools, ['cat', '/proc/1/status'])).stdout
  const uid = /^Uid:\s+(\d+)/m.exec(status)?.[1]
  const gid = /^Gid:\s+(\d+)/m.exec(status)?.[1]
  return uid === undefined || uid === '0' ? undefined : `${uid}:${gid ?? uid}`
}

/** Lease a /24 and create the lab's networks in it; a subnet the daemon already uses (another machine's lab) is skipped. */
async function createNetworks(docker: Docker, spec: LabSpec, undo: Undo): Promise<LabPlan> {
  const skipped: SubnetLease[] = []
  try {
    for (let attempt = 0; attempt < 16; attempt++) {
      const lease = await leaseSubnet(spec.labId)
      const plan = planDockerLab(spec, lease.prefix24)
      const made: Docker.Network[] = []
      try {
        for (const [i, n] of plan.networks.entries()) {
          made.push(await docker.createNetwork({
            Name: networkName(spec.labId, n.key),
            Driver: 'bridge',
            Internal: true,
            CheckDuplicate: true,
            IPAM: { Driver: 'default', Config: [{ Subnet: n.subnet, Gateway: n.gateway }] },
            Options: {
              'com.docker.network.bridge.name': bridgeName(spec.labId, i),
              'com.docker.network.bridge.enable_ip_masquerade': 'false',
            },
            Labels: labelsOf(spec),
          }))
        }
      } catch (e: unknown) {
        await Promise.allSettled(made.map((n) => removeNetwork(n)))
        if (statusOf(e) !== undefined && /overlap/i.test(errorText(e))) {
          skipped.push(lease)
          continue
        }
        await lease.release()
        throw toLabError(e, `cannot create the networks of lab ${spec.labId} in ${lease.cidr}`)
      }
      undo(`release subnet ${lease.cidr}`, () => lease.release())
      undo('remove networks', () => settleAll(made.map((n) => removeNetwork(n))))
      return plan
    }
    throw new LabError(`lab ${spec.labId}: the daemon at ${daemonOf(docker)} already uses 16 of the lab subnets tried`, {
      hint: 'another machine runs many labs on this daemon, or it has leftovers: run `tcplab gc` there',
    })
  } finally {
    await Promise.allSettled(skipped.map((l) => l.release()))
  }
}

async function createContainer(docker: Docker, spec: LabSpec, hp: HostPlan, image: string, sysctls: Record<string, string>,
  isUserImage: boolean, cmd?: string[]): Promise<Docker.Container> {
  const first = hp.attachments[0]
  if (!first) throw new LabError(`lab ${spec.labId}: no network for host ${hp.name}`)
  const name = containerName(spec.labId, hp.name)
  try {
    return await docker.createContainer({
      name,
      Image: image,
      ...(cmd ? { Cmd: cmd } : {}),
      Hostname: hp.name,
      Labels: { ...labelsOf(spec, hp.name), [LABEL_ROLE]: 'host' },
      Tty: false,
      HostConfig: {
        NetworkMode: networkName(spec.labId, first.network),
        CapDrop: ['ALL'],
        CapAdd: [...LAB_CAPABILITIES],
        Privileged: false,
        SecurityOpt: ['no-new-privileges'],
        // docker-init as pid 1 reaps what lab commands leave behind (`sleep` would not, nor most servers).
        Init: true,
        Sysctls: sysctls,
        // The user's program keeps a (small) log: its last lines explain an early exit.
        LogConfig: isUserImage ? { Type: 'json-file', Config: { 'max-size': '1m' } } : { Type: 'none', Config: {} },
      },
      NetworkingConfig: {
        EndpointsConfig: { [networkName(spec.labId, first.network)]: { IPAMConfig: { IPv4Address: first.ip }, Aliases: [hp.name] } },
      },
    })
  } catch (e: unknown) {
    if (statusOf(e) === 404 && /no such image/i.test(errorText(e))) throw missingImageError(docker, image, e)
    throw sysctlError(e, hp.name) ?? toLabError(e, `cannot create container ${name}`)
  }
}

/**
 * Sysctls for the container config: "?key" (optional: set only where the kernel has it, see
 * applySysctls) loses its "?"; the wire forwards.
 */
function splitSysctls(spec: Record<string, string>, isWire: boolean): { sysctls: Record<string, string>; optional: Set<string> } {
  const sysctls: Record<string, string> = {}
  const optional = new Set<string>()
  for (const [k, v] of Object.entries(spec)) {
    const key = k.startsWith('?') ? k.slice(1) : k
    // Per-network-namespace keys only (scenario/sysctl-values.ts), whoever built the spec.
    const problem = sysctlKeyProblem(key) ?? sysctlValueProblem(key, v)
    if (problem) throw new StepError(problem, { hint: SYSCTL_KEY_HINT })
    if (key !== k) optional.add(key)
    sysctls[key] = v
  }
  if (isWire) sysctls['net.ipv4.ip_forward'] = '1'
  return { sysctls, optional }
}

// runc: "... write sysctl key net.ipv4.x: open /proc/sys/net/ipv4/x: no such file or directory: unknown"
const MISSING_SYSCTL = /\/proc\/sys\/(\S+?): no such file or directory/i

/** The sysctl key a container start failed on because this kernel does not have it. */
function missingSysctlKey(e: unknown): string | undefined {
  const path = MISSING_SYSCTL.exec(errorText(e))?.[1]
  return path?.replace(/\//g, '.')
}

/** A sysctl the daemon or the kernel refused: the scenario's fault (exit 2), like the netns backend's. */
function sysctlError(e: unknown, host: string): StepError | undefined {
  const text = errorText(e)
  const missing = missingSysctlKey(e)
  // runc: "write /proc/sys/net/ipv4/tcp_syn_retries: invalid argument: unknown" (a value the kernel refuses).
  const refused = /write \/proc\/sys\/(\S+?): ([^:]+)/i.exec(text)
  if (missing === undefined && refused) {
    return new StepError(`cannot set sysctl ${(refused[1] ?? '').replace(/\//g, '.')} on ${host}: the kernel refuses the value (${refused[2] ?? ''})`, {
      hint: 'check the value against Documentation/networking/ip-sysctl.rst for this kernel',
      cause: e,
    })
  }
  // The daemon or runc: "sysctl \"kernel.x\" is not in a separate kernel namespace", "... not whitelisted".
  if (missing === undefined && !/sysctl/i.test(text)) return undefined
  return new StepError(missing !== undefined ? `cannot set sysctl ${missing} on ${host}: this kernel does not have it` : `cannot set sysctl on ${host}: ${text}`, {
    hint: 'the key must exist in a network namespace on this kernel (per-netns net.* sysctls only; `tcplab doctor` lists them); `{ value: V, optional: true }` sets it only where it exists',
    cause: e,
  })
}

function createDockerHost(m: MadeContainers, r: HostRefs, hp: HostPlan, procs: Set<Proc>): Host {
  const track = (proc: Proc): Proc => {
    procs.add(proc)
    void proc.exited.then(() => procs.delete(proc))
    return proc
  }
  let helpers = 0
  const user = r.user
  // On a host with its own image, a failure once its program has exited (and taken the sidecar's
  // processes along) is explained as that.
  const explain = async (e: unknown): Promise<unknown> => (user ? (await exitedError(user.user.container, hp.name, user.image, e)) ?? e : e)
  const explained = (start: ProcStarter): ProcStarter => async (sinks) => {
    try {
      return await start(sinks)
    } catch (e: unknown) {
      throw await explain(e)
    }
  }
  return {
    name: hp.name,
    addr: hp.attachments[0]?.ip ?? '',
    ifnames: hp.attachments.map((_, i) => `eth${i}`),
    agentPath: LAB_AGENT_PATH,
    async exec(argv: readonly string[], opts?: ExecOptions): Promise<ExecResult> {
      try {
        if (user && opts?.inUserImage) return await execWith(r.tools, argv, opts, userImageStarter(user, argv, opts.input !== undefined))
        return await execInContainer(r.tools, argv, opts)
      } catch (e: unknown) {
        throw await explain(e)
      }
    },
    spawn(argv: readonly string[], opts: SpawnOptions = {}): Proc {
      const start = user && opts.inUserImage ? userImageStarter(user, argv, opts.stdin === true) : launcherStarter(r.tools, argv, opts.stdin === true)
      return track(new DockerProc(r.tools, argv, opts, user ? explained(start) : start))
    },
    async spawnAgent(argv: readonly string[], opts: SpawnOptions): Promise<Proc> {
      // TCPLAB_DOCKER_AGENT_EXEC=1: as a remote daemon would have it (the tests' way to run that path here).
      const local = process.env.TCPLAB_DOCKER_AGENT_EXEC === '1' ? undefined : await localProcessOf(r.tools.container)
      if (local === undefined) return this.spawn(argv, opts)
      // The container's capabilities, no more, once it has its priority (tcplab-agent --caps).
      return track(spawnProcess(['nsenter', `--target=${local.pid}`, ...AGENT_NAMESPACES, '--', ...argv, `--caps=${local.capBnd}`], opts))
    },
    setSysctls: (sysctls) => setRuntimeSysctls(m, r, hp.name, sysctls, ++helpers),
  }
}

/**
 * The agent joins these namespaces of its container (nsenter(1)): its network, its files (the
 * agent and the tools in the image), its pid namespace (so it and what it starts die with the
 * container, and its pids are the container's), hostname and IPC. Not its cgroup: a container's
 * cgroup has no real-time budget (cgroup v1 with RT group scheduling: cpu.rt_runtime_us 0 unless
 * dockerd runs with --cpu-rt-runtime), and no CAP_SYS_NICE, so inside it SCHED_FIFO is refused
 * and the agent's deadlines wait behind every runnable task on a busy machine.
 */
const AGENT_NAMESPACES = ['--net', '--mount', '--pid', '--uts', '--ipc']

/**
 * A container's first process on this machine (its pid here, and its capability bounding set in
 * hex), when the daemon runs here and this process may enter its namespaces (root); undefined
 * otherwise (a remote or rootless daemon: the agent then starts with `docker exec`, at the normal
 * priority, and the verdict's agentSched says so).
 */
async function localProcessOf(container: Docker.Container): Promise<{ pid: number; capBnd: string } | undefined> {
  if (process.getuid?.() !== 0) return undefined
  const info = await container.inspect().catch(() => undefined)
  const pid = info?.State?.Pid
  if (!pid || !info) return undefined
  try {
    // The same container, not a process that happens to have its pid here.
    if (!readFileSync(`/proc/${pid}/cgroup`, 'utf8').includes(info.Id)) return undefined
    const capBnd = /^CapBnd:\s*([0-9a-f]+)$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]
    return capBnd === undefined ? undefined : { pid, capBnd }
  } catch {
    return undefined
  }
}

/**
 * Sysctls while the lab runs. /proc/sys is read-only inside a container (and stays so with
 * NET_ADMIN), so `sysctl -w` cannot work; instead a short-lived helper container joins the host's
 * network namespace with the sysctls in its config, and the runtime writes them as it starts it
 * (the same path as a host's `sysctls:`). Costs one container start, ~0.3-0.5 s.
 */
async function setRuntimeSysctls(m: MadeContainers, r: HostRefs, host: string, sysctls: Record<string, string>, n: number): Promise<void> {
  const entries: Record<string, string> = {}
  for (const [k, v] of Object.entries(sysctls)) {
    const key = k.startsWith('?') ? k.slice(1) : k
    // Per-network-namespace keys only (scenario/sysctl-values.ts): the loader refused the rest already.
    const problem = sysctlKeyProblem(key) ?? sysctlValueProblem(key, v)
    if (problem) throw new StepError(problem, { hint: SYSCTL_KEY_HINT })
    // Optional ("?key"): only where this kernel has it.
    if (key !== k && (await execInContainer(r.tools, ['test', '-e', `/proc/sys/${key.replace(/\./g, '/')}`], { reject: false })).exitCode !== 0) continue
    entries[key] = v
  }
  if (Object.keys(entries).length === 0) return
  const name = `${containerName(m.spec.labId, host)}-sysctl${n}`
  try {
    const helper = await m.docker.createContainer({
      name,
      Image: m.labImage,
      Cmd: ['true'],
      Labels: { ...labelsOf(m.spec, host), [LABEL_ROLE]: 'sysctl' },
      HostConfig: {
        NetworkMode: `container:${r.netOwner.id}`,
        Sysctls: entries,
        CapDrop: ['ALL'],
        Privileged: false,
        SecurityOpt: ['no-new-privileges'],
        LogConfig: { Type: 'none', Config: {} },
      },
    })
    m.containers.push(helper)
    try {
      await helper.start()
      await helper.wait()
    } finally {
      await removeContainer(helper)
      m.containers.splice(m.containers.indexOf(helper), 1)
    }
  } catch (e: unknown) {
    throw sysctlError(e, host) ?? toLabError(e, `cannot set sysctls ${Object.keys(entries).join(' ')} on ${host}`)
  }
}

async function stopAll(procs: Set<Proc>): Promise<void> {
  await Promise.allSettled([...procs].map((p) => p.stop({ graceMs: 1000 })))
}

/** Remove a container and its processes. Idempotent (gone already is fine). */
async function removeContainer(container: Docker.Container): Promise<void> {
  try {
    await container.remove({ force: true, v: true })
  } catch (e: unknown) {
    // 404: gone; 409 "removal already in progress": gc or a second down() got there first.
    if (statusOf(e) === 404 || (statusOf(e) === 409 && /already in progress/i.test(errorText(e)))) return
    throw toLabError(e, `cannot remove container ${container.id.slice(0, 12)}`)
  }
}

/** Remove a network. Idempotent. */
async function removeNetwork(network: Docker.Network): Promise<void> {
  try {
    await network.remove()
  } catch (e: unknown) {
    if (statusOf(e) === 404) return
    throw toLabError(e, `cannot remove network ${network.id.slice(0, 12)}`)
  }
}

/** `p`, or a rejection with `message` after `ms`. */
async function withTimeout<T>(p: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(Object.assign(new Error(message), { code: 'ETIMEDOUT' })), ms)
  })
  try {
    return await Promise.race([p, timeout])
  } finally {
    clearTimeout(timer)
  }
}

/** Like Promise.all, but waits for every promise before rejecting (so every undo is registered first). */
async function settleAll<T>(promises: Array<Promise<T>>): Promise<T[]> {
  const results = await Promise.allSettled(promises)
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected')
  if (failed) throw failed.reason
  return results.map((r) => (r as PromiseFulfilledResult<T>).value)
}

/** Whether gc may remove lab `labId` made by `owner` ("host:pid"). */
async function isCollectable(labId: string, owner: string | undefined): Promise<boolean> {
  const ownerHost = owner?.slice(0, owner.lastIndexOf(':'))
  // Another machine's lab on a shared daemon: only that machine knows whether it is still running.
  if (ownerHost !== undefined && ownerHost !== '' && ownerHost !== hostname()) return false
  return !(await isLabLive(labId))
}

/** Remove containers and networks of labs whose tcplab process is gone (all, or one labId). */
async function gcDocker(docker: Docker, labId?: string): Promise<string[]> {
  const filters = { label: [labId === undefined ? LABEL_RUN_ID : `${LABEL_RUN_ID}=${labId}`] }
  let containers: Docker.ContainerInfo[]
  let networks: Docker.NetworkInspectInfo[]
  try {
    ;[containers, networks] = await Promise.all([
      docker.listContainers({ all: true, filters }),
      docker.listNetworks({ filters }),
    ])
  } catch (e: unknown) {
    throw toLabError(e, 'cannot list tcplab containers and networks')
  }
  const verdicts = new Map<string, boolean>()
  const mayRemove = async (labels: Record<string, string> | undefined): Promise<boolean> => {
    const id = labels?.[LABEL_RUN_ID] ?? ''
    if (labId !== undefined) return true
    if (!verdicts.has(id)) verdicts.set(id, await isCollectable(id, labels?.[LABEL_OWNER]))
    return verdicts.get(id) === true
  }
  const removed: string[] = []
  const errors: unknown[] = []
  for (const c of containers) {
    if (!(await mayRemove(c.Labels))) continue
    const name = c.Names[0]?.replace(/^\//, '') ?? c.Id.slice(0, 12)
    await removeContainer(docker.getContainer(c.Id)).then(() => removed.push(`container ${name}`), (e: unknown) => errors.push(e))
  }
  for (const n of networks) {
    if (!(await mayRemove(n.Labels))) continue
    await removeNetwork(docker.getNetwork(n.Id)).then(() => removed.push(`network ${n.Name}`), (e: unknown) => errors.push(e))
  }
  removed.push(...(await pruneStale()))
  if (errors.length > 0) {
    const first = errors[0]
    if (first instanceof TcplabError && errors.length === 1) throw first
    throw new LabError(`gc removed ${removed.length} thing(s) but ${errors.length} removal(s) failed:\n${errors.map((e) => `  - ${errorText(e)}`).join('\n')}`, { cause: first })
  }
  return removed
}
