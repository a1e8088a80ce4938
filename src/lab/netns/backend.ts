// The netns backend: one network namespace per host, named
// tcplab-<labId>-<host>. Two hosts: a veth pair (eth0 on each side, created
// directly inside the namespaces so nothing ever appears in the root
// namespace). A `wire` host: a router namespace with eth0/eth1 between the two
// endpoints. More hosts: a switch namespace with a bridge. No route leaves the
// lab: endpoints only get routes to the lab's own /24.

import { access, constants, readdir, stat } from 'node:fs/promises'
import path from 'node:path'
import { EnvironmentError, LabError, PrivilegeError, ProcessError, StepError, TcplabError, UsageError } from '../../util/errors.js'
import { runCommand, spawnProcess } from '../../util/proc.js'
import { Teardown } from '../../util/teardown.js'
import { isLabLive, leaseSubnet, pruneStale, registerLab } from '../lease.js'
import { agentBinaryPath } from '../agent-path.js'
import type { Backend, ExecOptions, ExecResult, Host, HostSpec, Lab, LabSpec, Proc, SpawnOptions } from '../types.js'

export const NETNS_PREFIX = 'tcplab-'
/** Where `ip netns add` binds named namespaces (ip-netns(8)). */
const NETNS_RUN_DIR = '/run/netns'

/** Namespace name of a host: tcplab-<labId>-<host>. */
export function netnsName(labId: string, host: string): string {
  return `${NETNS_PREFIX}${labId}-${host}`
}

/** The network-namespace backend (the default; needs root). */
export function createNetnsBackend(): Backend {
  return {
    name: 'netns',
    check: checkNetns,
    up: upNetnsLab,
    gc: gcNetns,
  }
}

async function checkNetns(): Promise<void> {
  if (process.getuid?.() !== 0) throw new PrivilegeError('the netns backend creates network namespaces, which needs root')
  try {
    await runCommand(['ip', '-V'])
  } catch (e: unknown) {
    if (e instanceof TcplabError) throw e
    throw new EnvironmentError('E_MISSING_TOOL', 'cannot run `ip`', { hint: 'apt-get install -y iproute2', cause: e })
  }
}

interface LabPlan {
  /** `ip -batch` lines run in the root namespace: namespaces and links. */
  create: string[]
  /** namespace -> `ip -n NS -batch` lines: loopback, addresses, routes, bridge ports. */
  configure: Map<string, string[]>
  /** host -> [ifname, cidr address][] */
  addrs: Map<string, Array<[string, string]>>
}

/**
 * The ip(8) commands of a lab. Two hosts: one veth pair. Two ends and a wire: a veth pair on each
 * side of the wire, which routes. Otherwise a switch namespace with a bridge; every host hangs off it.
 * Addresses come from the lab's leased /24 (`prefix24` = "198.18.7").
 */
export function planLab(spec: LabSpec, prefix24: string, names: ReadonlyMap<string, string>, switchNs?: string): LabPlan {
  const p = prefix24
  const nsOf = (h: HostSpec): string => names.get(h.name) as string
  const create = spec.hosts.map((h) => `netns add ${nsOf(h)}`)
  const addrs = new Map<string, Array<[string, string]>>()
  const routes = new Map<string, string[]>()
  const configure = new Map<string, string[]>()
  const veth = (a: string, aNs: string, b: string, bNs: string): void => {
    create.push(`link add ${a} netns ${aNs} type veth peer name ${b} netns ${bNs}`)
  }
  const wire = spec.hosts.find((h) => h.isWire)
  const ends = spec.hosts.filter((h) => !h.isWire)
  if (switchNs === undefined && wire && ends.length === 2) {
    const [a, b] = ends as [HostSpec, HostSpec]
    veth('eth0', nsOf(a), 'eth0', nsOf(wire))
    veth('eth0', nsOf(b), 'eth1', nsOf(wire))
    addrs.set(a.name, [['eth0', `${p}.1/25`]])
    addrs.set(b.name, [['eth0', `${p}.129/25`]])
    addrs.set(wire.name, [['eth0', `${p}.126/25`], ['eth1', `${p}.254/25`]])
    routes.set(a.name, [`route add ${p}.0/24 via ${p}.126`])
    routes.set(b.name, [`route add ${p}.0/24 via ${p}.254`])
  } else if (switchNs === undefined && ends.length === 2 && !wire) {
    const [a, b] = ends as [HostSpec, HostSpec]
    veth('eth0', nsOf(a), 'eth0', nsOf(b))
    addrs.set(a.name, [['eth0', `${p}.1/24`]])
    addrs.set(b.name, [['eth0', `${p}.2/24`]])
  } else {
    const sw = switchNs ?? 'tcplab-sw'
    create.push(`netns add ${sw}`)
    const swLines = ['link add br0 type bridge']
    for (const [i, h] of spec.hosts.entries()) {
      veth('eth0', nsOf(h), `p${i}`, sw)
      swLines.push(`link set p${i} master br0 up`)
      addrs.set(h.name, [['eth0', `${p}.${i + 1}/24`]])
    }
    swLines.push('link set br0 up')
    configure.set(sw, swLines)
  }
  for (const h of spec.hosts) {
    const lines = ['link set lo up']
    for (const [dev, cidr] of addrs.get(h.name) ?? []) lines.push(`addr add ${cidr} dev ${dev}`, `link set ${dev} up`)
    lines.push(...(routes.get(h.name) ?? []))
    configure.set(nsOf(h), lines)
  }
  return { create, configure, addrs }
}

async function upNetnsLab(spec: LabSpec, signal?: AbortSignal): Promise<Lab> {
  // A host's own image is a container: here its program would silently not run.
  const withImage = spec.hosts.find((h) => h.image !== undefined)
  if (withImage) {
    throw new UsageError(`host "${withImage.name}" names its own image (${withImage.image ?? ''}), which only the docker backend runs`, {
      hint: 'run this scenario with --backend docker',
    })
  }
  const td = new Teardown()
  const procs = new Set<Proc>()
  const names = new Map(spec.hosts.map((h) => [h.name, netnsName(spec.labId, h.name)]))
  const checkAbort = (): void => {
    if (signal?.aborted) throw new LabError(`lab ${spec.labId} setup interrupted`)
  }
  try {
    const unregister = await registerLab({ labId: spec.labId, backend: 'netns', scenario: spec.scenario })
    td.push('unregister lab', unregister)
    const lease = await leaseSubnet(spec.labId)
    td.push(`release subnet ${lease.cidr}`, () => lease.release())

    // One `ip -batch` makes every namespace and link (veths are created directly inside the
    // namespaces, so nothing ever appears in the root namespace); then one `ip -n NS -batch` per
    // namespace sets addresses and routes, next to one `sysctl` per host, all in parallel.
    // The delete is pushed first: it is idempotent, and a batch that fails half-way leaves some.
    const wire = spec.hosts.find((h) => h.isWire)
    const ends = spec.hosts.filter((h) => !h.isWire)
    const useSwitch = !(ends.length === 2 && (wire === undefined || spec.hosts.length === 3))
    const sw = netnsName(spec.labId, 'sw')
    const allNs = [...names.values(), ...(useSwitch ? [sw] : [])]
    td.push(`delete netns ${allNs.join(' ')}`, () => deleteNamespaces(allNs))
    const plan = planLab(spec, lease.prefix24, names, useSwitch ? sw : undefined)
    checkAbort()
    await runCommand(['ip', '-batch', '-'], { input: `${plan.create.join('\n')}\n` })
    checkAbort()

    const hosts = new Map<string, Host>()
    await Promise.all([
      ...spec.hosts.map(async (h) => {
        const ns = names.get(h.name) as string
        const addrs = plan.addrs.get(h.name) ?? []
        const host = createNetnsHost(h.name, ns, addrs, procs)
        const sysctls = { ...h.sysctls, ...(h.isWire ? { 'net.ipv4.ip_forward': '1' } : {}) }
        await Promise.all([
          runCommand(['ip', '-n', ns, '-batch', '-'], { input: `${(plan.configure.get(ns) ?? []).join('\n')}\n`, host: h.name }),
          applySysctls(host, sysctls),
        ])
        hosts.set(h.name, host)
      }),
      ...(useSwitch ? [runCommand(['ip', '-n', sw, '-batch', '-'], { input: `${(plan.configure.get(sw) ?? []).join('\n')}\n`, host: 'sw' })] : []),
    ])
    checkAbort()
    // Keep the scenario's host order.
    const ordered = new Map(spec.hosts.map((h) => [h.name, hosts.get(h.name) as Host]))
    // Processes die before their namespaces go (pushed last, so undone first).
    td.push('stop processes', () => stopAll(procs))
    return {
      labId: spec.labId,
      hosts: ordered,
      down: () => td.run(),
    }
  } catch (e: unknown) {
    await td.run().catch(() => undefined)
    throw e
  }
}

/**
 * Set sysctls inside a host; an unknown key or bad value is the scenario's fault (exit 2).
 * Keys prefixed with "?" are optional: set only where this kernel has them. A host with its own
 * way (Host.setSysctls: containers, whose /proc/sys is read-only) uses that.
 */
export async function applySysctls(host: Host, sysctls: Record<string, string>): Promise<void> {
  if (host.setSysctls) return host.setSysctls(sysctls)
  const entries = Object.entries(sysctls).filter(([k]) => !k.startsWith('?'))
  // Optional keys: `sysctl -e` ignores keys this kernel lacks (sysctl(8)); a bad value still fails.
  const optional = Object.entries(sysctls).filter(([k]) => k.startsWith('?')).map(([k, v]): [string, string] => [k.slice(1), v])
  try {
    await Promise.all([
      entries.length > 0 ? host.exec(['sysctl', '-q', '-w', ...entries.map(([k, v]) => `${k}=${v}`)]) : undefined,
      optional.length > 0 ? host.exec(['sysctl', '-e', '-q', '-w', ...optional.map(([k, v]) => `${k}=${v}`)]) : undefined,
    ])
  } catch (e: unknown) {
    if (e instanceof ProcessError) {
      throw new StepError(`cannot set sysctl on ${host.name}: ${e.failure.stderr.trim() || e.message}`, {
        hint: /Operation not permitted/.test(e.failure.stderr)
          ? 'the kernel refuses this value inside a namespace (e.g. a congestion control not in net.ipv4.tcp_allowed_congestion_control); set it per socket instead'
          : 'the key must exist in a network namespace on this kernel (per-netns sysctls only; `tcplab doctor` lists them)',
        cause: e,
      })
    }
    throw e
  }
}

function createNetnsHost(name: string, ns: string, addrs: Array<[string, string]>, procs: Set<Proc>): Host {
  const primary = addrs[0]?.[1].split('/')[0] ?? ''
  return {
    name,
    addr: primary,
    ifnames: addrs.map(([dev]) => dev),
    agentPath: agentBinaryPath(),
    exec(argv: readonly string[], opts?: ExecOptions): Promise<ExecResult> {
      return runCommand(['ip', 'netns', 'exec', ns, ...argv], { ...opts, host: name }).catch((e: unknown) => {
        throw rewriteNetnsError(e, argv)
      })
    },
    spawn(argv: readonly string[], opts?: SpawnOptions): Proc {
      const proc = spawnProcess(['ip', 'netns', 'exec', ns, ...argv], opts)
      procs.add(proc)
      void proc.exited.then(() => procs.delete(proc))
      return proc
    },
  }
}

/** Show the command as the user wrote it, not wrapped in `ip netns exec`. */
function rewriteNetnsError(e: unknown, argv: readonly string[]): unknown {
  if (e instanceof ProcessError) {
    const f = e.failure
    const notFound = /exec of ".*" failed: No such file or directory/.test(f.stderr)
    return new ProcessError({ ...f, argv, exitCode: f.exitCode }, {
      cause: e,
      hint: notFound ? `"${argv[0] ?? ''}" is not installed on this machine (the netns backend uses the host's programs)` : e.hint,
    })
  }
  return e
}

async function stopAll(procs: Set<Proc>): Promise<void> {
  await Promise.allSettled([...procs].map((p) => p.stop({ graceMs: 1000 })))
}

/**
 * Kill whatever still runs inside the namespaces, then delete them with one `ip -force -batch`
 * (-force: a missing namespace does not stop the rest). Idempotent: a namespace that is already
 * gone is not an error.
 */
export async function deleteNamespaces(nss: readonly string[]): Promise<void> {
  if (nss.length === 0) return
  for (const pid of await pidsInNamespaces(nss)) {
    try {
      process.kill(pid, 'SIGKILL')
    } catch {
      // gone already
    }
  }
  const r = await runCommand(['ip', '-force', '-batch', '-'], { input: `${nss.map((ns) => `netns del ${ns}`).join('\n')}\n`, reject: false })
  const errors = r.stderr.split('\n').filter((l) => l.trim() !== '' && !/No such file|^Command failed -:\d+/.test(l))
  if (r.exitCode !== 0 && errors.length > 0) {
    throw new LabError(`cannot delete network namespace(s) ${nss.join(' ')}: ${errors.join('; ')}`)
  }
}

/**
 * Pids of processes in any of the namespaces, as `ip netns pids` finds them (ip-netns(8)): a
 * process whose /proc/PID/ns/net is the same nsfs inode as /run/netns/NS. Read here, without a
 * process per namespace.
 */
async function pidsInNamespaces(nss: readonly string[]): Promise<number[]> {
  const inodes = new Set<string>()
  await Promise.all(nss.map(async (ns) => {
    const st = await stat(path.join(NETNS_RUN_DIR, ns)).catch(() => undefined)
    if (st) inodes.add(`${st.dev}:${st.ino}`)
  }))
  if (inodes.size === 0) return []
  const entries = await readdir('/proc').catch(() => [] as string[])
  const pids = await Promise.all(entries.filter((e) => /^\d+$/.test(e) && Number(e) !== process.pid).map(async (e) => {
    const st = await stat(`/proc/${e}/ns/net`).catch(() => undefined)
    return st && inodes.has(`${st.dev}:${st.ino}`) ? Number(e) : undefined
  }))
  return pids.filter((p): p is number => p !== undefined)
}

/** Namespaces of tcplab labs, grouped by labId. */
async function listLabNamespaces(): Promise<Map<string, string[]>> {
  const r = await runCommand(['ip', 'netns', 'list'], { reject: false })
  const out = new Map<string, string[]>()
  for (const line of r.stdout.split('\n')) {
    const ns = line.split(' ')[0] ?? ''
    const m = /^tcplab-([0-9a-z]+)-[a-z0-9]+$/.exec(ns)
    if (!m) continue
    const id = m[1] as string
    out.set(id, [...(out.get(id) ?? []), ns])
  }
  return out
}

/** Remove namespaces (and their processes) of labs whose owning process is gone. */
async function gcNetns(labId?: string): Promise<string[]> {
  const removed: string[] = []
  for (const [id, nss] of await listLabNamespaces()) {
    if (labId !== undefined && id !== labId) continue
    if (labId === undefined && (await isLabLive(id))) continue
    await deleteNamespaces(nss)
    for (const ns of nss) removed.push(`network namespace ${ns}`)
  }
  removed.push(...(await pruneStale()))
  return removed
}

/** Whether the agent binary is built (the runner checks before using socket steps). */
export async function hasAgentBinary(): Promise<boolean> {
  try {
    await access(agentBinaryPath(), constants.X_OK)
    return true
  } catch {
    return false
  }
}
