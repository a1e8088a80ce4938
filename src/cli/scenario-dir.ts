// Where scenarios are looked up by name: its own file, with nothing heavy
// imported, so that shell completion (`tcplab __complete`) starts fast.

import { existsSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

/** scenarios/ in the working directory, else the one shipped with tcplab. */
export function defaultScenarioDir(): string {
  if (existsSync('scenarios')) return 'scenarios'
  return path.relative(process.cwd(), fileURLToPath(new URL('../../scenarios', import.meta.url))) || '.'
}
