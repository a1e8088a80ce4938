// Comparisons written in expectations: 6, ">0", ">=3", "<=60000", "!=0",
// "1..5" (inclusive range), "ESTAB" (exact), "/^FIN-WAIT/" (regex), true.

export type ComparatorValue = number | string | boolean

export interface ParsedComparator {
  /** Whether a measured value satisfies it. */
  test(v: unknown): boolean
  /** How it reads in a report: "> 0", "= 6", "in 1..5". */
  text: string
  error?: undefined
}

const NUM = String.raw`-?\d+(?:\.\d+)?`
const OP = new RegExp(`^(>=|<=|!=|==|=|>|<)\\s*(${NUM})$`)
const RANGE = new RegExp(`^(${NUM})\\s*\\.\\.\\s*(${NUM})$`)

/** Parse a comparator; `error` says why a string is not one. */
export function parseComparator(v: ComparatorValue): ParsedComparator | { error: string } {
  if (typeof v === 'number') return { test: (x) => toNumber(x) === v, text: `= ${v}` }
  if (typeof v === 'boolean') return { test: (x) => x === v, text: `= ${v}` }
  const s = v.trim()
  const op = OP.exec(s)
  if (op) {
    const n = Number(op[2])
    const cmp = op[1] as string
    const f = OPS[cmp === '==' ? '=' : cmp] as (a: number, b: number) => boolean
    return { test: (x) => { const a = toNumber(x); return a !== undefined && f(a, n) }, text: `${cmp === '==' ? '=' : cmp} ${n}` }
  }
  const range = RANGE.exec(s)
  if (range) {
    const lo = Number(range[1])
    const hi = Number(range[2])
    if (lo > hi) return { error: `range ${s} is empty (low > high)` }
    return { test: (x) => { const a = toNumber(x); return a !== undefined && a >= lo && a <= hi }, text: `in ${lo}..${hi}` }
  }
  if (s.length > 2 && s.startsWith('/') && s.endsWith('/')) {
    let re: RegExp
    try {
      re = new RegExp(s.slice(1, -1))
    } catch (e: unknown) {
      return { error: `bad regular expression ${s}: ${(e as Error).message}` }
    }
    return { test: (x) => x !== undefined && x !== null && re.test(String(x)), text: `~ ${s}` }
  }
  if (/^[<>=!]/.test(s)) return { error: `expected a comparison like ">0", ">=3", "!=0" or "1..5", got "${s}"` }
  // A plain number written as a string ("6") compares numerically.
  if (new RegExp(`^${NUM}$`).test(s)) {
    const n = Number(s)
    return { test: (x) => toNumber(x) === n, text: `= ${n}` }
  }
  return { test: (x) => x !== undefined && x !== null && String(x) === s, text: `= ${s}` }
}

/** Parse a comparator that was validated by the schema (throws on a bad one). */
export function compileComparator(v: ComparatorValue): ParsedComparator {
  const c = parseComparator(v)
  if (c.error !== undefined) throw new Error(c.error)
  return c as ParsedComparator
}

const OPS: Record<string, (a: number, b: number) => boolean> = {
  '>': (a, b) => a > b,
  '>=': (a, b) => a >= b,
  '<': (a, b) => a < b,
  '<=': (a, b) => a <= b,
  '=': (a, b) => a === b,
  '!=': (a, b) => a !== b,
}

function toNumber(x: unknown): number | undefined {
  if (typeof x === 'number') return x
  if (typeof x === 'string' && x.trim() !== '' && !Number.isNaN(Number(x))) return Number(x)
  return undefined
}
