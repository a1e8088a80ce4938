// The kernel cache that `tcplab kernels fetch` fills (one directory per kernel release):
//   <KERNEL_CACHE_DIR>/<release>/{vmlinuz, vmlinux (uncompressed ELF), lib/modules/<release>/..., kernel.json}
// The vm backend only reads it, through resolveKernel.

import { existsSync, readdirSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { EnvironmentError } from '../../util/errors.js'

export const KERNEL_CACHE_DIR = process.env.TCPLAB_KERNEL_CACHE ?? '/var/cache/tcplab/kernels'

/** kernel.json, as the fetcher writes it. */
export interface KernelInfo {
  version: string
  release: string
  package?: string
  debVersion?: string
  suite?: string
  sha256?: string
  fetchedAt?: string
}

/** A cached kernel, ready to boot. */
export interface CachedKernel {
  info: KernelInfo
  dir: string
  /** Uncompressed ELF (booted through PVH). */
  vmlinux: string
  /** lib/modules/<release> inside the cache. */
  modulesDir: string
}

/** Every complete kernel in the cache (newest fetch first). */
export function listCachedKernels(cacheDir = KERNEL_CACHE_DIR): CachedKernel[] {
  let names: string[]
  try {
    names = readdirSync(cacheDir)
  } catch {
    return []
  }
  const out: CachedKernel[] = []
  for (const n of names) {
    const dir = path.join(cacheDir, n)
    try {
      const info = JSON.parse(readFileSync(path.join(dir, 'kernel.json'), 'utf8')) as KernelInfo
      const vmlinux = path.join(dir, 'vmlinux')
      const modulesDir = path.join(dir, 'lib', 'modules', info.release)
      if (!existsSync(vmlinux) || !existsSync(modulesDir)) continue
      out.push({ info, dir, vmlinux, modulesDir })
    } catch {
      // incomplete (a fetch in progress) or not a kernel
    }
  }
  return out.sort((a, b) => (b.info.fetchedAt ?? '').localeCompare(a.info.fetchedAt ?? ''))
}

/**
 * The cached kernel for `version`: an exact release ("6.1.0-50-cloud-amd64"), or a version
 * ("6.1", "6.12") matching kernel.json's version or the release's leading numbers; the newest
 * fetch wins. EnvironmentError naming the fetch command when there is none.
 */
export function resolveKernel(version: string, cacheDir = KERNEL_CACHE_DIR): CachedKernel {
  const all = listCachedKernels(cacheDir)
  const exact = all.find((k) => k.info.release === version)
  if (exact) return exact
  const byVersion = all.find((k) => k.info.version === version || new RegExp(`^${version.replace(/\./g, '\\.')}[.-]`).test(k.info.release))
  if (byVersion) return byVersion
  throw new EnvironmentError('E_NO_KERNEL', `kernel ${version} is not in the cache (${cacheDir}${all.length > 0 ? `: ${all.map((k) => k.info.release).join(', ')}` : ' is empty'})`, {
    hint: `tcplab kernels fetch ${version}`,
  })
}
