// The scenario names and tags that shell completion offers: read from the
// YAML of the default scenario directory without validating it (completion
// must answer in well under a second; `tcplab validate` is for errors).

import { readFile, readdir } from 'node:fs/promises'
import path from 'node:path'
import { defaultScenarioDir } from './select.js'

/** name and tags of every scenario file under the default directory (files that do not parse are left out). */
export async function readScenarioWords(dir: string = defaultScenarioDir()): Promise<Array<{ name: string; tags: string[] }>> {
  let entries: string[]
  try {
    entries = (await readdir(dir, { recursive: true })).filter((e) => /\.ya?ml$/.test(e)).sort()
  } catch {
    return []
  }
  const { parse } = await import('yaml')
  const out: Array<{ name: string; tags: string[] }> = []
  for (const e of entries) {
    try {
      const doc = parse(await readFile(path.join(dir, e), 'utf8')) as { name?: unknown; tags?: unknown } | null
      if (typeof doc?.name !== 'string') continue
      out.push({ name: doc.name, tags: Array.isArray(doc.tags) ? doc.tags.filter((t): t is string => typeof t === 'string') : [] })
    } catch {
      continue
    }
  }
  return out
}
