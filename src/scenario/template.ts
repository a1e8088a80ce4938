// {{host}} placeholders in commands, rules and data: `{{server}}` is the
// server's lab address, `{{server.addr}}` the same, `{{server.if}}` its
// lab-facing interface name.

export interface Placeholder {
  raw: string
  host: string
  field: 'addr' | 'if'
}

const PLACEHOLDER = /\{\{\s*([a-z][a-z0-9]*)(?:\.(addr|if))?\s*\}\}/g

/** Every placeholder in `text`. */
export function findPlaceholders(text: string): Placeholder[] {
  return [...text.matchAll(PLACEHOLDER)].map((m) => ({
    raw: m[0].slice(2, -2).trim(),
    host: m[1] as string,
    field: (m[2] ?? 'addr') as Placeholder['field'],
  }))
}

export interface HostFacts {
  addr: string
  ifname: string
}

/** Replace placeholders with the facts of the lab's hosts; unknown hosts are left as they are (the loader rejects them). */
export function fillPlaceholders(text: string, hosts: ReadonlyMap<string, HostFacts>): string {
  return text.replace(PLACEHOLDER, (whole, host: string, field: string | undefined) => {
    const h = hosts.get(host)
    if (!h) return whole
    return field === 'if' ? h.ifname : h.addr
  })
}

/** Split a rule written as one string into argv, honouring single and double quotes (no shell is involved). */
export function splitArgs(text: string): string[] {
  const out: string[] = []
  let cur = ''
  let quote: '"' | "'" | undefined
  let has = false
  for (const ch of text) {
    if (quote) {
      if (ch === quote) quote = undefined
      else cur += ch
    } else if (ch === '"' || ch === "'") {
      quote = ch
      has = true
    } else if (/\s/.test(ch)) {
      if (has || cur) out.push(cur)
      cur = ''
      has = false
    } else {
      cur += ch
    }
  }
  if (quote) throw new Error(`unterminated ${quote} quote in "${text}"`)
  if (has || cur) out.push(cur)
  return out
}
