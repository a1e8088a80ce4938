// Durations as written in scenario files: "250ms", "2s", "1.5s", "1m", "2m30s",
// "100us", "1h". Parsed to milliseconds (a number, may be fractional for us).

const UNIT_MS: Record<string, number> = { us: 0.001, µs: 0.001, ms: 1, s: 1000, m: 60_000, min: 60_000, h: 3_600_000 }
const PART = /(\d+(?:\.\d+)?)(us|µs|ms|min|s|m|h)/gy

/** Parse "250ms" / "2s" / "1m30s" to milliseconds; undefined when malformed. */
export function parseDurationMs(text: string): number | undefined {
  const s = text.trim()
  if (s === '' ) return undefined
  if (s === '0') return 0
  PART.lastIndex = 0
  let total = 0
  let pos = 0
  let m: RegExpExecArray | null
  while (pos < s.length && (m = PART.exec(s)) !== null) {
    total += Number(m[1]) * (UNIT_MS[m[2] as string] as number)
    pos = PART.lastIndex
  }
  return pos === s.length && pos > 0 ? total : undefined
}

/** Format milliseconds compactly for reports: 950ms, 1.5s, 2m3s. */
export function formatMs(ms: number): string {
  const sign = ms < 0 ? '-' : ''
  const a = Math.abs(ms)
  if (a === 0) return '0s'
  if (a < 1) return `${sign}${Math.round(a * 1000)}us`
  if (a < 1000) return `${sign}${round(a, 1)}ms`
  if (a < 60_000) return `${sign}${round(a / 1000, 3)}s`
  const m = Math.floor(a / 60_000)
  const rest = (a - m * 60_000) / 1000
  return `${sign}${m}m${rest ? `${round(rest, 3)}s` : ''}`
}

function round(x: number, digits: number): number {
  const f = 10 ** digits
  return Math.round(x * f) / f
}
