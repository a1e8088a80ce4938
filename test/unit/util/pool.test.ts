import t from 'tap'
import { runPool } from '../../../src/util/pool.js'
import { InterruptedError } from '../../../src/util/errors.js'

const tick = (): Promise<void> => new Promise((r) => setImmediate(r))

t.test('at most `size` at a time, results in the list\'s order', async (t) => {
  let running = 0
  let peak = 0
  const out = await runPool([5, 1, 4, 2, 3], 2, async (x) => {
    running++
    peak = Math.max(peak, running)
    for (let i = 0; i < x; i++) await tick()
    running--
    return x * 10
  })
  t.same(out, [50, 10, 40, 20, 30])
  t.equal(peak, 2, 'two at a time')
})

t.test('after a failure no new item starts; the running ones finish; the failure is thrown', async (t) => {
  const started: number[] = []
  const finished: number[] = []
  await t.rejects(runPool([0, 1, 2, 3, 4], 2, async (x) => {
    started.push(x)
    if (x === 0) throw new Error('item 0 failed')
    for (let i = 0; i < 3; i++) await tick()
    finished.push(x)
    return x
  }), { message: 'item 0 failed' })
  t.same(started, [0, 1], 'nothing started after item 0 failed')
  t.same(finished, [1], 'item 1, running beside it, finished before the failure was thrown')
})

t.test('an aborted signal stops new items with InterruptedError', async (t) => {
  const ac = new AbortController()
  const started: number[] = []
  await t.rejects(runPool([0, 1, 2], 1, async (x) => {
    started.push(x)
    ac.abort()
    return x
  }, ac.signal), InterruptedError)
  t.same(started, [0])
})

t.test('an empty list', async (t) => {
  t.same(await runPool([], 4, async () => 1), [])
})
