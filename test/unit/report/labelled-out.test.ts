// Kernels side by side: a line reporter's lines carry their kernel, whole lines
// only (a line written in pieces is one labelled line), blank lines stay blank;
// a one-document reporter's output is held and written whole on release.
import t from 'tap'
import { PassThrough } from 'node:stream'
import { heldUntilReleased, labelledLines } from '../../../src/report/labelled-out.js'

const sink = (): { out: PassThrough; text: () => string } => {
  const out = new PassThrough()
  let text = ''
  out.on('data', (b: Buffer) => (text += b.toString()))
  return { out, text: () => text }
}

t.test('labelled lines', async (t) => {
  const s = sink()
  const w = labelledLines(s.out, '6.1')
  w.write('PASS a (1s)\nRUN  b')
  w.write(' (expected ~2s)\n\nFAIL b\n')
  await new Promise<void>((r) => w.end('cut short', r))
  t.equal(s.text(), '[6.1] PASS a (1s)\n[6.1] RUN  b (expected ~2s)\n\n[6.1] FAIL b\n[6.1] cut short\n')
})

t.test('held until released', async (t) => {
  const s = sink()
  const h = heldUntilReleased(s.out)
  h.held.write('{\n  "summary": 1')
  h.held.write('\n}\n')
  await new Promise((r) => setImmediate(r))
  t.equal(s.text(), '', 'nothing before release')
  h.release()
  t.equal(s.text(), '{\n  "summary": 1\n}\n')
  h.release()
  t.equal(s.text(), '{\n  "summary": 1\n}\n', 'released once')
})
