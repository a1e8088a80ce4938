// The netns backend: one network namespace per host, named
// tcplab-<labId>-<host>. Two hosts: a veth pair (eth0 on each side, created
// directly inside the namespaces so nothing ever appears in the root
// namespace). A `wire` host: a router namespace with eth0/eth1 between the two
// endpoints. More hosts: a switch namespace with a bridge. No route leaves the
// lab: endpoints only get routes to the lab's own /24.
//
// Every lab namespace is made from a parent namespace in which
// net.ipv4.tcp_child_ehash_entries (and udp_child_hash_entries) is set, so each
// host gets its own small TCP established hash instead of sharing the machine's
// (262144 buckets here): a sock_diag dump walks every bucket, ~1.2 ms with the
// shared table and ~60 µs with 1024 buckets. One parent per tcplab process,
// never bound anywhere: only a file descriptor of this process holds it, so it
// goes when the process does (even on SIGKILL) and there is nothing to gc. The
// machine's own namespace is never written to. Without the knob (kernels before
// 5.19), or with TCPLAB_NETNS_CHILD_HASH=0, the hosts share the machine's table
// as before (also where `unshare`/`nsenter` are missing). See labParent and
// setupBatch.

import { closeSync, existsSync, fstatSync, mkdirSync, openSync, readdirSync, statSync, writeFileSync } from 'node:fs'
import { access, constants, readdir, rm } from 'node:fs/promises'
import path from 'node:path'
import { EnvironmentError, LabError, PrivilegeError, ProcessError, StepError, TcplabError, UsageError } from '../../util/errors.js'
import { runCommand, spawnProcess } from '../../util/proc.js'
import { Teardown } from '../../util/teardown.js'
import { isLabLive, leaseSubnet, pruneStale, registerLab, relayDirOf, STATE_DIR } from '../lease.js'
import { agentBinaryPath } from '../agent-path.js'
import type { Backend, ExecOptions, ExecResult, Host, HostSpec, Lab, LabSpec, Proc, ScratchHost, SpawnOptions } from '../types.js'
import { removeOwnNamespacesNow } from './emergency.js'
import { sysctlKeyProblem, SYSCTL_KEY_HINT } from '../../scenario/sysctl-values.js'

export const NETNS_PREFIX = 'tcplab-'
/** Where `ip netns add` binds named namespaces (ip-netns(8)). */
const NETNS_RUN_DIR = '/run/netns'

/**
 * Buckets of each lab namespace's own TCP established hash (and UDP hash). A lab host holds a few
 * to a few hundred sockets (TIME_WAIT included), so 1024 buckets keep chains shorter than one
 * socket on average, while a sock_diag dump, which walks every bucket, stays at tens of µs instead
 * of the ~1.2 ms the machine's 262144-bucket table costs. (A power of two: the kernel rounds up;
 * UDP's minimum is 128.) Memory: 1024 x 8 bytes plus locks per namespace, freed with it.
 */
export const CHILD_HASH_ENTRIES = 1024

const CHILD_EHASH_SYSCTL = '/proc/sys/net/ipv4/tcp_child_ehash_entries'

/** Whether this kernel can give a namespace its own TCP hash (net.ipv4.tcp_child_ehash_entries, Linux 5.19+). Reads only. */
export function hasChildEhash(): boolean {
  return existsSync(CHILD_EHASH_SYSCTL)
}

/** Namespace name of a host: tcplab-<labId>-<host>. */
export function netnsName(labId: string, host: string): string {
  return `${NETNS_PREFIX}${labId}-${host}`
}

let exitHookInstalled = false

/** The network-namespace backend (the default; needs root). */
export function createNetnsBackend(): Backend {
  // An exit without teardown (uncaught exception, process.exit) still deletes this process's labs.
  if (!exitHookInstalled) {
    exitHookInstalled = true
    process.on('exit', removeOwnNamespacesNow)
  }
  return {
    name: 'netns',
    check: checkNetns,
    describe: describeNetns,
    up: upNetnsLab,
    gc: gcNetns,
    withScratchHost,
    removeOwnLabsNow: removeOwnNamespacesNow,
  }
}

/**
 * A throwaway namespace `tcplab-<id>-check` for `fn`, registered like a lab (so `tcplab gc` finds
 * it if this process dies in between) and deleted afterwards. A fresh namespace holds the per-netns
 * sysctls at their defaults and empty iptables tables: what a lab host starts from.
 */
async function withScratchHost<T>(fn: (host: ScratchHost) => Promise<T>): Promise<T> {
  await checkNetns()
  const labId = Math.floor(Math.random() * 0x1_0000_0000).toString(16).padStart(8, '0')
  const ns = netnsName(labId, 'check')
  const td = new Teardown()
  try {
    const unregister = await registerLab({ labId, backend: 'netns', scenario: '(scratch)' })
    td.push('unregister scratch namespace', unregister)
    td.push(`delete netns ${ns}`, () => deleteNamespaces([ns]))
    await runCommand(['ip', 'netns', 'add', ns])
    return await fn({
      exec: (argv, opts) => runCommand(['ip', 'netns', 'exec', ns, ...argv], { ...opts, host: 'scratch' }).catch((e: unknown) => {
        throw rewriteNetnsError(e, argv)
      }),
    })
  } finally {
    await td.run()
  }
}

async function describeNetns(): Promise<string> {
  return (await labParent()) !== undefined
    ? `network namespaces; each host has its own TCP hash of ${CHILD_HASH_ENTRIES} buckets (made from a parent namespace with net.ipv4.tcp_child_ehash_entries; the machine's own sysctls are untouched)`
    : `network namespaces sharing the machine's TCP hash (${hasChildEhash() ? 'TCPLAB_NETNS_CHILD_HASH=0, or no parent namespace could be made here' : 'this kernel has no net.ipv4.tcp_child_ehash_entries, Linux 5.19+'}: socket sampling costs more)`
}

async function checkNetns(): Promise<void> {
  if (process.getuid?.() !== 0) throw new PrivilegeError('the netns backend creates network namespaces, which needs root')
  try {
    await runCommand(['ip', '-V'])
  } catch (e: unknown) {
    if (e instanceof TcplabError) throw e
    throw new EnvironmentError('E_MISSING_TOOL', 'cannot run `ip`', { hint: 'apt-get install -y iproute2', cause: e })
  }
  // The parent namespace comes up (~100-200 ms) while the scenarios are loaded and the first lab is planned.
  void labParent()
}

export interface LabPlan {
  /** `ip -batch` lines run in the (parent) namespace: namespaces and links. */
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

/** A namespace lab once registered and leased: its plan, and the switch namespace if it has one. */
export interface NamespaceLab {
  plan: LabPlan
  /** The leased /24, e.g. "198.18.7". */
  prefix24: string
  switchNs: string | undefined
  /** Every namespace of the lab, the switch's too. */
  namespaces: string[]
}

/**
 * The first steps of a lab whose hosts are network namespaces, on this machine (netns) or inside a
 * guest (vm): register it (for gc), lease its /24, and plan its namespaces and links (planLab: two
 * hosts share a veth, two ends and a wire route through it, more hosts hang off a switch). Each
 * step pushes its undo on `td`; the namespaces' deletion (`deleteNamespaces`, the backend's own
 * way) is pushed before any is made: it is idempotent, and a setup that fails half-way leaves some.
 */
export async function openNamespaceLab(spec: LabSpec, backend: string, names: ReadonlyMap<string, string>, td: Teardown, deleteNamespaces: (nss: readonly string[]) => Promise<unknown>): Promise<NamespaceLab> {
  const unregister = await registerLab({ labId: spec.labId, backend, scenario: spec.scenario })
  td.push('unregister lab', unregister)
  const lease = await leaseSubnet(spec.labId)
  td.push(`release subnet ${lease.cidr}`, () => lease.release())
  const wire = spec.hosts.find((h) => h.isWire)
  const ends = spec.hosts.filter((h) => !h.isWire)
  const switchNs = ends.length === 2 && (wire === undefined || spec.hosts.length === 3) ? undefined : netnsName(spec.labId, 'sw')
  const namespaces = [...names.values(), ...(switchNs !== undefined ? [switchNs] : [])]
  td.push(`delete netns ${namespaces.join(' ')}`, () => deleteNamespaces(namespaces))
  return { plan: planLab(spec, lease.prefix24, names, switchNs), prefix24: lease.prefix24, switchNs, namespaces }
}

/** The parent namespace of this process's labs (see labParent). */
export interface LabParent {
  /** A path that opens it while this process lives: /proc/<our pid>/fd/<fd>. */
  path: string
  /** tcp_max_tw_buckets and tcp_max_syn_backlog of a namespace sharing the machine's table (see setupLabArgv). */
  twBuckets: string
  synBacklog: string
}

let parentPromise: Promise<LabParent | undefined> | undefined

/**
 * The namespace every lab namespace of this process is made from, made on first use: `unshare --net`
 * starts a shell in a new namespace, which sets net.ipv4.tcp_child_ehash_entries (and
 * udp_child_hash_entries where the kernel has it) to CHILD_HASH_ENTRIES, so every namespace made from
 * it gets its own hash tables of that size (ip-sysctl.rst; the table is the child's, nothing ties it
 * to the parent afterwards). We open its /proc/PID/ns/net and keep the descriptor; the shell exits.
 * Nothing else refers to it: it is never bound under /run/netns, so neither a crash nor Ctrl-C can
 * leave it behind, and `tcplab gc` has nothing to look for. undefined (the hosts then share the
 * machine's table, as before, silently): the kernel lacks the knob, it cannot be set here, or
 * TCPLAB_NETNS_CHILD_HASH=0.
 */
export function labParent(): Promise<LabParent | undefined> {
  if (process.env.TCPLAB_NETNS_CHILD_HASH === '0' || !hasChildEhash()) return Promise.resolve(undefined)
  parentPromise ??= makeLabParent().catch(() => undefined)
  return parentPromise
}

/** $1 = hash size. Prints "PID TW SYN" once set, then waits for its stdin to close. */
const PARENT_SCRIPT = `set -e
d=/proc/sys/net/ipv4
echo "$1" > $d/tcp_child_ehash_entries
{ echo "$1" > $d/udp_child_hash_entries; } 2>/dev/null || :
echo $$ $(cat $d/tcp_max_tw_buckets $d/tcp_max_syn_backlog)
read x || :`

async function makeLabParent(): Promise<LabParent | undefined> {
  let line: string | undefined
  let done: () => void = () => undefined
  const settled = new Promise<void>((resolve) => {
    done = resolve
  })
  const holder = spawnProcess(['unshare', '--net', '--', 'sh', '-c', PARENT_SCRIPT, 'tcplab-netns-parent', String(CHILD_HASH_ENTRIES)], {
    stdin: true,
    onStdoutLine: (l) => {
      line ??= l
      done()
    },
  })
  void holder.exited.then(() => done())
  const timer = setTimeout(() => done(), 10_000)
  let fd: number | undefined
  try {
    await settled
    const [pid, twBuckets, synBacklog] = (line ?? '').trim().split(/\s+/)
    if (pid === undefined || !/^\d+$/.test(pid) || !/^\d+$/.test(twBuckets ?? '') || !/^\d+$/.test(synBacklog ?? '')) return undefined
    fd = openSync(`/proc/${pid}/ns/net`, 'r')
    // A namespace of its own, not ours; and a process of ours can enter it by that path.
    const own = statSync('/proc/self/ns/net')
    const st = fstatSync(fd)
    const parent = { path: `/proc/${process.pid}/fd/${fd}`, twBuckets: twBuckets as string, synBacklog: synBacklog as string }
    if (st.ino === own.ino && st.dev === own.dev) return undefined
    await runCommand(['nsenter', `--net=${parent.path}`, '--', 'true'])
    fd = undefined // kept open for the life of the process
    return parent
  } finally {
    clearTimeout(timer)
    if (fd !== undefined) closeSync(fd)
    holder.endStdin()
    await holder.stop({ graceMs: 1000 })
  }
}

/** Where a lab's per-namespace `ip -batch` files live while it is set up (removed right after; gc removes strays). */
export const SETUP_DIR = path.join(STATE_DIR, 'setup')

/**
 * Run in each host namespace by the setup batch (setupBatch): write the two sysctls, then configure.
 * $1 = tcp_max_tw_buckets, $2 = tcp_max_syn_backlog, $3 = the namespace's `ip -batch` file.
 * A constant: everything variable is an argument. (No quote or '#' in it: ip's batch parser.)
 */
const RESTORE_AND_CONFIGURE = 'echo "$1" > /proc/sys/net/ipv4/tcp_max_tw_buckets; echo "$2" > /proc/sys/net/ipv4/tcp_max_syn_backlog; exec ip -batch "$3"'

/**
 * The lab's setup with a parent namespace (labParent), as one `ip -batch` that runs in the parent:
 * `netns add` makes each namespace from the namespace ip runs in (ip-netns(8); it goes back there
 * after each), `link add … netns` the veths, and one `netns exec NS …` per namespace (ip forks, enters
 * it, and runs the command) sets addresses and routes from the file `files.get(NS)`, which holds the
 * plan's lines for it. One process started from here, a fork and one or two execs per namespace:
 * exec costs dominate lab setup (several ms each on a loaded VM), so no shell around it all.
 *
 * A namespace with its own table of N buckets also gets tcp_max_tw_buckets = N/2 and
 * tcp_max_syn_backlog = max(128, N/128) (tcp_set_hashinfo in net/ipv4/tcp_ipv4.c), where one sharing
 * the machine's table gets them from that table's size. The parent is such a namespace, so its two
 * values (LabParent) are written into each host first (a `sh` before its `ip`): a host's defaults
 * stay what they were; only tcp_ehash_entries / udp_hash_entries show its own table (positive, where
 * a shared one reads negative), which env.json records. A scenario's sysctls come afterwards and win.
 * The switch namespace (no sockets) is configured without it.
 */
export function setupBatch(plan: LabPlan, parent: LabParent, files: ReadonlyMap<string, string>, hostNamespaces: ReadonlySet<string>): string[] {
  const lines = [...plan.create]
  for (const ns of plan.configure.keys()) {
    const file = files.get(ns)
    if (file === undefined || !/^[\w./-]+$/.test(file)) throw new LabError(`lab setup file ${JSON.stringify(file)}: only letters, digits and ._/- can go in an ip batch line`, { hint: 'set TCPLAB_STATE_DIR to a plain path' })
    lines.push(hostNamespaces.has(ns)
      ? `netns exec ${ns} sh -c '${RESTORE_AND_CONFIGURE}' sh ${parent.twBuckets} ${parent.synBacklog} ${file}`
      : `netns exec ${ns} ip -batch ${file}`)
  }
  return lines
}

async function setupInParent(labId: string, plan: LabPlan, parent: LabParent, hostNamespaces: ReadonlySet<string>): Promise<void> {
  const dir = path.join(SETUP_DIR, labId)
  const files = new Map([...plan.configure.keys()].map((ns) => [ns, path.join(dir, ns)]))
  // Synchronous: a few hundred bytes on tmpfs, cheaper than trips through the thread pool.
  mkdirSync(dir, { recursive: true })
  try {
    for (const [ns, lines] of plan.configure) writeFileSync(files.get(ns) as string, `${lines.join('\n')}\n`)
    const batch = setupBatch(plan, parent, files, hostNamespaces)
    await runCommand(['nsenter', `--net=${parent.path}`, '--', 'ip', '-batch', '-'], { input: `${batch.join('\n')}\n` })
  } finally {
    // Not rmSync: an rmdir on a busy machine blocked the event loop ~9 ms per lab (every other lab's timeline waits then).
    await rm(dir, { recursive: true, force: true })
  }
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
    // One `ip -batch` makes every namespace and link (veths are created directly inside the
    // namespaces, so nothing ever appears in the root namespace); then one `ip -n NS -batch` per
    // namespace sets addresses and routes, next to one `sysctl` per host, all in parallel. With a
    // parent namespace (labParent) one `ip -batch` in it does both (setupInParent), and the sysctls
    // follow.
    const { plan, switchNs: sw } = await openNamespaceLab(spec, 'netns', names, td, deleteNamespaces)
    const useSwitch = sw !== undefined
    const parent = await labParent()
    checkAbort()
    if (parent) await setupInParent(spec.labId, plan, parent, new Set(names.values()))
    else await runCommand(['ip', '-batch', '-'], { input: `${plan.create.join('\n')}\n` })
    checkAbort()

    const configure = (ns: string, host: string): Promise<unknown> => parent
      ? Promise.resolve()
      : runCommand(['ip', '-n', ns, '-batch', '-'], { input: `${(plan.configure.get(ns) ?? []).join('\n')}\n`, host })
    const hosts = new Map<string, Host>()
    td.push(`remove lab sockets ${relayDirOf(spec.labId)}`, () => rm(relayDirOf(spec.labId), { recursive: true, force: true }))
    await Promise.all([
      ...spec.hosts.map(async (h) => {
        const ns = names.get(h.name) as string
        const addrs = plan.addrs.get(h.name) ?? []
        const host = createNetnsHost(h.name, ns, addrs, procs, spec.labId)
        const sysctls = { ...h.sysctls, ...(h.isWire ? { 'net.ipv4.ip_forward': '1' } : {}) }
        await Promise.all([configure(ns, h.name), applySysctls(host, sysctls)])
        hosts.set(h.name, host)
      }),
      ...(useSwitch ? [configure(sw, 'sw')] : []),
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
  // The scenario loader refused these already; this keeps any other way in (--sysctl, the library) off the machine's keys.
  for (const k of Object.keys(sysctls)) {
    const problem = sysctlKeyProblem(k)
    if (problem) throw new StepError(problem, { hint: SYSCTL_KEY_HINT })
  }
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

function createNetnsHost(name: string, ns: string, addrs: Array<[string, string]>, procs: Set<Proc>, labId: string): Host {
  const primary = addrs[0]?.[1].split('/')[0] ?? ''
  return {
    name,
    addr: primary,
    ifnames: addrs.map(([dev]) => dev),
    agentPath: agentBinaryPath(),
    agentSocketDir: relayDirOf(labId),
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
  // Synchronous on purpose: ~150 stats of /proc files cost ~2 ms this way, 6-15 ms of CPU through
  // the thread pool (it is on every lab's teardown).
  const inodes = new Set<string>()
  for (const ns of nss) {
    const st = statSync(path.join(NETNS_RUN_DIR, ns), { throwIfNoEntry: false })
    if (st) inodes.add(`${st.dev}:${st.ino}`)
  }
  if (inodes.size === 0) return []
  let entries: string[]
  try {
    entries = readdirSync('/proc')
  } catch {
    return []
  }
  const pids: number[] = []
  for (const e of entries) {
    if (!/^\d+$/.test(e) || Number(e) === process.pid) continue
    try {
      const st = statSync(`/proc/${e}/ns/net`, { throwIfNoEntry: false })
      if (st && inodes.has(`${st.dev}:${st.ino}`)) pids.push(Number(e))
    } catch {
      // gone, or not ours to look at
    }
  }
  return pids
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
  // Setup files of labs whose process died during setup (setupInParent).
  for (const id of await readdir(SETUP_DIR).catch(() => [] as string[])) {
    if (labId !== undefined && id !== labId) continue
    if (labId === undefined && (await isLabLive(id))) continue
    await rm(path.join(SETUP_DIR, id), { recursive: true, force: true })
    removed.push(`setup files ${path.join(SETUP_DIR, id)}`)
  }
  // The agents' relay sockets of labs whose process died (runner/play-plan.ts relayDirFor).
  const relayDir = path.join(STATE_DIR, 'relay')
  for (const id of await readdir(relayDir).catch(() => [] as string[])) {
    if (labId !== undefined && id !== labId) continue
    if (labId === undefined && (await isLabLive(id))) continue
    await rm(relayDirOf(id), { recursive: true, force: true })
    removed.push(`relay sockets ${relayDirOf(id)}`)
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
