// The recorded runs under test/fixtures/runs, and a scratch copy to write reports into.

import { cpSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

export const RUNS = path.join(path.dirname(fileURLToPath(import.meta.url)), '../../fixtures/runs')
export const RUN_A = path.join(RUNS, 'default-a')
export const RUN_A2 = path.join(RUNS, 'default-b')
export const RUN_LINEAR0 = path.join(RUNS, 'linear-0')

/** Copy a recorded run to a temporary directory (removed when the test ends). */
export function copyRun(t: { teardown(fn: () => void): void }, dir: string): string {
  const tmp = mkdtempSync(path.join(tmpdir(), 'tcplab-report-'))
  const dest = path.join(tmp, path.basename(dir))
  cpSync(dir, dest, { recursive: true })
  t.teardown(() => rmSync(tmp, { recursive: true, force: true }))
  return dest
}

/** Replace what changes from machine to machine or run to run (paths, dates) so snapshots hold. */
export function normalise(text: string): string {
  return text
    .replaceAll(RUNS, '<runs>')
    .replace(/\/tmp\/tcplab-report-[A-Za-z0-9]+/g, '<tmp>')
    .replace(/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z?/g, '<date>')
}
