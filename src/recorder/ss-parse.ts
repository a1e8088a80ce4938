// Parser for the text output of `ss -tanoiem` (iproute2 ss(8); formats below cite
// misc/ss.c of iproute2 6.1, which is what runs in the lab; older releases print
// the same tokens). ss has no stable machine format for tcp_info (its --json is
// incomplete for TCP), so the text is the contract: one header line per socket
//
//   [Netid] [State] Recv-Q Send-Q Local:Port Peer:Port [users:(...)] [timer:(...)] [uid:.. ino:.. sk:.. ...]
//
// followed, unless -O (--oneline) was given, by a line indented with a tab that
// holds skmem:(...) (-m) and the tcp_info fields (-i). The State column is
// missing when a single state was asked for (`ss -t state established`), the
// Netid column appears without -t/-u/... (`ss -na`). Everything here is pure and
// never throws on unknown input: an unknown token becomes an `info` entry.

import type { SsRecord, SsSkmem, SsTimer } from './records.js'

/** One socket of an ss sample, before the sampler adds kind, t, host and socket. */
export type ParsedSocket = Omit<SsRecord, 'kind' | 't' | 'host' | 'socket'>

export interface ParseSsOptions {
  /**
   * State to record when the output has no State column (ss omits it when one
   * state was given as a filter, e.g. `ss -tnoi state established` -> "ESTAB").
   * Default "UNKNOWN" (ss.c's sstate_name for SS_UNKNOWN).
   */
  state?: string | undefined
}

// ss.c sstate_name[] (TCP) plus UNCONN/CLOSE (`ss -E`, other protocols) and UNKNOWN.
const STATE_NAMES = new Set([
  'UNKNOWN', 'ESTAB', 'SYN-SENT', 'SYN-RECV', 'FIN-WAIT-1', 'FIN-WAIT-2', 'TIME-WAIT',
  'UNCONN', 'CLOSE', 'CLOSED', 'CLOSE-WAIT', 'LAST-ACK', 'LISTEN', 'CLOSING',
])

// ss.c proto_name()/unix_netid_name() and friends: the Netid column.
const NETIDS = new Set([
  'tcp', 'udp', 'raw', 'dccp', 'sctp', 'mptcp', 'u_str', 'u_dgr', 'u_seq', 'p_raw', 'p_dgr',
  'nl', 'v_str', 'v_dgr', 'tipc', 'xdp', 'unknown', '???',
])

// Congestion control module names (INET_DIAG_CONG, printed bare by tcp_stats_print).
const CC_NAMES = new Set([
  'cubic', 'bbr', 'bbr2', 'bbr3', 'reno', 'dctcp', 'vegas', 'westwood', 'htcp', 'hybla',
  'illinois', 'scalable', 'lp', 'veno', 'yeah', 'bic', 'cdg', 'nv', 'highspeed', 'prague',
])

// Fields printed as "name value" (two tokens) rather than "name:value": see
// tcp_stats_print ("send %sbps", "pacing_rate %sbps[/%sbps]", "delivery_rate %sbps").
const SPACED_RATE_KEYS = new Set(['send', 'pacing_rate', 'delivery_rate'])

// Shutdown state from -e: INET_DIAG_SHUTDOWN printed as "%c-%c" ('<' unless
// SHUT_RD seen, '>' unless SHUT_WR seen), so "<->", "<--", "-->", "---".
const SHUTDOWN_RE = /^[<-]-[>-]$/

// A few service names ss prints without -n (getservbyport); with -n ports are numeric.
const SERVICE_PORTS: Readonly<Record<string, number>> = {
  ftp: 21, ssh: 22, telnet: 23, smtp: 25, domain: 53, http: 80, pop3: 110, imap2: 143,
  imap: 143, https: 443, submission: 587, imaps: 993, pop3s: 995, 'http-alt': 8080,
}

const INT_RE = /^\d+$/
const NUMBER_RE = /^-?\d+(?:\.\d+)?(?:e[+-]?\d+)?$/i

/** Parse the text of one or more `ss -tanoiem` runs (column header lines are skipped) into sockets, in order. */
export function parseSsOutput(text: string, opts: ParseSsOptions = {}): ParsedSocket[] {
  const sockets: ParsedSocket[] = []
  let current: ParsedSocket | undefined
  for (const rawLine of text.split('\n')) {
    const line = rawLine.endsWith('\r') ? rawLine.slice(0, -1) : rawLine
    if (line === '') {
      current = undefined
      continue
    }
    if (line.trim() === '') continue // the empty detail line of TIME-WAIT/SYN-RECV mini sockets
    if (/^\s/.test(line)) {
      // The indented detail line (skmem, tcp_info) belongs to the socket above it.
      if (current) applyTokens(current, splitSsTokens(line.trim()))
      continue
    }
    current = undefined
    if (isSsColumnHeader(line)) continue
    const parsed = parseSsSocketLine(line, opts)
    if (parsed) {
      sockets.push(parsed)
      current = parsed
    }
  }
  return sockets
}

/** Whether a line is ss's column header ("State Recv-Q Send-Q Local Address:Port Peer Address:Port Process"). */
export function isSsColumnHeader(line: string): boolean {
  return line.includes('Recv-Q') && line.includes('Send-Q')
}

/** Parse one socket header line (with everything ss put on it, all of it with -O); undefined when it is not one. */
export function parseSsSocketLine(line: string, opts: ParseSsOptions = {}): ParsedSocket | undefined {
  const tokens = splitSsTokens(line.trim())
  let i = 0
  let netid: string | undefined
  const first = tokens[0]
  if (first !== undefined && NETIDS.has(first) && tokens.length > 5) {
    netid = first
    i++
  }
  let state = opts.state ?? 'UNKNOWN'
  const maybeState = tokens[i]
  if (maybeState !== undefined && (STATE_NAMES.has(maybeState) || /^[A-Z][A-Z0-9_-]*[A-Z0-9]$/.test(maybeState))) {
    state = maybeState
    i++
  }
  const recvQ = tokens[i]
  const sendQ = tokens[i + 1]
  const local = tokens[i + 2]
  const peer = tokens[i + 3]
  if (recvQ === undefined || sendQ === undefined || local === undefined || peer === undefined) return undefined
  if (!INT_RE.test(recvQ) || !INT_RE.test(sendQ)) return undefined
  const localAddr = splitSsAddress(local)
  const peerAddr = splitSsAddress(peer)
  if (!localAddr || !peerAddr) return undefined
  const sock: ParsedSocket = {
    state,
    recvQ: Number(recvQ),
    sendQ: Number(sendQ),
    local,
    peer,
    localPort: localAddr.port,
    peerPort: peerAddr.port,
    info: {},
  }
  if (netid !== undefined) sock.info['netid'] = netid
  if (localAddr.dev !== undefined) sock.info['dev'] = localAddr.dev
  applyTokens(sock, tokens.slice(i + 4))
  return sock
}

/**
 * Split "addr:port" as ss prints it (inet_addr_print/sock_addr_print): "198.18.0.1:8000",
 * "[::1]:8000", "*:8000", "0.0.0.0:*", "[::]:*", "127.0.0.53%lo:53" (the %dev suffix of a
 * socket bound to a device, SO_BINDTODEVICE). Port "*" is 0.
 */
export function splitSsAddress(text: string): { host: string; port: number; dev?: string } | undefined {
  const colon = text.lastIndexOf(':')
  if (colon <= 0) return undefined
  let host = text.slice(0, colon)
  const portText = text.slice(colon + 1)
  let port: number
  if (portText === '*') port = 0
  else if (INT_RE.test(portText)) port = Number(portText)
  else port = SERVICE_PORTS[portText] ?? 0
  let dev: string | undefined
  const pct = host.lastIndexOf('%')
  if (pct > 0 && (!host.startsWith('[') || pct > host.lastIndexOf(']'))) {
    dev = host.slice(pct + 1)
    host = host.slice(0, pct)
  }
  return dev === undefined ? { host, port } : { host, port, dev }
}

/**
 * Split a line into whitespace-separated tokens, keeping parenthesised groups and
 * quoted strings whole: `users:(("Web Content",pid=1,fd=2))` is one token.
 */
export function splitSsTokens(line: string): string[] {
  const tokens: string[] = []
  let cur = ''
  let depth = 0
  let quoted = false
  for (const ch of line) {
    if (quoted) {
      cur += ch
      if (ch === '"') quoted = false
      continue
    }
    if (ch === '"') quoted = true
    else if (ch === '(') depth++
    else if (ch === ')' && depth > 0) depth--
    else if ((ch === ' ' || ch === '\t') && depth === 0) {
      if (cur !== '') tokens.push(cur)
      cur = ''
      continue
    }
    cur += ch
  }
  if (cur !== '') tokens.push(cur)
  return tokens
}

/**
 * Milliseconds from ss's timer expiry text. ss.c print_ms_timer() prints
 * `[<m>min][<s>(sec|.)][<ms 3 digits>ms]`: minutes drop the milliseconds, 10+ minutes
 * drop the seconds, 10+ seconds drop the milliseconds, and seconds followed by
 * milliseconds are joined with a "." -- so "1.999ms" is 1 s 999 ms (1999), "042ms"
 * is 42, "58sec" is 58000, "1min29sec" is 89000, "119min" is 7140000. A timer at or
 * past its deadline prints as "" (the kernel clamps what is left to 0): that is 0,
 * the timer is due (on a busy machine its softirq may run tens of ms later, and a
 * sample in between shows it so). Anything that does not follow the format is undefined.
 */
export function parseSsTimerDurationMs(text: string): number | undefined {
  if (text === '') return 0
  const m = /^(?:(\d+)min)?(?:(\d+)(sec|\.))?(?:(\d+)ms)?$/.exec(text)
  if (!m) return undefined
  const [, min, sec, sep, ms] = m
  if (sep === '.' && ms === undefined) return undefined // "1." alone is not something ss prints
  return Number(min ?? 0) * 60_000 + Number(sec ?? 0) * 1000 + Number(ms ?? 0)
}

/** Parse the inside of `timer:(name,expiry,retrans)` (ss.c tcp_timer_print): "on,1.999ms,3". */
export function parseSsTimer(inner: string): SsTimer {
  const [name = 'unknown', expiry = '', retrans = '0'] = inner.split(',')
  const n = Number(retrans)
  return { name, expiresMs: parseSsTimerDurationMs(expiry), retrans: Number.isFinite(n) ? n : 0 }
}

/**
 * Bits per second from ss's rate text ("4137142857bps" with -n; "20.5Mbps",
 * "336.2Mbps", "1e+03kbps" without: ss.c sprint_bw() prints %.3g with k/M/G/T = 1e3/1e6/1e9/1e12).
 */
export function parseSsRateBps(text: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?(?:e[+-]?\d+)?)([kKMGT]?)bps$/.exec(text)
  if (!m) return undefined
  const [, num, prefix] = m
  const scale = prefix === 'k' || prefix === 'K' ? 1e3 : prefix === 'M' ? 1e6 : prefix === 'G' ? 1e9 : prefix === 'T' ? 1e12 : 1
  return Math.round(Number(num) * scale)
}

/** skmem:(r0,rb131072,t0,tb87040,f0,w0,o0,bl0,d13) -> numbers; ss.c print_skmeminfo (bl, d only on newer kernels). */
export function parseSsSkmem(inner: string): SsSkmem {
  const mem: SsSkmem = { r: 0, rb: 0, t: 0, tb: 0, f: 0, w: 0, o: 0, bl: 0, d: 0 }
  for (const part of inner.split(',')) {
    const m = /^([a-z]+)(\d+)$/.exec(part)
    if (m && m[1] !== undefined && m[2] !== undefined && m[1] in mem) mem[m[1] as keyof SsSkmem] = Number(m[2])
  }
  return mem
}

/** A value as info stores it: a number when it is one, else the text. */
function toInfoValue(text: string): number | string {
  return NUMBER_RE.test(text) ? Number(text) : text
}

/** Apply the tokens after the address columns (or of the detail line) to a socket. */
function applyTokens(sock: ParsedSocket, tokens: readonly string[]): void {
  const info = sock.info
  for (let i = 0; i < tokens.length; i++) {
    const tok = tokens[i] ?? ''
    // "send 1Mbps", "pacing_rate 2Mbps/4Mbps", "delivery_rate 3Mbps"
    if (SPACED_RATE_KEYS.has(tok)) {
      const next = tokens[i + 1]
      if (next !== undefined) {
        i++
        applyRate(info, tok, next)
      } else info[tok] = true
      continue
    }
    if (SHUTDOWN_RE.test(tok)) {
      info['shutdown'] = tok
      continue
    }
    const colon = tok.indexOf(':')
    if (colon <= 0) {
      if (CC_NAMES.has(tok)) info['cc'] = tok
      else info[tok] = true // ts sack ecn ecnseen fastopen app_limited bidir ...
      continue
    }
    const key = tok.slice(0, colon)
    let value = tok.slice(colon + 1)
    if (value === '') {
      // "version: 1.2", "cipher: aes-gcm-128" (kTLS ULP info) and "md5keys:..." print the value after a space
      const next = tokens[i + 1]
      if (next !== undefined && !next.includes(':')) {
        i++
        value = next
      }
      info[key] = toInfoValue(value)
      continue
    }
    applyKeyValue(sock, key, value)
  }
}

function applyRate(info: ParsedSocket['info'], key: string, text: string): void {
  const [rate = '', max] = text.split('/')
  const bps = parseSsRateBps(rate)
  if (bps !== undefined) info[`${key}_bps`] = bps
  else info[key] = text
  if (max !== undefined) {
    const maxBps = parseSsRateBps(max)
    if (maxBps !== undefined) info[`max_${key}_bps`] = maxBps
  }
}

function applyKeyValue(sock: ParsedSocket, key: string, value: string): void {
  const info = sock.info
  const group = /^\((.*)\)$/s.exec(value)?.[1]
  switch (key) {
    case 'timer':
      if (group !== undefined) {
        sock.timer = parseSsTimer(group)
        return
      }
      break
    case 'skmem':
      if (group !== undefined) {
        sock.skmem = parseSsSkmem(group)
        return
      }
      break
    case 'mem':
      // ss.c print_skmeminfo fallback without SKMEMINFO: mem:(r%u,w%u,f%u,t%u)
      if (group !== undefined) {
        for (const part of group.split(',')) {
          const m = /^([a-z]+)(\d+)$/.exec(part)
          if (m && m[1] !== undefined && m[2] !== undefined) info[`mem_${m[1]}`] = Number(m[2])
        }
        return
      }
      break
    case 'users':
      if (group !== undefined) {
        info['users'] = group
        // first entry: ("nc",pid=123,fd=3)
        const m = /^\("((?:[^"\\]|\\.)*)",pid=(\d+)(?:,[^,)]*)*?,fd=(\d+)/.exec(group)
        if (m && m[1] !== undefined) {
          info['process'] = m[1]
          info['pid'] = Number(m[2])
          info['fd'] = Number(m[3])
        }
        return
      }
      break
    case 'ino':
      if (INT_RE.test(value)) {
        sock.ino = Number(value)
        return
      }
      break
    case 'sk':
      info['sk'] = value // a hex cookie: "1a", also "1016"; never a decimal number
      return
    case 'rtt': {
      // rtt:<rtt>/<rttvar> in ms (tcp_stats_print "rtt:%g/%g")
      const [rtt = '', rttvar] = value.split('/')
      info['rtt'] = toInfoValue(rtt)
      if (rttvar !== undefined) info['rttvar'] = toInfoValue(rttvar)
      return
    }
    case 'wscale': {
      // wscale:<snd_wscale>,<rcv_wscale>
      info['wscale'] = value
      const [snd, rcv] = value.split(',')
      if (snd !== undefined && INT_RE.test(snd)) info['snd_wscale'] = Number(snd)
      if (rcv !== undefined && INT_RE.test(rcv)) info['rcv_wscale'] = Number(rcv)
      return
    }
    case 'retrans': {
      // retrans:<retrans_out>/<total_retrans> (tcpi_retrans / tcpi_total_retrans)
      info['retrans'] = value
      const [now, total] = value.split('/')
      if (now !== undefined && INT_RE.test(now)) info['retrans_now'] = Number(now)
      if (total !== undefined && INT_RE.test(total)) info['retrans_total'] = Number(total)
      return
    }
    default:
      break
  }
  if (group !== undefined) {
    // nested group, e.g. bbr:(bw:1Mbps,mrtt:0.1,pacing_gain:2.88672,cwnd_gain:2.88672)
    // or dctcp:(ce_state:0,alpha:0,ab_ecn:0,ab_tot:0): flattened as bbr_mrtt, bbr_bw_bps, ...
    for (const part of group.split(',')) {
      const c = part.indexOf(':')
      if (c <= 0) {
        if (part !== '') info[`${key}_${part}`] = true
        continue
      }
      const sub = part.slice(0, c)
      const subValue = part.slice(c + 1)
      const bps = parseSsRateBps(subValue)
      if (bps !== undefined) info[`${key}_${sub}_bps`] = bps
      else info[`${key}_${sub}`] = toInfoValue(subValue)
    }
    return
  }
  // busy:84ms, rwnd_limited:4ms(40.0%), sndbuf_limited:1ms(2.5%) (tcp_stats_print, "%llums(%.1f%%)")
  const limited = /^(\d+)ms(?:\((\d+(?:\.\d+)?)%\))?$/.exec(value)
  if (limited && limited[1] !== undefined) {
    info[`${key}_ms`] = Number(limited[1])
    if (limited[2] !== undefined) info[`${key}_pct`] = Number(limited[2])
    return
  }
  info[key] = toInfoValue(value)
}
