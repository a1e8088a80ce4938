// Which Debian package holds which kernel. Debian ships each kernel ABI as
// linux-image-<abi>-<flavour>-unsigned (bullseye, bookworm: image and modules
// in one .deb), or, from 7.x in sid, split into linux-binary-unsigned-<abi>-
// <flavour> (the image) and linux-modules-<abi>-<flavour>. The unsigned
// packages carry the same kernel as the signed ones without the EFI signature,
// which a guest booted by QEMU does not need. The release (uname -r) is
// "<abi>-<flavour>", e.g. 6.1.0-28-cloud-amd64 or 6.12.118+deb12-cloud-amd64.

import { compareDebianVersions } from './debian-version.js'

/** The flavour we boot: small, virtio drivers built in, what cloud guests run. */
export const KERNEL_FLAVOUR = 'cloud-amd64'

/** One package version as apt sees it (apt-cache madison, apt-cache show). */
export interface AptPackage {
  name: string
  /** Debian version, e.g. 6.1.192-3. */
  version: string
  /** The suite of the sources.list line that offers it, e.g. bookworm-security. */
  suite: string
}

/** A kernel that the archive offers: where its image and (split) modules are. */
export interface KernelCandidate {
  /** major.minor, e.g. "6.1". */
  version: string
  /** uname -r, e.g. 6.1.0-28-cloud-amd64. */
  release: string
  image: AptPackage
  /** The modules package when the kernel is split (sid's 7.x); undefined when the image package has them. */
  modules?: AptPackage | undefined
}

const IMAGE_RE = new RegExp(`^linux-image-(\\d+\\.\\d+[^ ]*)-${KERNEL_FLAVOUR}-unsigned$`)
const BINARY_RE = new RegExp(`^linux-binary-unsigned-(\\d+\\.\\d+[^ ]*)-${KERNEL_FLAVOUR}$`)
const MODULES_RE = new RegExp(`^linux-modules-(\\d+\\.\\d+[^ ]*)-${KERNEL_FLAVOUR}$`)

/** The package name patterns to ask apt about (apt-cache pkgnames prefixes). */
export const PACKAGE_PREFIXES = ['linux-image-', 'linux-binary-unsigned-', 'linux-modules-'] as const

/** Names that can hold a kernel image or its split modules. */
export function isKernelPackageName(name: string): boolean {
  return IMAGE_RE.test(name) || BINARY_RE.test(name) || MODULES_RE.test(name)
}

/** Parse `apt-cache madison` lines: "name | version | URI suite/component arch Packages". */
export function parseMadison(text: string): AptPackage[] {
  const out: AptPackage[] = []
  for (const line of text.split('\n')) {
    const cols = line.split('|').map((c) => c.trim())
    if (cols.length < 3) continue
    const [name, version, source] = cols as [string, string, string]
    if (!/ Packages$/.test(source)) continue // a Sources line
    const suite = source.split(/\s+/)[1]?.split('/')[0]
    if (name && version && suite) out.push({ name, version, suite })
  }
  return out
}

/** Every kernel the packages offer, newest version of each release, newest first. */
export function listCandidates(pkgs: readonly AptPackage[]): KernelCandidate[] {
  const newest = new Map<string, AptPackage>()
  for (const p of pkgs) {
    const had = newest.get(p.name)
    if (!had || compareDebianVersions(p.version, had.version) > 0) newest.set(p.name, p)
  }
  const out: KernelCandidate[] = []
  for (const p of newest.values()) {
    const m = IMAGE_RE.exec(p.name) ?? BINARY_RE.exec(p.name)
    if (!m) continue
    const abi = m[1] as string
    const split = BINARY_RE.test(p.name)
    const modules = split ? newest.get(`linux-modules-${abi}-${KERNEL_FLAVOUR}`) : undefined
    // A split kernel without its modules (or with another build's) cannot boot our guests.
    if (split && (!modules || modules.version !== p.version)) continue
    out.push({ version: versionOfAbi(abi), release: `${abi}-${KERNEL_FLAVOUR}`, image: p, modules })
  }
  return out.sort((a, b) => compareDebianVersions(b.image.version, a.image.version))
}

/** "6.1.0-28" -> "6.1", "6.12.118+deb12" -> "6.12". */
export function versionOfAbi(abi: string): string {
  return /^(\d+\.\d+)/.exec(abi)?.[1] ?? abi
}

/** True for a major.minor request ("6.1"), false for a release ("6.1.0-28-cloud-amd64"). */
export function isVersionSpec(spec: string): boolean {
  return /^\d+\.\d+$/.test(spec)
}

/**
 * The kernels a request names, best first: a release exactly, or for a major.minor its builds newest
 * first, those native to a suite before a backport rebuilt for an older suite (6.1.0-0.deb11.N).
 * Later ones are fallbacks when a mirror lacks the best one's file.
 */
export function rankCandidates(cands: readonly KernelCandidate[], spec: string): KernelCandidate[] {
  if (!isVersionSpec(spec)) return cands.filter((c) => c.release === spec || c.release === `${spec}-${KERNEL_FLAVOUR}`)
  const same = cands.filter((c) => c.version === spec)
  const isBackport = (c: KernelCandidate): boolean => /-0\.deb\d+\./.test(c.release)
  return [...same.filter((c) => !isBackport(c)), ...same.filter(isBackport)]
}

/** The best kernel a request names (rankCandidates' first). */
export function pickCandidate(cands: readonly KernelCandidate[], spec: string): KernelCandidate | undefined {
  return rankCandidates(cands, spec)[0]
}
