// env.json: what a run's numbers depend on — kernel, sysctls per host,
// congestion control, qdiscs, tool versions, backend — so that two runs can be
// compared (tcplab diff) and a reader knows what the kernel was told.

import { readFileSync } from 'node:fs'
import { release } from 'node:os'
import { gunzipSync } from 'node:zlib'
import { newLabId, type Backend, type Host, type HostSpec } from '../lab/index.js'

export interface HostEnv {
  /** Every net.core.*, net.ipv4.* and net.ipv6.* sysctl visible in the host (per-interface conf/neigh left out). */
  sysctls: Record<string, string>
}

export interface RunEnv {
  tcplab: string
  backend: string
  kernel: string
  /** CONFIG_HZ when readable (/boot/config-*, /proc/config.gz), else undefined. */
  hz?: number | undefined
  congestionControl?: string | undefined
  availableCongestionControl?: string | undefined
  qdiscs?: string[] | undefined
  tools: Record<string, string>
  hosts: Record<string, HostEnv>
  sysctlOverrides: Record<string, string>
}

/** The package version (from package.json next to dist/ or src/). */
export function tcplabVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
    return pkg.version
  } catch {
    return 'unknown'
  }
}

const SYSCTL_KEEP = /^net\.(core\.|ipv4\.(?!conf\.|neigh\.)|ipv6\.(?!conf\.|neigh\.))/

/** Whether env.json records this sysctl (so its absence there means the kernel lacks it). */
export function recordsSysctl(key: string): boolean {
  return SYSCTL_KEEP.test(key)
}

/** Sysctls of one host, parsed from `sysctl -a`. */
export async function readHostSysctls(host: Host): Promise<Record<string, string>> {
  const r = await host.exec(['sysctl', '-a'], { reject: false })
  const out: Record<string, string> = {}
  for (const line of r.stdout.split('\n')) {
    const i = line.indexOf(' = ')
    if (i < 0) continue
    const k = line.slice(0, i)
    if (SYSCTL_KEEP.test(k)) out[k] = line.slice(i + 3).replace(/\t/g, ' ')
  }
  return out
}

/** What every lab of one backend shares in a run: collected once, from a bare probe host. */
export interface BaseEnv extends Omit<RunEnv, 'hosts' | 'sysctlOverrides'> {
  /** Sysctls of a host that nobody configured (a fresh namespace or container): the defaults. */
  defaultSysctls: Record<string, string>
}

/** Facts of a run, per backend object (one per run in the CLI); a failed probe is retried by the next scenario. */
const baseEnvCache = new WeakMap<Backend, Promise<BaseEnv>>()

/**
 * The backend's shared facts, collected once per backend object: a one-host probe lab comes up,
 * versions, kernel, CONFIG_HZ, qdiscs and every sysctl (`sysctl -a`, ~0.2 s) are read in it, and it
 * goes down. Every scenario of the run reuses the result (see collectEnv).
 */
export function collectBaseEnv(backend: Backend, signal?: AbortSignal): Promise<BaseEnv> {
  let p = baseEnvCache.get(backend)
  if (!p) {
    p = probeBaseEnv(backend, signal)
    baseEnvCache.set(backend, p)
    p.catch(() => baseEnvCache.delete(backend))
  }
  return p
}

async function probeBaseEnv(backend: Backend, signal?: AbortSignal): Promise<BaseEnv> {
  const probe: HostSpec = { name: 'probe', sysctls: {}, isWire: false }
  const lab = await backend.up({ labId: newLabId(), scenario: 'env-probe', hosts: [probe] }, signal)
  try {
    return await readBaseEnv(lab.hosts.get('probe') as Host, backend.name)
  } finally {
    await lab.down()
  }
}

/** Read the shared facts in one host (versions as the lab sees them). */
export async function readBaseEnv(first: Host, backend: string): Promise<BaseEnv> {
  const version = async (argv: string[], re: RegExp): Promise<string> => {
    const r = await first.exec(argv, { reject: false }).catch(() => undefined)
    const text = `${r?.stdout ?? ''}\n${r?.stderr ?? ''}`
    return re.exec(text)?.[1] ?? 'unknown'
  }
  const [kernel, ss, iptables, tcpdump, hostConfig, sysctls, qd] = await Promise.all([
    first.exec(['uname', '-r']).then((r) => r.stdout.trim(), () => 'unknown'),
    version(['ss', '-V'], /iproute2-([\w.-]+)/),
    version(['iptables', '-V'], /(v[\d.]+(?: \(\w+\))?)/),
    version(['tcpdump', '--version'], /tcpdump version ([\w.-]+)/),
    // The lab's kernel config as the lab sees it (a remote Docker daemon runs another kernel than ours).
    first.exec(['sh', '-c', '{ zcat /proc/config.gz 2>/dev/null || cat "/boot/config-$(uname -r)"; } 2>/dev/null | grep "^CONFIG_HZ="'], { reject: false }).then((r) => r.stdout, () => ''),
    readHostSysctls(first),
    first.exec(['tc', 'qdisc', 'show'], { reject: false }).catch(() => undefined),
  ])
  return {
    tcplab: tcplabVersion(),
    backend,
    kernel,
    hz: parseConfigHz(hostConfig) ?? readLocalHz(kernel),
    congestionControl: sysctls['net.ipv4.tcp_congestion_control'],
    availableCongestionControl: sysctls['net.ipv4.tcp_available_congestion_control'],
    qdiscs: qd ? [...new Set(qd.stdout.split('\n').map((l) => l.split(' ')[1]).filter((x): x is string => !!x))] : undefined,
    tools: { ss, iptables, tcpdump, node: process.version },
    defaultSysctls: sysctls,
  }
}

/**
 * A host's sysctls from the defaults and what its spec sets (the scenario's, the host's and
 * --sysctl, already merged into HostSpec.sysctls). "?key" applies only where the kernel has the key;
 * a wire host forwards (both backends set net.ipv4.ip_forward=1 on it). Values are written as
 * `sysctl -a` prints them (whitespace runs become one space).
 */
export function hostSysctls(defaults: Readonly<Record<string, string>>, spec: HostSpec): Record<string, string> {
  const out: Record<string, string> = { ...defaults }
  const set = { ...spec.sysctls, ...(spec.isWire ? { 'net.ipv4.ip_forward': '1' } : {}) }
  for (const [rawKey, v] of Object.entries(set)) {
    const optional = rawKey.startsWith('?')
    const key = optional ? rawKey.slice(1) : rawKey
    if (!SYSCTL_KEEP.test(key)) continue
    if (optional && !(key in defaults)) continue
    out[key] = v.trim().split(/\s+/).join(' ')
  }
  return out
}

/**
 * Sysctl maps merged, later ones winning, as the host gets them: the
 * scenario's, the host's, then --sysctl. A key and its optional form ("?key",
 * set only where the kernel has it) are one sysctl: the later replaces the
 * earlier, so `--sysctl net.ipv4.tcp_syn_linear_timeouts=0` overrides a
 * scenario's `{ value: 2, optional: true }` (both were applied at once before,
 * in no set order, and env.json could name a value other than the one in force).
 */
export function mergeSysctls(...maps: Array<Readonly<Record<string, string>> | undefined>): Record<string, string> {
  const out: Record<string, string> = {}
  for (const m of maps) {
    for (const [k, v] of Object.entries(m ?? {})) {
      const bare = k.startsWith('?') ? k.slice(1) : k
      delete out[bare]
      delete out[`?${bare}`]
      out[k] = v
    }
  }
  return out
}

/**
 * env.json of one scenario: the run's shared facts (collectBaseEnv, probed once per backend) and each
 * host's sysctls as its spec leaves them (hostSysctls). Costs nothing per scenario once the probe is done.
 */
export async function collectEnv(backend: Backend, hosts: readonly HostSpec[], sysctlOverrides: Record<string, string>, signal?: AbortSignal): Promise<RunEnv> {
  const { defaultSysctls, ...base } = await collectBaseEnv(backend, signal)
  const hostsEnv: Record<string, HostEnv> = {}
  for (const h of hosts) hostsEnv[h.name] = { sysctls: hostSysctls(defaultSysctls, h) }
  const firstSysctls = Object.values(hostsEnv)[0]?.sysctls ?? {}
  return {
    ...base,
    congestionControl: firstSysctls['net.ipv4.tcp_congestion_control'],
    availableCongestionControl: firstSysctls['net.ipv4.tcp_available_congestion_control'],
    hosts: hostsEnv,
    sysctlOverrides,
  }
}

/** CONFIG_HZ from a kernel config text (jiffies per second: timer granularity, e.g. 4 ms at 250). */
export function parseConfigHz(config: string): number | undefined {
  const m = /^CONFIG_HZ=(\d+)$/m.exec(config)
  return m ? Number(m[1]) : undefined
}

/** CONFIG_HZ of `kernel` read on this machine: /proc/config.gz when it is the running kernel, else /boot/config-<release>. */
function readLocalHz(kernel: string): number | undefined {
  const readers: Array<() => string> = [() => readFileSync(`/boot/config-${kernel}`, 'utf8')]
  if (kernel === release()) readers.unshift(() => gunzipSync(readFileSync('/proc/config.gz')).toString('utf8'))
  for (const read of readers) {
    try {
      const hz = parseConfigHz(read())
      if (hz !== undefined) return hz
    } catch {
      // not readable here
    }
  }
  return undefined
}
