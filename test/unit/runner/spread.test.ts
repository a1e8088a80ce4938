// --docker-host a,b: each scenario goes to the least busy backend (then the one that started the fewest).
import t from 'tap'
import { BackendSpread } from '../../../src/runner/spread.js'
import type { Backend } from '../../../src/lab/index.js'

const fake = (daemon: string): Backend => ({
  name: 'docker',
  daemon,
  check: async () => undefined,
  up: async () => {
    throw new Error('not used')
  },
  gc: async () => [],
})

t.test('one at a time: round robin over the daemons', async (t) => {
  const s = new BackendSpread([fake('a'), fake('b'), fake('c')])
  const order: string[] = []
  for (let i = 0; i < 7; i++) {
    const slot = s.acquire()
    order.push(slot.backend.daemon as string)
    slot.release()
  }
  t.same(order, ['a', 'b', 'c', 'a', 'b', 'c', 'a'])
  t.same(s.startedCounts(), [3, 2, 2])
})

t.test('several at a time: the daemon with the fewest labs running gets the next', async (t) => {
  const s = new BackendSpread([fake('a'), fake('b')])
  const a1 = s.acquire()
  const b1 = s.acquire()
  const a2 = s.acquire()
  t.same([a1, b1, a2].map((x) => x.backend.daemon), ['a', 'b', 'a'])
  b1.release()
  t.equal(s.acquire().backend.daemon, 'b', 'b has 0 running, a has 2')
  a1.release()
  a1.release() // idempotent
  a2.release()
  t.equal(s.acquire().backend.daemon, 'a', 'a has 0 running now, b has 1')
  t.throws(() => new BackendSpread([]))
})
