// What `tcplab list` and `tcplab run --list` print: one scenario a line (name,
// title, tags), or a JSON array.

import type { LoadedScenario } from '../scenario/loader.js'

export function formatScenarioList(loaded: readonly LoadedScenario[], opts: { json?: boolean | undefined } = {}): string {
  const rows = loaded.map((l) => ({ name: l.scenario.name, file: l.file, tags: l.scenario.tags, title: l.scenario.title }))
  if (opts.json) return `${JSON.stringify(rows, null, 2)}\n`
  const w = Math.max(4, ...rows.map((r) => r.name.length))
  return rows.map((r) => `${r.name.padEnd(w)}  ${r.title}${r.tags.length ? `  [${r.tags.join(', ')}]` : ''}\n`).join('')
}
