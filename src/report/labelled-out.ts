// Where a reporter writes when several kernels' suites run at once
// (`run --kernel a,b --kernels-at-once 2`): line reporters (pretty, tap, jsonl)
// get each line prefixed with its kernel, so interleaved lines still say whose
// they are; one-document reporters (json, junit) are held back and written
// whole when their kernel is done, so documents never interleave.

import { Writable } from 'node:stream'

/** Each complete line written to the result goes to `out` as "[label] line". */
export function labelledLines(out: Writable, label: string): Writable {
  let partial = ''
  return new Writable({
    write(chunk: Buffer | string, _enc, done) {
      const text = partial + chunk.toString()
      const lines = text.split('\n')
      partial = lines.pop() ?? ''
      if (lines.length > 0) out.write(lines.map((l) => (l === '' ? '\n' : `[${label}] ${l}\n`)).join(''))
      done()
    },
    final(done) {
      if (partial) out.write(`[${label}] ${partial}\n`)
      partial = ''
      done()
    },
  })
}

/** Everything written to `held` goes to `out` at once, when release() is called. */
export function heldUntilReleased(out: Writable): { held: Writable; release(): void } {
  const chunks: string[] = []
  return {
    held: new Writable({
      write(chunk: Buffer | string, _enc, done) {
        chunks.push(chunk.toString())
        done()
      },
    }),
    release() {
      if (chunks.length > 0) out.write(chunks.join(''))
      chunks.length = 0
    },
  }
}
