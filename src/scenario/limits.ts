// The bounds a scenario file is held to, documented in the README ("Bad input").
// A file beyond them is refused with `file:line:col` and exit 2, before anything
// reaches the host: the reader, the YAML parser and the checks each stop early
// instead of running out of memory or stack.

/** Largest scenario file read (1 MiB): the biggest shipped scenario is ~10 KiB. */
export const MAX_FILE_BYTES = 1024 * 1024

/**
 * YAML aliases (`*a`) per document: a scenario needs none or a few; a "billion laughs" file
 * needs thousands. The yaml package's own default (100) applies to toJS; this one is checked
 * first, on the parsed tree, so the error has a position.
 */
export const MAX_ALIASES = 100

/** Nesting of mappings and lists: a scenario is at most ~8 deep; 64 leaves room and no stack risk. */
export const MAX_DEPTH = 64

/**
 * Longest duration anywhere in a scenario (24 h). The longest shipped scenario lasts ~2.3 h
 * (tcp_retries2 with exponential backoff); Node's timers stop at 2^31-1 ms (~24.8 days) and
 * silently fire at once beyond it (TimeoutOverflowWarning).
 */
export const MAX_DURATION_MS = 24 * 3600 * 1000

/** Largest integer handed to the agent or a kernel option (a C int). */
export const MAX_INT32 = 2 ** 31 - 1

/** Characters of the input quoted in an error message, at most. */
export const EXCERPT_CHARS = 40

/** A short, printable excerpt of a value from the input, for messages: never the whole thing. */
export function excerptOf(text: string, max = EXCERPT_CHARS): string {
  // eslint-disable-next-line no-control-regex
  const printable = text.replace(/[\u0000-\u001f\u007f]/g, (c) => (c === '\n' ? '\\n' : c === '\t' ? '\\t' : '?'))
  return printable.length > max ? `${printable.slice(0, max)}... (${text.length} characters)` : printable
}

/** JSON-quoted excerpt: `"abc"` or `"abcd... (5000 characters)"`. */
export function quoteExcerpt(value: unknown): string {
  const s = typeof value === 'string' ? value : JSON.stringify(value) ?? String(value)
  if (s.length <= EXCERPT_CHARS && typeof value === 'string') return JSON.stringify(excerptOf(s))
  if (typeof value !== 'string') return excerptOf(s)
  return `"${excerptOf(s)}"`
}
