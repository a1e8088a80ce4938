// Which captured packets an iptables rule of the scenario applies to, so the
// report can say "dropped here, by this rule". Only the matches scenarios use
// are understood (iptables(8): -p -s -d -i -o; iptables-extensions(8): tcp
// --sport --dport --syn --tcp-flags, comment); anything else (statistic,
// conntrack, limit, ...) makes the answer "maybe", never a wrong "yes".
//
// Where tcpdump sees a packet relative to netfilter decides what the report
// can show: a received packet is captured before PREROUTING/INPUT/FORWARD
// (so a packet dropped there appears "in" on the host), a sent packet after
// OUTPUT/POSTROUTING (so a packet dropped there is never captured at all).

import type { PktRecord } from '../recorder/records.js'

export type MatchAnswer = 'yes' | 'no' | 'maybe'

/** A rule as parsed from the action record's detail ("iptables -A INPUT ... -j DROP -m comment --comment tcplab:x"). */
export interface ParsedRule {
  family: 4 | 6
  table: string
  chain: string
  /** DROP, REJECT, ACCEPT, LOG, ... (undefined without -j). */
  target?: string | undefined
  /** The rule without the tcplab comment, as a reader wants to see it. */
  text: string
  /** Does this rule discard what it matches? */
  isDrop: boolean
  match(p: PktRecord): MatchAnswer
}

type Test = (p: PktRecord) => boolean

const FLAG_LETTER: Record<string, string> = { FIN: 'F', SYN: 'S', RST: 'R', PSH: 'P', ACK: '.', URG: 'U', ECE: 'E', CWR: 'W' }
const ALL_FLAGS = Object.keys(FLAG_LETTER)

/** Parse a rule's command line; undefined when it is not an iptables/ip6tables add. */
export function parseIptablesRule(detail: string): ParsedRule | undefined {
  const argv = detail.replace(/\s+\(deleted\)$/, '').split(/\s+/).filter(Boolean)
  const cmd = argv[0]
  if (cmd !== 'iptables' && cmd !== 'ip6tables') return undefined
  let table = 'filter'
  let chain: string | undefined
  let target: string | undefined
  const tests: Test[] = []
  let unknown = false
  for (let i = 1; i < argv.length; i++) {
    let a = argv[i] as string
    let negate = false
    if (a === '!') {
      negate = true
      a = argv[++i] ?? ''
    }
    const next = (): string => argv[++i] ?? ''
    const add = (test: Test): void => {
      tests.push(negate ? (p) => !test(p) : test)
    }
    switch (a) {
      case '-t': case '--table':
        table = next()
        continue
      case '-A': case '--append': case '-I': case '--insert':
        chain = next()
        if (/^\d+$/.test(argv[i + 1] ?? '')) i++
        continue
      case '-m': case '--match': {
        const mod = next()
        if (mod === 'comment') {
          if (argv[i + 1] === '--comment') i += 2
          continue
        }
        if (mod !== 'tcp' && mod !== 'multiport') unknown = true
        continue
      }
      case '-w': case '--wait':
        if (/^\d+$/.test(argv[i + 1] ?? '')) i++
        continue
      case '-j': case '--jump':
        target = next()
        continue
      case '-p': case '--protocol': {
        const proto = next()
        add(() => proto === 'tcp' || proto === 'all' || proto === '6')
        break
      }
      case '-s': case '--source': {
        const net = next()
        add((p) => inNet(p.src, net))
        break
      }
      case '-d': case '--destination': {
        const net = next()
        add((p) => inNet(p.dst, net))
        break
      }
      case '--sport': case '--source-port': case '--sports': {
        const ports = next()
        add((p) => inPorts(p.sport, ports))
        break
      }
      case '--dport': case '--destination-port': case '--dports': {
        const ports = next()
        add((p) => inPorts(p.dport, ports))
        break
      }
      case '--syn':
        add((p) => hasFlags(p.flags, ['SYN', 'RST', 'ACK', 'FIN'], ['SYN']))
        break
      case '--tcp-flags': {
        const mask = flagList(next())
        const comp = flagList(next())
        add((p) => hasFlags(p.flags, mask, comp))
        break
      }
      case '-i': case '--in-interface': case '-o': case '--out-interface':
        next() // lab hosts have one interface toward the peer
        break
      default:
        // --reject-with, --to-ports, and options of modules we do not model
        if (target !== undefined && a.startsWith('--')) {
          next()
          continue
        }
        unknown = true
    }
  }
  if (!chain) return undefined
  const text = ruleText(argv)
  const isDrop = target === 'DROP' || target === 'REJECT'
  return {
    family: cmd === 'ip6tables' ? 6 : 4,
    table,
    chain,
    target,
    text,
    isDrop,
    match(p) {
      if ((p.family === 6) !== (cmd === 'ip6tables')) return 'no'
      if (!tests.every((t) => t(p))) return 'no'
      return unknown ? 'maybe' : 'yes'
    },
  }
}

/** The rule as written, minus the tcplab comment iptables needs to find it again. */
function ruleText(argv: string[]): string {
  const out: string[] = []
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '-m' && argv[i + 1] === 'comment') {
      i += argv[i + 2] === '--comment' ? 3 : 1
      continue
    }
    out.push(argv[i] as string)
  }
  return out.join(' ')
}

/** Does a captured packet with these tcpdump flags have exactly `comp` set among `mask`? */
export function hasFlags(flagsText: string, mask: readonly string[], comp: readonly string[]): boolean {
  for (const f of mask) {
    const letter = FLAG_LETTER[f]
    if (letter === undefined) continue
    const set = flagsText.includes(letter)
    if (set !== comp.includes(f)) return false
  }
  return true
}

function flagList(text: string): string[] {
  if (text === 'ALL') return ALL_FLAGS
  if (text === 'NONE') return []
  return text.split(',').map((f) => f.toUpperCase())
}

function inPorts(port: number, spec: string): boolean {
  return spec.split(',').some((part) => {
    const [lo, hi] = part.split(':')
    const a = lo === '' || lo === undefined ? 0 : Number(lo)
    const b = hi === undefined ? a : hi === '' ? 65535 : Number(hi)
    return port >= a && port <= b
  })
}

/** Is `addr` in `net` ("198.18.0.1", "198.18.0.0/24", IPv6 compared by prefix of hex groups)? */
function inNet(addr: string, net: string): boolean {
  const [base = '', bitsText] = net.split('/')
  if (!base.includes(':') && !addr.includes(':')) {
    const bits = bitsText === undefined ? 32 : Number(bitsText)
    const a = ipv4ToInt(addr)
    const b = ipv4ToInt(base)
    if (a === undefined || b === undefined) return false
    if (bits === 0) return true
    const mask = bits >= 32 ? 0xffffffff : ~((1 << (32 - bits)) - 1) >>> 0
    return ((a & mask) >>> 0) === ((b & mask) >>> 0)
  }
  if (bitsText === undefined) return expandIpv6(addr) === expandIpv6(base)
  const bits = Number(bitsText)
  const hexA = expandIpv6(addr).replace(/:/g, '')
  const hexB = expandIpv6(base).replace(/:/g, '')
  const nibbles = Math.floor(bits / 4)
  return hexA.slice(0, nibbles) === hexB.slice(0, nibbles)
}

function ipv4ToInt(a: string): number | undefined {
  const parts = a.split('.').map(Number)
  if (parts.length !== 4 || parts.some((x) => !Number.isInteger(x) || x < 0 || x > 255)) return undefined
  return (((parts[0] as number) << 24) | ((parts[1] as number) << 16) | ((parts[2] as number) << 8) | (parts[3] as number)) >>> 0
}

function expandIpv6(a: string): string {
  const [head = '', tail] = a.split('::')
  const h = head ? head.split(':') : []
  const t = tail !== undefined && tail !== '' ? tail.split(':') : []
  const fill = tail !== undefined ? Array<string>(8 - h.length - t.length).fill('0') : []
  return [...h, ...fill, ...t].map((g) => g.padStart(4, '0').toLowerCase()).join(':')
}
