// The multiplexer's framing (agent/vminit/tcplab-vminit.c speaks the same):
// u32 length, u8 type, u32 id, payload; frames may arrive split or several at once.
import t from 'tap'
import { decodeFrames, encodeFrame, FRAME } from '../../../../src/lab/vm/mux.js'
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
