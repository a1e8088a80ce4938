import t from 'tap'
import { readdirSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import {
  parseSsOutput,
  parseSsRateBps,
  parseSsSocketLine,
  parseSsTimer,
  parseSsTimerDurationMs,
  splitSsAddress,
  splitSsTokens,
  type ParsedSocket,
} from '../../../src/recorder/ss-parse.js'

const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), '../../fixtures/ss')
const fixtureNames = readdirSync(FIXTURES).filter((n) => n.endsWith('.txt')).sort()

function readFixture(name: string): string {
  return readFileSync(join(FIXTURES, name), 'utf8')
}

function parseFixture(name: string): ParsedSocket[] {
  return parseSsOutput(readFixture(name))
}

/** The socket whose header line contains `needle` (first match); fails the test when none. */
function findSocket(name: string, needle: string, nth = 0): ParsedSocket {
  const lines = readFixture(name).split('\n').filter((l) => l !== '' && !/^\s/.test(l) && !l.includes('Recv-Q'))
  const socketLines = lines.filter((l) => SOCKET_LINE_RE.test(l))
  const parsed = parseFixture(name)
  const hits = socketLines.map((l, i) => (l.includes(needle) ? i : -1)).filter((i) => i >= 0)
  const idx = hits[nth]
  if (idx === undefined) throw new Error(`no socket line with ${needle} in ${name}`)
  const sock = parsed[idx]
  if (!sock) throw new Error(`socket ${idx} of ${name} not parsed`)
  return sock
}

// Independent of the parser: an unindented line with two integer columns followed by two
// addr:port columns, after an optional Netid and an optional State column.
const SOCKET_LINE_RE = /^(?:[a-z_]+\s+)?(?:[A-Z][A-Z0-9-]+\s+)?\d+\s+\d+\s+\S*:\S+\s+\S*:\S+/

// A reimplementation of iproute2 misc/ss.c print_ms_timer(), to check the parser against.
function formatMsTimer(timeout: number): string {
  let secs = Math.floor(timeout / 1000)
  const minutes = Math.floor(secs / 60)
  secs %= 60
  let msecs = timeout % 1000
  let buf = ''
  if (minutes) {
    msecs = 0
    buf = `${minutes}min`
    if (minutes > 9) secs = 0
  }
  if (secs) {
    if (secs > 9) msecs = 0
    buf += `${secs}${msecs ? '.' : 'sec'}`
  }
  if (msecs) buf += `${String(msecs).padStart(3, '0')}ms`
  return buf
}

/** What survives print_ms_timer's rounding: the value the parser can give back. */
function keptByMsTimer(timeout: number): number {
  const minutes = Math.floor(timeout / 60000)
  const secs = Math.floor(timeout / 1000) % 60
  const msecs = timeout % 1000
  if (minutes > 9) return minutes * 60000
  if (minutes) return minutes * 60000 + secs * 1000
  if (secs > 9) return secs * 1000
  return secs * 1000 + msecs
}

t.test('timer expiry text follows ss.c print_ms_timer', async (t) => {
  const cases: Array<[string, number | undefined]> = [
    ['995ms', 995],
    ['042ms', 42],
    ['1.999ms', 1999],
    ['3.041ms', 3041],
    ['1sec', 1000],
    ['15sec', 15000],
    ['58sec', 58000],
    ['1min', 60000],
    ['1min29sec', 89000],
    ['2min', 120000],
    ['9min59sec', 599000],
    ['49min', 2940000],
    ['119min', 7140000],
    ['', 0], // due: ss prints nothing for 0 left
    ['soon', undefined],
    ['1.', undefined],
  ]
  for (const [text, ms] of cases) t.equal(parseSsTimerDurationMs(text), ms, JSON.stringify(text))
  const samples = [1, 9, 10, 99, 100, 999, 1000, 1001, 1999, 9999, 10000, 10500, 59999, 60000, 60999, 61000, 61500, 599999, 600000, 659999, 7200000, 7199999]
  for (const ms of samples) {
    t.equal(parseSsTimerDurationMs(formatMsTimer(ms)), keptByMsTimer(ms), `${ms} ms printed as ${formatMsTimer(ms)}`)
  }
  t.equal(formatMsTimer(0), '', 'ss prints an expired timer as an empty field')
})

t.test('timer group', async (t) => {
  t.same(parseSsTimer('on,1.999ms,3'), { name: 'on', expiresMs: 1999, retrans: 3 })
  t.same(parseSsTimer('keepalive,119min,0'), { name: 'keepalive', expiresMs: 7140000, retrans: 0 })
  t.same(parseSsTimer('timewait,58sec,0'), { name: 'timewait', expiresMs: 58000, retrans: 0 })
  t.same(parseSsTimer('persist,1.200ms,0'), { name: 'persist', expiresMs: 1200, retrans: 0 })
  const empty = parseSsTimer('on,,1')
  t.same(empty, { name: 'on', expiresMs: 0, retrans: 1 })
  t.ok('expiresMs' in empty, 'expiresMs is present and explicitly undefined')
})

t.test('rates', async (t) => {
  t.equal(parseSsRateBps('4137142857bps'), 4137142857)
  t.equal(parseSsRateBps('0bps'), 0)
  t.equal(parseSsRateBps('168.1Mbps'), 168100000)
  t.equal(parseSsRateBps('20.5Mbps'), 20500000)
  t.equal(parseSsRateBps('1.2Gbps'), 1200000000)
  t.equal(parseSsRateBps('999kbps'), 999000)
  t.equal(parseSsRateBps('1e+03kbps'), 1000000)
  t.equal(parseSsRateBps('10Mbit'), undefined)
})

t.test('addresses and tokens', async (t) => {
  t.same(splitSsAddress('198.18.0.1:8000'), { host: '198.18.0.1', port: 8000 })
  t.same(splitSsAddress('[::1]:8000'), { host: '[::1]', port: 8000 })
  t.same(splitSsAddress('*:8000'), { host: '*', port: 8000 })
  t.same(splitSsAddress('0.0.0.0:*'), { host: '0.0.0.0', port: 0 })
  t.same(splitSsAddress('[::]:*'), { host: '[::]', port: 0 })
  t.same(splitSsAddress('*:*'), { host: '*', port: 0 })
  t.same(splitSsAddress('127.0.0.53%lo:53'), { host: '127.0.0.53', port: 53, dev: 'lo' })
  t.same(splitSsAddress('[fe80::1]%eth0:22'), { host: '[fe80::1]', port: 22, dev: 'eth0' })
  t.same(splitSsAddress('172.67.141.218:http'), { host: '172.67.141.218', port: 80 })
  t.equal(splitSsAddress('nonsense'), undefined)
  t.same(splitSsTokens('a  users:(("Web Content",pid=1,fd=2)) timer:(on,,1)\tb'), [
    'a',
    'users:(("Web Content",pid=1,fd=2))',
    'timer:(on,,1)',
    'b',
  ])
})

t.test('LISTEN with -e and -m (real, this machine)', async (t) => {
  const s = findSocket('local-established.txt', 'LISTEN')
  t.same(s, {
    state: 'LISTEN',
    recvQ: 0,
    sendQ: 1,
    local: '198.18.0.1:8000',
    peer: '0.0.0.0:*',
    localPort: 8000,
    peerPort: 0,
    ino: 14340,
    skmem: { r: 0, rb: 131072, t: 0, tb: 16384, f: 0, w: 0, o: 0, bl: 0, d: 0 },
    info: { sk: '1016', cgroup: 'unreachable:1', shutdown: '<->', cc: 'bbr', cwnd: 10 },
  })
})

t.test('ESTAB with every tcp_info field (real, this machine)', async (t) => {
  const s = findSocket('local-established.txt', '198.18.0.2:44296   198.18.0.1:8000')
  t.same(s, {
    state: 'ESTAB',
    recvQ: 0,
    sendQ: 0,
    local: '198.18.0.2:44296',
    peer: '198.18.0.1:8000',
    localPort: 44296,
    peerPort: 8000,
    ino: 14344,
    skmem: { r: 0, rb: 131072, t: 0, tb: 69120, f: 0, w: 0, o: 0, bl: 0, d: 0 },
    info: {
      sk: '14',
      cgroup: 'unreachable:1',
      shutdown: '<->',
      ts: true,
      sack: true,
      cc: 'bbr',
      wscale: '10,10',
      snd_wscale: 10,
      rcv_wscale: 10,
      rto: 204,
      rtt: 0.072,
      rttvar: 0.051,
      mss: 1448,
      pmtu: 1500,
      rcvmss: 536,
      advmss: 1448,
      cwnd: 11,
      bytes_sent: 600,
      bytes_acked: 601,
      segs_out: 3,
      segs_in: 2,
      data_segs_out: 1,
      bbr_bw_bps: 65818112,
      bbr_mrtt: 0.058,
      bbr_pacing_gain: 2.88672,
      bbr_cwnd_gain: 2.88672,
      send_bps: 1769777778,
      lastsnd: 524,
      lastrcv: 820,
      lastack: 524,
      pacing_rate_bps: 5707818504,
      delivery_rate_bps: 65818176,
      delivered: 2,
      app_limited: true,
      rcv_space: 14480,
      rcv_ssthresh: 64088,
      minrtt: 0.058,
      snd_wnd: 65536,
    },
  })
})

t.test('retransmission timer with backoff (real: ACKs dropped)', async (t) => {
  const s = findSocket('local-acks-dropped.txt', 'timer:(on,2.956ms,4)')
  t.same(s.timer, { name: 'on', expiresMs: 2956, retrans: 4 })
  t.equal(s.sendQ, 6)
  t.match(s.info, {
    rto: 3264,
    backoff: 4,
    cwnd: 1,
    bytes_sent: 36,
    bytes_retrans: 30,
    busy_ms: 3644,
    unacked: 1,
    retrans: '1/5',
    retrans_now: 1,
    retrans_total: 5,
    lost: 1,
  })
  t.same(s.skmem, { r: 0, rb: 131072, t: 0, tb: 69120, f: 3258, w: 838, o: 0, bl: 0, d: 0 })
  t.same(findSocket('local-acks-dropped.txt', 'timer:(on,096ms,0)').timer, { name: 'on', expiresMs: 96, retrans: 0 })
})

t.test('keepalive timers (real)', async (t) => {
  t.same(findSocket('local-keepalive.txt', '119min').timer, { name: 'keepalive', expiresMs: 7140000, retrans: 0 })
  t.same(findSocket('local-keepalive.txt', '1min28sec').timer, { name: 'keepalive', expiresMs: 88000, retrans: 0 })
  t.same(findSocket('local-keepalive.txt', 'keepalive,28sec').timer, { name: 'keepalive', expiresMs: 28000, retrans: 0 })
  t.same(findSocket('local-keepalive.txt', '1.972ms').timer, { name: 'keepalive', expiresMs: 1972, retrans: 0 })
  t.same(findSocket('local-keepalive.txt', '756ms,3').timer, { name: 'keepalive', expiresMs: 756, retrans: 3 })
})

t.test('FIN-WAIT-2, TIME-WAIT, CLOSE-WAIT (real)', async (t) => {
  const fw2 = findSocket('local-close.txt', 'FIN-WAIT-2')
  t.same(fw2, {
    state: 'FIN-WAIT-2',
    recvQ: 0,
    sendQ: 0,
    local: '198.18.0.2:59064',
    peer: '198.18.0.1:8004',
    localPort: 59064,
    peerPort: 8004,
    timer: { name: 'timewait', expiresMs: 59000, retrans: 0 },
    ino: 0,
    info: { sk: '1d' },
  })
  t.same(findSocket('local-close.txt', 'TIME-WAIT').timer, { name: 'timewait', expiresMs: 58000, retrans: 0 })
  const cw = findSocket('local-close.txt', 'CLOSE-WAIT')
  t.equal(cw.recvQ, 1)
  t.equal(cw.info['shutdown'], '-->', 'peer shut down writing: no more input')
})

t.test('zero window: persist timer and rwnd_limited (real)', async (t) => {
  const s = findSocket('local-zero-window.txt', 'timer:(persist,252ms,0)')
  t.same(s.timer, { name: 'persist', expiresMs: 252, retrans: 0 })
  t.match(s.info, {
    snd_wscale: 0,
    rcv_wscale: 10,
    backoff: 1,
    busy_ms: 420,
    rwnd_limited_ms: 420,
    rwnd_limited_pct: 100,
    notsent: 35712,
    bbr_bw_bps: 109714136,
  })
  t.same(findSocket('local-zero-window.txt', 'persist,1.284ms').timer, { name: 'persist', expiresMs: 1284, retrans: 0 })
})

t.test('SYN-SENT and SYN-RECV (real)', async (t) => {
  const sent = findSocket('local-handshake.txt', 'SYN-SENT', 1)
  t.same(sent.timer, { name: 'on', expiresMs: 176, retrans: 1 })
  t.match(sent.info, { rto: 1000, unacked: 1, retrans_now: 1, retrans_total: 1, lost: 1, bbr_mrtt: 0, bbr_bw_bps: 0 })
  const recv = findSocket('local-handshake.txt', 'SYN-RECV', 1)
  t.same(recv, {
    state: 'SYN-RECV',
    recvQ: 0,
    sendQ: 0,
    local: '198.18.0.1:8007',
    peer: '198.18.0.2:40558',
    localPort: 8007,
    peerPort: 40558,
    timer: { name: 'on', expiresMs: 1504, retrans: 1 },
    ino: 0,
    info: { sk: '101e' },
  })
})

t.test('IPv6 and device-bound sockets (real)', async (t) => {
  const dual = findSocket('local-ipv6-devices.txt', '*:8008')
  t.match(dual, { local: '*:8008', peer: '*:*', localPort: 8008, peerPort: 0, info: { v6only: 0 } })
  const v6only = findSocket('local-ipv6-devices.txt', '[::]:8009')
  t.match(v6only, { local: '[::]:8009', peer: '[::]:*', localPort: 8009, peerPort: 0, info: { v6only: 1 } })
  const mapped = findSocket('local-ipv6-devices.txt', '[::ffff:198.18.0.1]:8008 [::ffff:198.18.0.2]:38942')
  t.match(mapped, { local: '[::ffff:198.18.0.1]:8008', peer: '[::ffff:198.18.0.2]:38942', localPort: 8008, peerPort: 38942 })
  const lo = findSocket('local-ipv6-devices.txt', '%lo:8011')
  t.match(lo, { local: '0.0.0.0%lo:8011', localPort: 8011, info: { dev: 'lo' } })
  const veth = findSocket('local-ipv6-devices.txt', 'ESTAB  0      0      198.18.0.1%')
  t.match(veth, { localPort: 8010, peer: '198.18.0.2:49350', peerPort: 49350 })
  t.match(veth.info['dev'], /^tlfx\d+a$/)
})

t.test('users:(...) from -p, and the header without -e', async (t) => {
  const [withE, listen, estab] = [
    findSocket('local-users.txt', 'ESTAB'),
    findSocket('local-users.txt', 'LISTEN', 1),
    findSocket('local-users.txt', 'ESTAB', 1),
  ]
  t.match(withE.info, { users: '("nc",pid=6332,fd=4)', process: 'nc', pid: 6332, fd: 4 })
  t.equal(withE.ino, 14341)
  t.same(listen, {
    state: 'LISTEN',
    recvQ: 0,
    sendQ: 1,
    local: '198.18.0.1:8000',
    peer: '0.0.0.0:*',
    localPort: 8000,
    peerPort: 0,
    info: { users: '("nc",pid=6332,fd=3)', process: 'nc', pid: 6332, fd: 3 },
  })
  t.equal(estab.skmem, undefined)
  const many = parseSsSocketLine(
    'ESTAB 0 0 192.168.122.68:22 192.168.122.1:51132 users:(("sshd",pid=1504,fd=5),("sshd",pid=1486,fd=5)) timer:(keepalive,49min,0)',
  )
  t.match(many, { info: { process: 'sshd', pid: 1504, fd: 5, users: '("sshd",pid=1504,fd=5),("sshd",pid=1486,fd=5)' } })
  const spaced = parseSsSocketLine('ESTAB 0 0 198.18.0.1:1 198.18.0.2:2 users:(("Web Content",pid=7,fd=9))')
  t.match(spaced, { info: { process: 'Web Content', pid: 7, fd: 9 } })
})

t.test('no State column (ss -tnoi state established)', async (t) => {
  const text = readFixture('local-state-established.txt')
  const unknown = parseSsOutput(text)
  t.equal(unknown.length, 2)
  t.same(unknown.map((s) => s.state), ['UNKNOWN', 'UNKNOWN'])
  const known = parseSsOutput(text, { state: 'ESTAB' })
  t.same(known.map((s) => s.state), ['ESTAB', 'ESTAB'])
  t.match(known[0], { recvQ: 0, sendQ: 0, local: '198.18.0.1:8000', peer: '198.18.0.2:44296', info: { rtt: 0.024, cwnd: 10 } })
  t.equal(known[0]?.skmem, undefined)
  t.match(known[1], { ino: 14344, skmem: { tb: 69120 }, info: { delivery_rate_bps: 65818176 } })
})

t.test('one line per socket (-O)', async (t) => {
  const [listen, estab] = parseFixture('local-oneline.txt')
  t.match(listen, { state: 'LISTEN', ino: 14340, skmem: { rb: 131072 }, info: { cc: 'bbr', cwnd: 10, shutdown: '<->' } })
  t.match(estab, { state: 'ESTAB', ino: 14341, info: { rto: 204, rtt: 0.024, rttvar: 0.012, snd_wnd: 64512 } })
})

t.test('Netid column and old ss formats (seed transcripts)', async (t) => {
  const seed0 = parseFixture('seed-000-recvq-sendq.txt')
  const sendq = seed0.find((s) => s.sendQ === 6)
  t.match(sendq, { state: 'ESTAB', recvQ: 0, localPort: 11111, peer: '192.168.122.177:59750', info: { netid: 'tcp' } })
  t.match(seed0[1], { timer: { name: 'keepalive', expiresMs: 2940000, retrans: 0 }, info: { process: 'sshd', pid: 1504 } })

  const envoy = findSocket('seed-001-ss-fields.txt', 'envoy')
  t.match(envoy, {
    state: 'ESTAB',
    local: '159.164.167.179:55124',
    peerPort: 9042,
    skmem: { rb: 131072, tb: 87040, d: 13 },
    info: {
      cc: 'cubic',
      snd_wscale: 9,
      rcv_wscale: 7,
      rto: 204,
      rtt: 0.689,
      rttvar: 0.065,
      bytes_retrans: 229974096,
      send_bps: 168100000,
      pacing_rate_bps: 336200000,
      delivery_rate_bps: 72400000,
      lastrcv: 16960,
      busy_ms: 84,
      retrans_now: 0,
      retrans_total: 25813,
      rcv_rtt: 1,
      minrtt: 0.16,
    },
  })
  t.match(findSocket('seed-001-ss-fields.txt', 'chrome').timer, { name: 'keepalive', expiresMs: 27000 })
  t.match(findSocket('seed-001-ss-fields.txt', '67788'), { recvQ: 67788, skmem: { r: 252544, rb: 250624 }, info: { ato: 160 } })
  t.match(findSocket('seed-001-ss-fields.txt', 'UNCONN'), { state: 'UNCONN', peer: '172.67.141.218:http', peerPort: 80 })

  t.same(findSocket('seed-002-keepalive-timers.txt', 'timer:(persist,,0)').timer, { name: 'persist', expiresMs: 0, retrans: 0 })
  t.same(findSocket('seed-002-keepalive-timers.txt', 'timer:(on,1.999ms,1)').timer, { name: 'on', expiresMs: 1999, retrans: 1 })
  t.same(findSocket('seed-002-keepalive-timers.txt', 'timer:(persist,042ms,0)').timer, { name: 'persist', expiresMs: 42, retrans: 0 })
  t.same(findSocket('seed-002-keepalive-timers.txt', 'timer:(on,15sec,8)').timer, { name: 'on', expiresMs: 15000, retrans: 8 })
  t.match(findSocket('seed-002-keepalive-timers.txt', 'LAST-ACK'), { state: 'LAST-ACK', recvQ: 1, sendQ: 814465, peerPort: 1 })

  t.match(findSocket('seed-003-close-wait.txt', 'timewait,1.076ms'), {
    state: 'FIN-WAIT-2',
    local: '127.0.0.1:39836',
    timer: { name: 'timewait', expiresMs: 1076, retrans: 0 },
  })
  t.match(findSocket('seed-003-close-wait.txt', 'LISTEN 2 1'), { recvQ: 2, sendQ: 1, local: '*:12345', peer: '*:*', localPort: 12345 })
})

t.test('fields seen on other kernels and congestion controls (synthetic lines)', async (t) => {
  const [s] = parseSsOutput(
    [
      'State Recv-Q Send-Q Local Address:Port Peer Address:Port Process',
      'ESTAB 0 0 [::1]:8000 [::1]:40000 timer:(on,,1) uid:1000 ino:42 sk:ffff8f01 fwmark:0x10 v6only:0 <->',
      '\t mem:(r0,w0,f0,t0) ts sack ecn ecnseen fastopen dctcp wscale:7,7 rto:204 rtt:0.033/0.017 ato:40 qack:2 bidir ' +
        'dctcp:(ce_state:0,alpha:16,ab_ecn:0,ab_tot:0) send 10Mbps pacing_rate 20.5Mbps/40Mbps delivery_rate 1.5kbps ' +
        'busy:10ms rwnd_limited:4ms(40.0%) sndbuf_limited:1ms(10.0%) reordering:5 reord_seen:2 tcp-ulp-tls version: 1.2 ' +
        'cipher: aes-gcm-128 strange_new:thing mystery_flag',
    ].join('\n'),
  )
  t.same(s, {
    state: 'ESTAB',
    recvQ: 0,
    sendQ: 0,
    local: '[::1]:8000',
    peer: '[::1]:40000',
    localPort: 8000,
    peerPort: 40000,
    timer: { name: 'on', expiresMs: 0, retrans: 1 },
    ino: 42,
    info: {
      uid: 1000,
      sk: 'ffff8f01',
      fwmark: '0x10',
      v6only: 0,
      shutdown: '<->',
      mem_r: 0,
      mem_w: 0,
      mem_f: 0,
      mem_t: 0,
      ts: true,
      sack: true,
      ecn: true,
      ecnseen: true,
      fastopen: true,
      cc: 'dctcp',
      wscale: '7,7',
      snd_wscale: 7,
      rcv_wscale: 7,
      rto: 204,
      rtt: 0.033,
      rttvar: 0.017,
      ato: 40,
      qack: 2,
      bidir: true,
      dctcp_ce_state: 0,
      dctcp_alpha: 16,
      dctcp_ab_ecn: 0,
      dctcp_ab_tot: 0,
      send_bps: 10000000,
      pacing_rate_bps: 20500000,
      max_pacing_rate_bps: 40000000,
      delivery_rate_bps: 1500,
      busy_ms: 10,
      rwnd_limited_ms: 4,
      rwnd_limited_pct: 40,
      sndbuf_limited_ms: 1,
      sndbuf_limited_pct: 10,
      reordering: 5,
      reord_seen: 2,
      'tcp-ulp-tls': true,
      version: 1.2,
      cipher: 'aes-gcm-128',
      strange_new: 'thing',
      mystery_flag: true,
    },
  })
})

t.test('never throws on junk, skips what is not a socket', async (t) => {
  const junk = [
    '',
    'Failed to find cgroup2 mount',
    '---',
    '...',
    '\tskmem:(r0) orphan detail line',
    'ESTAB x y a:1 b:2',
    'ESTAB 0 0 noport nopeer',
    'timer:(((unbalanced',
    'ESTAB 0 0 1.2.3.4:5 6.7.8.9:10 timer:(on,1.999ms users:(("a',
    '\u0000\u0001 binary',
  ].join('\n')
  const parsed = parseSsOutput(junk)
  t.equal(parsed.length, 1)
  t.match(parsed[0], { localPort: 5, peerPort: 10 })
  t.same(parseSsOutput(''), [])
})

t.test('every fixture: one socket per socket line, every timer parses', async (t) => {
  t.ok(fixtureNames.length >= 15, `found ${fixtureNames.length} fixtures`)
  t.ok(fixtureNames.some((n) => n.startsWith('seed-')) && fixtureNames.some((n) => n.startsWith('local-')))
  const seenTimers = new Set<string>()
  for (const name of fixtureNames) {
    const text = readFixture(name)
    const socketLines = text.split('\n').filter((l) => SOCKET_LINE_RE.test(l))
    const parsed = parseSsOutput(text)
    t.equal(parsed.length, socketLines.length, `${name}: ${socketLines.length} sockets`)
    t.ok(socketLines.length > 0, `${name} has sockets`)
    for (const [i, s] of parsed.entries()) {
      const line = socketLines[i] ?? ''
      t.ok(line.includes(s.local) && line.includes(s.peer), `${name}: socket ${i} in order`)
      t.ok(Number.isInteger(s.localPort) && s.localPort >= 0 && s.localPort < 65536, `${name}: local port ${s.localPort}`)
      t.ok(Number.isInteger(s.peerPort) && s.peerPort >= 0 && s.peerPort < 65536, `${name}: peer port ${s.peerPort}`)
      t.match(s.state, /^(ESTAB|LISTEN|SYN-SENT|SYN-RECV|FIN-WAIT-1|FIN-WAIT-2|TIME-WAIT|CLOSE-WAIT|LAST-ACK|CLOSING|UNCONN|UNKNOWN)$/)
    }
    const rawTimers = [...text.matchAll(/timer:\(([a-z]+),([^,)]*),(\d+)\)/g)]
    const parsedTimers = parsed.flatMap((s) => (s.timer ? [s.timer] : []))
    t.equal(parsedTimers.length, rawTimers.length, `${name}: ${rawTimers.length} timers`)
    for (const [i, m] of rawTimers.entries()) {
      const [, timerName, expiry = '', retrans] = m
      const timer = parsedTimers[i]
      seenTimers.add(timerName ?? '')
      t.equal(timer?.name, timerName, `${name}: timer ${i} name`)
      t.equal(timer?.retrans, Number(retrans), `${name}: timer ${i} retrans`)
      if (expiry === '') t.equal(timer?.expiresMs, 0, `${name}: an empty expiry is a due timer: 0`)
      else {
        t.type(timer?.expiresMs, 'number', `${name}: ${expiry} parses`)
        t.equal(formatMsTimer(timer?.expiresMs ?? -1), expiry, `${name}: ${expiry} round-trips`)
      }
    }
  }
  t.same([...seenTimers].sort(), ['keepalive', 'on', 'persist', 'timewait'], 'fixtures hold all four timer kinds')
})
