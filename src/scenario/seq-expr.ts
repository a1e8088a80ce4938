// Sequence and acknowledgment numbers as written in packets expectations:
// relative to the connection's ISN (tcpdump's default: 1, ">1000", "1..1153"),
// symbolic ("snd_una-1", "<snd_nxt", "rcv_nxt", "first", "prev+576"), or
// absolute ({ abs: 1398772771 }, { abs: ">=1398772771" }).

import { parseComparator, type ComparatorValue, type ParsedComparator } from './comparator.js'

/**
 * What a symbol stands for, for a packet sent by S to R (see src/expect/packet-fields.ts):
 * snd_una: the highest ack R sent S before it; snd_nxt: the byte after the highest S sent
 * before it; rcv_nxt: the byte after the highest R sent before it; first: the field of the
 * first matching packet; prev: the field of the previous matching packet.
 */
export const SEQ_SYMBOLS = ['snd_una', 'snd_nxt', 'rcv_nxt', 'first', 'prev'] as const
export type SeqSymbol = (typeof SEQ_SYMBOLS)[number]

export type SeqOp = '=' | '!=' | '<' | '<=' | '>' | '>='

export type SeqExpr =
  | { kind: 'relative'; cmp: ParsedComparator; text: string }
  | { kind: 'absolute'; cmp: ParsedComparator; text: string }
  | { kind: 'symbolic'; op: SeqOp; symbol: SeqSymbol; offset: number; text: string }

export type SeqExprInput = ComparatorValue | { abs: ComparatorValue }

const SYMBOLIC = new RegExp(`^(>=|<=|!=|==|=|>|<)?\\s*(${SEQ_SYMBOLS.join('|')})\\s*(?:([+-])\\s*(\\d+))?$`)

export const SEQ_EXPR_HINT = 'expected a sequence number relative to the ISN (1, ">1000", "1..1153"), a symbol with an offset (snd_una-1, "<snd_nxt", rcv_nxt, first, prev+576) or { abs: N }'

/** Parse a seq/ack value; `error` says why it is not one. */
export function parseSeqExpr(v: SeqExprInput): SeqExpr | { error: string } {
  if (typeof v === 'object') {
    const cmp = parseComparator(v.abs)
    if (cmp.error !== undefined) return { error: `abs: ${cmp.error}` }
    if (typeof v.abs === 'boolean') return { error: `abs: ${SEQ_EXPR_HINT}` }
    return { kind: 'absolute', cmp: cmp as ParsedComparator, text: `absolute ${(cmp as ParsedComparator).text}` }
  }
  if (typeof v === 'boolean') return { error: SEQ_EXPR_HINT }
  if (typeof v === 'string') {
    const m = SYMBOLIC.exec(v.trim())
    if (m) {
      const op = (m[1] === undefined || m[1] === '==' ? '=' : m[1]) as SeqOp
      const offset = m[4] === undefined ? 0 : (m[3] === '-' ? -1 : 1) * Number(m[4])
      const symbol = m[2] as SeqSymbol
      return { kind: 'symbolic', op, symbol, offset, text: `${op} ${formatSymbolic(symbol, offset)}` }
    }
  }
  const cmp = parseComparator(v)
  if (cmp.error !== undefined) return { error: `${cmp.error}; ${SEQ_EXPR_HINT}` }
  const text = (cmp as ParsedComparator).text
  // A plain word that is neither a number nor a symbol: a typo of a symbol, most likely.
  if (typeof v === 'string' && !/^[\d<>=!.\s-]/.test(v.trim())) return { error: `unknown symbol "${v}"; ${SEQ_EXPR_HINT}` }
  if (text.startsWith('~')) return { error: SEQ_EXPR_HINT }
  return { kind: 'relative', cmp: cmp as ParsedComparator, text: `${text} (relative)` }
}

/** "snd_una-1", "snd_una", "prev+576". */
export function formatSymbolic(symbol: string, offset: number): string {
  return offset === 0 ? symbol : `${symbol}${offset > 0 ? '+' : ''}${offset}`
}

/** Whether a - b satisfies op 0. */
export function testSeqOp(op: SeqOp, diff: number): boolean {
  switch (op) {
    case '=': return diff === 0
    case '!=': return diff !== 0
    case '<': return diff < 0
    case '<=': return diff <= 0
    case '>': return diff > 0
    case '>=': return diff >= 0
  }
}
