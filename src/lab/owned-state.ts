// The emergency paths' common loop (a second Ctrl-C, or an exit without
// teardown): read each state file of a directory, and remove what this process
// owns. Synchronous (it runs in an 'exit' handler) and best effort: whatever it
// cannot read or remove is left to `tcplab gc`, which finds owners that are gone.

import { readdirSync, readFileSync } from 'node:fs'
import path from 'node:path'

/**
 * For each entry of `dir` whose state (`stateFile(entry)`, JSON) names this process as its owner
 * (`ownerOf(state)`), call `remove(entry, state)`. Never throws.
 */
export function removeOwnedSync<S>(dir: string, stateFile: (entry: string) => string, ownerOf: (state: S) => number | undefined, remove: (entry: string, state: S) => void): void {
  let entries: string[]
  try {
    entries = readdirSync(dir)
  } catch {
    return
  }
  for (const e of entries) {
    try {
      const state = JSON.parse(readFileSync(stateFile(path.join(dir, e)), 'utf8')) as S
      if (ownerOf(state) === process.pid) remove(path.join(dir, e), state)
    } catch {
      // not a state file, gone meanwhile, or not removable: gc removes the rest
    }
  }
}
