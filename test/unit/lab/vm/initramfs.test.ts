// The guest's initramfs: modules in dependency order from a real modules.dep
// (Debian's 6.1.0-50-cloud-amd64, trimmed), and a newc archive the kernel can unpack.
import t from 'tap'
import { readFileSync } from 'node:fs'
import { buildCpio, moduleLoadOrder, parseModulesDep } from '../../../../src/lab/vm/initramfs.js'

const dep = parseModulesDep(readFileSync('test/fixtures/vm/modules.dep-6.1.0-50-cloud-amd64', 'utf8'))

t.test('every module comes after its dependencies, each once', async (t) => {
  const order = moduleLoadOrder(dep, ['virtio_pci', 'virtio_console', 'virtiofs', 'overlay'])
  t.same(order.map((p) => p.split('/').pop()), [
    'virtio_pci_legacy_dev.ko', 'virtio_pci_modern_dev.ko', 'virtio_ring.ko', 'virtio.ko', 'virtio_pci.ko',
    'virtio_console.ko', 'fuse.ko', 'virtiofs.ko', 'overlay.ko',
  ])
  for (const [i, p] of order.entries()) {
    for (const d of dep.get(p) ?? []) t.ok(order.indexOf(d) >= 0 && order.indexOf(d) < i, `${d} before ${p}`)
  }
  t.equal(new Set(order).size, order.length)
})

t.test('a module this kernel lacks (or has built in) is skipped, not an error', async (t) => {
  t.same(moduleLoadOrder(dep, ['no_such_module']), [])
  t.same(moduleLoadOrder(dep, ['overlay', 'no_such_module']).map((p) => p.split('/').pop()), ['overlay.ko'])
})

/** Read a newc archive back (cpio(5)): name -> {mode, data}. */
function readCpio(b: Buffer): Map<string, { mode: number; data: Buffer }> {
  const out = new Map<string, { mode: number; data: Buffer }>()
  let off = 0
  const align = (n: number): number => (n + 3) & ~3
  for (;;) {
    const magic = b.toString('ascii', off, off + 6)
    if (magic !== '070701') throw new Error(`bad magic at ${off}: ${magic}`)
    const field = (i: number): number => parseInt(b.toString('ascii', off + 6 + i * 8, off + 14 + i * 8), 16)
    const mode = field(1)
    const size = field(6)
    const nameSize = field(11)
    const name = b.toString('utf8', off + 110, off + 110 + nameSize - 1)
    const dataStart = align(off + 110 + nameSize)
    if (name === 'TRAILER!!!') return out
    out.set(name, { mode, data: b.subarray(dataStart, dataStart + size) })
    off = align(dataStart + size)
  }
}

t.test('the archive is newc with 4-byte alignment, modes and contents kept, and a trailer', async (t) => {
  const init = Buffer.from('\x7fELF-not-really')
  const cpio = buildCpio([
    { name: 'init', mode: 0o100755, data: init },
    { name: 'm', mode: 0o40755 },
    { name: 'm/a.ko', mode: 0o100644, data: Buffer.from('abc') },
  ])
  t.equal(cpio.length % 4, 0)
  const entries = readCpio(cpio)
  t.same([...entries.keys()], ['init', 'm', 'm/a.ko'])
  t.equal(entries.get('init')?.mode, 0o100755)
  t.same(entries.get('init')?.data, init)
  t.equal(entries.get('m')?.mode, 0o40755)
  t.equal(entries.get('m/a.ko')?.data.toString(), 'abc')
})
