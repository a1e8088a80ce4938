// The netns backend: one network namespace per host, named
// tcplab-<labId>-<host>. Two hosts: a veth pair (eth0 on each side, created
// directly inside the namespaces so nothing ever appears in the root
// namespace). A `wire` host: a router namespace with eth0/eth1 between the two
// endpoints. More hosts: a switch namespace with a bridge. No route leaves the
// lab: endpoints only get routes to the lab's own /24.

import { access, constants } from 'node:fs/promises'
import { EnvironmentError, LabError, PrivilegeError, ProcessError, StepError, TcplabError, UsageError } from '../../util/errors.js'
import { runCommand, spawnProcess } from '../../util/proc.js'
import { Teardown } from '../../util/teardown.js'
import { isLabLive, leaseSubnet, pruneStale, registerLab } from '../lease.js'
import { agentBinaryPath } from '../agent-path.js'
import type { Backend, ExecOptions, ExecResult, Host, HostSpec, Lab, LabSpec, Proc, SpawnOptions } from '../types.js'

export const NETNS_PREFIX = 'tcplab-'

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

interface Addressing {
  /** host -> [ifname, cidr address][] */
  addrs: Map<string, Array<[string, string]>>
  /** host -> routes (argv after `ip route add`) */
  routes: Map<string, string[][]>
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

    // Namespaces first (in parallel); each delete is pushed once its creation is known.
    const created = await Promise.allSettled(spec.hosts.map(async (h) => {
      const ns = names.get(h.name) as string
      await ip(['netns', 'add', ns])
      return ns
    }))
    const made = created.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []))
    td.push(`delete netns ${made.join(' ')}`, async () => {
      const r = await Promise.allSettled(made.map((ns) => deleteNamespace(ns)))
      const bad = r.find((x): x is PromiseRejectedResult => x.status === 'rejected')
      if (bad) throw bad.reason
    })
    const failed = created.find((r): r is PromiseRejectedResult => r.status === 'rejected')
    if (failed) throw failed.reason
    checkAbort()
    const wire = spec.hosts.find((h) => h.isWire)
    const ends = spec.hosts.filter((h) => !h.isWire)
    const plan: Addressing = { addrs: new Map(), routes: new Map() }
    const p = lease.prefix24
    const nsOf = (h: HostSpec): string => names.get(h.name) as string
    if (wire && ends.length === 2) {
      const [a, b] = ends as [HostSpec, HostSpec]
      await ip(['link', 'add', 'eth0', 'netns', nsOf(a), 'type', 'veth', 'peer', 'name', 'eth0', 'netns', nsOf(wire)])
      await ip(['link', 'add', 'eth0', 'netns', nsOf(b), 'type', 'veth', 'peer', 'name', 'eth1', 'netns', nsOf(wire)])
      plan.addrs.set(a.name, [['eth0', `${p}.1/25`]])
      plan.addrs.set(b.name, [['eth0', `${p}.129/25`]])
      plan.addrs.set(wire.name, [['eth0', `${p}.126/25`], ['eth1', `${p}.254/25`]])
      plan.routes.set(a.name, [[`${p}.0/24`, 'via', `${p}.126`]])
      plan.routes.set(b.name, [[`${p}.0/24`, 'via', `${p}.254`]])
    } else if (ends.length === 2 && !wire) {
      const [a, b] = ends as [HostSpec, HostSpec]
      await ip(['link', 'add', 'eth0', 'netns', nsOf(a), 'type', 'veth', 'peer', 'name', 'eth0', 'netns', nsOf(b)])
      plan.addrs.set(a.name, [['eth0', `${p}.1/24`]])
      plan.addrs.set(b.name, [['eth0', `${p}.2/24`]])
    } else {
      // A switch namespace with a bridge; every host hangs off it.
      const sw = netnsName(spec.labId, 'sw')
      await ip(['netns', 'add', sw])
      td.push(`delete netns ${sw}`, () => deleteNamespace(sw))
      await ip(['-n', sw, 'link', 'add', 'br0', 'type', 'bridge'])
      for (const [i, h] of spec.hosts.entries()) {
        await ip(['link', 'add', 'eth0', 'netns', nsOf(h), 'type', 'veth', 'peer', 'name', `p${i}`, 'netns', sw])
        await ip(['-n', sw, 'link', 'set', `p${i}`, 'master', 'br0', 'up'])
        plan.addrs.set(h.name, [['eth0', `${p}.${i + 1}/24`]])
      }
      await ip(['-n', sw, 'link', 'set', 'br0', 'up'])
    }
    checkAbort()

    const hosts = new Map<string, Host>()
    await Promise.all(spec.hosts.map(async (h) => {
      const ns = nsOf(h)
      const addrs = plan.addrs.get(h.name) ?? []
      const batch = ['link set lo up']
      for (const [dev, cidr] of addrs) batch.push(`addr add ${cidr} dev ${dev}`, `link set ${dev} up`)
      for (const r of plan.routes.get(h.name) ?? []) batch.push(`route add ${r.join(' ')}`)
      await runCommand(['ip', '-n', ns, '-batch', '-'], { input: `${batch.join('\n')}\n`, host: h.name })
      const sysctls = { ...h.sysctls, ...(h.isWire ? { 'net.ipv4.ip_forward': '1' } : {}) }
      const host = createNetnsHost(h.name, ns, addrs, procs)
      await applySysctls(host, sysctls)
      hosts.set(h.name, host)
    }))
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
  const entries: Array<[string, string]> = []
  for (const [k, v] of Object.entries(sysctls)) {
    if (!k.startsWith('?')) entries.push([k, v])
    else if ((await host.exec(['sysctl', '-n', k.slice(1)], { reject: false })).exitCode === 0) entries.push([k.slice(1), v])
  }
  if (entries.length === 0) return
  try {
    await host.exec(['sysctl', '-q', '-w', ...entries.map(([k, v]) => `${k}=${v}`)])
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

/** Kill whatever still runs inside a namespace, then delete it. Idempotent. */
async function deleteNamespace(ns: string): Promise<void> {
  const pids = await runCommand(['ip', 'netns', 'pids', ns], { reject: false })
  for (const pid of pids.stdout.split(/\s+/).filter(Boolean)) {
    try {
      process.kill(Number(pid), 'SIGKILL')
    } catch {
      // gone already
    }
  }
  const r = await runCommand(['ip', 'netns', 'del', ns], { reject: false })
  if (r.exitCode !== 0 && !/No such file|Cannot remove namespace file .* No such/.test(r.stderr)) {
    throw new LabError(`cannot delete network namespace ${ns}: ${r.stderr.trim()}`)
  }
}

async function ip(args: string[]): Promise<void> {
  await runCommand(['ip', ...args])
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
    for (const ns of nss) {
      await deleteNamespace(ns)
      removed.push(`network namespace ${ns}`)
    }
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
