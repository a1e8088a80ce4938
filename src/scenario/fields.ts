// Field types shared by the scenario schema (schema.ts) and the step actions'
// schemas (src/actions/): durations, names, argv, sysctl maps, event references.
// Imports nothing of the scenario's own, so the actions can use it while
// schema.ts imports the actions.

import { z } from 'zod'
import { parseDurationMs } from '../util/duration.js'
import { parseComparator } from './comparator.js'
import { MAX_DURATION_MS, quoteExcerpt } from './limits.js'

export { MAX_INT32 } from './limits.js'
import { sysctlKeyProblem, sysctlValueProblem } from './sysctl-values.js'

/** A duration written "250ms", "2s", "1m30s" (or 0), parsed to milliseconds. */
export const Duration = z
  .union([z.string(), z.number()])
  .transform((v, ctx) => {
    const ms = typeof v === 'number' ? (v === 0 ? 0 : undefined) : parseDurationMs(v)
    if (ms === undefined) {
      ctx.addIssue({ code: 'custom', message: `expected a duration like "200ms" or "2s", got ${quoteExcerpt(v)}` })
      return z.NEVER
    }
    if (!(ms <= MAX_DURATION_MS)) {
      ctx.addIssue({ code: 'custom', message: `expected a duration of at most 24h, got ${quoteExcerpt(v)}` })
      return z.NEVER
    }
    return ms
  })
  .meta({ description: 'A duration: "250ms", "2s", "1.5s", "1m", "2m30s", "100us" (at most 24h)', examples: ['200ms', '2s'] })

/** A TCP/UDP port: 1-65535. */
export const Port = z.number().int().min(1).max(65535)

/** Whether the port after the last ":" of an endpoint (if any) is 1-65535. */
export function hasValidPort(endpoint: string): boolean {
  const i = endpoint.lastIndexOf(':')
  if (i < 0 || !/^\d+$/.test(endpoint.slice(i + 1))) return true
  const port = Number(endpoint.slice(i + 1))
  return port >= 1 && port <= 65535
}

/** An endpoint's port check as a zod refinement message. */
export const PORT_MESSAGE = 'expected a port from 1 to 65535'

/** A reference to an endpoint event: `NAME.EVENT` (`cli.connected`, `srv.started`, `nc.exited`). */
export const EventRef = z
  .string()
  .regex(/^[A-Za-z0-9_-]+\.[a-z_]+$/, { message: 'expected an event reference like "cli.connected" or "srv.started"' })
  .meta({ description: 'NAME.EVENT: a process or socket name and one of its events (started, exited, stdout, connected, accepted, error, eof, ...)' })

/** A comparison: 6, ">0", ">=3", "<=60000", "!=0", "1..5"; strings compare exactly ("ESTAB") or as /regex/. */
export const Comparator = z
  .union([z.number(), z.string(), z.boolean()])
  .superRefine((v, ctx) => {
    const err = typeof v === 'string' ? parseComparator(v).error : undefined
    if (err) ctx.addIssue({ code: 'custom', message: err })
  })
  .meta({ description: 'A value or a comparison: 6, ">0", ">=3", "<=60000", "!=0", "1..5", "ESTAB", "/re/"' })

/** A count compared with a Comparator: numbers and bounds are never negative. */
export const CountComparator = Comparator.superRefine((v, ctx) => {
  const nums = typeof v === 'number' ? [v] : typeof v === 'string' ? [...v.matchAll(/-?\d+(?:\.\d+)?/g)].map((m) => Number(m[0])) : []
  if (typeof v === 'string' && /^\s*\//.test(v)) return
  if (nums.some((n) => n < 0)) ctx.addIssue({ code: 'custom', message: `a count is never negative, got ${quoteExcerpt(v)}` })
})

/** A process, socket or rule name. */
export const Name = z.string().regex(/^[A-Za-z][A-Za-z0-9_-]{0,31}$/, {
  message: 'expected a name of letters, digits, "-" and "_" (starting with a letter, at most 32 characters)',
})

export const HostName = z.string().regex(/^[a-z][a-z0-9]{0,7}$/, {
  message: 'expected a host name of lowercase letters and digits, at most 8 characters (it becomes part of interface names)',
})

/** A command line: strings, numbers and booleans, as strings. */
export const Argv = z.array(z.union([z.string(), z.number(), z.boolean()]).transform(String)).min(1)

/**
 * Sysctls: key -> value. `{ value: 2, optional: true }` sets it only where the
 * kernel has it (e.g. net.ipv4.tcp_syn_linear_timeouts, new in 6.5). Optional
 * keys come out prefixed with "?" (see applySysctls).
 */
export const SysctlMap = z
  .record(
    z.string().superRefine((k, ctx) => {
      const problem = sysctlKeyProblem(k)
      if (problem) ctx.addIssue({ code: 'custom', message: problem })
    }),
    z.union([
      z.union([z.string(), z.number()]).transform(String),
      z.object({
        value: z.union([z.string(), z.number()]).transform(String).meta({ description: 'the value to set', examples: [2] }),
        optional: z.boolean().optional().meta({ description: 'set it only where the kernel has this sysctl (others go on without it)', examples: [true] }),
      }).strict(),
    ]),
  )
  .superRefine((m, ctx) => {
    // Values by type (sysctl-values.ts): the path points at the value.
    for (const [k, v] of Object.entries(m)) {
      const value = typeof v === 'string' ? v : v.value
      const problem = sysctlKeyProblem(k) === undefined ? sysctlValueProblem(k, value) : undefined
      if (problem) ctx.addIssue({ code: 'custom', message: problem, path: typeof v === 'string' ? [k] : [k, 'value'] })
    }
  })
  .transform((m) =>
    Object.fromEntries(Object.entries(m).map(([k, v]) => (typeof v === 'string' ? [k, v] : [v.optional ? `?${k}` : k, v.value]))),
  )
