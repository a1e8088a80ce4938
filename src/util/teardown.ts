// A teardown stack: every acquisition pushes its undo; run() undoes LIFO,
// settles every step (one failure does not stop the rest), is idempotent, and
// reports all failures together.

export class TeardownError extends Error {
  readonly errors: unknown[]
  constructor(errors: unknown[]) {
    super(`teardown: ${errors.length} step(s) failed:\n${errors.map((e) => `  - ${e instanceof Error ? e.message.split('\n')[0] : String(e)}`).join('\n')}`)
    this.name = 'TeardownError'
    this.errors = errors
  }
}

interface Undo {
  label: string
  fn: () => Promise<unknown> | unknown
}

export class Teardown {
  private readonly stack: Undo[] = []
  private running: Promise<void> | undefined
  private settled = false

  /** Register an undo; it runs before everything pushed earlier. */
  push(label: string, fn: () => Promise<unknown> | unknown): void {
    this.stack.push({ label, fn })
  }

  get size(): number {
    return this.stack.length
  }

  /**
   * Undo everything (LIFO). Safe to call more than once: a call during a drain
   * waits for it; a call after it (something was pushed late) drains again.
   */
  run(): Promise<void> {
    if (this.running === undefined || (this.settled && this.stack.length > 0)) {
      this.settled = false
      this.running = this.drain().finally(() => {
        this.settled = true
      })
    }
    return this.running
  }

  private async drain(): Promise<void> {
    const errors: unknown[] = []
    while (this.stack.length > 0) {
      const u = this.stack.pop() as Undo
      try {
        await u.fn()
      } catch (e: unknown) {
        // A new Error: some errors (DOMException) have a read-only message.
        errors.push(new Error(`${u.label}: ${e instanceof Error ? e.message : String(e)}`, { cause: e }))
      }
    }
    if (errors.length > 0) throw new TeardownError(errors)
  }
}
