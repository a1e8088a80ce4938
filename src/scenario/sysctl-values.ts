// What a scenario may write with sysctl, checked before anything runs.
//
// Keys: only net.* keys. On the netns backend a host is a network namespace,
// and only keys that live per network namespace (the files under /proc/sys/net
// as seen from a fresh namespace) are the host's own: any other key
// (kernel.panic, vm.*, fs.*) is the machine's, and writing it from a lab would
// change the machine. Containers are the same: Docker lets a container set only
// namespaced keys (net.*, a few kernel.* IPC keys that no TCP scenario needs).
// Which net.* keys this kernel has per namespace is known only on the machine:
// `tcplab validate` and `run` check that (runner/preflight.ts).
//
// Values: by type, as /proc/sys/net prints them (ip-sysctl.rst): an integer, a
// vector of integers separated by blanks (tcp_rmem "4096 131072 6291456",
// ip_local_port_range), or, for the few string keys, a word of their own shape.
// Nothing else: the kernel keeps the leading number of "5 $(touch x)" and
// silently drops the rest, so such a value would not mean what it says.

import { excerptOf } from './limits.js'

/** A sysctl key as a scenario writes it: dotted, under net. */
export const SYSCTL_KEY = /^net(\.[A-Za-z0-9_-]+)+$/

/** The string-valued per-netns keys and the shape of their values (ip-sysctl.rst). */
const STRING_KEYS: Array<[RegExp, RegExp, string]> = [
  [/^net\.ipv4\.tcp_congestion_control$/, /^[a-z0-9_]{1,15}$/, 'a congestion control name like "cubic" or "reno"'],
  [/^net\.ipv4\.tcp_fastopen_key$/, /^[0-9a-f]{8}(-[0-9a-f]{8}){3}(,[0-9a-f]{8}(-[0-9a-f]{8}){3})?$/, 'a key like "00000000-00000000-00000000-00000000"'],
  [/^net\.ipv6\.conf\.[^.]+\.stable_secret$/, /^[0-9a-fA-F:]{2,39}$/, 'an IPv6 address'],
  [/^net\.core\.default_qdisc$/, /^[a-z_]{1,15}$/, 'a qdisc name like "fq"'],
]

/** An integer, or integers separated by blanks (at most 8), each within 64 bits. */
const INT_VECTOR = /^-?\d{1,20}([ \t]+-?\d{1,20}){0,7}$/

/** Why `value` cannot be written to `key`, or undefined when it can. */
export function sysctlValueProblem(key: string, value: string): string | undefined {
  const k = key.startsWith('?') ? key.slice(1) : key
  const str = STRING_KEYS.find(([re]) => re.test(k))
  if (str) return str[1].test(value) ? undefined : `expected ${str[2]} for ${k}, got "${excerptOf(value)}"`
  if (INT_VECTOR.test(value.trim())) return undefined
  return `expected an integer (or integers separated by spaces, like "4096 131072 6291456") for ${k}, got "${excerptOf(value)}"`
}

/** Why `key` cannot be set by a scenario at all (not a per-network-namespace key), or undefined. */
export function sysctlKeyProblem(key: string): string | undefined {
  const k = key.startsWith('?') ? key.slice(1) : key
  if (SYSCTL_KEY.test(k)) return undefined
  return `sysctl "${excerptOf(k)}" is not a network-namespace key: only net.* keys can be set, the others belong to the whole machine`
}

/** The hint that goes with sysctlKeyProblem. */
export const SYSCTL_KEY_HINT = 'a lab host is a network namespace (or a container): it can only set keys under /proc/sys/net that exist per namespace; `tcplab doctor` lists the TCP ones'
