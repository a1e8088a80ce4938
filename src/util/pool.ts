// A pool of `size` workers over a list: each worker takes the next item when it is
// free, results keep the list's order. After a failure no new item starts; the
// ones running finish (their cleanup runs), and then the first failure is thrown.

import { InterruptedError } from './errors.js'

/** Run `fn` over `items`, at most `size` at a time (see above); `signal` stops new items with InterruptedError. */
export async function runPool<T, R>(items: readonly T[], size: number, fn: (item: T, index: number) => Promise<R>, signal?: AbortSignal): Promise<R[]> {
  const out = new Array<R>(items.length)
  let next = 0
  let stopped = false
  const worker = async (): Promise<void> => {
    for (;;) {
      const i = next++
      if (i >= items.length || stopped) return
      if (signal?.aborted) {
        stopped = true
        throw new InterruptedError()
      }
      try {
        out[i] = await fn(items[i] as T, i)
      } catch (e: unknown) {
        stopped = true
        throw e
      }
    }
  }
  const settled = await Promise.allSettled(Array.from({ length: Math.max(1, Math.min(size, items.length)) }, worker))
  const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected')
  if (failed) throw failed.reason
  return out
}
