// A scenario's `timeout:`: the longest it may take from setup to teardown. When
// it runs out, the scenario's signal aborts (the runner stops the timeline,
// the lab is torn down as on Ctrl-C) and the verdict says "timed out" with the
// limit and where it is written: status error, error.code E_TIMEOUT, exit 1.

import type { LoadedScenario } from '../scenario/loader.js'
import type { ScenarioVerdict } from '../expect/index.js'
import { formatMs } from '../util/duration.js'

export interface ScenarioTimeout {
  /** Aborts when the run's signal does or the timeout runs out. */
  signal: AbortSignal
  /** Whether the timeout (not the run's signal) stopped the scenario. */
  expired(): boolean
  clear(): void
}

/** Start the scenario's timeout clock (none without `timeout:`: the run's signal only). */
export function startScenarioTimeout(s: LoadedScenario, parent?: AbortSignal): ScenarioTimeout {
  const timeoutMs = s.scenario.timeout
  const controller = new AbortController()
  let fired = false
  const onParent = (): void => controller.abort(parent?.reason)
  if (parent?.aborted) controller.abort(parent.reason)
  else parent?.addEventListener('abort', onParent, { once: true })
  const timer = timeoutMs === undefined ? undefined : setTimeout(() => {
    fired = true
    controller.abort(new Error(`timed out after ${formatMs(timeoutMs)}`))
  }, timeoutMs)
  return {
    signal: controller.signal,
    expired: () => fired,
    clear: () => {
      if (timer) clearTimeout(timer)
      parent?.removeEventListener('abort', onParent)
    },
  }
}

/** The line `timeout:` is written on (1-based), for the verdict's message. */
function timeoutLine(source: string): number | undefined {
  const i = source.split('\n').findIndex((l) => /^timeout\s*:/.test(l))
  return i < 0 ? undefined : i + 1
}

/** The verdict of a scenario its timeout stopped: whatever it had is kept, the status and error say why it ended. */
export function markTimedOut(v: ScenarioVerdict, s: LoadedScenario): ScenarioVerdict {
  const limit = formatMs(s.scenario.timeout ?? 0)
  const line = timeoutLine(s.source)
  const where = `${s.file}${line !== undefined ? `:${line}:1` : ''}`
  return {
    ...v,
    status: 'error',
    timedOut: true,
    reason: `timed out after ${limit}`,
    error: {
      code: 'E_TIMEOUT',
      message: `${s.scenario.name} timed out: still running after ${limit} (timeout: ${limit} at ${where}); it was stopped and its lab torn down`,
      hint: 'raise `timeout:` in the scenario, or see report.html for the step it was waiting on',
      exitCode: 1,
    },
  }
}
