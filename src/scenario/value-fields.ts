// Schema fields for what a TCP expert checks beyond flags and times: packet
// header fields and options (seq, ack, win, mss, ...), aggregates over the
// matching packets or events (sum, min, max), values of event fields
// (getsockopt results, tcp_info, bytes read), the number of sockets matching
// a selector in one ss sample, and trends over samples. Spread into the
// expectation kinds of schema.ts.

import { z } from 'zod'
import { Comparator } from './fields.js'
import { parseSeqExpr, SEQ_EXPR_HINT, type SeqExprInput } from './seq-expr.js'

/** A sequence or acknowledgment number: relative, symbolic or absolute (see seq-expr.ts). */
export const SeqValue = z
  .union([z.number(), z.string(), z.boolean(), z.object({ abs: z.union([z.number(), z.string()]).meta({ description: 'the raw 32-bit number, or a comparison on it', examples: [1398772771, '>=1398772771'] }) }).strict()])
  .superRefine((v, ctx) => {
    const r = parseSeqExpr(v as SeqExprInput)
    if ('error' in r) ctx.addIssue({ code: 'custom', message: r.error })
  })
  .meta({
    description: `${SEQ_EXPR_HINT}. Relative numbers count from the sender's SYN (ISN = 0, as tcpdump prints them; ack counts from the peer's ISN). snd_una: the highest ack the sender had received; snd_nxt: the byte after the highest it had sent; rcv_nxt: the byte after the highest it had received (all as seen in this host's capture before the packet); first/prev: the value of the first/previous matching packet. A comparison may precede a symbol ("<snd_nxt": a retransmission).`,
    examples: ['snd_una-1', '<snd_nxt', 'first', 1, '1..1153', { abs: 1398772771 }],
  })

/** Header fields and options of a packet: the names `each:` and the filters use. */
export const PacketFieldShape = {
  seq: SeqValue.optional().meta({ description: 'sequence number (see SeqValue): relative to the ISN, symbolic (snd_una-1) or { abs: N }', examples: ['snd_una-1', 'first', 1] }),
  ack: SeqValue.optional().meta({ description: 'acknowledgment number (ACK packets only): relative to the peer\'s ISN, symbolic (rcv_nxt) or { abs: N }', examples: ['rcv_nxt', 1153] }),
  win: Comparator.optional().meta({ description: 'the window field as on the wire (raw, not scaled), as tcpdump prints it', examples: [0, '>0'] }),
  winBytes: Comparator.optional().meta({ description: 'the window in bytes: the raw field shifted by the sender\'s wscale when both SYNs offered it (not on SYNs); absent when the capture has no handshake', examples: [0, '>=65535'] }),
  mss: Comparator.optional().meta({ description: 'MSS option value (SYNs); false: no MSS option', examples: [1460, false] }),
  wscale: Comparator.optional().meta({ description: 'window scale option shift (SYNs); false: no wscale option', examples: [7, false] }),
  sackOK: z.boolean().optional().meta({ description: 'the SACK-permitted option (SYNs) is present (true) or absent (false)', examples: [true] }),
  sack: Comparator.optional().meta({ description: 'the number of SACK blocks (0 without); true: SACK blocks present, false: none', examples: [true, '>=2'] }),
  ts: z.boolean().optional().meta({ description: 'the timestamps option is present (true) or absent (false)', examples: [true] }),
}

export const PACKET_FIELD_NAMES = Object.keys(PacketFieldShape) as Array<keyof typeof PacketFieldShape>

/** `each:` what every matching packet must carry (the same fields as the filters). */
export const PacketEach = z
  .object({ ...PacketFieldShape, len: Comparator.optional().meta({ description: 'TCP payload length', examples: [11, '>0'] }) })
  .strict()
  .meta({ description: 'asserted on every matching packet: the first that differs fails the expectation, with the values seen', examples: [{ seq: 'snd_una-1', win: '>0' }] })

/** Numeric packet fields that aggregates sum up or take the extremes of. */
export const PacketNumericField = z.enum(['len', 'win', 'winBytes', 'seq', 'ack', 'mss', 'wscale', 'sack'])

const aggregateMeta = (what: string, verb: string, example: Record<string, unknown>) => ({
  description: `${verb} of a field over the matching ${what}, compared: FIELD: COMPARATOR`,
  examples: [example],
})

/** sum/min/max over the matching packets: `sum: { len: 1152 }` (the payload bytes). */
export const PacketAggregates = {
  sum: z.partialRecord(PacketNumericField, Comparator).optional().meta(aggregateMeta('packets', 'the sum', { len: 1152 })),
  min: z.partialRecord(PacketNumericField, Comparator).optional().meta(aggregateMeta('packets', 'the smallest value', { win: '>0' })),
  max: z.partialRecord(PacketNumericField, Comparator).optional().meta(aggregateMeta('packets', 'the largest value', { winBytes: 0 })),
}

const EventFieldMap = z.record(z.string(), Comparator)

/**
 * Values of event fields: `match:` filters the events (SO_ERROR: 0, any
 * tcp_info field, n = bytes of a read or send), sum/min/max aggregate them.
 */
export const EventValues = {
  match: EventFieldMap.optional().meta({
    description: 'only events whose fields match: n (bytes of a read/sent), total, errno, code; an option name for a getsockopt result (SO_ERROR: 0, SIOCINQ: 0, TCP_NODELAY: 1); any tcp_info field of a `tcpinfo` event (snd_wnd: 0, backoff: ">=3", state: ESTAB); other keys and dotted paths reach into the event\'s data',
    examples: [{ SO_ERROR: 0 }, { snd_wnd: 0, backoff: '>=3' }, { n: '>0' }],
  }),
  sum: EventFieldMap.optional().meta(aggregateMeta('events', 'the sum', { n: 30000 })),
  min: EventFieldMap.optional().meta(aggregateMeta('events', 'the smallest value', { n: '>0' })),
  max: EventFieldMap.optional().meta(aggregateMeta('events', 'the largest value', { rto: '<=1000000' })),
}

export const TREND_NAMES = ['increases', 'decreases', 'constant'] as const

/** ss: the number of matching rows per sample, and trends over the samples of each socket. */
export const SsAggregates = {
  sockets: Comparator.optional().meta({
    description: 'the number of sockets (ss rows) matching the selector and `match` in each sample of the host, judged with the quantifier (always over a window, else eventually): 1 = "exactly one CLOSE-WAIT row"',
    examples: [1, '>=2', 0],
  }),
  trend: z.record(z.string(), z.enum(TREND_NAMES)).optional().meta({
    description: 'how an ss field moves over the samples of each selected socket in the window: increases (never goes down, ends higher), decreases (never goes up, ends lower), constant (the same in every sample)',
    examples: [{ rcv_space: 'increases' }, { 'timer.retrans': 'increases', 'skmem.rb': 'constant' }],
  }),
}
