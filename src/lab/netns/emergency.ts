// The netns backend's last resort (second Ctrl-C, or an `exit` without
// teardown): synchronously kill what runs in this process's lab namespaces and
// delete them, with their state files. Only this folder knows what a lab
// namespace is; src/lab/index.ts calls this through the Backend contract.

import { readdirSync, rmSync, statSync } from 'node:fs'
import path from 'node:path'
import { runCommandSync } from '../../util/proc.js'
import { STATE_DIR } from '../lease.js'
import { removeOwnedSync } from '../owned-state.js'

const NETNS_RUN_DIR = '/run/netns'

/** Remove this process's lab namespaces (and what runs in them) and their state files, now. */
export function removeOwnNamespacesNow(): void {
  let namespaces: string[] | undefined
  removeOwnedSync<{ pid: number; labId: string }>(path.join(STATE_DIR, 'labs'), (file) => file, (rec) => rec.pid, (file, rec) => {
    namespaces ??= namespacesNow()
    const own = namespaces.filter((ns) => ns.startsWith(`tcplab-${rec.labId}-`))
    killProcessesIn(own)
    if (own.length > 0) runCommandSync(['ip', '-force', '-batch', '-'], { input: own.map((ns) => `netns del ${ns}\n`).join('') })
    for (const dir of ['setup', 'relay']) rmSync(path.join(STATE_DIR, dir, rec.labId), { recursive: true, force: true })
    rmSync(file, { force: true })
  })
}

function namespacesNow(): string[] {
  try {
    return readdirSync(NETNS_RUN_DIR)
  } catch {
    return []
  }
}

/** SIGKILL every process whose network namespace is one of `nss` (as `ip netns pids` finds them). */
function killProcessesIn(nss: readonly string[]): void {
  const inodes = new Set<string>()
  for (const ns of nss) {
    const st = statSync(path.join(NETNS_RUN_DIR, ns), { throwIfNoEntry: false })
    if (st) inodes.add(`${st.dev}:${st.ino}`)
  }
  if (inodes.size === 0) return
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e) || Number(e) === process.pid) continue
    try {
      const st = statSync(`/proc/${e}/ns/net`, { throwIfNoEntry: false })
      if (st && inodes.has(`${st.dev}:${st.ino}`)) process.kill(Number(e), 'SIGKILL')
    } catch {
      // gone
    }
  }
}
