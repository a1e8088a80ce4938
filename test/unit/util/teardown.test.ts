// The teardown stack: LIFO, settles every step, reports every failure together,
// idempotent.

import t from 'tap'
import { Teardown, TeardownError } from '../../../src/util/teardown.js'

const tick = (ms = 1): Promise<void> => new Promise((r) => setTimeout(r, ms))

t.test('runs undos in reverse order of acquisition, sync and async alike', async (t) => {
  const td = new Teardown()
  const order: string[] = []
  td.push('netns client', () => { order.push('netns client') })
  td.push('netns server', async () => { await tick(5); order.push('netns server') })
  td.push('veth', () => { order.push('veth') })
  td.push('capture', async () => { await tick(); order.push('capture') })
  t.equal(td.size, 4)
  await td.run()
  t.same(order, ['capture', 'veth', 'netns server', 'netns client'], 'LIFO, each awaited before the next')
  t.equal(td.size, 0)
})

t.test('a failing undo does not stop the others; all failures are reported together', async (t) => {
  const td = new Teardown()
  const ran: string[] = []
  td.push('delete netns', () => { ran.push('netns') })
  td.push('iptables -D drop-syn', () => { throw new Error('iptables: Bad rule (does a matching rule exist in that chain?)') })
  td.push('kill tcpdump', () => { ran.push('tcpdump') })
  td.push('stop agent', async () => { await tick(); throw 'agent gone' }) // a non-Error rejection
  const err = await td.run().then(() => undefined, (e: unknown) => e)
  t.same(ran, ['tcpdump', 'netns'], 'every other undo ran')
  t.ok(err instanceof TeardownError, 'TeardownError')
  const e = err as TeardownError
  t.equal(e.errors.length, 2)
  t.equal(e.message, 'teardown: 2 step(s) failed:\n  - stop agent: agent gone\n  - iptables -D drop-syn: iptables: Bad rule (does a matching rule exist in that chain?)')
  t.ok(e.errors.every((x) => x instanceof Error), 'each failure is an Error')
  t.match((e.errors[1] as Error).message, /^iptables -D drop-syn: /, 'each names its step')
})

t.test('idempotent: a second run waits for the first and undoes nothing twice', async (t) => {
  const td = new Teardown()
  let calls = 0
  td.push('slow', async () => { calls++; await tick(20) })
  const a = td.run()
  const b = td.run()
  t.equal(a, b, 'the same promise while it runs')
  await Promise.all([a, b])
  await td.run()
  t.equal(calls, 1)

  const failing = new Teardown()
  failing.push('x', () => { throw new Error('boom') })
  const e1 = await failing.run().then(() => undefined, (e: unknown) => e)
  const e2 = await failing.run().then(() => undefined, (e: unknown) => e)
  t.ok(e1 instanceof TeardownError)
  t.equal(e2, e1, 'a later call reports the same failure')

  const empty = new Teardown()
  await empty.run()
  t.pass('nothing to undo is fine')
})

t.test('an undo pushed while the teardown runs is undone too', async (t) => {
  const td = new Teardown()
  const order: string[] = []
  td.push('first', () => { order.push('first') })
  td.push('acquiring', async () => {
    // A resource whose creation finished during the teardown registers its undo now.
    td.push('late', () => { order.push('late') })
    await tick()
    order.push('acquiring')
  })
  await td.run()
  t.same(order, ['acquiring', 'late', 'first'])
})

t.test('an undo pushed after the teardown finished is not lost', async (t) => {
  const td = new Teardown()
  await td.run()
  let undone = false
  td.push('container created after Ctrl-C', () => { undone = true })
  await td.run()
  t.ok(undone, 'a later run() undoes it')
})

t.test('an undo that throws an AbortError DOMException (signal.throwIfAborted) does not break the teardown', async (t) => {
  const td = new Teardown()
  const ran: string[] = []
  td.push('delete netns', () => { ran.push('netns') })
  td.push('stop capture', () => { AbortSignal.abort().throwIfAborted() })
  td.push('kill agent', () => { ran.push('agent') })
  const err = await td.run().then(() => undefined, (e: unknown) => e)
  t.same(ran, ['agent', 'netns'], 'the undos before and after it ran')
  t.ok(err instanceof TeardownError, 'reported as a TeardownError')
})
