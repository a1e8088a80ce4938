// The kernel cache read offline (listKernels, resolveKernel, removeKernels) and the vmlinux
// extraction on payloads made by the real compressors (gzip, xz, zstd, lz4) inside a bzImage-like file.
import t from 'tap'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs'
import { tmpdir, release } from 'node:os'
import path from 'node:path'
import { spawnSync } from 'node:child_process'
import { listKernels, resolveKernel, removeKernels, findCachedKernel, type KernelManifest } from '../../../src/kernels/cache.js'
import { extractVmlinux, findMagic, isElfFile } from '../../../src/kernels/vmlinux.js'
import { fetchKernels } from '../../../src/kernels/fetch.js'

function makeKernel(root: string, m: Partial<KernelManifest> & { release: string; version: string; debVersion: string }, complete = true): void {
  const dir = path.join(root, m.release)
  mkdirSync(path.join(dir, 'lib', 'modules', m.release), { recursive: true })
  writeFileSync(path.join(dir, 'vmlinuz'), 'MZ')
  if (complete) writeFileSync(path.join(dir, 'vmlinux'), '\x7fELF')
  writeFileSync(path.join(dir, 'kernel.json'), JSON.stringify({ package: `linux-image-${m.release}-unsigned`, suite: 'bookworm', sha256: '0'.repeat(64), fetchedAt: '2026-01-01T00:00:00Z', ...m }))
}

t.test('list, resolve and remove, without network', async (t) => {
  const root = mkdtempSync(path.join(tmpdir(), 'tcplab-kernels-'))
  t.teardown(() => rmSync(root, { recursive: true, force: true }))
  makeKernel(root, { version: '6.1', release: '6.1.0-50-cloud-amd64', debVersion: '6.1.176-1' })
  makeKernel(root, { version: '6.1', release: '6.1.0-57-cloud-amd64', debVersion: '6.1.192-3' })
  makeKernel(root, { version: '6.12', release: '6.12.118+deb12-cloud-amd64', debVersion: '6.12.118-1~deb12u1' })
  makeKernel(root, { version: '5.10', release: '5.10.0-43-cloud-amd64', debVersion: '5.10.251-5' }, false)
  mkdirSync(path.join(root, '.tmp-7.2.13+deb14-cloud-amd64-1'))
  t.same(listKernels(root).map((k) => k.release), ['6.12.118+deb12-cloud-amd64', '6.1.0-57-cloud-amd64', '6.1.0-50-cloud-amd64'], 'newest first; incomplete and work dirs left out')
  const k = resolveKernel('6.1', root)
  t.match(k, { kind: 'cached', release: '6.1.0-57-cloud-amd64', vmlinux: path.join(root, '6.1.0-57-cloud-amd64', 'vmlinux'), modulesDir: path.join(root, '6.1.0-57-cloud-amd64', 'lib', 'modules', '6.1.0-57-cloud-amd64') })
  t.match(resolveKernel('6.1.0-50-cloud-amd64', root), { release: '6.1.0-50-cloud-amd64' })
  t.match(resolveKernel('host', root), { kind: 'host', release: release() })
  t.throws(() => resolveKernel('5.10', root), { code: 'E_KERNEL_MISSING', hint: 'tcplab kernels fetch 5.10' })
  t.throws(() => resolveKernel('latest', root), { code: 'E_USAGE' })
  // A cached kernel is a no-op fetch: no apt, no network (the mirror lookup would throw on this empty env).
  const res = await fetchKernels(['6.12', '6.1.0-50-cloud-amd64'], { root, mirrors: { main: 'http://invalid.invalid/debian', security: 'http://invalid.invalid/debian-security' } })
  t.same(res.map((r) => [r.spec, r.cached, r.kernel.release]), [['6.12', true, '6.12.118+deb12-cloud-amd64'], ['6.1.0-50-cloud-amd64', true, '6.1.0-50-cloud-amd64']])
  t.notOk(existsSync(path.join(root, '.apt')), 'no apt state created')
  await t.rejects(fetchKernels(['host'], { root }), { code: 'E_USAGE' })
  t.same(removeKernels('6.1', root), ['6.1.0-57-cloud-amd64', '6.1.0-50-cloud-amd64'])
  t.equal(findCachedKernel('6.1', root), undefined)
  t.same(removeKernels('6.1', root), [])
})

const have = (tool: string): boolean => spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0

t.test('vmlinux: the ELF is found behind the payload magic, whatever the compressor', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'tcplab-vmlinux-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  // An ELF-looking body (the magic and some bytes); a real kernel is checked below when cached.
  const elf = Buffer.concat([Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1]), Buffer.alloc(70000, 0x90)])
  writeFileSync(path.join(dir, 'elf'), elf)
  for (const [name, argv] of [['gzip', ['gzip', '-9c']], ['xz', ['xz', '-c']], ['zstd', ['zstd', '-qc']], ['lz4', ['lz4', '-lc']]] as const) {
    if (!have(argv[0])) {
      t.comment(`${name}: ${argv[0]} not installed (scripts/install-deps.sh installs it)`)
      continue
    }
    const packed = spawnSync(argv[0], [...argv.slice(1), path.join(dir, 'elf')]).stdout
    // setup code that contains a decoy (an lzma-like magic), the payload, then trailing data (as in a bzImage)
    const image = Buffer.concat([Buffer.from('MZ'), Buffer.alloc(5000, 1), Buffer.from([0x5d, 0, 0, 0]), Buffer.alloc(100, 7), packed, Buffer.alloc(3000, 0xcc)])
    const file = path.join(dir, `vmlinuz-${name}`)
    writeFileSync(file, image)
    const out = path.join(dir, `vmlinux-${name}`)
    t.equal(await extractVmlinux(file, out), name, `${name} payload`)
    t.ok(readFileSync(out).equals(elf), `${name}: the exact ELF`)
  }
  const bogus = path.join(dir, 'bogus')
  writeFileSync(bogus, Buffer.concat([Buffer.from('MZ'), Buffer.from([0x1f, 0x8b, 0x08]), Buffer.alloc(300, 3)]))
  await t.rejects(extractVmlinux(bogus, path.join(dir, 'nope')), { code: 'E_VMLINUX' })
  t.notOk(existsSync(path.join(dir, 'nope.part')), 'no partial file left')
  t.same(findMagic(Buffer.from([1, 0x1f, 0x8b, 0x08, 0x1f, 0x8b, 0x08]), Buffer.from([0x1f, 0x8b, 0x08])), [1, 4])
})

const cached = listKernels()
t.test('the kernels in the machine\'s cache (when fetched) are complete', { skip: cached.length === 0 ? 'no kernel fetched on this machine (tcplab kernels fetch 6.1)' : false }, async (t) => {
  for (const k of cached) {
    t.ok(isElfFile(k.vmlinux), `${k.release}: vmlinux is an ELF`)
    t.ok(existsSync(path.join(k.modulesDir, 'modules.dep')), `${k.release}: modules.dep`)
    t.match(k, { version: /^\d+\.\d+$/, sha256: /^[0-9a-f]{64}$/, suite: /\w/ })
  }
})
