// The kernel cache: one directory per release, what `tcplab kernels fetch`
// writes and the vm backend boots. Read without network or apt.
//
//   <root>/<release>/vmlinuz                 the package's bzImage
//   <root>/<release>/vmlinux                 the ELF inside it (PVH boot)
//   <root>/<release>/lib/modules/<release>/  modules, with modules.dep (depmod -b)
//   <root>/<release>/kernel.json             KernelManifest
//
// A release appears only complete: it is built in <root>/.tmp-* and renamed.

import { existsSync, readFileSync, readdirSync, rmSync } from 'node:fs'
import { release as hostRelease } from 'node:os'
import path from 'node:path'
import { EnvironmentError, UsageError } from '../util/errors.js'
import { compareDebianVersions } from './debian-version.js'
import { isVersionSpec } from './packages.js'

/** Default cache root; TCPLAB_KERNEL_CACHE overrides it. */
export const DEFAULT_KERNEL_CACHE = '/var/cache/tcplab/kernels'

/** The cache root in use. */
export function kernelCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.TCPLAB_KERNEL_CACHE ?? DEFAULT_KERNEL_CACHE
}

/** kernel.json: where a cached kernel came from. */
export interface KernelManifest {
  /** major.minor, e.g. "6.1". */
  version: string
  /** uname -r, e.g. 6.1.0-28-cloud-amd64. */
  release: string
  /** The package holding the image. */
  package: string
  /** Its Debian version. */
  debVersion: string
  /** The suite that offered it, e.g. bookworm-security. */
  suite: string
  /** SHA-256 of the image .deb (as the signed Packages index lists it, and checked). */
  sha256: string
  /** ISO time of the fetch. */
  fetchedAt: string
  /** Split kernels (7.x): the modules package. */
  modules?: { package: string; debVersion: string; sha256: string } | undefined
  /** The bzImage payload's compression, e.g. lz4. */
  payload?: string | undefined
}

/** A cached kernel with the paths the vm backend needs. */
export interface CachedKernel extends KernelManifest {
  kind: 'cached'
  dir: string
  vmlinuz: string
  vmlinux: string
  /** <dir>/lib/modules/<release>: the guest's /lib/modules/<release>. */
  modulesDir: string
}

/** The machine's own kernel (`--kernel host`): no guest, the netns/docker backends run on it. */
export interface HostKernel {
  kind: 'host'
  version: string
  release: string
}

export type ResolvedKernel = CachedKernel | HostKernel

/** The paths of a cached release. */
export function kernelPaths(root: string, release: string): { dir: string; vmlinuz: string; vmlinux: string; modulesDir: string; manifest: string } {
  const dir = path.join(root, release)
  return { dir, vmlinuz: path.join(dir, 'vmlinuz'), vmlinux: path.join(dir, 'vmlinux'), modulesDir: path.join(dir, 'lib', 'modules', release), manifest: path.join(dir, 'kernel.json') }
}

/** Every complete kernel in the cache, newest version first. */
export function listKernels(root: string = kernelCacheDir()): CachedKernel[] {
  if (!existsSync(root)) return []
  const out: CachedKernel[] = []
  for (const name of readdirSync(root)) {
    if (name.startsWith('.')) continue
    const p = kernelPaths(root, name)
    if (!existsSync(p.manifest) || !existsSync(p.vmlinux) || !existsSync(p.modulesDir)) continue
    try {
      const m = JSON.parse(readFileSync(p.manifest, 'utf8')) as KernelManifest
      if (m.release !== name) continue
      out.push({ ...m, kind: 'cached', dir: p.dir, vmlinuz: p.vmlinuz, vmlinux: p.vmlinux, modulesDir: p.modulesDir })
    } catch {
      // a damaged manifest: not a usable kernel (fetch replaces it)
    }
  }
  return out.sort((a, b) => compareVersionStrings(b.version, a.version) || compareDebianVersions(b.debVersion, a.debVersion))
}

/** Compare "6.12" and "6.1" numerically. */
export function compareVersionStrings(a: string, b: string): number {
  const pa = a.split('.').map(Number)
  const pb = b.split('.').map(Number)
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0)
    if (d !== 0) return d < 0 ? -1 : 1
  }
  return 0
}

/** The cached kernel a spec names: "host", a release (uname -r), or major.minor (the newest cached build of it). */
export function findCachedKernel(spec: string, root: string = kernelCacheDir()): CachedKernel | undefined {
  const all = listKernels(root)
  if (isVersionSpec(spec)) return all.find((k) => k.version === spec)
  return all.find((k) => k.release === spec || k.release === `${spec}-cloud-amd64`)
}

/**
 * What `--kernel SPEC` boots: "host" is the machine's kernel; anything else must be in the cache
 * (a missing one is an environment error whose hint is the fetch command).
 */
export function resolveKernel(spec: string, root: string = kernelCacheDir()): ResolvedKernel {
  if (spec === 'host') {
    const r = hostRelease()
    return { kind: 'host', version: /^(\d+\.\d+)/.exec(r)?.[1] ?? r, release: r }
  }
  if (!isVersionSpec(spec) && !/^\d+\.\d+[\w.+~-]*$/.test(spec)) throw new UsageError(`a kernel is "host", a version like 6.1 or a release like 6.1.0-28-cloud-amd64, got "${spec}"`)
  const k = findCachedKernel(spec, root)
  if (!k) throw new EnvironmentError('E_KERNEL_MISSING', `kernel ${spec} is not in the cache (${root})`, { hint: `tcplab kernels fetch ${spec}` })
  return k
}

/** Remove cached kernels named by spec (all builds of a major.minor); returns the releases removed. */
export function removeKernels(spec: string, root: string = kernelCacheDir()): string[] {
  const all = listKernels(root)
  const hit = isVersionSpec(spec) ? all.filter((k) => k.version === spec) : all.filter((k) => k.release === spec)
  for (const k of hit) rmSync(k.dir, { recursive: true, force: true })
  return hit.map((k) => k.release)
}
