// Each host's capture again as pcapng, with a comment on every packet saying
// what the report says about it, so that Wireshark (Edit > Packet Comments,
// the frame.comment field) tells the same story: the connection and relative
// numbers, a retransmission and which resend it is, a packet dropped by an
// iptables rule (which rule, and the step that installed it), a packet lost
// on the way, and the first packet after each step.
//
// Format: draft-ietf-opsawg-pcapng ("PCAP Next Generation Dump File Format"):
// a Section Header Block, one Interface Description Block (the pcap's link
// type and snaplen, named after the host), then an Enhanced Packet Block per
// captured frame with an opt_comment. Little-endian; timestamps in µs (the
// default if_tsresol). The frames are copied from the classic pcap as they are.

import { readFileSync } from 'node:fs'
import { writeFile } from 'node:fs/promises'
import path from 'node:path'
import { parsePcap, type PcapPacket } from '../recorder/pcap.js'
import type { ActionRecord, PktRecord } from '../recorder/records.js'
import type { ReportModel } from './model.js'
import type { Flight } from './packets.js'
import type { ScenarioResult } from './results.js'

const SHB = 0x0a0d0d0a
const IDB = 0x00000001
const EPB = 0x00000006
const BYTE_ORDER_MAGIC = 0x1a2b3c4d
const OPT_ENDOFOPT = 0
const OPT_COMMENT = 1
const IF_NAME = 2
const SHB_USERAPPL = 4

/** A frame of a classic pcap file, as it is. */
export interface RawFrame {
  tsUs: number
  data: Buffer
  origLen: number
}

/** The link type, snaplen and frames of a classic pcap (µs or ns, either byte order). */
export function readPcapFrames(buf: Buffer): { linkType: number; snaplen: number; frames: RawFrame[] } | undefined {
  if (buf.length < 24) return undefined
  const magic = buf.readUInt32LE(0)
  const le = magic === 0xa1b2c3d4 || magic === 0xa1b23c4d
  const be = buf.readUInt32BE(0) === 0xa1b2c3d4 || buf.readUInt32BE(0) === 0xa1b23c4d
  if (!le && !be) return undefined
  const u32 = (off: number): number => (le ? buf.readUInt32LE(off) : buf.readUInt32BE(off))
  const nano = (le ? magic : buf.readUInt32BE(0)) === 0xa1b23c4d
  const snaplen = u32(16)
  const linkType = u32(20) & 0xffff
  const frames: RawFrame[] = []
  let off = 24
  while (off + 16 <= buf.length) {
    const capLen = u32(off + 8)
    if (off + 16 + capLen > buf.length) break // a record cut short by the end of the capture
    const frac = u32(off + 4)
    frames.push({ tsUs: u32(off) * 1e6 + (nano ? Math.floor(frac / 1000) : frac), data: buf.subarray(off + 16, off + 16 + capLen), origLen: u32(off + 12) })
    off += 16 + capLen
  }
  return { linkType, snaplen, frames }
}

/** One pcapng block: type, total length, body, total length again. */
function block(type: number, body: Buffer): Buffer {
  const total = 12 + body.length
  const out = Buffer.alloc(total)
  out.writeUInt32LE(type, 0)
  out.writeUInt32LE(total, 4)
  body.copy(out, 8)
  out.writeUInt32LE(total, total - 4)
  return out
}

/** Options: code, length, value padded to 32 bits; then opt_endofopt. */
function options(opts: ReadonlyArray<[number, Buffer]>): Buffer {
  const parts: Buffer[] = []
  for (const [code, value] of opts) {
    const head = Buffer.alloc(4)
    head.writeUInt16LE(code, 0)
    head.writeUInt16LE(value.length, 2)
    parts.push(head, value, Buffer.alloc((4 - (value.length % 4)) % 4))
  }
  if (parts.length > 0) parts.push(Buffer.alloc(4)) // opt_endofopt
  return Buffer.concat(parts)
}

/**
 * A pcapng file of one interface: the frames, each with its comment (if any).
 * One buffer, sized first and written in place: a block per frame built from
 * small Buffers (head, pad, options, concat) cost ~8 allocations a packet, and
 * at 100k packets the garbage collector took most of the report's time.
 */
export function encodePcapng(linkType: number, snaplen: number, ifName: string, frames: readonly RawFrame[], comments: ReadonlyArray<string | undefined>): Buffer {
  const shbBody = Buffer.alloc(16)
  shbBody.writeUInt32LE(BYTE_ORDER_MAGIC, 0)
  shbBody.writeUInt16LE(1, 4)
  shbBody.writeUInt16LE(0, 6)
  shbBody.writeBigInt64LE(-1n, 8) // section length not given
  const shb = block(SHB, Buffer.concat([shbBody, options([[SHB_USERAPPL, Buffer.from('tcplab')]])]))
  const idbBody = Buffer.alloc(8)
  idbBody.writeUInt16LE(linkType, 0)
  idbBody.writeUInt32LE(snaplen, 4)
  const idb = block(IDB, Buffer.concat([idbBody, options([[IF_NAME, Buffer.from(ifName)]])]))
  const pad4 = (n: number): number => (4 - (n % 4)) % 4
  // Each EPB: type, length, 20-byte head, the frame padded, the comment option padded and opt_endofopt, length.
  const commentLens = frames.map((_, i) => {
    const c = comments[i]
    return c ? Buffer.byteLength(c) : 0
  })
  const epbLen = (i: number): number => {
    const dataLen = (frames[i] as RawFrame).data.length
    const cl = commentLens[i] as number
    return 8 + 20 + dataLen + pad4(dataLen) + (cl > 0 ? 4 + cl + pad4(cl) + 4 : 0) + 4
  }
  let total = shb.length + idb.length
  for (let i = 0; i < frames.length; i++) total += epbLen(i)
  const out = Buffer.alloc(total) // zero-filled: paddings and opt_endofopt are zeros
  shb.copy(out, 0)
  idb.copy(out, shb.length)
  let off = shb.length + idb.length
  for (let i = 0; i < frames.length; i++) {
    const f = frames[i] as RawFrame
    const len = epbLen(i)
    const ts = Math.round(f.tsUs)
    out.writeUInt32LE(EPB, off)
    out.writeUInt32LE(len, off + 4)
    out.writeUInt32LE(0, off + 8) // interface 0
    out.writeUInt32LE(Math.floor(ts / 2 ** 32), off + 12)
    out.writeUInt32LE(ts % 2 ** 32, off + 16)
    out.writeUInt32LE(f.data.length, off + 20)
    out.writeUInt32LE(f.origLen, off + 24)
    let p = off + 28
    f.data.copy(out, p)
    p += f.data.length + pad4(f.data.length)
    const cl = commentLens[i] as number
    if (cl > 0) {
      out.writeUInt16LE(OPT_COMMENT, p)
      out.writeUInt16LE(cl, p + 2)
      out.write(comments[i] as string, p + 4, 'utf8')
      p += 4 + cl + pad4(cl) + 4 // the value, its padding, opt_endofopt
    }
    out.writeUInt32LE(len, p)
    off += len
  }
  void OPT_ENDOFOPT
  return out
}

const identity = (p: Pick<PktRecord, 'src' | 'sport' | 'dst' | 'dport' | 'flags' | 'seq' | 'ack' | 'len'>): string => `${p.src}:${p.sport}>${p.dst}:${p.dport}|${p.flags}|${p.seq}|${p.ack}|${p.len}`

/**
 * The comment of each packet a host captured: what the report knows of it.
 * `pkts` are that host's records in capture order (toPktRecords made them
 * 1:1 from the same pcap).
 */
export function commentPackets(m: Pick<ReportModel, 'flights' | 'rules' | 'markers'>, host: string, pkts: readonly PktRecord[], actions: readonly ActionRecord[]): string[] {
  // Each flight under the identity of its packet, for the side (sender or receiver) that captured it.
  const sides = new Map<string, Flight[]>()
  for (const f of m.flights) {
    const side = f.from === host ? 'out' : f.to === host ? 'in' : undefined
    if (!side) continue
    const k = `${side}|${identity(f.pkt)}`
    const list = sides.get(k)
    if (list) list.push(f)
    else sides.set(k, [f])
  }
  const stepOfRule = (name: string, ruleHost: string): ActionRecord | undefined =>
    actions.find((a) => a.host === ruleHost && a.target === name && (a.action === 'iptables' || a.action === 'ip6tables') && !/\(deleted\)$/.test(a.detail))
  const sortedActions = [...actions].sort((a, b) => a.t - b.t)
  let nextAction = 0
  return pkts.map((p) => {
    const parts: string[] = [`t=${p.t.toFixed(6)}s`]
    // The first packet this host captured after a step: say which step came before it.
    let after: ActionRecord | undefined
    while (nextAction < sortedActions.length && (sortedActions[nextAction] as ActionRecord).t <= p.t) after = sortedActions[nextAction++]
    const side = p.dir === 'out' ? 'out' : 'in'
    const f = sides.get(`${side}|${identity(p)}`)?.shift()
    if (f) {
      parts.push(`${f.conn}: ${f.label} (relative)`)
      if (f.retransmission) parts.push(`retransmission: transmission #${f.attempt} of this segment`)
      if (f.fate === 'dropped' && side === 'in') {
        const step = f.rule !== undefined ? stepOfRule(f.rule, host) : undefined
        parts.push(`DROPPED after this capture by iptables rule "${f.rule ?? '?'}" on ${host}${step ? `, installed by step #${step.step} at ${step.t.toFixed(3)}s (${step.detail})` : ''}`)
      } else if (f.fate === 'lost' && side === 'out') {
        parts.push(`LOST: never seen arriving at ${f.to ?? 'the receiver'}`)
      } else if (f.ruleAnswer === 'maybe' && side === 'in') {
        parts.push(`may have been dropped by iptables rule "${f.rule ?? '?'}" (matches tcplab cannot evaluate)`)
      }
    }
    if (after) parts.push(`first packet here after step #${after.step}${after.host ? ` on ${after.host}` : ''} at ${after.t.toFixed(3)}s: ${after.action} ${after.detail}`)
    return parts.join('; ')
  })
}

/** Write <host>.pcapng beside each <host>.pcap of a scenario's results. Returns the files written. */
export async function writePcapngs(res: Pick<ScenarioResult, 'dir' | 'pcaps' | 'records'>, m: Pick<ReportModel, 'flights' | 'rules' | 'markers'>): Promise<string[]> {
  const written: string[] = []
  const actions = res.records.filter((r): r is ActionRecord => r.kind === 'action')
  for (const pcap of res.pcaps) {
    const host = pcap.replace(/\.pcap$/, '')
    const buf = readFileSync(path.join(res.dir, pcap))
    const raw = readPcapFrames(buf)
    if (!raw) continue
    const parsed: PcapPacket[] = parsePcap(buf)
    const hostPkts = res.records.filter((r): r is PktRecord => r.kind === 'pkt' && r.host === host)
    // parsePcap skips what is not TCP: pair its packets with the frames by time and length, in order.
    const comments: Array<string | undefined> = new Array<string | undefined>(raw.frames.length)
    const tcpComments = commentPackets(m, host, pairRecords(parsed, hostPkts), actions)
    let j = 0
    raw.frames.forEach((fr, i) => {
      const p = parsed[j]
      if (p && p.tsUs === fr.tsUs && p.capLen === fr.data.length) {
        comments[i] = tcpComments[j]
        j++
      }
    })
    const file = path.join(res.dir, `${host}.pcapng`)
    await writeFile(file, encodePcapng(raw.linkType, raw.snaplen, host, raw.frames, comments))
    written.push(file)
  }
  return written
}

/** The host's records in the pcap's order: the records are sorted by time, the pcap by capture; pair by identity. */
function pairRecords(parsed: readonly PcapPacket[], recs: readonly PktRecord[]): PktRecord[] {
  const byId = new Map<string, PktRecord[]>()
  for (const r of recs) {
    const k = identity(r)
    const list = byId.get(k)
    if (list) list.push(r)
    else byId.set(k, [r])
  }
  return parsed.map((p) => byId.get(identity(p))?.shift() ?? { kind: 'pkt', t: NaN, host: '', dir: p.dir, family: p.family, src: p.src, sport: p.sport, dst: p.dst, dport: p.dport, flags: p.flags, seq: p.seq, ack: p.ack, win: p.win, len: p.len })
}
