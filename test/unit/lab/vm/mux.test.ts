// The multiplexer's framing (agent/vminit/tcplab-vminit.c speaks the same):
// u32 length, u8 type, u32 id, payload; frames may arrive split or several at once.
import t from 'tap'
import { decodeFrames, encodeFrame, FRAME, guestMux } from '../../../../src/lab/vm/mux.js'
import { offsetOf } from '../../../../src/lab/vm/clock.js'

t.test('a frame is length (after the field), type, id, payload, little endian', async (t) => {
  const f = encodeFrame(FRAME.spawn, 0x01020304, Buffer.from('ab'))
  t.same([...f], [7, 0, 0, 0, FRAME.spawn, 4, 3, 2, 1, 0x61, 0x62])
})

t.test('frames split anywhere and glued together decode in order', async (t) => {
  const stream = Buffer.concat([
    encodeFrame(FRAME.stdout, 1, Buffer.from('hello')),
    encodeFrame(FRAME.exit, 1, Buffer.from([0, 0, 0, 0, 0, 0, 0, 0])),
    encodeFrame(FRAME.ready, 0, Buffer.from('6.1.0-50-cloud-amd64')),
  ])
  for (let cut = 0; cut <= stream.length; cut++) {
    const got: Array<[number, number, string]> = []
    let tail = decodeFrames(stream.subarray(0, cut), (ty, id, p) => got.push([ty, id, p.toString('latin1')]))
    tail = decodeFrames(Buffer.concat([tail, stream.subarray(cut)]), (ty, id, p) => got.push([ty, id, p.toString('latin1')]))
    t.equal(tail.length, 0)
    if (got.length !== 3 || got[0]?.[2] !== 'hello' || got[2]?.[2] !== '6.1.0-50-cloud-amd64' || got[1]?.[0] !== FRAME.exit) {
      t.fail(`cut at ${cut}: ${JSON.stringify(got)}`)
      return
    }
  }
  t.pass('every cut decodes the same three frames')
})

t.test('a length below the header size is an error, not a loop', async (t) => {
  t.throws(() => decodeFrames(Buffer.from([2, 0, 0, 0, 1, 0, 0, 0, 0]), () => undefined), /bad frame length 2/)
})

t.test('clock offset: guest time minus the midpoint of the round trip', async (t) => {
  // Sent at 1000 µs, received at 1400 µs; the guest read 1_700 µs: 500 µs ahead, known to ±200 µs.
  t.same(offsetOf({ realtimeNs: 1_700_000n, monotonicNs: 0n, sentUs: 1000, receivedUs: 1400 }), { offsetUs: 500, rttUs: 400 })
  t.same(offsetOf({ realtimeNs: 900_000n, monotonicNs: 0n, sentUs: 1000, receivedUs: 1400 }), { offsetUs: -300, rttUs: 400 })
})

t.test('requests the guest init answers without a program: DONE carries one errno per item', async (t) => {
  // A real unix socket pair; the far end plays the guest init's side of the framing.
  const { createServer, connect } = await import('node:net')
  const { mkdtempSync } = await import('node:fs')
  const { tmpdir } = await import('node:os')
  const path = await import('node:path')
  const sockDir = mkdtempSync(path.join(tmpdir(), 'tcplab-mux-'))
  t.teardown(async () => (await import('node:fs')).rmSync(sockDir, { recursive: true, force: true }))
  const sockPath = path.join(sockDir, 's')
  const frames: Array<[number, number, Buffer]> = []
  const guestSide = new Promise<import('node:net').Socket>((resolve) => {
    const srv = createServer((s) => resolve(s))
    srv.listen(sockPath)
    t.teardown(() => srv.close())
  })
  const runner = connect(sockPath)
  const guest = await guestSide
  let tail: Buffer = Buffer.alloc(0)
  guest.on('data', (b: Buffer) => {
    tail = decodeFrames(Buffer.concat([tail, b]), (ty, id, p) => {
      frames.push([ty, id, Buffer.from(p)])
      const reply = (errnos: number[]): void => {
        const out = Buffer.alloc(4 * errnos.length)
        errnos.forEach((e, i) => out.writeInt32LE(e, 4 * i))
        guest.write(encodeFrame(FRAME.done, id, out))
      }
      if (ty === FRAME.netnsDel) reply([0, 2])
      if (ty === FRAME.write) reply([0, 22])
    })
  })
  const mux = guestMux(runner, 'test')
  t.same(await mux.deleteNetns(['tcplab-a-client', 'tcplab-a-server']), ['tcplab-a-server: ENOENT'])
  t.same(await mux.writeFiles('tcplab-a-client', [['/proc/sys/net/ipv4/tcp_syn_retries', '2'], ['/proc/sys/net/core/somaxconn', 'x']]), [0, 22])
  t.equal(frames[0]?.[2].toString('latin1'), 'tcplab-a-client\0tcplab-a-server\0')
  t.equal(frames[1]?.[2].toString('latin1'), 'tcplab-a-client\0/proc/sys/net/ipv4/tcp_syn_retries\x002\0/proc/sys/net/core/somaxconn\0x\0')
  // A spawn in a namespace: flags bit 2, then the namespace, then argv.
  mux.spawn(['ss', '-tan'], {}, 'client', 'tcplab-a-client')
  await new Promise((r) => setTimeout(r, 50))
  t.equal(frames[2]?.[0], FRAME.spawn)
  t.equal(frames[2]?.[2].toString('latin1'), '\x02tcplab-a-client\0ss\0-tan\0')
  // The guest gone: pending requests fail instead of hanging.
  const pending = mux.writeFiles('', [['/x', 'y']])
  guest.destroy()
  await t.rejects(pending, /connection closed/)
  runner.destroy()
})
