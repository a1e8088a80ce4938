// Option values that node:util parseArgs misreads: `--jobs -1` stops at "-1"
// ("argument is ambiguous") because it looks like an option. A value that
// looks like a negative number is joined to its option (`--jobs=-1`), so the
// option's own typed check reports it ("--jobs expects ... got "-1"").

/** Join `--opt -N` / `-o -N` into `--opt=-N` for options that take a value. */
export function joinNegativeValues(args: readonly string[], options: Record<string, { type: string; short?: string | undefined }>): string[] {
  const takesValue = new Set<string>()
  for (const [name, o] of Object.entries(options)) {
    if (o.type !== 'string') continue
    takesValue.add(`--${name}`)
    if (o.short) takesValue.add(`-${o.short}`)
  }
  const long = (flag: string): string => {
    if (flag.startsWith('--')) return flag
    const name = Object.entries(options).find(([, o]) => `-${o.short ?? ''}` === flag)?.[0]
    return `--${name ?? flag.slice(1)}`
  }
  const out: string[] = []
  for (let i = 0; i < args.length; i++) {
    const a = args[i] as string
    const next = args[i + 1]
    if (a === '--') {
      out.push(...args.slice(i))
      break
    }
    if (takesValue.has(a) && next !== undefined && /^-[\d.]/.test(next)) {
      out.push(`${long(a)}=${next}`)
      i++
    } else out.push(a)
  }
  return out
}
