// The agent's socket samples (agent/sockdiag.c: NETLINK_SOCK_DIAG dumps, the
// data `ss -tanoiem` prints) turned into `ss` and `sample` timeline records.
//
// The agent writes only what changed between two dumps, every socket every
// fullEveryMs, the cookies of sockets that disappeared, and `ss-destroy` when
// the kernel frees a socket. Expectations (src/expect/ss.ts) read samples:
// `always`/`during` need the socket present in every sample of a window, and
// `states` decides a socket went to CLOSED when a later `sample` of its host
// does not show it. So this keeps the agent's table of sockets and expands it
// back into complete samples, but only at the dumps that carry something: at
// each such dump every socket present gets an `ss` record (the changed ones
// with their new values, the others with the values of their last emitted row,
// which the agent vouches are unchanged except for countdowns: timer.expiresMs
// and the lastsnd/lastrcv/lastack/busy ages may be up to fullEveryMs old), and
// one `sample` record says the host was sampled then. A socket gone from a
// dump, or destroyed (exact time: the moment the agent read the notification),
// is simply absent from the next sample, which is how `states` sees CLOSED.
// Quiet stretches get complete samples at the fullEveryMs cadence (the runner
// uses 100 ms, the old sampler's cadence), so windows stay populated.
//
// Times are the agent's: `t` of each event is CLOCK_REALTIME taken right
// before the dump (or when the destroy notification was read), never Node's.
// The `info` keys are exactly those ss-parse.ts produces from ss's text, from
// the same kernel fields (iproute2 misc/ss.c tcp_show_info/tcp_stats_print),
// so expectations written against ss output keep matching.

import type { SockDiagRow, SsDestroyEvent, SsEvent } from '../agent/protocol.js'
import { secondsSince, type EventRecord, type SampleRecord, type SsRecord, type SsSkmem, type SsTimer } from './records.js'

/** Records for the timeline from one agent event; `t` relative to t0Us. */
export type DiagRecord = SsRecord | SampleRecord | EventRecord

/** ss prints doubles with %g (6 significant digits). */
function g(x: number): number {
  return Number(x.toPrecision(6))
}

/** `local`/`peer` with the %dev suffix ss prints for a socket bound to a device. */
function withDev(addr: string, dev: string | number | undefined): string {
  if (dev === undefined) return addr
  const colon = addr.lastIndexOf(':')
  return `${addr.slice(0, colon)}%${String(dev)}${addr.slice(colon)}`
}

/**
 * The `info` of an ss record from a diag row: what `ss -tanoiem` prints after
 * the addresses and on the detail line, parsed the way ss-parse.ts parses it.
 */
export function diagRowInfo(row: SockDiagRow): Record<string, number | string | boolean> {
  const info: Record<string, number | string | boolean> = {}
  // -e (ss.c sock_details_print and inet_show_sock)
  if (row.dev !== undefined) info['dev'] = row.dev
  if (row.uid !== 0) info['uid'] = row.uid
  info['sk'] = row.sk
  if (row.v6only !== undefined) info['v6only'] = row.v6only
  if (row.shutdown !== undefined) info['shutdown'] = `${row.shutdown & 1 ? '-' : '<'}-${row.shutdown & 2 ? '-' : '>'}`
  const ti = row.tcpInfo
  if (ti === undefined) return info
  const v = (k: string): number => ti[k] ?? 0
  // -i (ss.c tcp_show_info -> tcp_stats_print), in print order
  const opts = v('options')
  if (opts & 1) info['ts'] = true // TCPI_OPT_TIMESTAMPS
  if (opts & 64) info['usec_ts'] = true // TCPI_OPT_USEC_TS
  if (opts & 2) info['sack'] = true // TCPI_OPT_SACK
  if (opts & 8) info['ecn'] = true // TCPI_OPT_ECN
  if (opts & 16) info['ecnseen'] = true // TCPI_OPT_ECN_SEEN
  if (opts & 32) info['fastopen'] = true // TCPI_OPT_SYN_DATA
  if (row.cc !== undefined && row.cc !== '') info['cc'] = row.cc
  if (opts & 4) {
    // TCPI_OPT_WSCALE
    info['wscale'] = `${v('snd_wscale')},${v('rcv_wscale')}`
    info['snd_wscale'] = v('snd_wscale')
    info['rcv_wscale'] = v('rcv_wscale')
  }
  const rto = v('rto')
  if (rto !== 0 && rto !== 3_000_000) info['rto'] = g(rto / 1000) // 3 s: TCP_TIMEOUT_INIT, ss hides it
  if (v('backoff')) info['backoff'] = v('backoff')
  const rttUs = v('rtt')
  if (rttUs) {
    info['rtt'] = g(rttUs / 1000)
    info['rttvar'] = g(v('rttvar') / 1000)
  }
  if (v('ato')) info['ato'] = g(v('ato') / 1000)
  const put = (key: string, field: string): void => {
    if (v(field)) info[key] = v(field)
  }
  put('mss', 'snd_mss')
  put('pmtu', 'pmtu')
  put('rcvmss', 'rcv_mss')
  put('advmss', 'advmss')
  put('cwnd', 'snd_cwnd')
  const ssthresh = v('snd_ssthresh')
  if (ssthresh !== 0 && ssthresh < 0xffff) info['ssthresh'] = ssthresh
  for (const f of ['bytes_sent', 'bytes_retrans', 'bytes_acked', 'bytes_received', 'segs_out', 'segs_in', 'data_segs_out', 'data_segs_in']) put(f, f)
  if (row.bbr !== undefined) {
    // bbr:(bw:%sbps,mrtt:%g[,pacing_gain:%g][,cwnd_gain:%g]); -n prints bw with %.0f
    info['bbr_bw_bps'] = Math.round(row.bbr.bw * 8)
    info['bbr_mrtt'] = g(row.bbr.min_rtt / 1000)
    if (row.bbr.pacing_gain) info['bbr_pacing_gain'] = g(row.bbr.pacing_gain / 256)
    if (row.bbr.cwnd_gain) info['bbr_cwnd_gain'] = g(row.bbr.cwnd_gain / 256)
  }
  if (rttUs > 0 && v('snd_mss') && v('snd_cwnd')) info['send_bps'] = Math.round((v('snd_cwnd') * v('snd_mss') * 8_000_000) / rttUs)
  put('lastsnd', 'last_data_sent')
  put('lastrcv', 'last_data_recv')
  put('lastack', 'last_ack_recv')
  const pacing = v('pacing_rate')
  if (pacing !== 0 && pacing !== -1) {
    info['pacing_rate_bps'] = pacing * 8
    const max = v('max_pacing_rate')
    if (max !== 0 && max !== -1) info['max_pacing_rate_bps'] = max * 8
  }
  if (v('delivery_rate')) info['delivery_rate_bps'] = v('delivery_rate') * 8
  put('delivered', 'delivered')
  put('delivered_ce', 'delivered_ce')
  if (v('delivery_rate_app_limited')) info['app_limited'] = true
  const busy = v('busy_time')
  if (busy) {
    info['busy_ms'] = Math.floor(busy / 1000)
    for (const f of ['rwnd_limited', 'sndbuf_limited']) {
      if (!v(f)) continue
      info[`${f}_ms`] = Math.floor(v(f) / 1000)
      info[`${f}_pct`] = Number(((100 * v(f)) / busy).toFixed(1))
    }
  }
  put('unacked', 'unacked')
  if (v('retrans') || v('total_retrans')) {
    info['retrans'] = `${v('retrans')}/${v('total_retrans')}`
    info['retrans_now'] = v('retrans')
    info['retrans_total'] = v('total_retrans')
  }
  put('lost', 'lost')
  if (v('sacked') && row.state !== 'LISTEN') info['sacked'] = v('sacked')
  put('dsack_dups', 'dsack_dups')
  put('fackets', 'fackets')
  if (v('reordering') !== 3) info['reordering'] = v('reordering')
  put('reord_seen', 'reord_seen')
  if (v('rcv_rtt')) info['rcv_rtt'] = g(v('rcv_rtt') / 1000)
  put('rcv_space', 'rcv_space')
  put('rcv_ssthresh', 'rcv_ssthresh')
  put('notsent', 'notsent_bytes')
  const minRtt = v('min_rtt')
  if (minRtt !== 0 && minRtt !== 0xffffffff) info['minrtt'] = g(minRtt / 1000)
  put('rcv_ooopack', 'rcv_ooopack')
  put('snd_wnd', 'snd_wnd')
  put('rcv_wnd', 'rcv_wnd')
  put('rehash', 'rehash')
  return info
}

/** One diag row as the ss record `ss -tanoiem` would have given (kind, t, host added). */
export function diagRowToSsRecord(row: SockDiagRow, t: number, host: string): SsRecord {
  const rec: SsRecord = {
    kind: 'ss',
    t,
    host,
    state: row.state,
    recvQ: row.recvQ,
    sendQ: row.sendQ,
    local: withDev(row.local, row.dev),
    peer: row.peer,
    localPort: row.lport,
    peerPort: row.rport,
    ino: row.ino,
    info: diagRowInfo(row),
  }
  if (row.timer !== undefined) {
    // 0: at or past its deadline (ss prints "", which ss-parse reads as 0 too)
    const timer: SsTimer = { name: row.timer.name, expiresMs: row.timer.expiresMs, retrans: row.timer.retrans }
    rec.timer = timer
  }
  if (row.skmem !== undefined) {
    const m = row.skmem
    const skmem: SsSkmem = { r: m.r, rb: m.rb, t: m.t, tb: m.tb, f: m.f, w: m.w, o: m.o, bl: m.bl ?? 0, d: m.d ?? 0 }
    rec.skmem = skmem
  }
  return rec
}

/** The agent's ss events of one host -> complete samples at the dumps that carry something (see the file header). */
export class DiagSampleExpander {
  private readonly rows = new Map<string, SockDiagRow & { servicing?: boolean }>()
  /** Dumps that produced records. */
  samples = 0
  /** Highest dump number seen (`n`). */
  lastDump = 0
  /** What the last full dump cost, µs of CPU (wall time from an agent that does not say). */
  lastFullDumpUs: number | undefined
  /** Ticks the agent missed so far. */
  missed = 0

  constructor(readonly host: string) {}

  /** Sockets currently known. */
  get size(): number {
    return this.rows.size
  }

  /** Records for one `ss` or `ss-destroy` event, `t` in seconds since t0Us. */
  apply(ev: SsEvent | SsDestroyEvent, t0Us: number): DiagRecord[] {
    const t = secondsSince(t0Us, ev.t)
    if (ev.type === 'ss') {
      this.lastDump = Math.max(this.lastDump, ev.n)
      this.missed = ev.missed
      if (ev.full) {
        this.lastFullDumpUs = ev.dumpCpuUs ?? ev.dumpUs
        this.rows.clear()
      }
      for (const r of ev.rows) this.rows.set(r.sk, this.servicedTimer(r))
      for (const sk of ev.gone ?? []) this.rows.delete(sk)
      return this.snapshot(t)
    }
    // ss-destroy: the socket ended now. Unknown (already gone, or born and
    // freed between two dumps): nothing to say about presence.
    const { t: _t, name: _n, type: _ty, id: _id, ...row } = ev
    const out: DiagRecord[] = [{
      kind: 'event', t, host: this.host, source: 'agent', type: 'ss-destroy',
      data: { sk: row.sk, state: row.state, local: row.local, peer: row.peer, lport: row.lport, rport: row.rport },
    }]
    if (!this.rows.delete(ev.sk)) return out
    return [...out, ...this.snapshot(t)]
  }

  /**
   * A socket with data in flight always has its retransmission timer armed
   * (and one with data queued against a zero window, none in flight, its
   * persist timer)
   * (RFC 6298 5.1): the kernel clears icsk_pending when the timer fires and
   * re-arms it once the retransmission (or loss probe) is sent
   * (tcp_write_timer_handler). A dump that lands in between reads "no timer"
   * for a few µs; at a 10 ms interval that happens. Such a row (timer gone,
   * same state, unacked data, the previous dump had it "on") keeps the running
   * timer, once: if the next dump still shows none, that one says so (a row
   * the agent does not repeat because it did not change comes with the next
   * full dump, at most fullEveryMs later; with data in flight the timer is
   * never off for longer than its handler runs, so that case is not expected).
   */
  private servicedTimer(r: SockDiagRow): SockDiagRow & { servicing?: boolean } {
    const prev = this.rows.get(r.sk)
    if (r.timer !== undefined || prev?.timer === undefined || prev.state !== r.state || prev.servicing === true) return r
    // The retransmission timer with data in flight; the persist (zero-window probe) timer with
    // data queued and none in flight (RFC 1122 4.2.2.17), cleared and re-armed by
    // tcp_probe_timer the same way.
    const inFlight = (r.tcpInfo?.['unacked'] ?? 0) > 0
    if (prev.timer.name === 'on' ? !inFlight : prev.timer.name !== 'persist' || inFlight || r.sendQ === 0) return r
    return { ...r, timer: prev.timer, servicing: true }
  }

  private snapshot(t: number): DiagRecord[] {
    this.samples++
    const out: DiagRecord[] = [{ kind: 'sample', t, host: this.host, sockets: this.rows.size }]
    for (const r of this.rows.values()) out.push(diagRowToSsRecord(r, t, this.host))
    return out
  }
}
