// The scenario names and tags that shell completion offers: read from the
// YAML of the default scenario directory without validating it (completion
// must answer at once: `tcplab validate` is for errors). Each file's top-level
// `name:` and `tags:` are read from its lines when they are written plainly
// (as every shipped scenario writes them); a file written otherwise (a
// quoted name with escapes, anchors, a flow mapping, several documents) is
// parsed whole with the YAML parser, loaded only then. The lines do not look
// at the rest of the file: a file whose YAML is broken past its name still
// completes (and `tcplab run` then names the error at file:line:col).

import { open, readdir } from 'node:fs/promises'
import path from 'node:path'
import { defaultScenarioDir } from './scenario-dir.js'
import { MAX_ALIASES, MAX_FILE_BYTES } from '../scenario/limits.js'

export interface ScenarioWords {
  name: string
  tags: string[]
}

/** name and tags of every scenario file under `dir` (files that do not parse are left out). */
export async function readScenarioWords(dir: string = defaultScenarioDir()): Promise<ScenarioWords[]> {
  let entries: string[]
  try {
    entries = (await readdir(dir, { recursive: true })).filter((e) => /\.ya?ml$/.test(e)).sort()
  } catch {
    return []
  }
  const texts = await Promise.all(entries.map((e) => readScenarioText(path.join(dir, e))))
  const out: ScenarioWords[] = []
  for (const text of texts) {
    if (text === undefined) continue
    const words = extractScenarioWords(text) ?? (await parseScenarioWords(text))
    if (words) out.push(words)
  }
  return out
}

/** A regular file's text, if it is within the loader's size limit (not a FIFO, /dev/zero, or 2 GB of YAML). */
async function readScenarioText(file: string): Promise<string | undefined> {
  const fh = await open(file, 'r').catch(() => undefined)
  if (!fh) return undefined
  try {
    const st = await fh.stat()
    if (!st.isFile() || st.size > MAX_FILE_BYTES) return undefined
    // Its size and one byte more: a file that grew since stat (being written) is left out.
    const buf = Buffer.allocUnsafe(st.size + 1)
    const { bytesRead } = await fh.read(buf, 0, buf.length, 0)
    return bytesRead > st.size ? undefined : buf.subarray(0, bytesRead).toString('utf8')
  } catch {
    return undefined
  } finally {
    await fh.close()
  }
}

/**
 * name and tags by the YAML parser (undefined: not YAML, or no string `name`), within the
 * loader's limits (an alias bomb is refused, not expanded).
 */
export async function parseScenarioWords(text: string): Promise<ScenarioWords | undefined> {
  const { parse } = await import('yaml')
  try {
    const doc = parse(text, { maxAliasCount: MAX_ALIASES, uniqueKeys: true }) as { name?: unknown; tags?: unknown } | null
    if (typeof doc?.name !== 'string') return undefined
    return { name: doc.name, tags: Array.isArray(doc.tags) ? doc.tags.filter((t): t is string => typeof t === 'string') : [] }
  } catch {
    return undefined
  }
}

/** A plain scalar word (no quotes, no YAML indicator first), then an optional comment. */
const PLAIN = /^([A-Za-z0-9_][A-Za-z0-9_.\/-]*)(?:\s+#.*)?\s*$/
/** The same, single- or double-quoted without escapes. */
const QUOTED = /^(?:'([A-Za-z0-9_ .\/-]*)'|"([A-Za-z0-9_ .\/-]*)")(?:\s+#.*)?\s*$/

/**
 * name and tags read from the lines of a scenario file, when it writes them plainly:
 * `name: WORD` and `tags: [a, b]` or a block list of words, at the top level, once each.
 * undefined when it cannot tell without parsing (then parseScenarioWords).
 */
export function extractScenarioWords(text: string): ScenarioWords | undefined {
  const src = text.startsWith('\uFEFF') ? text.slice(1) : text
  // Several documents, directives, tabs, a top level that is not a block mapping: the parser decides.
  if (/^(---|\.\.\.|%)/m.test(src) || src.includes('\t')) return undefined
  const lines = src.split(/\r?\n/)
  const first = lines.find((l) => l.trim() !== '' && !l.trimStart().startsWith('#'))
  if (first === undefined || !/^[A-Za-z_][\w-]*:(\s|$)/.test(first)) return undefined
  const nameLines = lines.flatMap((l, i) => (/^name\s*:/.test(l) ? [i] : []))
  const tagLines = lines.flatMap((l, i) => (/^tags\s*:/.test(l) ? [i] : []))
  if (nameLines.length !== 1 || tagLines.length > 1) return undefined
  // Top-level keys quoted or complex (`"name":`, `? name`) could hide a second name: the parser decides.
  if (lines.some((l) => /^["'?]/.test(l))) return undefined
  const name = scalarOf((lines[nameLines[0] as number] as string).replace(/^name\s*:/, '').trim())
  if (name === undefined) return undefined
  if (tagLines.length === 0) return { name, tags: [] }
  const at = tagLines[0] as number
  const rest = (lines[at] as string).replace(/^tags\s*:/, '').trim()
  const tags = rest === '' || rest.startsWith('#') ? blockList(lines, at + 1) : flowList(rest)
  return tags === undefined ? undefined : { name, tags }
}

function scalarOf(v: string): string | undefined {
  const p = PLAIN.exec(v)
  if (p) return isPlainString(p[1] as string) ? p[1] : undefined
  const q = QUOTED.exec(v)
  return q ? (q[1] ?? q[2]) : undefined
}

/** A plain scalar YAML reads as a string (not null, a boolean or a number). */
function isPlainString(w: string): boolean {
  return !/^(null|Null|NULL|~|true|True|TRUE|false|False|FALSE|[-+]?(\.inf|\.Inf|\.INF)|\.nan|\.NaN|\.NAN)$/.test(w) && !/^[-+]?(\d[\d_]*(\.\d*)?|\.\d+)([eE][-+]?\d+)?$/.test(w) && !/^0[xo]/.test(w)
}

/** `[a, b]` on one line (then an optional comment). */
function flowList(v: string): string[] | undefined {
  const m = /^\[([^\[\]{}#]*)\](?:\s+#.*)?\s*$/.exec(v)
  if (!m) return undefined
  const items = (m[1] as string).split(',').map((s) => s.trim())
  if (items.length > 0 && items.at(-1) === '') items.pop() // a trailing comma
  const out: string[] = []
  for (const it of items) {
    const w = scalarOf(it)
    if (w === undefined) return undefined
    out.push(w)
  }
  return out
}

/** The `- word` items under a `tags:` line, up to the next top-level key. */
function blockList(lines: readonly string[], from: number): string[] | undefined {
  const out: string[] = []
  for (let i = from; i < lines.length; i++) {
    const l = lines[i] as string
    if (l.trim() === '' || /^\s*#/.test(l)) continue
    if (!/^\s/.test(l) && !l.startsWith('-')) break
    const m = /^\s*-\s+(.*)$/.exec(l)
    if (!m) return undefined
    const w = scalarOf((m[1] as string).trim())
    if (w === undefined) return undefined
    out.push(w)
  }
  return out
}
