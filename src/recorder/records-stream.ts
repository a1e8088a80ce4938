// records.jsonl as the run goes: records are appended as they happen (in
// batches, every FLUSH_MS, one write each), so an interrupted or killed run
// keeps what it recorded up to then. At the end the runner replaces the file
// with the final, sorted and named records (atomically). Writes are
// synchronous on purpose: a batch is one small write(2), and the same code
// runs from an `exit` hook, where nothing asynchronous does.

import { closeSync, fsyncSync, openSync, writeSync } from 'node:fs'
import type { Timeline } from './timeline.js'

/** How often streamed records reach the file: at most this much is lost to a SIGKILL. */
export const FLUSH_MS = 250

export interface RecordsStream {
  /** Start appending (records already on the timeline first): call once t0 is final (records before are re-stamped). */
  start(): void
  /** Write what is pending now (synchronous). */
  flush(): void
  /**
   * Flush and close; `durable` (the default: an interrupted run keeps this file) fsyncs first. The
   * normal end replaces the file whole right after (atomically, fsync'd), so it skips the fsync,
   * which blocks the event loop of every scenario running (tens of ms on a busy disk). Idempotent.
   */
  close(opts?: { durable?: boolean }): void
}

/** Stream `timeline`'s records to `file` (created empty now). */
export function streamRecords(timeline: Timeline, file: string): RecordsStream {
  let fd: number | undefined = openSync(file, 'w')
  let written = 0
  let started = false
  let timer: NodeJS.Timeout | undefined
  const flush = (): void => {
    if (fd === undefined || !started) return
    const recs = timeline.records
    if (written >= recs.length) return
    let text = ''
    for (; written < recs.length; written++) text += `${JSON.stringify(recs[written])}\n`
    try {
      writeSync(fd, text)
    } catch {
      // disk full or gone: the final write at the end reports it
    }
  }
  return {
    start() {
      started = true
      flush()
      timer = setInterval(flush, FLUSH_MS)
      timer.unref()
    },
    flush,
    close(opts = {}) {
      clearInterval(timer)
      if (fd === undefined) return
      flush()
      try {
        if (opts.durable ?? true) fsyncSync(fd)
      } catch {
        // best effort
      }
      closeSync(fd)
      fd = undefined
    },
  }
}
