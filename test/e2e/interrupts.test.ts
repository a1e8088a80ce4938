// The short version of bench/interrupts.ts: 3 random SIGKILLs, each followed by
// `tcplab gc`, leave nothing; 3 SIGINTs each leave a readable partial report
// (exit 130, verdict and summary marked interrupted, `tcplab report` exits 0).
import t from 'tap'
import { benchInterrupts } from '../../bench/interrupts.js'
import { e2eSkipReason } from './helpers.js'

const skip = e2eSkipReason()
if (skip) t.plan(0, skip)
else {
  const lines: string[] = []
  const failures = await benchInterrupts(3, (l) => lines.push(l))
  t.same(failures, [], 'every SIGKILL + gc left nothing and every SIGINT left a readable partial report', { lines })
}
