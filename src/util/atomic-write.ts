// Results files are written whole or not at all: a temporary file next to the
// target, fsync'd, then renamed over it (rename(2) is atomic within a file
// system). A run killed mid-write leaves the previous version, never a
// truncated file (a 0-byte verdict.json made `tcplab report` fail).

import { closeSync, fsyncSync, openSync, readdirSync, renameSync, rmSync, writeSync } from 'node:fs'
import { open, rename, rm, type FileHandle } from 'node:fs/promises'
import path from 'node:path'

function tempNameOf(file: string): string {
  return path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.${Math.random().toString(16).slice(2, 8)}.tmp`)
}

/** Write `file` atomically: `fill` writes a temp file next to it, which is fsync'd and renamed over it. */
async function replaceAtomic(file: string, fill: (fh: FileHandle) => Promise<void>): Promise<void> {
  const tmp = tempNameOf(file)
  try {
    const fh = await open(tmp, 'w')
    try {
      await fill(fh)
      await fh.sync()
    } finally {
      await fh.close()
    }
    await rename(tmp, file)
  } catch (e: unknown) {
    await rm(tmp, { force: true }).catch(() => undefined)
    throw e
  }
}

/** Write `file` atomically (temp file, fsync, rename). */
export function writeFileAtomic(file: string, data: string | Buffer): Promise<void> {
  return replaceAtomic(file, (fh) => fh.writeFile(data))
}

/** Write `file` atomically from lines (each gets "\n"), without holding them all in one string. */
export function writeLinesAtomic(file: string, lines: Iterable<string>): Promise<void> {
  return replaceAtomic(file, async (fh) => {
    let chunk = ''
    for (const l of lines) {
      chunk += `${l}\n`
      if (chunk.length >= 1 << 20) {
        await fh.write(chunk)
        chunk = ''
      }
    }
    if (chunk) await fh.write(chunk)
  })
}

/** writeFileAtomic, synchronously (exit hooks). Never throws. */
export function writeFileAtomicSync(file: string, data: string): void {
  const tmp = tempNameOf(file)
  try {
    const fd = openSync(tmp, 'w')
    try {
      writeSync(fd, data)
      fsyncSync(fd)
    } finally {
      closeSync(fd)
    }
    renameSync(tmp, file)
  } catch {
    try {
      rmSync(tmp, { force: true })
    } catch {
      // best effort
    }
  }
}

/** Remove this process's temporary files in `dir` (an `exit` hook: writes in flight never finish). Never throws. */
export function removeOwnTempFilesSync(dir: string): void {
  try {
    const mine = `.${process.pid}.`
    for (const f of readdirSync(dir)) if (f.startsWith('.') && f.endsWith('.tmp') && f.includes(mine)) rmSync(path.join(dir, f), { force: true })
  } catch {
    // best effort
  }
}
