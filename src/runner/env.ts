// env.json: what a run's numbers depend on — kernel, sysctls per host,
// congestion control, qdiscs, tool versions, backend — so that two runs can be
// compared (tcplab diff) and a reader knows what the kernel was told.

import { readFileSync } from 'node:fs'
import { release } from 'node:os'
import { gunzipSync } from 'node:zlib'
import type { Host } from '../lab/index.js'

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

/** Collect env.json for a lab (versions come from the first host, as the lab sees them). */
export async function collectEnv(hosts: ReadonlyMap<string, Host>, backend: string, sysctlOverrides: Record<string, string>): Promise<RunEnv> {
  const first = [...hosts.values()][0] as Host
  const version = async (argv: string[], re: RegExp): Promise<string> => {
    const r = await first.exec(argv, { reject: false }).catch(() => undefined)
    const text = `${r?.stdout ?? ''}\n${r?.stderr ?? ''}`
    return re.exec(text)?.[1] ?? 'unknown'
  }
  const [kernel, ss, iptables, tcpdump, hostConfig] = await Promise.all([
    first.exec(['uname', '-r']).then((r) => r.stdout.trim(), () => 'unknown'),
    version(['ss', '-V'], /iproute2-([\w.-]+)/),
    version(['iptables', '-V'], /(v[\d.]+(?: \(\w+\))?)/),
    version(['tcpdump', '--version'], /tcpdump version ([\w.-]+)/),
    // The lab's kernel config as the lab sees it (a remote Docker daemon runs another kernel than ours).
    first.exec(['sh', '-c', '{ zcat /proc/config.gz 2>/dev/null || cat "/boot/config-$(uname -r)"; } 2>/dev/null | grep "^CONFIG_HZ="'], { reject: false }).then((r) => r.stdout, () => ''),
  ])
  const hostsEnv: Record<string, HostEnv> = {}
  for (const [name, h] of hosts) hostsEnv[name] = { sysctls: await readHostSysctls(h) }
  const firstSysctls = Object.values(hostsEnv)[0]?.sysctls ?? {}
  const qd = await first.exec(['tc', 'qdisc', 'show'], { reject: false }).catch(() => undefined)
  return {
    tcplab: tcplabVersion(),
    backend,
    kernel,
    hz: parseConfigHz(hostConfig) ?? readLocalHz(kernel),
    congestionControl: firstSysctls['net.ipv4.tcp_congestion_control'],
    availableCongestionControl: firstSysctls['net.ipv4.tcp_available_congestion_control'],
    qdiscs: qd ? [...new Set(qd.stdout.split('\n').map((l) => l.split(' ')[1]).filter((x): x is string => !!x))] : undefined,
    tools: { ss, iptables, tcpdump, node: process.version },
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
