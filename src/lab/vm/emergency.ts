// The vm backend's part of the emergency path (a second Ctrl-C, or an exit
// without teardown): the QEMU processes were SIGKILLed with the rest of this
// process's children; their state directories are removed here, synchronously.

import { readdirSync, readFileSync, rmSync } from 'node:fs'
import path from 'node:path'
import { STATE_DIR } from '../lease.js'

/** The directories of this process's vm guests (STATE_DIR/vm/<guestId>, lab/vm/guest.ts). */
export function removeOwnGuestFilesSync(): void {
  const vmDir = path.join(STATE_DIR, 'vm')
  let names: string[] = []
  try {
    names = readdirSync(vmDir)
  } catch {
    return
  }
  for (const n of names) {
    try {
      const st = JSON.parse(readFileSync(path.join(vmDir, n, 'state.json'), 'utf8')) as { ownerPid: number }
      if (st.ownerPid === process.pid) rmSync(path.join(vmDir, n), { recursive: true, force: true })
    } catch {
      // not a guest, or gone
    }
  }
}
