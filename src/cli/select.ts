// Which scenarios a command works on: files and directories named on the
// command line, scenario names or name globs (`'syn-*'`, looked up in the
// default scenario directory), then --tag and --grep. With nothing named, the
// default directory without the scenarios tagged "slow".

import { existsSync } from 'node:fs'
import { UsageError } from '../util/errors.js'
import type { LoadedScenario } from '../scenario/loader.js'
import { excerptOf } from '../scenario/limits.js'
import { defaultScenarioDir } from './scenario-dir.js'

export interface SelectOptions {
  /** Paths, scenario names or name globs. */
  positionals: readonly string[]
  /** Keep scenarios with any of these tags. */
  tags?: readonly string[] | undefined
  /** Keep scenarios whose name or title matches this regular expression. */
  grep?: string | undefined
  /** With nothing named, keep the scenarios tagged "slow" too (`tcplab list`). */
  includeSlow?: boolean | undefined
}

export { defaultScenarioDir }

/** A positional that names scenarios rather than a file: no such path, and only name and glob characters. */
export function isNamePattern(arg: string): boolean {
  return !existsSync(arg) && /^[a-z0-9*?[\]!-]+$/.test(arg)
}

/** A name glob (`*`, `?`, `[abc]`, `[!abc]`) as an anchored regular expression. */
export function compileGlob(glob: string): RegExp {
  let re = ''
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i] as string
    if (c === '*') re += '.*'
    else if (c === '?') re += '.'
    else if (c === '[') {
      const end = glob.indexOf(']', i + 1)
      if (end < 0) re += '\\['
      else {
        const body = glob.slice(i + 1, end).replace(/^!/, '^').replace(/\\/g, '\\\\')
        re += `[${body}]`
        i = end
      }
    } else re += c.replace(/[.+^${}()|\\\]]/g, '\\$&')
  }
  return new RegExp(`^${re}$`)
}

/** --grep: a regular expression, or a usage error naming it. */
export function parseGrep(pattern: string | undefined): RegExp | undefined {
  if (pattern === undefined) return undefined
  try {
    return new RegExp(pattern)
  } catch (e: unknown) {
    throw new UsageError(`--grep expects a regular expression: ${(e as Error).message}`)
  }
}

/** --tag T: a tag as scenarios write them (lowercase letters, digits, "-"). */
export function parseTags(tags: readonly string[] | undefined): string[] {
  for (const t of tags ?? []) if (!/^[a-z0-9-]+$/.test(t)) throw new UsageError(`--tag expects a tag of lowercase letters, digits and "-", got "${excerptOf(t)}"`)
  return [...(tags ?? [])]
}

/** No scenario file where the command line pointed: exit 2, as run and validate both say it. */
export function noScenarios(paths: readonly string[]): UsageError {
  return new UsageError(`no scenarios: no *.yaml or *.yml file in ${paths.map((p) => `"${excerptOf(p)}"`).join(', ')}`, { hint: 'give a scenario file or a directory holding some (tcplab list shows them)' })
}

/** Load and filter the scenarios the command line names. */
export async function selectScenarios(opts: SelectOptions): Promise<LoadedScenario[]> {
  const { findScenarioFiles, loadScenarios } = await import('../scenario/loader.js')
  const grep = parseGrep(opts.grep)
  const names = opts.positionals.filter(isNamePattern)
  const paths = opts.positionals.filter((p) => !isNamePattern(p))
  const explicit = opts.positionals.length > 0
  const tags = parseTags(opts.tags)
  const where = explicit ? paths : [defaultScenarioDir()]
  const files = paths.length > 0 || !explicit ? await findScenarioFiles(where) : []
  if ((paths.length > 0 || !explicit) && files.length === 0) throw noScenarios(where)
  const loaded = files.length > 0 ? await loadScenarios(files) : []
  if (names.length > 0) {
    const all = await loadScenarios(await findScenarioFiles([defaultScenarioDir()]))
    for (const n of names) {
      const re = compileGlob(n)
      const hits = all.filter((l) => re.test(l.scenario.name))
      if (hits.length === 0) throw new UsageError(`no scenario named "${n}" in ${defaultScenarioDir()} (and no such file)`, { hint: 'tcplab list' })
      for (const h of hits) if (!loaded.some((l) => l.file === h.file)) loaded.push(h)
    }
  }
  return loaded.filter((l) => {
    const st = l.scenario.tags
    if (grep && !grep.test(l.scenario.name) && !grep.test(l.scenario.title)) return false
    if (tags.length > 0) return tags.some((t) => st.includes(t))
    return explicit || opts.includeSlow === true || !st.includes('slow')
  })
}
