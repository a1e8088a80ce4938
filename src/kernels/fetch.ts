// `tcplab kernels fetch`: resolve a version to a Debian package with the
// private apt (apt.ts), download it through apt's signature chain, check its
// SHA-256 against the signed index once more, and unpack the kernel and its
// modules into the cache (cache.ts) with dpkg-deb, depmod and extractVmlinux.

import { createHash } from 'node:crypto'
import { createReadStream, existsSync, mkdirSync, readdirSync, renameSync, rmSync, writeFileSync, copyFileSync } from 'node:fs'
import path from 'node:path'
import { runCommand } from '../util/proc.js'
import { EnvironmentError, ProcessError, UsageError } from '../util/errors.js'
import { PrivateApt, findMirrors, type AptMirrors } from './apt.js'
import { compareVersionStrings, findCachedKernel, kernelCacheDir, kernelPaths, listKernels, type CachedKernel, type KernelManifest } from './cache.js'
import { PACKAGE_PREFIXES, isKernelPackageName, isVersionSpec, listCandidates, parseMadison, pickCandidate, rankCandidates, type AptPackage, type KernelCandidate } from './packages.js'
import { extractVmlinux } from './vmlinux.js'

export interface FetchOptions {
  root?: string | undefined
  /** Ask the archive even when the cache has the kernel (a newer build replaces nothing: it is added). */
  refresh?: boolean | undefined
  mirrors?: AptMirrors | undefined
  log?: ((line: string) => void) | undefined
}

export interface FetchResult {
  spec: string
  kernel: CachedKernel
  /** true when the cache already had it (nothing downloaded). */
  cached: boolean
}

/** Fetch each spec ("6.1", "7.2", or a release): apt's lists are updated once, only when some spec is not cached. */
export async function fetchKernels(specs: readonly string[], opts: FetchOptions = {}): Promise<FetchResult[]> {
  const root = opts.root ?? kernelCacheDir()
  const log = opts.log ?? (() => undefined)
  for (const s of specs) if (s === 'host' || !/^\d+\.\d+[\w.+~-]*$/.test(s)) throw new UsageError(`kernels fetch expects versions like 6.1 or releases like 6.1.0-28-cloud-amd64, got "${s}"`)
  const out: FetchResult[] = []
  let apt: PrivateApt | undefined
  let candidates: KernelCandidate[] | undefined
  for (const spec of specs) {
    const have = opts.refresh ? undefined : findCachedKernel(spec, root)
    if (have) {
      out.push({ spec, kernel: have, cached: true })
      continue
    }
    if (!apt || !candidates) {
      mkdirSync(root, { recursive: true })
      apt = new PrivateApt(path.join(root, '.apt'))
      apt.prepare(opts.mirrors ?? findMirrors())
      log('updating the package lists (private apt state) ...')
      await apt.update()
      candidates = await queryCandidates(apt)
    }
    const ranked = rankCandidates(candidates, spec)
    if (ranked.length === 0) {
      const versions = [...new Set(candidates.map((k) => k.version))].sort(compareVersionStrings)
      throw new UsageError(`no Debian kernel package for "${spec}" (flavour cloud-amd64)`, { hint: `versions offered: ${versions.join(', ')}` })
    }
    const same = listKernels(root).find((k) => k.release === ranked[0]?.release && k.debVersion === ranked[0]?.image.version)
    if (same) {
      out.push({ spec, kernel: same, cached: true })
      continue
    }
    // A mirror may list a build whose file it no longer serves (404): the next build of the version is tried.
    let lastError: unknown
    let kernel: CachedKernel | undefined
    for (const c of ranked.slice(0, 4)) {
      try {
        kernel = await installCandidate(apt, c, root, log)
        break
      } catch (e: unknown) {
        if (!(e instanceof ProcessError) || !/\b404\b|Failed to fetch/.test(e.message)) throw e
        lastError = e
        log(`${c.image.name} ${c.image.version}: not on the mirror (${/\d{3} [A-Za-z ]+/.exec(e.message)?.[0] ?? 'failed to fetch'}); trying the next build`)
      }
    }
    if (!kernel) throw lastError
    out.push({ spec, kernel, cached: false })
  }
  return out
}

/** Every kernel the private apt's lists offer. */
export async function queryCandidates(apt: PrivateApt): Promise<KernelCandidate[]> {
  const names = new Set<string>()
  for (const prefix of PACKAGE_PREFIXES) for (const n of (await apt.cache(['pkgnames', prefix])).split('\n')) if (isKernelPackageName(n.trim())) names.add(n.trim())
  if (names.size === 0) return []
  return listCandidates(parseMadison(await apt.cache(['madison', ...names])))
}

/** SHA-256 of a file, hex. */
export function sha256File(file: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const h = createHash('sha256')
    createReadStream(file).on('data', (b) => h.update(b)).on('error', reject).on('end', () => resolve(h.digest('hex')))
  })
}

async function downloadVerified(apt: PrivateApt, p: AptPackage, dir: string, log: (l: string) => void): Promise<{ deb: string; sha256: string }> {
  const rec = await apt.show(p.name, p.version)
  const want = rec.SHA256
  if (!want) throw new EnvironmentError('E_APT_INDEX', `the package index has no SHA256 for ${p.name}=${p.version}`)
  log(`downloading ${p.name} ${p.version} (${p.suite}, ${Math.round(Number(rec.Size ?? 0) / 1e6)} MB) ...`)
  const deb = await apt.download(p.name, p.version, dir)
  const got = await sha256File(deb)
  if (got !== want) throw new EnvironmentError('E_APT_HASH', `${path.basename(deb)}: SHA-256 ${got} differs from the signed index's ${want}`, { hint: 'a broken mirror or proxy; retry, or set TCPLAB_DEBIAN_MIRROR' })
  return { deb, sha256: got }
}

/** Download, verify and unpack one kernel into <root>/<release>. */
async function installCandidate(apt: PrivateApt, c: KernelCandidate, root: string, log: (l: string) => void): Promise<CachedKernel> {
  const work = path.join(root, `.tmp-${c.release}-${process.pid}`)
  rmSync(work, { recursive: true, force: true })
  try {
    const dl = path.join(work, 'download')
    const image = await downloadVerified(apt, c.image, dl, log)
    const modules = c.modules ? await downloadVerified(apt, c.modules, dl, log) : undefined
    const x = path.join(work, 'x')
    for (const deb of [image.deb, modules?.deb]) if (deb) await runCommand(['dpkg-deb', '-x', deb, x], { timeoutMs: 300_000 })
    const out = path.join(work, 'out')
    const p = kernelPaths(out, c.release)
    mkdirSync(path.dirname(p.modulesDir), { recursive: true })
    // Merged-/usr packages (trixie and later) ship usr/lib/modules; split ones (7.x) keep the image there too.
    const mods = [path.join(x, 'lib', 'modules', c.release), path.join(x, 'usr', 'lib', 'modules', c.release)].find((d) => existsSync(d))
    const imageAt = [path.join(x, 'boot', `vmlinuz-${c.release}`), ...(mods ? [path.join(mods, 'vmlinuz'), path.join(mods, 'vmlinuz.unsigned')] : [])]
    const vmlinuz = imageAt.find((f) => existsSync(f))
    if (!vmlinuz) throw new EnvironmentError('E_KERNEL_PACKAGE', `${c.image.name} has no kernel image (looked for ${imageAt.map((f) => path.relative(x, f)).join(', ')})`)
    renameSync(vmlinuz, p.vmlinuz)
    const config = [path.join(x, 'boot', `config-${c.release}`), ...(mods ? [path.join(mods, 'config')] : [])].find((f) => existsSync(f))
    if (config) copyFileSync(config, path.join(p.dir, 'config'))
    if (!mods) throw new EnvironmentError('E_KERNEL_PACKAGE', `${(c.modules ?? c.image).name} has no modules tree for ${c.release}`)
    renameSync(mods, p.modulesDir)
    // The packages leave modules.dep to their postinst; depmod -b writes it against the extracted tree.
    await runCommand(['depmod', '-b', p.dir, c.release], { timeoutMs: 300_000 })
    log(`extracting vmlinux from ${c.release}'s bzImage ...`)
    const payload = await extractVmlinux(p.vmlinuz, p.vmlinux)
    const manifest: KernelManifest = {
      version: c.version,
      release: c.release,
      package: c.image.name,
      debVersion: c.image.version,
      suite: c.image.suite,
      sha256: image.sha256,
      fetchedAt: new Date().toISOString(),
      ...(c.modules && modules ? { modules: { package: c.modules.name, debVersion: c.modules.version, sha256: modules.sha256 } } : {}),
      payload,
    }
    writeFileSync(p.manifest, `${JSON.stringify(manifest, null, 2)}\n`)
    const final = kernelPaths(root, c.release)
    rmSync(final.dir, { recursive: true, force: true })
    renameSync(p.dir, final.dir)
    return { ...manifest, kind: 'cached', dir: final.dir, vmlinuz: final.vmlinuz, vmlinux: final.vmlinux, modulesDir: final.modulesDir }
  } finally {
    rmSync(work, { recursive: true, force: true })
  }
}

/** What the archive offers (for `kernels list --remote`), newest first per version. */
export async function listRemoteKernels(opts: FetchOptions = {}): Promise<KernelCandidate[]> {
  const root = opts.root ?? kernelCacheDir()
  mkdirSync(root, { recursive: true })
  const apt = new PrivateApt(path.join(root, '.apt'))
  apt.prepare(opts.mirrors ?? findMirrors())
  if (!apt.hasLists() || opts.refresh) await apt.update()
  const all = await queryCandidates(apt)
  const seen = new Set<string>()
  return all.filter((c) => {
    if (seen.has(c.version) || !isVersionSpec(c.version)) return false
    seen.add(c.version)
    return pickCandidate(all, c.version) === c
  })
}

/** Leftover .tmp-* work dirs of fetches that died (their pid gone). */
export function removeStaleWork(root: string = kernelCacheDir()): string[] {
  if (!existsSync(root)) return []
  const out: string[] = []
  for (const n of readdirSync(root)) {
    const m = /^\.tmp-.*-(\d+)$/.exec(n)
    if (!m) continue
    try {
      process.kill(Number(m[1]), 0)
    } catch {
      rmSync(path.join(root, n), { recursive: true, force: true })
      out.push(n)
    }
  }
  return out
}
