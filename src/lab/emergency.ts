// Second Ctrl-C: no time for graceful teardown. Delete, synchronously, the
// namespaces of every lab this process registered (processes were already
// SIGKILLed). Docker leftovers are for `tcplab gc`.

import { spawnSync } from 'node:child_process'
import { readdirSync, readFileSync, rmSync } from 'node:fs'
import path from 'node:path'
import { STATE_DIR } from './lease.js'

/** Remove this process's lab namespaces and state files right now (and its vm guests' files: their QEMU was SIGKILLed with the rest). */
export function removeOwnLabsSync(): void {
  removeOwnGuestFilesSync()
  const labsDir = path.join(STATE_DIR, 'labs')
  let files: string[] = []
  try {
    files = readdirSync(labsDir)
  } catch {
    return
  }
  const ns = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout ?? ''
  for (const f of files) {
    try {
      const rec = JSON.parse(readFileSync(path.join(labsDir, f), 'utf8')) as { pid: number; labId: string }
      if (rec.pid !== process.pid) continue
      for (const line of ns.split('\n')) {
        const name = line.split(' ')[0] ?? ''
        if (name.startsWith(`tcplab-${rec.labId}-`)) {
          const pids = (spawnSync('ip', ['netns', 'pids', name], { encoding: 'utf8' }).stdout ?? '').split(/\s+/).filter(Boolean)
          for (const p of pids) {
            try {
              process.kill(Number(p), 'SIGKILL')
            } catch {
              // gone
            }
          }
          spawnSync('ip', ['netns', 'del', name])
        }
      }
      rmSync(path.join(labsDir, f), { force: true })
    } catch {
      // best effort
    }
  }
}

/** The directories of this process's vm guests (STATE_DIR/vm/<guestId>, lab/vm/guest.ts). */
function removeOwnGuestFilesSync(): void {
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
