// Synchronous last words of a run: when the process exits without the
// runner's own ending (second Ctrl-C: process.exit after killing everything;
// an uncaught exception), each scenario still running marks its verdict
// `interrupted` and flushes its records. One `exit` listener for all.

const hooks = new Set<() => void>()
let installed = false

/** Run `fn` (synchronous, must not throw) if the process exits before the returned function is called. */
export function onExitSync(fn: () => void): () => void {
  if (!installed) {
    installed = true
    process.on('exit', () => {
      for (const h of [...hooks]) {
        try {
          h()
        } catch {
          // last words: nothing to report them to
        }
      }
    })
  }
  hooks.add(fn)
  return () => void hooks.delete(fn)
}
