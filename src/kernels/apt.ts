// apt with a private state directory: its own sources.list, lists, cache and
// no trusted keys but the Debian archive keyring named on each source
// (signed-by). apt checks InRelease's signature against that keyring, the
// Packages index's hash against InRelease, and each .deb's hash against the
// Packages index: a downloaded kernel is the one Debian signed. The machine's
// own sources, lists, status and keys are never read for this nor written
// (only the mirror URL is taken from its sources, when not set by env).

import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { runCommand } from '../util/proc.js'
import { EnvironmentError } from '../util/errors.js'

/** The Debian archive keyring (package debian-archive-keyring): every suite below is signed by a key in it. */
export const ARCHIVE_KEYRING = '/usr/share/keyrings/debian-archive-keyring.gpg'

/** The suites whose kernels we offer: 5.10 (bullseye), 6.1 and 6.12 (bookworm, -security, -backports), 7.x (sid). */
export const KERNEL_SUITES: ReadonlyArray<{ suite: string; security?: boolean }> = [
  { suite: 'bullseye' }, { suite: 'bullseye-security', security: true },
  { suite: 'bookworm' }, { suite: 'bookworm-security', security: true }, { suite: 'bookworm-backports' },
  { suite: 'sid' },
]

export interface AptMirrors {
  /** e.g. http://<mirror>/debian */
  main: string
  /** e.g. http://<mirror>/debian-security */
  security: string
}

/**
 * Mirrors from TCPLAB_DEBIAN_MIRROR / TCPLAB_DEBIAN_SECURITY_MIRROR, else the machine's own apt
 * sources (read only): the first URI of a Debian suite and of a -security suite.
 */
export function findMirrors(env: NodeJS.ProcessEnv = process.env, etc = '/etc/apt'): AptMirrors {
  const entries = readSourceEntries(etc)
  const main = env.TCPLAB_DEBIAN_MIRROR ?? entries.find((e) => !e.suite.endsWith('-security'))?.uri
  if (!main) throw new EnvironmentError('E_NO_MIRROR', `no Debian mirror found in ${etc}/sources.list{,.d}`, { hint: 'set TCPLAB_DEBIAN_MIRROR to a Debian mirror URL (the one apt uses)' })
  const security = env.TCPLAB_DEBIAN_SECURITY_MIRROR ?? entries.find((e) => e.suite.endsWith('-security'))?.uri ?? `${main.replace(/\/+$/, '')}-security`
  return { main: main.replace(/\/+$/, ''), security: security.replace(/\/+$/, '') }
}

/** (uri, suite) of each `deb` source of the machine, one-line .list and deb822 .sources alike. */
export function parseSourceEntries(text: string, deb822: boolean): Array<{ uri: string; suite: string }> {
  const out: Array<{ uri: string; suite: string }> = []
  if (!deb822) {
    for (const line of text.split('\n')) {
      const m = /^\s*deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)/.exec(line)
      if (m) out.push({ uri: m[1] as string, suite: m[2] as string })
    }
    return out
  }
  for (const stanza of text.split(/\n\s*\n/)) {
    const field = (name: string): string | undefined => new RegExp(`^${name}:\\s*(.+)$`, 'mi').exec(stanza.replace(/^#.*$/gm, ''))?.[1]?.trim()
    if (!(field('Types') ?? '').split(/\s+/).includes('deb') || /^enabled:\s*no/mi.test(stanza)) continue
    for (const uri of (field('URIs') ?? '').split(/\s+/).filter(Boolean)) {
      for (const suite of (field('Suites') ?? '').split(/\s+/).filter(Boolean)) out.push({ uri, suite })
    }
  }
  return out
}

function readSourceEntries(etc: string): Array<{ uri: string; suite: string }> {
  const files: Array<[string, boolean]> = [[path.join(etc, 'sources.list'), false]]
  const dir = path.join(etc, 'sources.list.d')
  if (existsSync(dir)) for (const f of readdirSync(dir).sort()) {
    if (f.endsWith('.list')) files.push([path.join(dir, f), false])
    else if (f.endsWith('.sources')) files.push([path.join(dir, f), true])
  }
  return files.flatMap(([f, deb822]) => {
    try {
      return parseSourceEntries(readFileSync(f, 'utf8'), deb822)
    } catch {
      return []
    }
  }).filter((e) => /\/debian(-security)?\/?$/.test(e.uri))
}

/** The sources.list of the private state. */
export function renderSourcesList(m: AptMirrors): string {
  return `${KERNEL_SUITES.map((s) => `deb [signed-by=${ARCHIVE_KEYRING}] ${s.security ? m.security : m.main} ${s.suite} main`).join('\n')}\n`
}

/** An apt whose every file lives under `root`. */
export class PrivateApt {
  constructor(readonly root: string) {}

  /** -o options that point every apt directory and config part into root. */
  options(): string[] {
    const r = this.root
    const o: Record<string, string> = {
      'Dir::State': path.join(r, 'state'),
      'Dir::State::status': path.join(r, 'state', 'status'),
      'Dir::Cache': path.join(r, 'cache'),
      'Dir::Log': path.join(r, 'log'),
      'Dir::Etc::SourceList': path.join(r, 'sources.list'),
      'Dir::Etc::SourceParts': path.join(r, 'sources.list.d'),
      'Dir::Etc::Parts': path.join(r, 'apt.conf.d'),
      'Dir::Etc::Preferences': path.join(r, 'preferences'),
      'Dir::Etc::PreferencesParts': path.join(r, 'preferences.d'),
      'Dir::Etc::Trusted': path.join(r, 'trusted.gpg'),
      'Dir::Etc::TrustedParts': path.join(r, 'trusted.gpg.d'),
      'APT::Architecture': 'amd64',
      'APT::Architectures': 'amd64',
      'Acquire::Languages': 'none',
      // The private dirs belong to root; apt's _apt sandbox user could not write them.
      'APT::Sandbox::User': 'root',
    }
    return Object.entries(o).flatMap(([k, v]) => ['-o', `${k}=${v}`])
  }

  /** Create the directories and the sources.list (rewritten when the mirrors change). */
  prepare(mirrors: AptMirrors): void {
    for (const d of ['state/lists/partial', 'cache/archives/partial', 'log', 'sources.list.d', 'apt.conf.d', 'preferences.d', 'trusted.gpg.d', 'download']) mkdirSync(path.join(this.root, d), { recursive: true })
    const status = path.join(this.root, 'state', 'status')
    if (!existsSync(status)) writeFileSync(status, '')
    const list = path.join(this.root, 'sources.list')
    const text = renderSourcesList(mirrors)
    if (!existsSync(list) || readFileSync(list, 'utf8') !== text) writeFileSync(list, text)
  }

  /** Whether an update has fetched the package lists. */
  hasLists(): boolean {
    const d = path.join(this.root, 'state', 'lists')
    return existsSync(d) && readdirSync(d).some((f) => f.endsWith('_Packages'))
  }

  /** apt-get update; a signature that does not verify is an error, never a warning. */
  async update(): Promise<void> {
    const r = await runCommand(['apt-get', ...this.options(), '-q', '-o', 'APT::Update::Error-Mode=any', 'update'], { timeoutMs: 300_000, reject: false })
    if (r.exitCode !== 0 || /^(W|E): .*(NO_PUBKEY|not signed|signature|EXPKEYSIG|BADSIG)/m.test(r.stderr)) {
      throw new EnvironmentError('E_APT_UPDATE', `apt-get update of the kernel sources failed (exit ${r.exitCode})\n${r.stderr.trim().split('\n').slice(-6).join('\n')}`, {
        hint: `check the network and the mirror (TCPLAB_DEBIAN_MIRROR); the sources are in ${path.join(this.root, 'sources.list')}`,
      })
    }
  }

  /** apt-cache with the private state. */
  async cache(args: readonly string[]): Promise<string> {
    const r = await runCommand(['apt-cache', ...this.options(), ...args], { timeoutMs: 120_000 })
    return r.stdout
  }

  /** `apt-cache show NAME=VERSION` fields of one record. */
  async show(name: string, version: string): Promise<Record<string, string>> {
    const text = await this.cache(['show', `${name}=${version}`])
    const out: Record<string, string> = {}
    for (const line of text.split('\n\n')[0]?.split('\n') ?? []) {
      const m = /^([A-Za-z0-9-]+): (.*)$/.exec(line)
      if (m) out[m[1] as string] = m[2] as string
    }
    return out
  }

  /**
   * `apt-get download NAME=VERSION` into dir: apt refuses a package that it cannot authenticate
   * (no --allow-unauthenticated here) and checks the .deb against the signed index's hash.
   */
  async download(name: string, version: string, dir: string): Promise<string> {
    mkdirSync(dir, { recursive: true })
    // apt-get download writes to its working directory: a shell only to change it, the argv passed as arguments.
    await runCommand(['sh', '-c', 'cd "$1" && shift && exec "$@"', 'sh', dir, 'apt-get', ...this.options(), '-q', 'download', `${name}=${version}`], { timeoutMs: 900_000 })
    const deb = readdirSync(dir).find((f) => f.startsWith(`${name}_`) && f.endsWith('.deb'))
    if (!deb) throw new EnvironmentError('E_APT_DOWNLOAD', `apt-get download ${name}=${version} left no .deb in ${dir}`)
    return path.join(dir, deb)
  }
}
