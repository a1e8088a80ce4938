// The vm backend's part of the emergency path (a second Ctrl-C, or an exit
// without teardown): the QEMU processes were SIGKILLed with the rest of this
// process's children; their state directories are removed here, synchronously.

import { rmSync } from 'node:fs'
import path from 'node:path'
import { STATE_DIR } from '../lease.js'
import { removeOwnedSync } from '../owned-state.js'

/** The directories of this process's vm guests (STATE_DIR/vm/<guestId>, lab/vm/guest.ts). */
export function removeOwnGuestFilesSync(): void {
  removeOwnedSync<{ ownerPid?: number }>(path.join(STATE_DIR, 'vm'), (dir) => path.join(dir, 'state.json'), (st) => st.ownerPid, (dir) => rmSync(dir, { recursive: true, force: true }))
}
