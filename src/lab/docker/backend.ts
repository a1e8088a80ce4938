// The docker backend: one container per lab host, from the lab image
// (tcplab-lab:<version>, `make image`), on per-lab `internal` networks in the
// lab's leased /24 of 198.18.0.0/15. Everything goes through the Docker API
// (dockerode), so DOCKER_HOST may name a remote daemon.
//
// Isolation: containers get capabilities NET_ADMIN, NET_RAW, SETUID, SETGID and
// KILL only (see LAB_CAPABILITIES), never --privileged; sysctls are set through
// the container config (/proc/sys is read-only inside). Docker gives every
// container a default route via the bridge's gateway (on the daemon's host),
// even on an `internal` network: the backend deletes it, so a lab host only
// has routes to the lab's own /24.
//
// Everything created carries labels tcplab.run-id and tcplab.scenario (and the
// owner's hostname and pid), so `tcplab gc` finds leftovers of a crashed run.

import type Docker from 'dockerode'
import { createHash } from 'node:crypto'
import { hostname } from 'node:os'
import { EnvironmentError, InterruptedError, LabError, ProcessError, StepError, TcplabError, UsageError } from '../../util/errors.js'
import { Teardown } from '../../util/teardown.js'
import { isLabLive, leaseSubnet, pruneStale, registerLab, type SubnetLease } from '../lease.js'
import type { Backend, ExecOptions, ExecResult, Host, Lab, LabSpec, Proc, SpawnOptions } from '../types.js'
import { planDockerLab, type HostPlan, type LabPlan } from './addressing.js'
import { connectDocker, describeDaemon, errorText, statusOf, toLabError, unreachableError } from './client.js'
import { execInContainer, spawnInContainer, type ContainerRef } from './exec.js'
import { LAB_AGENT_PATH, labImageName } from './image.js'

export const LABEL_RUN_ID = 'tcplab.run-id'
export const LABEL_SCENARIO = 'tcplab.scenario'
export const LABEL_HOST = 'tcplab.host'
/** "<hostname>:<pid>" of the tcplab process that made it: gc leaves live labs and other machines' labs alone. */
export const LABEL_OWNER = 'tcplab.owner'

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

/** The Docker backend (dockerode; DOCKER_HOST may name a remote daemon). */
export function createDockerBackend(): Backend {
  let docker: Docker | undefined
  const client = (): Docker => (docker ??= connectDocker())
  return {
    name: 'docker',
    check: () => checkDocker(client()),
    up: (spec, signal) => upDockerLab(client(), spec, signal),
    gc: (labId) => gcDocker(client(), labId),
  }
}

async function checkDocker(docker: Docker): Promise<void> {
  try {
    await withTimeout(docker.ping(), 10_000, `no answer from ${describeDaemon()} within 10 s`)
  } catch (e: unknown) {
    throw unreachableError(e)
  }
  await checkImage(docker, labImageName())
}

async function checkImage(docker: Docker, image: string): Promise<void> {
  try {
    await docker.getImage(image).inspect()
  } catch (e: unknown) {
    if (statusOf(e) === 404) throw missingImageError(image, e)
    throw toLabError(e, `cannot inspect the lab image ${image}`)
  }
}

function missingImageError(image: string, cause: unknown): EnvironmentError {
  const remote = process.env.DOCKER_HOST && !process.env.DOCKER_HOST.startsWith('unix://')
  return new EnvironmentError('E_DOCKER_IMAGE', `the lab image ${image} is not on the Docker daemon at ${describeDaemon()}`, {
    hint: remote
      ? `build it there (make image with DOCKER_HOST set), or copy it: docker save ${image} | DOCKER_HOST=${process.env.DOCKER_HOST ?? ''} docker load`
      : 'build it: make image (containers/build-image.sh; no registry needed)',
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
  const withImage = spec.hosts.find((h) => h.image !== undefined)
  if (withImage) {
    throw new UsageError(`host "${withImage.name}" names its own image (${withImage.image ?? ''}): the docker backend does not run user images yet`, {
      hint: 'remove `image:` from the host, or run the program from the lab image',
    })
  }
  const td = new Teardown()
  const procs = new Set<Proc>()
  const checkAbort = (): void => {
    if (signal?.aborted) throw new InterruptedError(`lab ${spec.labId} setup interrupted`)
  }
  try {
    checkAbort()
    const unregister = await registerLab({ labId: spec.labId, backend: 'docker', scenario: spec.scenario })
    td.push('unregister lab', unregister)
    const image = labImageName()
    const plan = await createNetworks(docker, spec, td)
    checkAbort()

    // Containers: create and start all at once. One undo removes every container made so far,
    // in parallel (registered before the first create, so none can be missed).
    const containers: Docker.Container[] = []
    td.push('remove containers', () => settleAll(containers.map((c) => removeContainer(c))))
    const refs = await settleAll(plan.hosts.map(async (hp): Promise<ContainerRef> => {
      const h = spec.hosts.find((x) => x.name === hp.name)
      if (!h) throw new LabError(`lab ${spec.labId}: no spec for host ${hp.name}`)
      // Optional sysctls ("?key") go in too; a key this kernel lacks fails the start, and the
      // container is made again without it (only costs time on kernels that lack one).
      const { sysctls, optional } = splitSysctls(h.sysctls, h.isWire)
      for (;;) {
        const container = await createContainer(docker, spec, hp, image, sysctls)
        containers.push(container)
        try {
          await container.start()
          return { docker, container, host: hp.name }
        } catch (e: unknown) {
          const key = missingSysctlKey(e)
          if (key === undefined || !optional.has(key)) throw sysctlError(e, hp.name) ?? toLabError(e, `cannot start the container of ${hp.name}`)
          await removeContainer(container)
          delete sysctls[key]
          optional.delete(key)
        }
      }
    }))
    checkAbort()

    // Further networks after the start, so that interface order is attachment order (eth1, ...).
    for (const [i, hp] of plan.hosts.entries()) {
      for (const at of hp.attachments.slice(1)) {
        await docker.getNetwork(networkName(spec.labId, at.network)).connect({
          Container: (refs[i] as ContainerRef).container.id,
          EndpointConfig: { IPAMConfig: { IPv4Address: at.ip }, Aliases: [hp.name] },
        }).catch((e: unknown) => {
          throw toLabError(e, `cannot connect ${hp.name} to ${networkName(spec.labId, at.network)}`)
        })
      }
    }
    checkAbort()

    // Routes: drop Docker's default route (no way out of the lab), add the lab routes.
    await settleAll(plan.hosts.map((hp, i) => setRoutes(refs[i] as ContainerRef, hp)))
    checkAbort()

    const hosts = new Map<string, Host>()
    for (const [i, hp] of plan.hosts.entries()) hosts.set(hp.name, createDockerHost(refs[i] as ContainerRef, hp, procs))
    // Processes are stopped (gracefully) before their containers go (pushed last, so undone first).
    td.push('stop processes', () => stopAll(procs))
    return { labId: spec.labId, hosts, down: () => td.run() }
  } catch (e: unknown) {
    await td.run().catch(() => undefined)
    throw e
  }
}

/** Lease a /24 and create the lab's networks in it; a subnet the daemon already uses (another machine's lab) is skipped. */
async function createNetworks(docker: Docker, spec: LabSpec, td: Teardown): Promise<LabPlan> {
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
      td.push(`release subnet ${lease.cidr}`, () => lease.release())
      td.push('remove networks', () => settleAll(made.map((n) => removeNetwork(n))))
      return plan
    }
    throw new LabError(`lab ${spec.labId}: the daemon at ${describeDaemon()} already uses 16 of the lab subnets tried`, {
      hint: 'another machine runs many labs on this daemon, or it has leftovers: run `tcplab gc` there',
    })
  } finally {
    await Promise.allSettled(skipped.map((l) => l.release()))
  }
}

async function createContainer(docker: Docker, spec: LabSpec, hp: HostPlan, image: string, sysctls: Record<string, string>): Promise<Docker.Container> {
  const first = hp.attachments[0]
  if (!first) throw new LabError(`lab ${spec.labId}: no network for host ${hp.name}`)
  const name = containerName(spec.labId, hp.name)
  try {
    return await docker.createContainer({
      name,
      Image: image,
      Hostname: hp.name,
      Labels: labelsOf(spec, hp.name),
      Tty: false,
      HostConfig: {
        NetworkMode: networkName(spec.labId, first.network),
        CapDrop: ['ALL'],
        CapAdd: [...LAB_CAPABILITIES],
        Privileged: false,
        SecurityOpt: ['no-new-privileges'],
        // docker-init as pid 1 reaps what lab commands leave behind (`sleep` would not).
        Init: true,
        Sysctls: sysctls,
        LogConfig: { Type: 'none', Config: {} },
      },
      NetworkingConfig: {
        EndpointsConfig: { [networkName(spec.labId, first.network)]: { IPAMConfig: { IPv4Address: first.ip }, Aliases: [hp.name] } },
      },
    })
  } catch (e: unknown) {
    if (statusOf(e) === 404 && /no such image/i.test(errorText(e))) throw missingImageError(image, e)
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
  // The daemon or runc: "sysctl \"kernel.x\" is not in a separate kernel namespace", "... not whitelisted".
  if (missing === undefined && !/sysctl/i.test(text)) return undefined
  return new StepError(missing !== undefined ? `cannot set sysctl ${missing} on ${host}: this kernel does not have it` : `cannot set sysctl on ${host}: ${text}`, {
    hint: 'the key must exist in a network namespace on this kernel (per-netns net.* sysctls only; `tcplab doctor` lists them); `{ value: V, optional: true }` sets it only where it exists',
    cause: e,
  })
}

async function setRoutes(ref: ContainerRef, hp: HostPlan): Promise<void> {
  const batch = ['route flush exact 0.0.0.0/0', ...hp.routes.map((r) => `route add ${r.join(' ')}`)]
  try {
    await execInContainer(ref, ['ip', '-batch', '-'], { input: `${batch.join('\n')}\n`, timeoutMs: 10_000 })
  } catch (e: unknown) {
    if (e instanceof ProcessError) throw new LabError(`cannot set the routes of ${hp.name}: ${e.message}`, { cause: e })
    throw e
  }
}

function createDockerHost(ref: ContainerRef, hp: HostPlan, procs: Set<Proc>): Host {
  return {
    name: hp.name,
    addr: hp.attachments[0]?.ip ?? '',
    ifnames: hp.attachments.map((_, i) => `eth${i}`),
    agentPath: LAB_AGENT_PATH,
    exec(argv: readonly string[], opts?: ExecOptions): Promise<ExecResult> {
      return execInContainer(ref, argv, opts)
    },
    spawn(argv: readonly string[], opts?: SpawnOptions): Proc {
      const proc = spawnInContainer(ref, argv, opts)
      procs.add(proc)
      void proc.exited.then(() => procs.delete(proc))
      return proc
    },
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
