// The uncompressed kernel (vmlinux, an ELF) out of a bzImage, as the kernel's
// scripts/extract-vmlinux does it: find the magic of a compressed payload,
// decompress from there, keep the first result that is an ELF file. QEMU boots
// an ELF vmlinux through its PVH entry point directly, without running the
// bzImage's own decompressor (seconds under TCG).

import { readFileSync, renameSync, rmSync, statSync } from 'node:fs'
import { runCommand } from '../util/proc.js'
import { EnvironmentError } from '../util/errors.js'

/** Compressed payload magics and their decompressors, in extract-vmlinux's order. */
export const PAYLOAD_FORMATS: ReadonlyArray<{ name: string; magic: Buffer; argv: string[] }> = [
  { name: 'gzip', magic: Buffer.from([0x1f, 0x8b, 0x08]), argv: ['gunzip', '-c'] },
  { name: 'xz', magic: Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]), argv: ['unxz', '-c'] },
  { name: 'bzip2', magic: Buffer.from('BZh'), argv: ['bunzip2', '-c'] },
  { name: 'lzma', magic: Buffer.from([0x5d, 0x00, 0x00, 0x00]), argv: ['unlzma', '-c'] },
  { name: 'lzo', magic: Buffer.from([0x89, 0x4c, 0x5a]), argv: ['lzop', '-dc'] },
  { name: 'lz4', magic: Buffer.from([0x02, 0x21, 0x4c, 0x18]), argv: ['lz4', '-dc'] },
  { name: 'zstd', magic: Buffer.from([0x28, 0xb5, 0x2f, 0xfd]), argv: ['unzstd', '-c'] },
]

const ELF_MAGIC = Buffer.from([0x7f, 0x45, 0x4c, 0x46])

/** Offsets of every occurrence of magic in buf. */
export function findMagic(buf: Buffer, magic: Buffer): number[] {
  const out: number[] = []
  for (let i = buf.indexOf(magic); i >= 0; i = buf.indexOf(magic, i + 1)) out.push(i)
  return out
}

/** Whether a file starts with the ELF magic. */
export function isElfFile(file: string): boolean {
  try {
    return statSync(file).size > 4 && readFileSync(file).subarray(0, 4).equals(ELF_MAGIC)
  } catch {
    return false
  }
}

/** Write the ELF inside bzImage `image` to `out`; returns the payload's format. */
export async function extractVmlinux(image: string, out: string): Promise<string> {
  const buf = readFileSync(image)
  if (buf.subarray(0, 4).equals(ELF_MAGIC)) {
    await runCommand(['cp', image, out])
    return 'elf'
  }
  const tmp = `${out}.part`
  for (const f of PAYLOAD_FORMATS) {
    for (const offset of findMagic(buf, f.magic)) {
      // The payload is followed by the rest of the bzImage: decompressors complain about trailing data, so the
      // exit code says nothing; the ELF magic of the output does (as in extract-vmlinux).
      await runCommand(['sh', '-c', 'tail -c "+$1" "$2" | "$3" "$4" > "$5" 2>/dev/null', 'sh', String(offset + 1), image, f.argv[0] as string, f.argv[1] as string, tmp], { reject: false, timeoutMs: 120_000 }).catch(() => undefined)
      if (isElfFile(tmp)) {
        renameSync(tmp, out)
        return f.name
      }
    }
  }
  rmSync(tmp, { force: true })
  throw new EnvironmentError('E_VMLINUX', `no compressed ELF kernel found in ${image} (tried ${PAYLOAD_FORMATS.map((f) => f.name).join(', ')})`, {
    hint: 'install the decompressors: apt-get install -y xz-utils zstd lz4 bzip2 lzop',
  })
}
