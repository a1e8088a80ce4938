// Debian package version ordering (deb-version(7)): [epoch:]upstream[-revision],
// compared part by part; within a part, runs of non-digits by a modified ASCII
// order in which '~' sorts before everything (even the end of the string) and
// letters before other characters, then runs of digits numerically.

/** -1, 0 or 1 as a sorts before, with or after b. */
export function compareDebianVersions(a: string, b: string): number {
  const pa = splitVersion(a)
  const pb = splitVersion(b)
  if (pa.epoch !== pb.epoch) return pa.epoch < pb.epoch ? -1 : 1
  return compareFragment(pa.upstream, pb.upstream) || compareFragment(pa.revision, pb.revision)
}

function splitVersion(v: string): { epoch: number; upstream: string; revision: string } {
  const colon = v.indexOf(':')
  const epoch = colon > 0 ? Number(v.slice(0, colon)) : 0
  const rest = colon > 0 ? v.slice(colon + 1) : v
  const dash = rest.lastIndexOf('-')
  return { epoch: Number.isFinite(epoch) ? epoch : 0, upstream: dash >= 0 ? rest.slice(0, dash) : rest, revision: dash >= 0 ? rest.slice(dash + 1) : '0' }
}

/** dpkg's order of one character of a non-digit run: '~' first, the end next, letters, then the rest. */
function order(c: string | undefined): number {
  if (c === undefined) return 0
  if (c === '~') return -1
  if (/[A-Za-z]/.test(c)) return c.charCodeAt(0)
  return c.charCodeAt(0) + 256
}

function compareFragment(a: string, b: string): number {
  let i = 0
  let j = 0
  while (i < a.length || j < b.length) {
    // Non-digit run.
    while ((i < a.length && !isDigit(a[i])) || (j < b.length && !isDigit(b[j]))) {
      const ca = i < a.length && !isDigit(a[i]) ? a[i] : undefined
      const cb = j < b.length && !isDigit(b[j]) ? b[j] : undefined
      const d = order(ca) - order(cb)
      if (d !== 0) return d < 0 ? -1 : 1
      if (ca !== undefined) i++
      if (cb !== undefined) j++
    }
    // Digit run.
    let na = ''
    let nb = ''
    while (i < a.length && isDigit(a[i])) na += a[i++]
    while (j < b.length && isDigit(b[j])) nb += b[j++]
    const d = Number(na || '0') - Number(nb || '0')
    if (d !== 0) return d < 0 ? -1 : 1
  }
  return 0
}

function isDigit(c: string | undefined): boolean {
  return c !== undefined && c >= '0' && c <= '9'
}
