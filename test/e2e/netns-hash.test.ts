// The netns backend gives each lab host its own small TCP hash: the namespaces are
// made from a parent namespace (one per tcplab process, held only by a file
// descriptor) in which net.ipv4.tcp_child_ehash_entries is set. Checks: the hosts'
// tcp_ehash_entries is the small positive per-namespace size (a shared table reads
// negative, ip-sysctl.rst), their other defaults are those of a namespace made from
// the machine's, the machine's own sysctls are untouched, nothing but the hosts is
// bound; a crashed process leaves no parent (nothing refers to it) and `gc` removes
// its hosts and setup files; TCPLAB_NETNS_CHILD_HASH=0 shares the table as before.
import t from 'tap'
import { execFileSync, spawn } from 'node:child_process'
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { CHILD_HASH_ENTRIES, createNetnsBackend, hasChildEhash, labParent, SETUP_DIR } from '../../src/lab/netns/backend.js'
import type { HostSpec } from '../../src/lab/types.js'
import { newLabId } from '../../src/lab/index.js'
import { labNamespaces, tempDir } from './helpers.js'

const KEYS = ['tcp_ehash_entries', 'udp_hash_entries', 'tcp_child_ehash_entries', 'tcp_max_tw_buckets', 'tcp_max_syn_backlog', 'somaxconn'] as const
const hosts: HostSpec[] = [{ name: 'client', sysctls: {}, isWire: false }, { name: 'server', sysctls: {}, isWire: false }]

/** Some sysctls as seen in a namespace ('' = ours). */
function sysctls(nsPath: string): Record<string, string> {
  const files = KEYS.map((k) => (k === 'somaxconn' ? '/proc/sys/net/core/somaxconn' : `/proc/sys/net/ipv4/${k}`))
  const argv = nsPath === '' ? ['sh', '-c', 'for f; do cat "$f" 2>/dev/null || echo -; done', 'sh', ...files] : ['nsenter', `--net=${nsPath}`, '--', 'sh', '-c', 'for f; do cat "$f" 2>/dev/null || echo -; done', 'sh', ...files]
  const v = execFileSync(argv[0] as string, argv.slice(1), { encoding: 'utf8' }).trim().split('\n')
  return Object.fromEntries(KEYS.map((k, i) => [k, v[i] ?? '']))
}

/** Defaults of a namespace made from the machine's, as the backend's hosts had them before. */
function sharedDefaults(): Record<string, string> {
  const ns = `tcplabtest-${process.pid}-ref`
  execFileSync('ip', ['netns', 'add', ns])
  try {
    return sysctls(`/run/netns/${ns}`)
  } finally {
    execFileSync('ip', ['netns', 'del', ns])
  }
}

if (process.getuid?.() !== 0) {
  t.plan(0, 'needs root (network namespaces)')
} else if (!hasChildEhash()) {
  t.plan(0, 'this kernel has no net.ipv4.tcp_child_ehash_entries (Linux 5.19+): hosts share the machine\'s table')
} else {
  const backend = createNetnsBackend()

  t.test('hosts have their own small TCP hash; everything else as before; the machine untouched', async (t) => {
    const rootBefore = sysctls('')
    const lab = await backend.up({ labId: newLabId(), scenario: 'netns-hash', hosts })
    try {
      const parent = await labParent()
      t.ok(parent, 'a parent namespace was made')
      const p = sysctls(parent?.path ?? '')
      t.equal(p.tcp_child_ehash_entries, String(CHILD_HASH_ENTRIES), 'the parent sets tcp_child_ehash_entries')
      t.not(statSync(parent?.path ?? '').ino, statSync('/proc/self/ns/net').ino, 'the parent is not our namespace')
      const ref = sharedDefaults()
      t.match(ref.tcp_ehash_entries, /^-\d+$/, 'a namespace made from the machine\'s shares its table (negative)')
      for (const h of lab.hosts.keys()) {
        const s = sysctls(`/run/netns/tcplab-${lab.labId}-${h}`)
        t.equal(s.tcp_ehash_entries, String(CHILD_HASH_ENTRIES), `${h}: own TCP hash of ${CHILD_HASH_ENTRIES} buckets`)
        if (ref.udp_hash_entries !== '-') t.equal(s.udp_hash_entries, String(CHILD_HASH_ENTRIES), `${h}: own UDP hash`)
        t.equal(s.tcp_max_tw_buckets, ref.tcp_max_tw_buckets, `${h}: tcp_max_tw_buckets as before (${ref.tcp_max_tw_buckets})`)
        t.equal(s.tcp_max_syn_backlog, ref.tcp_max_syn_backlog, `${h}: tcp_max_syn_backlog as before (${ref.tcp_max_syn_backlog})`)
        t.equal(s.somaxconn, ref.somaxconn)
        t.equal(s.tcp_child_ehash_entries, '0', `${h}: not a parent itself`)
      }
      const r = await (lab.hosts.get('client') as NonNullable<ReturnType<typeof lab.hosts.get>>).exec(['sysctl', '-n', 'net.ipv4.tcp_ehash_entries'])
      t.equal(r.stdout.trim(), String(CHILD_HASH_ENTRIES), '`sysctl net.ipv4.tcp_ehash_entries` in a host (env.json reads it the same way)')
      t.same(labNamespaces([lab.labId]).sort(), [`tcplab-${lab.labId}-client`, `tcplab-${lab.labId}-server`], 'only the hosts are bound')
      t.same(existsSync(path.join(SETUP_DIR, lab.labId)), false, 'no setup files left')
    } finally {
      await lab.down()
    }
    t.same(labNamespaces([lab.labId]), [], 'down removed them')
    t.same(sysctls(''), rootBefore, 'the machine\'s own sysctls are unchanged')
  })

  t.test('TCPLAB_NETNS_CHILD_HASH=0: hosts share the machine\'s table, as before', async (t) => {
    process.env.TCPLAB_NETNS_CHILD_HASH = '0'
    try {
      const lab = await backend.up({ labId: newLabId(), scenario: 'netns-hash', hosts })
      try {
        t.match(sysctls(`/run/netns/tcplab-${lab.labId}-client`).tcp_ehash_entries, /^-\d+$/)
      } finally {
        await lab.down()
      }
    } finally {
      delete process.env.TCPLAB_NETNS_CHILD_HASH
    }
  })

  t.test('a crashed process leaves no parent namespace; gc removes its hosts and setup files', async (t) => {
    const dir = tempDir('tcplab-e2e-hash-')
    const script = path.join(dir, 'crash.mts')
    const backendTs = path.resolve('src/lab/netns/backend.ts')
    writeFileSync(script, [
      `import { createNetnsBackend, labParent } from ${JSON.stringify(backendTs)}`,
      `const lab = await createNetnsBackend().up({ labId: process.argv[2], scenario: 'netns-hash-crash', hosts: ${JSON.stringify(hosts)} })`,
      `console.log((await labParent())?.path)`,
      'setInterval(() => undefined, 1000)',
    ].join('\n'))
    const labId = newLabId()
    const child = spawn(process.execPath, ['--import', 'tsx', script, labId], { stdio: ['ignore', 'pipe', 'inherit'] })
    const parentPath = await new Promise<string>((resolve) => child.stdout.once('data', (b: Buffer) => resolve(b.toString().trim())))
    t.match(parentPath, /^\/proc\/\d+\/fd\/\d+$/, 'the child holds its parent namespace by a descriptor')
    const parentIno = statSync(parentPath).ino
    const parentDev = statSync(parentPath).dev
    // A setup that was cut short would leave its files.
    mkdirSync(path.join(SETUP_DIR, labId), { recursive: true })
    writeFileSync(path.join(SETUP_DIR, labId, `tcplab-${labId}-client`), 'link set lo up\n')
    child.kill('SIGKILL')
    await new Promise((r) => child.once('close', r))
    const holders = readdirSync('/proc').filter((e) => /^\d+$/.test(e)).filter((e) => {
      try {
        const st = statSync(`/proc/${e}/ns/net`)
        return st.ino === parentIno && st.dev === parentDev
      } catch {
        return false
      }
    })
    t.same(holders, [], 'no process is in the parent namespace')
    t.notMatch(readFileSync('/proc/self/mountinfo', 'utf8'), new RegExp(`net:\\[${parentIno}\\]`), 'and it is bound nowhere: the kernel has freed it')
    t.equal(labNamespaces([labId]).length, 2, 'the crash left the two host namespaces')
    const removed = await backend.gc(labId)
    t.ok(removed.includes(`network namespace tcplab-${labId}-client`), removed.join('\n'))
    t.ok(removed.includes(`setup files ${path.join(SETUP_DIR, labId)}`))
    t.same(labNamespaces([labId]), [], 'gc removed them')
    t.notOk(existsSync(path.join(SETUP_DIR, labId)))
    rmSync(dir, { recursive: true, force: true })
  })
}
