// A long-running `ip -force -batch -` in the guest's own network namespace:
// lab namespaces and links are made by writing lines to it rather than by
// starting ip for each lab (under TCG a start of ip costs 0.1-0.4 s, its
// dynamic linking translated instruction by instruction). Each request ends
// with a marker line, an unknown command that ip reports on stderr: every line
// before it has then run, and any other stderr line is that request's error.

import { LabError } from '../../util/errors.js'
import type { Proc } from '../types.js'
import type { Mux } from './mux.js'

const RUN_TIMEOUT_MS = 30_000

export class IpBatchWorker {
  private proc: Proc | undefined
  private queue: Promise<unknown> = Promise.resolve()
  private seq = 0
  private current: { marker: string; errors: string[]; done: () => void } | undefined

  constructor(private readonly mux: Mux) {}

  /** Run ip batch lines (namespaces and links) in the guest's own namespace; LabError with ip's messages if any failed. */
  run(lines: readonly string[]): Promise<void> {
    const next = this.queue.then(() => this.runNow(lines))
    this.queue = next.catch(() => undefined)
    return next
  }

  private start(): Proc {
    if (this.proc && !this.proc.hasExited) return this.proc
    const p = this.mux.spawn(['ip', '-force', '-batch', '-'], {
      stdin: true,
      onStderrLine: (l) => {
        const c = this.current
        if (!c) return
        if (l.startsWith(`Object "${c.marker}" is unknown`)) return c.done()
        // ip repeats each failure as "Command failed -:N" after its message.
        if (!/^Command failed -:\d+$/.test(l) && l.trim() !== '') c.errors.push(l)
      },
    }, 'vm')
    void p.exited.then(() => this.current?.done())
    this.proc = p
    return p
  }

  private async runNow(lines: readonly string[]): Promise<void> {
    const p = this.start()
    await p.started
    const marker = `tlm${++this.seq}`
    const errors: string[] = []
    let timer: NodeJS.Timeout | undefined
    try {
      await new Promise<void>((resolve, reject) => {
        this.current = { marker, errors, done: resolve }
        timer = setTimeout(() => reject(new LabError(`ip in the guest did not finish within ${RUN_TIMEOUT_MS / 1000} s`)), RUN_TIMEOUT_MS)
        p.write(`${[...lines, marker].join('\n')}\n`).catch(reject)
      })
    } finally {
      clearTimeout(timer)
      this.current = undefined
    }
    if (p.hasExited) errors.push('ip exited')
    if (errors.length > 0) throw new LabError(`ip in the guest: ${errors.join('; ')}`)
  }

  /** End the worker (the guest going down ends it too). */
  async close(): Promise<void> {
    this.proc?.endStdin()
    await this.proc?.stop({ graceMs: 500 })
  }
}
