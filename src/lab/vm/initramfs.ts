// The guest's initramfs: tcplab-vminit as /init and the few modules that the
// root filesystem and the runner's port need before the shared root is
// mounted (virtio transport, virtio-serial, virtiofs, overlay), in dependency
// order from the kernel's modules.dep. A newc cpio (cpio(5), "070701"),
// uncompressed: the kernel unpacks it without a decompressor and it is small
// (~1 MB). Built once per kernel release and vminit binary, kept under
// STATE_DIR/vm/initramfs/ (removed by `tcplab gc` when stale).

import { createHash } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { EnvironmentError } from '../../util/errors.js'
import { STATE_DIR } from '../lease.js'
import type { CachedKernel } from '../../kernels/index.js'

/** Modules the guest loads from its initramfs, by name (their dependencies come along). */
export const EARLY_MODULES = ['virtio_pci', 'virtio_mmio', 'virtio_console', 'virtiofs', 'overlay']

/** Local path of agent/build/tcplab-vminit (built by `make agent`). */
export function vminitBinaryPath(): string {
  return process.env.TCPLAB_VMINIT ?? fileURLToPath(new URL('../../../agent/build/tcplab-vminit', import.meta.url))
}

/** Parse modules.dep: module path -> its dependencies' paths (relative to the modules dir). */
export function parseModulesDep(text: string): Map<string, string[]> {
  const out = new Map<string, string[]>()
  for (const line of text.split('\n')) {
    const i = line.indexOf(':')
    if (i < 0) continue
    out.set(line.slice(0, i).trim(), line.slice(i + 1).trim().split(/\s+/).filter(Boolean))
  }
  return out
}

/** Module files to load, dependencies first, for the names in `wanted` (names absent from this kernel, or built in, are skipped). */
export function moduleLoadOrder(dep: ReadonlyMap<string, string[]>, wanted: readonly string[]): string[] {
  const byName = new Map<string, string>()
  for (const p of dep.keys()) byName.set(path.basename(p).replace(/\.ko(\.\w+)?$/, '').replace(/-/g, '_'), p)
  const order: string[] = []
  const seen = new Set<string>()
  const visit = (p: string): void => {
    if (seen.has(p)) return
    seen.add(p)
    // modules.dep lists the full closure, the first needing the later ones; visiting each
    // dependency's own line first gives a valid order whatever the listing order.
    for (const d of dep.get(p) ?? []) visit(d)
    order.push(p)
  }
  for (const w of wanted) {
    const p = byName.get(w)
    if (p !== undefined) visit(p)
  }
  return order
}

/** One newc cpio entry. */
function cpioEntry(name: string, mode: number, data: Buffer, ino: number): Buffer {
  const hex = (n: number): string => n.toString(16).padStart(8, '0')
  const nameBuf = Buffer.from(`${name}\0`)
  const fields = [ino, mode, 0, 0, 1, 0, data.length, 0, 0, 0, 0, nameBuf.length, 0]
  const header = Buffer.from(`070701${fields.map(hex).join('')}`)
  const pad = (n: number): Buffer => Buffer.alloc((4 - (n % 4)) % 4)
  return Buffer.concat([header, nameBuf, pad(header.length + nameBuf.length), data, pad(data.length)])
}

/** Build a newc archive from (name, mode, data) entries (directories: data empty, mode 0o40755). */
export function buildCpio(entries: ReadonlyArray<{ name: string; mode: number; data?: Buffer }>): Buffer {
  const parts = entries.map((e, i) => cpioEntry(e.name, e.mode, e.data ?? Buffer.alloc(0), i + 1))
  parts.push(cpioEntry('TRAILER!!!', 0, Buffer.alloc(0), 0))
  return Buffer.concat(parts)
}

/** The initramfs for a kernel (built on first use). */
export function initramfsFor(kernel: CachedKernel): string {
  const init = vminitBinaryPath()
  if (!existsSync(init)) {
    throw new EnvironmentError('E_MISSING_TOOL', `the guest init ${init} is not built`, { hint: 'make agent' })
  }
  const depFile = path.join(kernel.modulesDir, 'modules.dep')
  if (!existsSync(depFile)) {
    throw new EnvironmentError('E_NO_KERNEL', `${depFile} is missing: the cached kernel ${kernel.release} is incomplete`, { hint: `tcplab kernels fetch ${kernel.version}` })
  }
  const st = statSync(init)
  const key = createHash('sha256').update(`${kernel.dir}\0${kernel.sha256}\0${st.size}\0${st.mtimeMs}\0${EARLY_MODULES.join(',')}`).digest('hex').slice(0, 16)
  const dir = path.join(STATE_DIR, 'vm', 'initramfs')
  const file = path.join(dir, `${kernel.release}-${key}.cpio`)
  if (existsSync(file)) return file
  const order = moduleLoadOrder(parseModulesDep(readFileSync(depFile, 'utf8')), EARLY_MODULES)
  const entries: Array<{ name: string; mode: number; data?: Buffer }> = [
    { name: 'init', mode: 0o100755, data: readFileSync(init) },
    { name: 'm', mode: 0o40755 },
    { name: 'modules.order', mode: 0o100644, data: Buffer.from(order.map((p) => `${path.basename(p)}\n`).join('')) },
    ...order.map((p) => ({ name: `m/${path.basename(p)}`, mode: 0o100644, data: readFileSync(path.join(kernel.modulesDir, p)) })),
  ]
  for (const d of ['proc', 'sys', 'dev', 'lower', 'rw', 'newroot']) entries.push({ name: d, mode: 0o40755 })
  mkdirSync(dir, { recursive: true })
  const tmp = `${file}.${process.pid}`
  writeFileSync(tmp, buildCpio(entries))
  renameSync(tmp, file)
  return file
}
