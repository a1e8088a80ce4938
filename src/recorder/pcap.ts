// Classic pcap parser for what tcpdump writes, down to the TCP header.
//
// File format: pcap-savefile(5), https://www.tcpdump.org/manpages/pcap-savefile.5.html
// and draft-ietf-opsawg-pcap ("PCAP Capture File Format"). A 24-byte file header
// (magic, version, thiszone, sigfigs, snaplen, link type) then records of a 16-byte
// header (ts_sec, ts_usec or ts_nsec, incl_len, orig_len) and incl_len bytes.
// Link-layer headers: https://www.tcpdump.org/linktypes.html (LINKTYPE_LINUX_SLL2,
// LINKTYPE_LINUX_SLL, LINKTYPE_ETHERNET, LINKTYPE_RAW, LINKTYPE_NULL/LOOP).
// IP and TCP: RFC 791, RFC 8200 (IPv6 extension headers), RFC 9293 (TCP),
// RFC 7323 (wscale, TS), RFC 2018 (SACK), RFC 7413 (TFO), RFC 6994 (experimental).

import { TcplabError } from '../util/errors.js'
import { secondsSince } from './records.js'
import type { PktRecord, TcpFlagsText } from './records.js'

/** Link types this parser decodes (LINKTYPE_* values from tcpdump.org/linktypes.html). */
export const LINKTYPE = {
  NULL: 0,
  EN10MB: 1,
  /** DLT_RAW as some platforms number it in files (12 most, 14 on OpenBSD). */
  RAW_12: 12,
  RAW_14: 14,
  RAW: 101,
  LOOP: 108,
  LINUX_SLL: 113,
  LINUX_SLL2: 276,
} as const

/** sll_pkttype values (linux/if_packet.h PACKET_*), as carried by SLL and SLL2 headers. */
export const PACKET_TYPE = { HOST: 0, BROADCAST: 1, MULTICAST: 2, OTHERHOST: 3, OUTGOING: 4 } as const

/** One TCP option as on the wire, in order (tcpdump names). */
export type TcpOption =
  | { name: 'eol' }
  | { name: 'nop' }
  | { name: 'mss'; mss: number }
  | { name: 'wscale'; shift: number }
  | { name: 'sackOK' }
  | { name: 'sack'; blocks: Array<{ left: number; right: number }> }
  | { name: 'TS'; val: number; ecr: number }
  /** Fast Open (kind 34, or 254 with magic 0xF989 when `exp`); cookie in hex, '' for a cookie request. */
  | { name: 'tfo'; cookie: string; exp: boolean }
  /** Any other kind; data in hex without a prefix. */
  | { name: 'unknown'; kind: number; data: string }

/** One TCP segment from a pcap file, with what the link layer said about it. */
export interface PcapPacket {
  /** Capture time in microseconds since the epoch (nanosecond files are floored). */
  tsUs: number
  /** Interface index in the capturing namespace (LINUX_SLL2 only). */
  ifindex?: number | undefined
  /** sll_pkttype (LINUX_SLL/SLL2 only): 0 host, 1 broadcast, 2 multicast, 3 otherhost, 4 outgoing. */
  pktType?: number | undefined
  /** out for pktType 4, in for 0, unknown otherwise or without SLL. */
  dir: 'in' | 'out' | 'unknown'
  family: 4 | 6
  src: string
  sport: number
  dst: string
  dport: number
  /** tcpdump's notation, letters in the order F S R P . U E W ("S.", "P.", "S.E", "SEW"); "none" when no flag is set. */
  flags: TcpFlagsText
  /** The TCP flags octet (FIN 0x01 ... CWR 0x80). */
  flagBits: number
  seq: number
  ack: number
  /** Raw window field (not scaled). */
  win: number
  /** TCP payload length from the IP header (not from the captured length: -s truncates). */
  len: number
  /** Options in wire order. */
  tcpOptions: TcpOption[]
  /** Options as a flat record (see toOptionRecord); undefined when there are none. */
  options?: Record<string, number | string | boolean> | undefined
  /** Bytes captured / bytes on the wire (record header incl_len / orig_len). */
  capLen: number
  origLen: number
}

const MAGIC_US = 0xa1b2c3d4
const MAGIC_NS = 0xa1b23c4d
const MAGIC_US_SWAPPED = 0xd4c3b2a1
const MAGIC_NS_SWAPPED = 0x4d3cb2a1
const MAGIC_PCAPNG = 0x0a0d0d0a
const FILE_HEADER_BYTES = 24
const RECORD_HEADER_BYTES = 16
/** No sane capture record is larger (libpcap caps snaplen at 256 KiB). */
const MAX_RECORD_BYTES = 64 * 1024 * 1024

const ETHERTYPE_IPV4 = 0x0800
const ETHERTYPE_IPV6 = 0x86dd
/** 802.1Q, 802.1ad and the old QinQ tag: 4 bytes (TCI + inner type) before the real type. */
const ETHERTYPE_VLAN = new Set([0x8100, 0x88a8, 0x9100])

const IPPROTO_TCP = 6
/** IPv6 extension headers walked before TCP (RFC 8200 section 4). */
const IPV6_HOPOPTS = 0
const IPV6_ROUTING = 43
const IPV6_FRAGMENT = 44
const IPV6_AH = 51
const IPV6_DSTOPTS = 60

/**
 * tcpdump's flag letters in its print order (print-tcp.c tcp_flag_values): F S R P . U E W.
 * ACK's "." comes before URG/ECE/CWR: an ECN SYN-ACK prints "S.E", a CWR data segment "P.W".
 */
const FLAG_LETTERS: ReadonlyArray<[number, string]> = [
  [0x01, 'F'], [0x02, 'S'], [0x04, 'R'], [0x08, 'P'], [0x10, '.'], [0x20, 'U'], [0x40, 'E'], [0x80, 'W'],
]

interface FileFormat {
  isLittleEndian: boolean
  isNano: boolean
  linkType: number
}

/** Parse a classic pcap file (µs or ns magic, either byte order) into its TCP segments. */
export function parsePcap(buf: Buffer): PcapPacket[] {
  const format = readFileHeader(buf)
  if (format === undefined) return []
  return parseRecords(buf, FILE_HEADER_BYTES, 0, format).pkts
}

/**
 * The same parser fed a pcap stream in chunks as tcpdump writes it (`-U -w -`):
 * each push returns the TCP segments of the records completed by that chunk;
 * a record cut by a chunk boundary waits for the next one. Pushing a whole
 * file at once gives what parsePcap gives.
 */
export class PcapStreamParser {
  private pending: Buffer = Buffer.alloc(0)
  private format: FileFormat | undefined
  private index = 0
  /** Bytes consumed before `pending` (for error messages). */
  private consumed = 0

  push(chunk: Buffer): PcapPacket[] {
    let buf = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk])
    let off = 0
    if (this.format === undefined) {
      this.format = readFileHeader(buf)
      if (this.format === undefined) {
        this.pending = buf
        return []
      }
      off = FILE_HEADER_BYTES
    }
    const r = parseRecords(buf, off, this.index, this.format, this.consumed)
    this.index = r.index
    this.consumed += r.off
    // Keep only the unfinished record (a copy: the chunk's memory is not held).
    buf = buf.subarray(r.off)
    this.pending = buf.length === 0 ? Buffer.alloc(0) : Buffer.from(buf)
    return r.pkts
  }
}

/** Records from `off` up to the last complete one: their TCP segments, and where the next record starts. */
function parseRecords(buf: Buffer, off: number, index: number, format: FileFormat, base = 0): { pkts: PcapPacket[]; off: number; index: number } {
  const out: PcapPacket[] = []
  const le = format.isLittleEndian
  while (off + RECORD_HEADER_BYTES <= buf.length) {
    const tsSec = le ? buf.readUInt32LE(off) : buf.readUInt32BE(off)
    const tsFrac = le ? buf.readUInt32LE(off + 4) : buf.readUInt32BE(off + 4)
    const capLen = le ? buf.readUInt32LE(off + 8) : buf.readUInt32BE(off + 8)
    const origLen = le ? buf.readUInt32LE(off + 12) : buf.readUInt32BE(off + 12)
    if (capLen > MAX_RECORD_BYTES) {
      throw new TcplabError('E_PCAP', `pcap record ${index} at byte ${base + off} claims ${capLen} captured bytes: the file is corrupt`)
    }
    const start = off + RECORD_HEADER_BYTES
    const end = start + capLen
    // A record cut short is what a killed tcpdump leaves behind (or the end of a chunk): stop before it.
    if (end > buf.length) break
    const tsUs = tsSec * 1_000_000 + (format.isNano ? Math.floor(tsFrac / 1000) : tsFrac)
    const pkt = decodeRecord(buf, start, end, format.linkType, { tsUs, capLen, origLen })
    if (pkt !== undefined) out.push(pkt)
    off = end
    index++
  }
  return { pkts: out, off, index }
}

/** Read the 24-byte file header; undefined for an empty or cut-short file (tcpdump killed before writing it). */
function readFileHeader(buf: Buffer): FileFormat | undefined {
  if (buf.length < 4) return undefined
  const magic = buf.readUInt32LE(0)
  let isLittleEndian: boolean
  let isNano: boolean
  if (magic === MAGIC_US || magic === MAGIC_NS) {
    isLittleEndian = true
    isNano = magic === MAGIC_NS
  } else if (magic === MAGIC_US_SWAPPED || magic === MAGIC_NS_SWAPPED) {
    isLittleEndian = false
    isNano = magic === MAGIC_NS_SWAPPED
  } else if (magic === MAGIC_PCAPNG) {
    throw new TcplabError('E_PCAP', 'this is a pcapng file; only classic pcap is supported', {
      hint: 'convert it with `editcap -F pcap in.pcapng out.pcap`, or capture with `tcpdump -w` (which writes classic pcap)',
    })
  } else {
    throw new TcplabError('E_PCAP', `not a pcap file (magic 0x${magic.toString(16).padStart(8, '0')})`)
  }
  if (buf.length < FILE_HEADER_BYTES) return undefined
  // draft-ietf-opsawg-pcap: the low 16 bits are the link type; the high bits carry FCS information.
  const linkField = isLittleEndian ? buf.readUInt32LE(20) : buf.readUInt32BE(20)
  return { isLittleEndian, isNano, linkType: linkField & 0xffff }
}

/** What the record header says about one frame. */
interface Frame {
  tsUs: number
  capLen: number
  origLen: number
}

interface LinkInfo {
  /** Offset of the IP header. */
  l3: number
  /** Ethertype; undefined when the link layer does not say (NULL, LOOP, RAW): the IP version nibble decides. */
  etherType: number | undefined
  ifindex?: number | undefined
  pktType?: number | undefined
}

/** Strip the link-layer header; undefined when the frame carries no IP. */
function decodeLink(buf: Buffer, start: number, end: number, linkType: number): LinkInfo | undefined {
  switch (linkType) {
    case LINKTYPE.LINUX_SLL2: {
      // https://www.tcpdump.org/linktypes/LINKTYPE_LINUX_SLL2.html: protocol(2) reserved(2)
      // if_index(4) hatype(2) pkttype(1) halen(1) addr(8), 20 bytes, big endian.
      // if_index is an index in the capturing network namespace (capture.ts records the names).
      if (end - start < 20) return undefined
      return {
        l3: start + 20,
        etherType: buf.readUInt16BE(start),
        ifindex: buf.readUInt32BE(start + 4),
        pktType: buf.readUInt8(start + 10),
      }
    }
    case LINKTYPE.LINUX_SLL: {
      // https://www.tcpdump.org/linktypes/LINKTYPE_LINUX_SLL.html: pkttype(2) hatype(2) halen(2)
      // addr(8) protocol(2), 16 bytes, big endian.
      if (end - start < 16) return undefined
      return { l3: start + 16, etherType: buf.readUInt16BE(start + 14), pktType: buf.readUInt16BE(start) }
    }
    case LINKTYPE.EN10MB: {
      // dst(6) src(6) type(2), with any number of VLAN tags before the type.
      let at = start + 12
      if (end - at < 2) return undefined
      let etherType = buf.readUInt16BE(at)
      while (ETHERTYPE_VLAN.has(etherType)) {
        at += 4
        if (end - at < 2) return undefined
        etherType = buf.readUInt16BE(at)
      }
      return { l3: at + 2, etherType }
    }
    case LINKTYPE.NULL:
    case LINKTYPE.LOOP:
      // A 4-byte address family, in the writer's byte order (NULL) or big endian (LOOP), and
      // AF_INET6 differs between systems (10, 24, 28, 30): the IP version nibble decides instead.
      return { l3: start + 4, etherType: undefined }
    case LINKTYPE.RAW:
    case LINKTYPE.RAW_12:
    case LINKTYPE.RAW_14:
      return { l3: start, etherType: undefined }
    default:
      throw new TcplabError('E_PCAP', `unsupported pcap link type ${linkType}`, {
        hint: 'capture with `tcpdump -i any` (LINUX_SLL2) or on an Ethernet/veth interface (EN10MB)',
      })
  }
}

/** Decode one record into a TCP packet; undefined for anything else (ARP, UDP, later fragments, cut-short headers). */
function decodeRecord(buf: Buffer, start: number, end: number, linkType: number, frame: Frame): PcapPacket | undefined {
  const link = decodeLink(buf, start, end, linkType)
  if (link === undefined) return undefined
  const l3 = link.l3
  if (l3 >= end) return undefined
  const version = buf.readUInt8(l3) >> 4
  if (link.etherType === ETHERTYPE_IPV4 || (link.etherType === undefined && version === 4)) {
    if (version !== 4) return undefined
    return decodeIpv4(buf, l3, end, frame.origLen - (l3 - start), frame, link)
  }
  if (link.etherType === ETHERTYPE_IPV6 || (link.etherType === undefined && version === 6)) {
    if (version !== 6) return undefined
    return decodeIpv6(buf, l3, end, frame.origLen - (l3 - start), frame, link)
  }
  return undefined
}

/** IPv4 (RFC 791): header with options (IHL), only first fragments, TCP only. */
function decodeIpv4(buf: Buffer, l3: number, end: number, wireL3Bytes: number, frame: Frame, link: LinkInfo): PcapPacket | undefined {
  if (end - l3 < 20) return undefined
  const ihlBytes = (buf.readUInt8(l3) & 0x0f) * 4
  if (ihlBytes < 20) return undefined
  const fragOffset = buf.readUInt16BE(l3 + 6) & 0x1fff
  if (fragOffset !== 0) return undefined
  if (buf.readUInt8(l3 + 9) !== IPPROTO_TCP) return undefined
  let totalLen = buf.readUInt16BE(l3 + 2)
  // Total length 0: a TSO/GSO super-packet seen before segmentation (BIG TCP); the wire length says.
  if (totalLen === 0) totalLen = wireL3Bytes
  const src = formatIpv4(buf, l3 + 12)
  const dst = formatIpv4(buf, l3 + 16)
  return decodeTcp(buf, l3 + ihlBytes, end, totalLen - ihlBytes, frame, link, 4, src, dst)
}

/** IPv6 (RFC 8200): walks hop-by-hop, routing, fragment, destination options and AH headers to TCP. */
function decodeIpv6(buf: Buffer, l3: number, end: number, wireL3Bytes: number, frame: Frame, link: LinkInfo): PcapPacket | undefined {
  if (end - l3 < 40) return undefined
  let payloadLen = buf.readUInt16BE(l3 + 4)
  // Payload length 0: a jumbogram (RFC 2675) or a BIG TCP super-packet; the wire length says.
  if (payloadLen === 0) payloadLen = wireL3Bytes - 40
  let next = buf.readUInt8(l3 + 6)
  let at = l3 + 40
  for (;;) {
    if (next === IPPROTO_TCP) break
    if (end - at < 8) return undefined
    let hdrBytes: number
    if (next === IPV6_HOPOPTS || next === IPV6_ROUTING || next === IPV6_DSTOPTS) {
      hdrBytes = (buf.readUInt8(at + 1) + 1) * 8
    } else if (next === IPV6_FRAGMENT) {
      // Fragment offset in 8-octet units, upper 13 bits; only the first fragment has the TCP header.
      if (buf.readUInt16BE(at + 2) >> 3 !== 0) return undefined
      hdrBytes = 8
    } else if (next === IPV6_AH) {
      hdrBytes = (buf.readUInt8(at + 1) + 2) * 4 // RFC 4302: length in 4-octet units minus 2
    } else {
      return undefined // another upper layer (UDP, ICMPv6), ESP, or no next header
    }
    next = buf.readUInt8(at)
    at += hdrBytes
    payloadLen -= hdrBytes
  }
  const src = formatIpv6(buf, l3 + 8)
  const dst = formatIpv6(buf, l3 + 24)
  return decodeTcp(buf, at, end, payloadLen, frame, link, 6, src, dst)
}

/** TCP header (RFC 9293 section 3.1). `ipPayloadBytes` is the segment length the IP header gives. */
function decodeTcp(
  buf: Buffer, l4: number, end: number, ipPayloadBytes: number, frame: Frame, link: LinkInfo,
  family: 4 | 6, src: string, dst: string,
): PcapPacket | undefined {
  if (end - l4 < 20) return undefined
  const dataOffsetBytes = (buf.readUInt8(l4 + 12) >> 4) * 4
  if (dataOffsetBytes < 20) return undefined // malformed (tcpdump: "bad hdr length")
  const flagBits = buf.readUInt8(l4 + 13)
  const optEnd = Math.min(l4 + dataOffsetBytes, end)
  const tcpOptions = decodeTcpOptions(buf, l4 + 20, optEnd)
  const pktType = link.pktType
  return {
    tsUs: frame.tsUs,
    ifindex: link.ifindex,
    pktType,
    dir: pktType === PACKET_TYPE.OUTGOING ? 'out' : pktType === PACKET_TYPE.HOST ? 'in' : 'unknown',
    family,
    src,
    sport: buf.readUInt16BE(l4),
    dst,
    dport: buf.readUInt16BE(l4 + 2),
    flags: formatTcpFlags(flagBits),
    flagBits,
    seq: buf.readUInt32BE(l4 + 4),
    ack: buf.readUInt32BE(l4 + 8),
    win: buf.readUInt16BE(l4 + 14),
    len: Math.max(0, ipPayloadBytes - dataOffsetBytes),
    tcpOptions,
    options: tcpOptions.length > 0 ? toOptionRecord(tcpOptions) : undefined,
    capLen: frame.capLen,
    origLen: frame.origLen,
  }
}

/** Decode TCP options between `from` and `to` (stops at EOL, a malformed length, or the captured end). */
function decodeTcpOptions(buf: Buffer, from: number, to: number): TcpOption[] {
  const opts: TcpOption[] = []
  let at = from
  while (at < to) {
    const kind = buf.readUInt8(at)
    if (kind === 0) {
      opts.push({ name: 'eol' })
      break
    }
    if (kind === 1) {
      opts.push({ name: 'nop' })
      at++
      continue
    }
    if (at + 1 >= to) break
    const len = buf.readUInt8(at + 1)
    if (len < 2 || at + len > to) break // malformed, or cut by the snap length
    const d = at + 2
    const dataLen = len - 2
    if (kind === 2 && dataLen === 2) opts.push({ name: 'mss', mss: buf.readUInt16BE(d) })
    else if (kind === 3 && dataLen === 1) opts.push({ name: 'wscale', shift: buf.readUInt8(d) })
    else if (kind === 4 && dataLen === 0) opts.push({ name: 'sackOK' })
    else if (kind === 5 && dataLen % 8 === 0) {
      const blocks: Array<{ left: number; right: number }> = []
      for (let b = d; b < d + dataLen; b += 8) blocks.push({ left: buf.readUInt32BE(b), right: buf.readUInt32BE(b + 4) })
      opts.push({ name: 'sack', blocks })
    } else if (kind === 8 && dataLen === 8) opts.push({ name: 'TS', val: buf.readUInt32BE(d), ecr: buf.readUInt32BE(d + 4) })
    else if (kind === 34) opts.push({ name: 'tfo', cookie: buf.toString('hex', d, d + dataLen), exp: false })
    else if (kind === 254 && dataLen >= 2 && buf.readUInt16BE(d) === 0xf989) {
      // RFC 6994 experimental option with the TFO ExID (RFC 7413 section 4.1.1).
      opts.push({ name: 'tfo', cookie: buf.toString('hex', d + 2, d + dataLen), exp: true })
    } else opts.push({ name: 'unknown', kind, data: buf.toString('hex', d, d + dataLen) })
    at += len
  }
  return opts
}

/** TCP flags octet -> tcpdump's text ("S.", "FP.", "R", "S.E"; "none" when no flag is set). */
export function formatTcpFlags(flagBits: number): TcpFlagsText {
  let s = ''
  for (const [bit, letter] of FLAG_LETTERS) if (flagBits & bit) s += letter
  return s === '' ? 'none' : s
}

/**
 * Options as a flat record for PktRecord.options: mss, wscale (numbers), sackOK (true),
 * tsval and tsecr (numbers), sack ("left:right" blocks separated by spaces), nop (count),
 * eol (true), tfo ("cookiereq" or the cookie in hex), `unknown-N` (data in hex).
 */
export function toOptionRecord(opts: readonly TcpOption[]): Record<string, number | string | boolean> {
  const r: Record<string, number | string | boolean> = {}
  for (const o of opts) {
    switch (o.name) {
      case 'eol': r.eol = true; break
      case 'nop': r.nop = (typeof r.nop === 'number' ? r.nop : 0) + 1; break
      case 'mss': r.mss = o.mss; break
      case 'wscale': r.wscale = o.shift; break
      case 'sackOK': r.sackOK = true; break
      case 'sack': r.sack = o.blocks.map((b) => `${b.left}:${b.right}`).join(' '); break
      case 'TS': r.tsval = o.val; r.tsecr = o.ecr; break
      case 'tfo': r.tfo = o.cookie === '' ? 'cookiereq' : o.cookie; break
      case 'unknown': r[`unknown-${o.kind}`] = o.data; break
    }
  }
  return r
}

/** Options in tcpdump's text, as inside its `options [...]` (absolute sequence numbers, as with -S). */
export function formatTcpOptions(opts: readonly TcpOption[]): string {
  return opts.map((o) => {
    switch (o.name) {
      case 'eol': return 'eol'
      case 'nop': return 'nop'
      case 'mss': return `mss ${o.mss}`
      case 'wscale': return `wscale ${o.shift}`
      case 'sackOK': return 'sackOK'
      case 'sack': return `sack ${o.blocks.length} ${o.blocks.map((b) => `{${b.left}:${b.right}}`).join('')}`
      case 'TS': return `TS val ${o.val} ecr ${o.ecr}`
      case 'tfo': return `${o.exp ? 'exp-tfo' : 'tfo'} ${o.cookie === '' ? 'cookiereq' : `cookie ${o.cookie}`}`
      case 'unknown': return o.data === '' ? `unknown-${o.kind}` : `unknown-${o.kind} 0x${o.data}`
    }
  }).join(',')
}

/** Dotted quad from 4 bytes. */
function formatIpv4(buf: Buffer, at: number): string {
  return `${buf[at]}.${buf[at + 1]}.${buf[at + 2]}.${buf[at + 3]}`
}

/** RFC 5952 text (as inet_ntop and tcpdump print it): lowercase, longest zero run (>= 2 groups) as "::". */
export function formatIpv6(buf: Buffer, at: number): string {
  const groups: number[] = []
  for (let i = 0; i < 8; i++) groups.push(buf.readUInt16BE(at + i * 2))
  // IPv4-mapped ::ffff:a.b.c.d (RFC 5952 section 5).
  if (groups[0] === 0 && groups[1] === 0 && groups[2] === 0 && groups[3] === 0 && groups[4] === 0 && groups[5] === 0xffff) {
    return `::ffff:${formatIpv4(buf, at + 12)}`
  }
  let bestStart = -1
  let bestLen = 0
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) { i++; continue }
    let j = i
    while (j < 8 && groups[j] === 0) j++
    if (j - i > bestLen) { bestStart = i; bestLen = j - i }
    i = j
  }
  const hex = groups.map((g) => g.toString(16))
  if (bestLen < 2) return hex.join(':')
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`
}

export interface PktRecordContext {
  /** Host whose capture this is. */
  host: string
  /** Scenario t0 in microseconds since the epoch; records get t = seconds since it. */
  t0Us: number
  /** Interface index -> name in the capturing host's namespace, recorded at capture time. */
  ifnames: ReadonlyMap<number, string>
}

/** Turn parsed packets into timeline records of one host. */
export function toPktRecords(pkts: readonly PcapPacket[], ctx: PktRecordContext): PktRecord[] {
  return pkts.map((p) => ({
    kind: 'pkt',
    t: secondsSince(ctx.t0Us, p.tsUs),
    host: ctx.host,
    ifname: p.ifindex === undefined ? undefined : ctx.ifnames.get(p.ifindex),
    dir: p.dir,
    family: p.family,
    src: p.src,
    sport: p.sport,
    dst: p.dst,
    dport: p.dport,
    flags: p.flags,
    seq: p.seq,
    ack: p.ack,
    win: p.win,
    len: p.len,
    options: p.options,
  }))
}
