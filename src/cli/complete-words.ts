// `tcplab __complete WHAT`: the words shell completion asks for (scenario
// names, tags, labs), one a line. main.ts answers it before loading the rest
// of the CLI: it runs on every Tab (bench/completion.ts measures it).

import { readScenarioWords } from './scenario-words.js'

/** The words `tcplab __complete WHAT` prints; a new kind of word is one entry here. */
export const COMPLETERS: Record<string, () => Promise<string[]>> = {
  scenarios: async () => (await readScenarioWords()).map((s) => s.name),
  tags: async () => (await readScenarioWords()).flatMap((s) => s.tags),
  labs: async () => [],
}

/** What `tcplab __complete what` prints (sorted, each word once), or undefined for an unknown WHAT. */
export async function formatCompletionWords(what: string): Promise<string | undefined> {
  const completer = Object.hasOwn(COMPLETERS, what) ? COMPLETERS[what] : undefined
  if (!completer) return undefined
  return [...new Set(await completer())].sort().map((w) => `${w}\n`).join('')
}
