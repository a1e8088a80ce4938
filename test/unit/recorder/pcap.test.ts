// The pcap parser against real tcpdump captures (test/fixtures/pcap, recorded by
// test/fixtures/record-pcap.sh): every packet is compared with what tcpdump itself
// printed for the same file (`tcpdump -r F -nn -tt -S -v`, saved next to it).
// Then hand-built files for what a capture on veth rarely shows (IP options,
// fragments, extension headers, VLAN tags, odd link types and options, byte
// order), and startCapture against a fake Host that replays a fixture.
import t from 'tap'
import { readFileSync } from 'node:fs'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { ExecResult, ExitInfo, Host, Proc, SpawnOptions } from '../../../src/lab/types.js'
import { formatIpv6, formatTcpFlags, formatTcpOptions, LINKTYPE, parsePcap, PcapStreamParser, toPktRecords, type PcapPacket } from '../../../src/recorder/pcap.js'
import { buildTcpdumpArgv, parseIpLinkNames, startCapture } from '../../../src/recorder/capture.js'
import { MissingToolError, ProcessError, TimeoutError } from '../../../src/util/errors.js'

// TCPLAB_PCAP_FIXTURES=DIR checks a fresh recording (record-pcap.sh DIR): only the pinned values differ.
const FIXTURES = process.env.TCPLAB_PCAP_FIXTURES ?? join(dirname(fileURLToPath(import.meta.url)), '../../fixtures/pcap')
const readFixture = (name: string): Buffer => readFileSync(join(FIXTURES, name))
const readText = (name: string): string => readFileSync(join(FIXTURES, name), 'utf8')
const IFNAMES_A = parseIpLinkNames(readText('ifnames-a.txt'))

// ---------------------------------------------------------------------------
// tcpdump's own text, parsed

interface DumpedPacket {
  tsUs: number
  ifname: string | undefined
  dir: string | undefined
  family: 4 | 6
  src: string
  sport: number
  dst: string
  dport: number
  flags: string
  seq: number | undefined
  seqEnd: number | undefined
  ack: number | undefined
  win: number
  options: string | undefined
  len: number
  text: string
}

/** A subtest's `t` (tap's own type, with its plugins). */
type TapTest = Parameters<Parameters<typeof t.test>[0]>[0]

const HEAD = /^(\d+)\.(\d+) (?:(\S+) (In|Out|B|M|P)\s+)?(IP6?) /
const ADDRS = /(\S+)\.(\d+) > (\S+)\.(\d+): Flags \[([^\]]*)\](.*)$/

/** Parse `tcpdump -nn -tt -S -v` output: one packet per line plus its indented continuation. */
function parseTcpdumpText(text: string): DumpedPacket[] {
  const entries: string[] = []
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue
    if (/^\s/.test(line) && entries.length > 0) entries[entries.length - 1] += ` ${line.trim()}`
    else entries.push(line)
  }
  return entries.map((e) => {
    const h = HEAD.exec(e)
    const a = ADDRS.exec(e)
    if (!h || !a) throw new Error(`unexpected tcpdump line: ${e}`)
    const frac = h[2] as string
    const rest = a[6] as string
    const num = (re: RegExp): number | undefined => {
      const m = re.exec(rest)
      return m ? Number(m[1]) : undefined
    }
    const seqM = /, seq (\d+)(?::(\d+))?/.exec(rest)
    return {
      tsUs: Number(h[1]) * 1e6 + (frac.length === 9 ? Math.floor(Number(frac) / 1000) : Number(frac)),
      ifname: h[3],
      dir: h[4],
      family: h[5] === 'IP6' ? 6 : 4,
      src: a[1] as string,
      sport: Number(a[2]),
      dst: a[3] as string,
      dport: Number(a[4]),
      flags: a[5] as string,
      seq: seqM ? Number(seqM[1]) : undefined,
      seqEnd: seqM?.[2] !== undefined ? Number(seqM[2]) : undefined,
      ack: num(/, ack (\d+)/),
      win: num(/, win (\d+)/) ?? -1,
      // tcpdump prints "tfo  cookiereq" with two spaces; compare words.
      options: /, options \[([^\]]*)\]/.exec(rest)?.[1]?.replace(/\s+/g, ' '),
      len: num(/, length (\d+)/) ?? -1,
      text: e,
    }
  })
}

/** Compare every packet of a fixture with tcpdump's text for it. */
function checkAgainstTcpdump(tt: TapTest, pcapName: string, textName: string, opts: { hasIfname: boolean }): PcapPacket[] {
  const pkts = parsePcap(readFixture(pcapName))
  const dumped = parseTcpdumpText(readText(textName))
  tt.equal(pkts.length, dumped.length, `${pcapName}: as many TCP packets as tcpdump printed`)
  tt.ok(pkts.length >= 10, `${pcapName}: a real capture (${pkts.length} packets)`)
  const recs = toPktRecords(pkts, { host: 'a', t0Us: 0, ifnames: IFNAMES_A })
  pkts.forEach((p, i) => {
    const d = dumped[i]
    if (d === undefined) return
    const where = `${pcapName} #${i}: ${d.text.slice(0, 70)}`
    tt.equal(p.tsUs, d.tsUs, `${where}: time`)
    tt.equal(p.family, d.family, `${where}: family`)
    tt.equal(`${p.src}.${p.sport} > ${p.dst}.${p.dport}`, `${d.src}.${d.sport} > ${d.dst}.${d.dport}`, `${where}: endpoints`)
    tt.equal(p.flags, d.flags, `${where}: flags`)
    if (d.seq !== undefined) tt.equal(p.seq, d.seq, `${where}: seq`)
    if (d.seqEnd !== undefined) tt.equal(p.seq + p.len, d.seqEnd, `${where}: seq end`)
    if (d.ack !== undefined) tt.equal(p.ack, d.ack, `${where}: ack`)
    tt.equal(p.win, d.win, `${where}: win`)
    tt.equal(p.len, d.len, `${where}: length`)
    tt.equal(p.tcpOptions.length > 0 ? formatTcpOptions(p.tcpOptions) : undefined, d.options, `${where}: options`)
    if (opts.hasIfname) {
      tt.equal(recs[i]?.ifname, d.ifname, `${where}: interface name`)
      tt.equal(p.dir, d.dir === 'Out' ? 'out' : d.dir === 'In' ? 'in' : 'unknown', `${where}: direction`)
    }
  })
  return pkts
}

t.test('real captures match tcpdump, packet by packet', async (t) => {
  for (const name of ['any-sll2', 'any-sll', 'veth-en10mb', 'any-snap96', 'any-nano', 'any-ipv6', 'any-options']) {
    t.test(name, async (tt) => {
      checkAgainstTcpdump(tt, `${name}.pcap`, `${name}.txt`, { hasIfname: name !== 'any-sll' && name !== 'veth-en10mb' })
    })
  }
})

t.test('LINUX_SLL2 (-i any): handshake, data, FIN close, RST, SYN retransmission', async (t) => {
  const pkts = parsePcap(readFixture('any-sll2.pcap'))
  const buf = readFixture('any-sll2.pcap')
  t.equal(buf.readUInt32LE(20), LINKTYPE.LINUX_SLL2, 'the file is LINUX_SLL2')
  // The first packet, pinned (a re-recording changes these: update them from any-sll2.txt).
  t.strictSame(pkts[0], {
    tsUs: 1795480373429942,
    ifindex: 2,
    pktType: 4,
    dir: 'out',
    family: 4,
    src: '198.18.0.1',
    sport: 55025,
    dst: '198.18.0.2',
    dport: 8000,
    flags: 'S',
    flagBits: 0x02,
    seq: 1150745710,
    ack: 0,
    win: 64240,
    len: 0,
    tcpOptions: [
      { name: 'mss', mss: 1460 }, { name: 'sackOK' }, { name: 'TS', val: 858307697, ecr: 0 }, { name: 'nop' }, { name: 'wscale', shift: 10 },
    ],
    options: { mss: 1460, sackOK: true, tsval: 858307697, tsecr: 0, nop: 1, wscale: 10 },
    capLen: 80,
    origLen: 80,
  })
  const [syn, synAck, ack] = pkts as [PcapPacket, PcapPacket, PcapPacket]
  t.equal(synAck.flags, 'S.')
  t.equal(synAck.dir, 'in')
  t.equal(synAck.pktType, 0)
  t.equal(synAck.ack, syn.seq + 1, 'SYN-ACK acknowledges the SYN')
  t.equal(ack.flags, '.')
  t.equal(ack.ack, synAck.seq + 1)
  t.equal(ack.options?.wscale, undefined, 'no wscale after the handshake')

  const data = pkts.find((p) => p.flags === 'P.')
  t.ok(data, 'a data segment')
  t.equal(data?.len, 13 + 3000, "nc's line and 3000 bytes in one (GSO) segment")
  t.equal(data?.capLen, 262, 'cut at the snap length')
  t.equal(data?.origLen, 20 + 20 + 32 + 3013, 'SLL2 + IPv4 + TCP with TS + payload')

  const fins = pkts.filter((p) => p.flags === 'F.')
  t.equal(fins.length, 2, 'a FIN each way')
  t.same(fins.map((p) => p.dir), ['out', 'in'])

  const rst = pkts.find((p) => p.flags.startsWith('R'))
  const rstSyn = pkts.find((p) => p.dport === 8001 && p.flags === 'S')
  t.equal(rst?.flags, 'R.', 'a closed port answers RST-ACK')
  t.equal(rst?.sport, 8001)
  t.equal(rst?.seq, 0)
  t.equal(rst?.ack, (rstSyn?.seq ?? 0) + 1)
  t.equal(rst?.win, 0)
  t.equal(rst?.options, undefined, 'no options on the RST')

  const lost = pkts.filter((p) => p.src === '198.18.0.5')
  t.equal(lost.length, 2, 'the SYN and its retransmission (nc -w 2)')
  t.ok(lost.every((p) => p.flags === 'S' && p.seq === lost[0]?.seq), 'same sequence number')
  const rtoUs = (lost[1]?.tsUs ?? 0) - (lost[0]?.tsUs ?? 0)
  t.ok(rtoUs >= 1_000_000 && rtoUs < 1_100_000, `retransmitted after the 1 s initial RTO (${rtoUs} us)`)
  t.ok(pkts.every((p) => p.ifindex === 2), 'everything on ifindex 2 (the veth)')
})

t.test('the same packets through every link type', async (t) => {
  const sll2 = parsePcap(readFixture('any-sll2.pcap'))
  const sll = parsePcap(readFixture('any-sll.pcap'))
  const en = parsePcap(readFixture('veth-en10mb.pcap'))
  const snap = parsePcap(readFixture('any-snap96.pcap'))
  const nano = parsePcap(readFixture('any-nano.pcap'))
  const key = (p: PcapPacket): string => `${p.src}:${p.sport}>${p.dst}:${p.dport} ${p.flags} ${p.seq} ${p.ack} ${p.win} ${p.len}`
  for (const [name, other] of [['LINUX_SLL', sll], ['EN10MB', en], ['snaplen 96', snap], ['nanosecond', nano]] as const) {
    t.same(other.map(key), sll2.map(key), `${name}: same TCP fields as LINUX_SLL2`)
  }
  t.same(sll.map((p) => p.dir), sll2.map((p) => p.dir), 'LINUX_SLL carries the direction too')
  t.ok(sll.every((p) => p.ifindex === undefined), 'LINUX_SLL has no interface index')
  t.ok(en.every((p) => p.dir === 'unknown' && p.pktType === undefined), 'EN10MB does not say the direction')
  const enData = en.find((p) => p.flags === 'P.')
  t.equal(enData?.capLen, 14 + 20 + 32 + 3013, 'EN10MB at full snap length: the whole GSO frame')

  const snapData = snap.find((p) => p.flags === 'P.')
  t.equal(snapData?.capLen, 96, 'cut at 96 bytes')
  t.equal(snapData?.len, 3013, 'length from the IP header, not the captured bytes')
  t.ok(snap.every((p) => p.capLen <= 96))

  t.equal(readFixture('any-nano.pcap').readUInt32LE(0), 0xa1b23c4d, 'nanosecond magic')
  const nanoText = parseTcpdumpText(readText('any-nano.txt'))
  t.match(nanoText[0]?.text ?? '', /^\d+\.\d{9} /, 'tcpdump printed nanoseconds')
  t.ok(nano.every((p) => Number.isInteger(p.tsUs)), 'whole microseconds')
  t.equal(nano[1]?.tsUs, 1795480373429993, '...429993729 ns floors to ...429993 us')
})

t.test('IPv6 capture', async (t) => {
  const pkts = parsePcap(readFixture('any-ipv6.pcap'))
  t.ok(pkts.every((p) => p.family === 6))
  t.equal(pkts[0]?.src, '2001:2::1')
  t.equal(pkts[0]?.dst, '2001:2::2')
  t.equal(pkts[0]?.options?.mss, 1440, 'MSS 1500 - 40 - 20')
  t.equal(pkts.find((p) => p.flags === 'P.')?.len, 3013)
  t.equal(pkts.find((p) => p.flags === 'R.')?.sport, 8001)
  t.equal(pkts.filter((p) => p.src === '2001:2::5' && p.flags === 'S').length, 2, 'dropped SYN and its retransmission')
})

t.test('TCP Fast Open, ECN flags and SACK blocks from a real capture', async (t) => {
  const pkts = parsePcap(readFixture('any-options.pcap'))
  const [syn1, synAck1] = pkts as [PcapPacket, PcapPacket]
  t.equal(syn1.flags, 'SEW', 'ECN setup SYN: ECE and CWR (RFC 3168)')
  t.equal(synAck1.flags, 'S.E', 'ECN setup SYN-ACK: ECE')
  t.same(syn1.tcpOptions.find((o) => o.name === 'tfo'), { name: 'tfo', cookie: '', exp: false }, 'cookie request')
  t.equal(syn1.options?.tfo, 'cookiereq')
  const cookie = synAck1.options?.tfo
  t.match(cookie, /^[0-9a-f]{16}$/, 'the server sends an 8-byte cookie')
  const syn2 = pkts.filter((p) => p.flags === 'SEW')[1]
  t.equal(syn2?.options?.tfo, cookie, 'the second SYN carries the cookie')
  t.equal(syn2?.len, 6, '...and data')
  t.equal(syn2?.options?.nop, 3, 'nop count: one before wscale, two after tfo')

  const sackAck = pkts.find((p) => p.options?.sack !== undefined)
  const lostSeg = pkts.find((p) => p.flags === 'P.' && p.len === 120)
  const sack = sackAck?.tcpOptions.find((o) => o.name === 'sack')
  t.ok(sackAck && lostSeg && sack, 'a dup ACK with a SACK block after the lost segment')
  t.equal(sackAck?.ack, lostSeg?.seq, 'the ACK stays at the lost segment')
  t.same(sack, { name: 'sack', blocks: [{ left: (lostSeg?.seq ?? 0) + 120, right: (lostSeg?.seq ?? 0) + 220 }] })
  t.equal(sackAck?.options?.sack, `${(lostSeg?.seq ?? 0) + 120}:${(lostSeg?.seq ?? 0) + 220}`)
  t.ok(pkts.some((p) => p.flags === 'P.W'), 'CWR on data after the ECE')
})

// ---------------------------------------------------------------------------
// Killed tcpdump, byte order, bad files

t.test('a record cut short (tcpdump killed) is ignored', async (t) => {
  const buf = readFixture('any-sll2.pcap')
  const all = parsePcap(buf)
  t.equal(parsePcap(buf.subarray(0, buf.length - 10)).length, all.length - 1, 'last record cut in its data')
  const lastRecordStart = findRecordOffsets(buf).at(-1) ?? 0
  t.equal(parsePcap(buf.subarray(0, lastRecordStart + 7)).length, all.length - 1, 'last record cut in its header')
  t.same(parsePcap(buf.subarray(0, 24)), [], 'header only')
  t.same(parsePcap(buf.subarray(0, 10)), [], 'header cut short')
  t.same(parsePcap(Buffer.alloc(0)), [], 'empty file (tcpdump never wrote)')
})

t.test('big-endian files (both magics) parse the same', async (t) => {
  for (const name of ['any-sll2.pcap', 'any-nano.pcap']) {
    const buf = readFixture(name)
    const swapped = swapPcapByteOrder(buf)
    t.not(swapped.readUInt32LE(0), buf.readUInt32LE(0))
    t.same(parsePcap(swapped), parsePcap(buf), name)
  }
})

t.test('not a pcap: errors with a code', async (t) => {
  t.throws(() => parsePcap(Buffer.from('hello world, this is not a capture file')), { code: 'E_PCAP', message: /not a pcap file/ })
  const ng = Buffer.alloc(28)
  ng.writeUInt32LE(0x0a0d0d0a, 0)
  t.throws(() => parsePcap(ng), { code: 'E_PCAP', message: /pcapng/ })
  t.throws(() => parsePcap(buildPcap(147, [frame(Buffer.alloc(40))])), { code: 'E_PCAP', message: /link type 147/ })
  const huge = buildPcap(LINKTYPE.RAW, [frame(Buffer.alloc(40))])
  huge.writeUInt32LE(0x7fffffff, 24 + 8)
  t.throws(() => parsePcap(huge), { code: 'E_PCAP', message: /claims 2147483647 captured bytes: the file is corrupt/ })
})

// ---------------------------------------------------------------------------
// Hand-built packets

t.test('IPv4 with options, fragments and other protocols', async (t) => {
  const seg = tcpSegment({ sport: 1234, dport: 80, seq: 7, ack: 9, flags: 0x18, win: 500, payload: 10 })
  const ipOptions = Buffer.from([0x94, 0x04, 0x00, 0x00, 0x01, 0x01, 0x01, 0x00]) // router alert, nop, nop, eol
  const pkts = parsePcap(buildPcap(LINKTYPE.RAW, [
    frame(ipv4(seg, { options: ipOptions })),
    frame(ipv4(seg, { fragOffset8: 185 })), // a later fragment: no TCP header there
    frame(ipv4(seg, { moreFragments: true })), // a first fragment: parsed
    frame(ipv4(Buffer.alloc(8), { proto: 17 })), // UDP
  ]))
  t.equal(pkts.length, 2)
  t.equal(pkts[0]?.len, 10, 'IHL 7 skipped')
  t.equal(pkts[0]?.flags, 'P.')
  t.equal(pkts[0]?.sport, 1234)
  t.equal(pkts[0]?.dport, 80)
  t.equal(pkts[0]?.seq, 7)
  t.equal(pkts[0]?.ack, 9)
  t.equal(pkts[0]?.win, 500)
  t.equal(pkts[0]?.src, '198.18.0.1')
  t.equal(pkts[0]?.dir, 'unknown')
  t.equal(pkts[1]?.len, 10)
})

t.test('IPv4 total length 0 (a BIG TCP / GSO super-packet): the wire length says', async (t) => {
  const seg = tcpSegment({ payload: 100 })
  const ip = ipv4(seg, {})
  ip.writeUInt16BE(0, 2)
  const [p] = parsePcap(buildPcap(LINKTYPE.RAW, [frame(ip.subarray(0, 60), { origLen: ip.length })]))
  t.equal(p?.len, 100)
})

t.test('IPv6 extension headers are walked to TCP', async (t) => {
  const seg = tcpSegment({ sport: 443, dport: 50000, flags: 0x11, payload: 5 })
  const hopByHop = extHeader(IPV6_NEXT.ROUTING, 8) // next: routing
  const routing = extHeader(IPV6_NEXT.FRAGMENT, 24)
  const fragFirst = fragmentHeader(IPV6_NEXT.DSTOPTS, 0, true)
  const dstOpts = extHeader(6, 16)
  const chain = Buffer.concat([hopByHop, routing, fragFirst, dstOpts])
  const pkts = parsePcap(buildPcap(LINKTYPE.NULL, [
    frame(Buffer.concat([afHeader(30, 'le'), ipv6(Buffer.concat([chain, seg]), IPV6_NEXT.HOPOPTS)])),
    frame(Buffer.concat([afHeader(30, 'le'), ipv6(Buffer.concat([fragmentHeader(6, 1448, false), seg]), IPV6_NEXT.FRAGMENT)])),
    frame(Buffer.concat([afHeader(30, 'le'), ipv6(Buffer.alloc(8), 17)])),
    frame(Buffer.concat([afHeader(30, 'le'), ipv6(Buffer.concat([extHeader(59, 8)]), IPV6_NEXT.DSTOPTS)])),
  ]))
  t.equal(pkts.length, 1, 'later fragment, UDP and no-next-header are skipped')
  t.equal(pkts[0]?.family, 6)
  t.equal(pkts[0]?.flags, 'F.')
  t.equal(pkts[0]?.sport, 443)
  t.equal(pkts[0]?.len, 5, 'extension headers are not payload')
  t.equal(pkts[0]?.src, '2001:2::1')
  t.equal(pkts[0]?.dst, '2001:2::2')
})

t.test('LOOP, raw DLT 12/14, Ethernet with VLAN tags, LINUX_SLL packet types', async (t) => {
  const ip = ipv4(tcpSegment({ flags: 0x04 }), {})
  t.equal(parsePcap(buildPcap(LINKTYPE.LOOP, [frame(Buffer.concat([afHeader(2, 'be'), ip]))]))[0]?.flags, 'R')
  t.equal(parsePcap(buildPcap(LINKTYPE.RAW_12, [frame(ip)]))[0]?.flags, 'R')
  t.equal(parsePcap(buildPcap(LINKTYPE.RAW_14, [frame(ip)]))[0]?.flags, 'R')
  const eth = (types: number[]): Buffer => {
    const b = Buffer.alloc(12 + types.length * 4 - 2)
    types.forEach((ty, i) => b.writeUInt16BE(ty, 12 + i * 4))
    return b
  }
  const en = parsePcap(buildPcap(LINKTYPE.EN10MB, [
    frame(Buffer.concat([eth([0x0800]), ip])),
    frame(Buffer.concat([eth([0x8100, 0x0800]), ip])),
    frame(Buffer.concat([eth([0x88a8, 0x8100, 0x0800]), ip])),
    frame(Buffer.concat([eth([0x0806]), Buffer.alloc(28)])), // ARP
  ]))
  t.equal(en.length, 3, 'untagged, 802.1Q and QinQ; ARP skipped')
  t.ok(en.every((p) => p.flags === 'R' && p.src === '198.18.0.1'))
  const sll = (pktType: number): Buffer => {
    const b = Buffer.alloc(16)
    b.writeUInt16BE(pktType, 0)
    b.writeUInt16BE(0x0800, 14)
    return Buffer.concat([b, ip])
  }
  const dirs = parsePcap(buildPcap(LINKTYPE.LINUX_SLL, [0, 1, 2, 3, 4].map((ty) => frame(sll(ty)))))
  t.same(dirs.map((p) => [p.pktType, p.dir]), [[0, 'in'], [1, 'unknown'], [2, 'unknown'], [3, 'unknown'], [4, 'out']])
})

t.test('TCP options: SACK blocks, EOL, TFO (both kinds), unknown kinds, cut by the snap length', async (t) => {
  const opts = Buffer.from([
    1, 1, 5, 18, 0, 0, 0, 10, 0, 0, 0, 20, 0, 0, 0, 30, 0, 0, 0, 40, // nop nop sack 2 blocks
    34, 2, // tfo cookie request
    254, 4, 0xf9, 0x89, // experimental tfo cookie request
    76, 4, 0xbe, 0xef, // unknown 76
    0, 0, // eol + padding
  ])
  const [p] = parsePcap(buildPcap(LINKTYPE.RAW, [frame(ipv4(tcpSegment({ flags: 0x10, options: opts }), {}))]))
  t.same(p?.tcpOptions, [
    { name: 'nop' }, { name: 'nop' },
    { name: 'sack', blocks: [{ left: 10, right: 20 }, { left: 30, right: 40 }] },
    { name: 'tfo', cookie: '', exp: false },
    { name: 'tfo', cookie: '', exp: true },
    { name: 'unknown', kind: 76, data: 'beef' },
    { name: 'eol' },
  ])
  t.equal(formatTcpOptions(p?.tcpOptions ?? []), 'nop,nop,sack 2 {10:20}{30:40},tfo cookiereq,exp-tfo cookiereq,unknown-76 0xbeef,eol')
  t.same(p?.options, { nop: 2, sack: '10:20 30:40', tfo: 'cookiereq', 'unknown-76': 'beef', eol: true })

  const mssWs = Buffer.from([2, 4, 0x05, 0xb4, 3, 3, 7, 0, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2]) // mss wscale eol? no: TS after
  const full = ipv4(tcpSegment({ flags: 0x02, options: Buffer.concat([mssWs, Buffer.alloc(2)]) }), {})
  const [whole] = parsePcap(buildPcap(LINKTYPE.RAW, [frame(full)]))
  t.same(whole?.options, { mss: 1460, wscale: 7, eol: true }, 'options after EOL are not read')
  const cut = parsePcap(buildPcap(LINKTYPE.RAW, [frame(full.subarray(0, 20 + 20 + 5), { origLen: full.length })]))
  t.same(cut[0]?.tcpOptions, [{ name: 'mss', mss: 1460 }], 'an option cut by the snap length is dropped, not misread')
  const bad = parsePcap(buildPcap(LINKTYPE.RAW, [frame(ipv4(tcpSegment({ options: Buffer.from([2, 1, 0, 0]) }), {}))]))
  t.same(bad[0]?.tcpOptions, [], 'a length below 2 ends the options')
  t.equal(bad[0]?.options, undefined)
})

t.test('flags in tcpdump order', async (t) => {
  t.equal(formatTcpFlags(0x02), 'S')
  t.equal(formatTcpFlags(0x12), 'S.')
  t.equal(formatTcpFlags(0x10), '.')
  t.equal(formatTcpFlags(0x18), 'P.')
  t.equal(formatTcpFlags(0x11), 'F.')
  t.equal(formatTcpFlags(0x19), 'FP.')
  t.equal(formatTcpFlags(0x14), 'R.')
  t.equal(formatTcpFlags(0xff), 'FSRP.UEW', 'ACK comes before URG, ECE, CWR (print-tcp.c tcp_flag_values)')
  t.equal(formatTcpFlags(0x52), 'S.E')
  t.equal(formatTcpFlags(0x98), 'P.W')
  t.equal(formatTcpFlags(0), 'none')
})

t.test('IPv6 text per RFC 5952', async (t) => {
  const v6 = (s: string): Buffer => {
    const [head = '', tail = ''] = s.split('::')
    const h = head === '' ? [] : head.split(':')
    const tl = tail === '' ? [] : tail.split(':')
    const groups = s.includes('::') ? [...h, ...Array<string>(8 - h.length - tl.length).fill('0'), ...tl] : h
    const b = Buffer.alloc(16)
    groups.forEach((g, i) => b.writeUInt16BE(parseInt(g, 16), i * 2))
    return b
  }
  t.equal(formatIpv6(v6('0:0:0:0:0:0:0:1'), 0), '::1')
  t.equal(formatIpv6(v6('0:0:0:0:0:0:0:0'), 0), '::')
  t.equal(formatIpv6(v6('2001:db8:0:0:1:0:0:1'), 0), '2001:db8::1:0:0:1', 'first of two equal runs')
  t.equal(formatIpv6(v6('2001:db8:0:1:1:1:1:1'), 0), '2001:db8:0:1:1:1:1:1', 'one zero group stays')
  t.equal(formatIpv6(v6('2001:0:0:1:0:0:0:1'), 0), '2001:0:0:1::1', 'longest run')
  t.equal(formatIpv6(v6('fe80:0:0:0:abcd:0:0:0'), 0), 'fe80::abcd:0:0:0')
  t.equal(formatIpv6(v6('0:0:0:0:0:ffff:c612:1'), 0), '::ffff:198.18.0.1')
})

t.test('toPktRecords: time since t0, host, interface names', async (t) => {
  const pkts = parsePcap(readFixture('any-sll2.pcap'))
  const t0Us = (pkts[0]?.tsUs ?? 0) - 250_000
  const recs = toPktRecords(pkts, { host: 'client', t0Us, ifnames: IFNAMES_A })
  t.equal(recs.length, pkts.length)
  t.strictSame(recs[0], {
    kind: 'pkt', t: 0.25, host: 'client', ifname: 'tlfixpcap-a', dir: 'out', family: 4,
    src: '198.18.0.1', sport: 55025, dst: '198.18.0.2', dport: 8000, flags: 'S',
    seq: 1150745710, ack: 0, win: 64240, len: 0,
    options: { mss: 1460, sackOK: true, tsval: 858307697, tsecr: 0, nop: 1, wscale: 10 },
  })
  t.equal(recs[1]?.t, 0.250053, 'microsecond resolution')
  t.equal(toPktRecords(pkts, { host: 'c', t0Us, ifnames: new Map() })[0]?.ifname, undefined, 'unknown ifindex: no name')
})

t.test('parseIpLinkNames', async (t) => {
  t.same([...IFNAMES_A], [[1, 'lo'], [2, 'tlfixpcap-a']], 'veth "@if2" suffix dropped')
  const docker = '1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536 qdisc noqueue state UNKNOWN\\    link/loopback 00:00\n' +
    '27: eth0@if28: <BROADCAST,MULTICAST,UP,LOWER_UP,M-DOWN> mtu 1500 qdisc noqueue state UP\\    link/ether 02:42\n' +
    '4: tunl0@NONE: <NOARP> mtu 1480 qdisc noop state DOWN\n'
  t.same([...parseIpLinkNames(docker)], [[1, 'lo'], [27, 'eth0'], [4, 'tunl0']])
})

t.test('parse speed', async (t) => {
  const buf = repeatRecords(readFixture('any-sll2.pcap'), 10_000)
  parsePcap(buf) // warm up
  const start = performance.now()
  const pkts = parsePcap(buf)
  const ms = performance.now() - start
  t.equal(pkts.length, 10_000)
  t.comment(`parsePcap: 10000 packets (${buf.length} bytes) in ${ms.toFixed(1)} ms`)
  t.ok(ms < 2000, `10k packets parse well under 2 s (${ms.toFixed(1)} ms)`)
})

// ---------------------------------------------------------------------------
// startCapture against a fake host replaying a fixture

interface FakeTcpdump {
  stderrAtStart?: string[]
  /** Exit right after start (tcpdump failed). */
  exitAtStart?: ExitInfo
  startError?: Error
  /** Bytes "captured" before and after stop is requested. */
  chunks: Buffer[]
  ipLink?: string
}

function createFakeHost(fake: FakeTcpdump): Host & { spawned: Array<readonly string[]>; signals: string[] } {
  const spawned: Array<readonly string[]> = []
  const signals: string[] = []
  return {
    name: 'client',
    addr: '198.18.0.1',
    ifnames: ['eth0'],
    agentPath: '/nonexistent',
    spawned,
    signals,
    async exec(argv): Promise<ExecResult> {
      if (argv[0] === 'ip') return { exitCode: 0, stdout: fake.ipLink ?? readText('ifnames-a.txt'), stderr: '' }
      return { exitCode: 1, stdout: '', stderr: 'unexpected' }
    },
    spawn(argv, opts?: SpawnOptions): Proc {
      spawned.push(argv)
      let hasExited = false
      let finish: (e: ExitInfo) => void = () => undefined
      const exited = new Promise<ExitInfo>((resolve) => {
        finish = (e) => {
          hasExited = true
          resolve(e)
        }
      })
      const started = fake.startError ? Promise.reject(fake.startError) : Promise.resolve()
      started.catch(() => undefined)
      setTimeout(() => {
        for (const line of fake.stderrAtStart ?? []) opts?.onStderrLine?.(line)
        if (fake.exitAtStart) finish(fake.exitAtStart)
        else if (fake.startError) finish({ code: undefined, signal: undefined })
        else opts?.onStdoutData?.(fake.chunks[0] ?? Buffer.alloc(0))
      }, 5)
      const proc: Proc = {
        argv,
        started,
        exited,
        get hasExited() {
          return hasExited
        },
        async write() {},
        endStdin() {},
        async signal(sig) {
          signals.push(sig)
        },
        async stop(o) {
          if (hasExited) return exited
          signals.push(o?.sig ?? 'SIGTERM')
          // tcpdump flushes what it still had, prints its statistics, exits 0.
          for (const c of fake.chunks.slice(1)) opts?.onStdoutData?.(c)
          opts?.onStderrLine?.(`${fake.chunks.length} packets captured`)
          opts?.onStderrLine?.('0 packets dropped by kernel')
          finish({ code: 0, signal: undefined })
          return exited
        },
      }
      return proc
    },
  }
}

const LISTENING_LINE = 'tcpdump: listening on any, link-type LINUX_SLL2 (Linux cooked v2), snapshot length 262 bytes'

t.test('startCapture streams tcpdump stdout into the file and parses it at stop', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'tcplab-pcap-test-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const fixture = readFixture('any-sll2.pcap')
  const offsets = findRecordOffsets(fixture)
  const split = offsets[5] ?? 0
  const host = createFakeHost({
    stderrAtStart: ['tcpdump: data link type LINUX_SLL2', LISTENING_LINE],
    // Before stop: header + 5 records; at SIGINT: the rest, split mid-record.
    chunks: [fixture.subarray(0, split), fixture.subarray(split, split + 7), fixture.subarray(split + 7)],
  })
  const file = join(dir, 'client.pcap')
  const first = parsePcap(fixture)[0]?.tsUs ?? 0
  const cap = await startCapture(host, { file, t0Us: first })
  t.same(host.spawned[0], ['tcpdump', '-i', 'any', '-n', '-U', '--immediate-mode', '-s', '262', '-w', '-', 'tcp'])
  t.equal(cap.linkType, 'LINUX_SLL2')
  t.same([...cap.ifnames], [[1, 'lo'], [2, 'tlfixpcap-a']])
  const stopped = cap.stop({ drainMs: 20 })
  const again = cap.stop({ drainMs: 0, t0Us: 0 })
  const res = await stopped
  t.equal(await again, res, 'stop is idempotent (same result)')
  t.same(host.signals, ['SIGINT'], 'one SIGINT')
  t.same(await readFile(file), fixture, 'the file is byte for byte what tcpdump wrote')
  t.equal(res.bytes, fixture.length)
  t.equal(res.file, file)
  t.equal(res.kernelDrops, 0)
  t.same(res.exit, { code: 0, signal: undefined })
  t.equal(res.packets.length, parsePcap(fixture).length)
  t.equal(res.packets[0]?.t, 0, 'relative to the t0 given at start')
  t.equal(res.packets[0]?.host, 'client')
  t.equal(res.packets[0]?.ifname, 'tlfixpcap-a')
})

t.test('the stream form: chunks of any size give what the whole file gives, each packet once its record is complete', async (t) => {
  for (const name of ['any-sll2.pcap', 'any-nano.pcap', 'any-ipv6.pcap', 'veth-en10mb.pcap', 'any-options.pcap']) {
    const fixture = readFixture(name)
    const whole = parsePcap(fixture)
    t.ok(whole.length > 0, `${name}: ${whole.length} packets`)
    for (const size of [1, 7, 16, 23, 24, 25, 100, 4096]) {
      const parser = new PcapStreamParser()
      const got: PcapPacket[] = []
      for (let at = 0; at < fixture.length; at += size) got.push(...parser.push(fixture.subarray(at, at + size)))
      t.same(got, whole, `${name} in chunks of ${size} bytes`)
    }
    // A packet comes out with the chunk that completes its record, not before.
    const offsets = findRecordOffsets(fixture)
    const cut = (offsets[3] ?? 0) - 1
    const parser = new PcapStreamParser()
    const before = parser.push(fixture.subarray(0, cut))
    const after = parser.push(fixture.subarray(cut, cut + 1))
    t.same(before, parsePcap(fixture.subarray(0, offsets[2])), `${name}: one byte short of record 2's end: records 0 and 1`)
    t.same(after, parsePcap(fixture.subarray(0, offsets[3])).slice(before.length), `${name}: the byte that completes record 2 releases its packet`)
    t.equal(after.length, 1)
  }
  t.throws(() => new PcapStreamParser().push(Buffer.from('0a0d0d0a00000000', 'hex')), /pcapng/, 'pcapng is refused as by parsePcap')
})

t.test('startCapture onPackets: the packets as they come, the file unchanged', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'tcplab-pcap-test-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const fixture = readFixture('any-sll2.pcap')
  const offsets = findRecordOffsets(fixture)
  const split = offsets[5] ?? 0
  const host = createFakeHost({
    stderrAtStart: [LISTENING_LINE],
    chunks: [fixture.subarray(0, split), fixture.subarray(split, split + 7), fixture.subarray(split + 7)],
  })
  const live: Array<{ n: number; ifnames: number }> = []
  const pkts: PcapPacket[] = []
  const file = join(dir, 'client.pcap')
  const cap = await startCapture(host, { file, onPackets: (p, ifnames) => { live.push({ n: p.length, ifnames: ifnames.size }); pkts.push(...p) } })
  // The first chunk came before "listening" was known: held, then delivered with the interface names.
  t.same(live, [{ n: parsePcap(fixture.subarray(0, split)).length, ifnames: 2 }])
  const res = await cap.stop({ drainMs: 0 })
  t.same(await readFile(file), fixture, 'the file is byte for byte what tcpdump wrote')
  t.same(pkts, parsePcap(fixture), 'every packet once, in order')
  t.equal(live.length, 2, 'one delivery per chunk that completes records (the 7-byte chunk completes none)')
  t.equal(res.packets.length, pkts.length, 'the end-of-run records still come from the file')
  // A consumer that throws stops the live packets, never the capture.
  const host2 = createFakeHost({ stderrAtStart: [LISTENING_LINE], chunks: [fixture.subarray(0, split), fixture.subarray(split)] })
  const errors: string[] = []
  const cap2 = await startCapture(host2, { file: join(dir, 'b.pcap'), onPackets: () => { throw new Error('consumer bug') }, onLiveError: (e) => errors.push(e.message) })
  const res2 = await cap2.stop({ drainMs: 0 })
  t.same(errors, ['consumer bug'])
  t.same(await readFile(join(dir, 'b.pcap')), fixture)
  t.equal(res2.packets.length, parsePcap(fixture).length)
})

t.test('startCapture options: snaplen, filter, t0 at stop', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'tcplab-pcap-test-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const fixture = readFixture('any-sll2.pcap')
  const host = createFakeHost({ stderrAtStart: [LISTENING_LINE], chunks: [fixture] })
  const cap = await startCapture(host, { file: join(dir, 'x.pcap'), snaplen: 96, filter: ['tcp', 'port', '8000'] })
  t.same(host.spawned[0], buildTcpdumpArgv(96, ['tcp', 'port', '8000']))
  t.same(host.spawned[0]?.slice(-5), ['-w', '-', 'tcp', 'port', '8000'])
  const t0Us = (parsePcap(fixture)[0]?.tsUs ?? 0) - 1_000_000
  const res = await cap.stop({ drainMs: 0, t0Us })
  t.equal(res.packets[0]?.t, 1)
})

t.test('startCapture failures', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'tcplab-pcap-test-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const file = join(dir, 'f.pcap')

  await t.rejects(startCapture(createFakeHost({
    stderrAtStart: ['exec of "tcpdump" failed: No such file or directory'], exitAtStart: { code: 255, signal: undefined }, chunks: [],
  }), { file }), MissingToolError, 'ip netns exec: not installed')
  await t.rejects(startCapture(createFakeHost({
    stderrAtStart: ['OCI runtime exec failed: exec failed: unable to start container process: exec: "tcpdump": executable file not found in $PATH: unknown'],
    exitAtStart: { code: 126, signal: undefined }, chunks: [],
  }), { file }), MissingToolError, 'docker exec: not installed')
  await t.rejects(startCapture(createFakeHost({
    startError: new MissingToolError('tcpdump', 'tcpdump'), chunks: [],
  }), { file }), MissingToolError, 'spawn ENOENT')

  const denied = startCapture(createFakeHost({
    stderrAtStart: ["tcpdump: any: You don't have permission to perform this capture on that device", '(socket: Operation not permitted)'],
    exitAtStart: { code: 1, signal: undefined }, chunks: [],
  }), { file })
  await t.rejects(denied, ProcessError)
  await denied.catch((e: unknown) => {
    t.match((e as ProcessError).message, /command failed on client: tcpdump -i any/)
    t.match((e as ProcessError).message, /Operation not permitted/)
    t.match((e as ProcessError).hint, /root/)
  })

  const silentHost = createFakeHost({ stderrAtStart: ['tcpdump: verbose output suppressed'], chunks: [] })
  const silent = startCapture(silentHost, { file, startTimeoutMs: 50 })
  await t.rejects(silent, TimeoutError)
  await silent.catch((e: unknown) => {
    t.match((e as TimeoutError).message, /tcpdump on client did not start capturing within 50 ms/)
    t.match((e as TimeoutError).message, /verbose output suppressed/, 'with the stderr tail')
  })
  t.same(silentHost.signals, ['SIGINT'], 'the stuck tcpdump is stopped')
})

// ---------------------------------------------------------------------------
// Builders for hand-made pcap files

interface Frame {
  data: Buffer
  origLen: number
}

function frame(data: Buffer, opts: { origLen?: number } = {}): Frame {
  return { data, origLen: opts.origLen ?? data.length }
}

/** A little-endian microsecond pcap file. */
function buildPcap(linkType: number, frames: Frame[]): Buffer {
  const header = Buffer.alloc(24)
  header.writeUInt32LE(0xa1b2c3d4, 0)
  header.writeUInt16LE(2, 4)
  header.writeUInt16LE(4, 6)
  header.writeUInt32LE(262144, 16)
  header.writeUInt32LE(linkType, 20)
  const parts: Buffer[] = [header]
  frames.forEach((f, i) => {
    const rh = Buffer.alloc(16)
    rh.writeUInt32LE(1_800_000_000 + i, 0)
    rh.writeUInt32LE(i, 4)
    rh.writeUInt32LE(f.data.length, 8)
    rh.writeUInt32LE(f.origLen, 12)
    parts.push(rh, f.data)
  })
  return Buffer.concat(parts)
}

function tcpSegment(o: { sport?: number; dport?: number; seq?: number; ack?: number; flags?: number; win?: number; options?: Buffer; payload?: number }): Buffer {
  const opts = o.options ?? Buffer.alloc(0)
  if (opts.length % 4 !== 0) throw new Error('pad the options')
  const h = Buffer.alloc(20)
  h.writeUInt16BE(o.sport ?? 40000, 0)
  h.writeUInt16BE(o.dport ?? 8000, 2)
  h.writeUInt32BE(o.seq ?? 1, 4)
  h.writeUInt32BE(o.ack ?? 0, 8)
  h.writeUInt8(((20 + opts.length) / 4) << 4, 12)
  h.writeUInt8(o.flags ?? 0x02, 13)
  h.writeUInt16BE(o.win ?? 1000, 14)
  return Buffer.concat([h, opts, Buffer.alloc(o.payload ?? 0, 0x61)])
}

function ipv4(payload: Buffer, o: { options?: Buffer; proto?: number; fragOffset8?: number; moreFragments?: boolean }): Buffer {
  const opts = o.options ?? Buffer.alloc(0)
  const h = Buffer.alloc(20)
  h.writeUInt8(0x40 | ((20 + opts.length) / 4), 0)
  h.writeUInt16BE(20 + opts.length + payload.length, 2)
  h.writeUInt16BE((o.moreFragments ? 0x2000 : 0) | (o.fragOffset8 ?? 0), 6)
  h.writeUInt8(64, 8)
  h.writeUInt8(o.proto ?? 6, 9)
  Buffer.from([198, 18, 0, 1, 198, 18, 0, 2]).copy(h, 12)
  return Buffer.concat([h, opts, payload])
}

const IPV6_NEXT = { HOPOPTS: 0, ROUTING: 43, FRAGMENT: 44, DSTOPTS: 60 } as const

function ipv6(payload: Buffer, next: number): Buffer {
  const h = Buffer.alloc(40)
  h.writeUInt32BE(0x60000000, 0)
  h.writeUInt16BE(payload.length, 4)
  h.writeUInt8(next, 6)
  h.writeUInt8(64, 7)
  h.writeUInt16BE(0x2001, 8)
  h.writeUInt16BE(0x0002, 10)
  h.writeUInt8(1, 23)
  h.writeUInt16BE(0x2001, 24)
  h.writeUInt16BE(0x0002, 26)
  h.writeUInt8(2, 39)
  return Buffer.concat([h, payload])
}

/** A hop-by-hop / routing / destination options header of `bytes` (a multiple of 8), PadN inside. */
function extHeader(next: number, bytes: number): Buffer {
  const b = Buffer.alloc(bytes)
  b.writeUInt8(next, 0)
  b.writeUInt8(bytes / 8 - 1, 1)
  b.writeUInt8(1, 2) // PadN
  b.writeUInt8(bytes - 4, 3)
  return b
}

function fragmentHeader(next: number, offsetBytes: number, more: boolean): Buffer {
  const b = Buffer.alloc(8)
  b.writeUInt8(next, 0)
  b.writeUInt16BE((offsetBytes / 8) << 3 | (more ? 1 : 0), 2)
  b.writeUInt32BE(0x1234, 4)
  return b
}

/** The 4-byte address family of LINKTYPE_NULL (writer's byte order) / LINKTYPE_LOOP (big endian). */
function afHeader(af: number, order: 'le' | 'be'): Buffer {
  const b = Buffer.alloc(4)
  if (order === 'le') b.writeUInt32LE(af)
  else b.writeUInt32BE(af)
  return b
}

/** Offsets of each record header in a little-endian pcap. */
function findRecordOffsets(buf: Buffer): number[] {
  const offsets: number[] = []
  for (let off = 24; off + 16 <= buf.length; off += 16 + buf.readUInt32LE(off + 8)) offsets.push(off)
  return offsets
}

/** The same file written by a big-endian machine: file and record headers byte-swapped, packets as they are. */
function swapPcapByteOrder(buf: Buffer): Buffer {
  const out = Buffer.from(buf)
  out.writeUInt32BE(buf.readUInt32LE(0), 0)
  out.writeUInt16BE(buf.readUInt16LE(4), 4)
  out.writeUInt16BE(buf.readUInt16LE(6), 6)
  for (const at of [8, 12, 16, 20]) out.writeUInt32BE(buf.readUInt32LE(at), at)
  for (const off of findRecordOffsets(buf)) {
    for (let k = 0; k < 16; k += 4) out.writeUInt32BE(buf.readUInt32LE(off + k), off + k)
  }
  return out
}

/** A file of `count` records cycling through the fixture's records. */
function repeatRecords(buf: Buffer, count: number): Buffer {
  const records = findRecordOffsets(buf).map((off) => buf.subarray(off, off + 16 + buf.readUInt32LE(off + 8)))
  const parts: Buffer[] = [buf.subarray(0, 24)]
  for (let i = 0; i < count; i++) parts.push(records[i % records.length] as Buffer)
  return Buffer.concat(parts)
}
