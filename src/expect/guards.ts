// `when:` guards on sysctls: whether a key exists ("net.ipv4.tcp_syn_linear_timeouts")
// or what value it has in force in the lab's hosts ("net.ipv4.tcp_syn_linear_timeouts=0",
// ">", "<", ">=", "<=", "!="), after the scenario's own sysctls and --sysctl overrides.
// A value guard is judged on the host it names ("client:KEY=VALUE"), else on the
// expectation's host (its `on:`, or its named socket's host), else on every
// host: it holds only where it holds on all of them.

import { SYSCTL_GUARD_RE } from '../scenario/schema.js'
import type { EvalContext } from './context.js'

export interface SysctlGuard {
  /** The host whose value is tested ("client:KEY=VALUE"), when the guard names one. */
  host?: string | undefined
  key: string
  op?: '=' | '!=' | '>' | '<' | '>=' | '<=' | undefined
  value?: string | undefined
  text: string
}

export function parseSysctlGuard(text: string): SysctlGuard | undefined {
  const m = SYSCTL_GUARD_RE.exec(text.trim())
  if (!m) return undefined
  return { host: m[1], key: m[2] as string, op: m[3] as SysctlGuard['op'], value: m[4], text: text.trim() }
}

/** Whether a value in force satisfies the guard: numbers compare as numbers, other values exactly (whitespace runs as one space). */
export function valueSatisfies(have: string, op: NonNullable<SysctlGuard['op']>, want: string): boolean {
  const norm = (s: string): string => s.trim().split(/\s+/).join(' ')
  const a = Number(norm(have))
  const b = Number(norm(want))
  const numeric = norm(have) !== '' && norm(want) !== '' && Number.isFinite(a) && Number.isFinite(b)
  if (!numeric) {
    if (op === '=') return norm(have) === norm(want)
    if (op === '!=') return norm(have) !== norm(want)
    return false
  }
  switch (op) {
    case '=': return a === b
    case '!=': return a !== b
    case '>': return a > b
    case '<': return a < b
    case '>=': return a >= b
    case '<=': return a <= b
  }
}

/**
 * Why the expectation is skipped for this guard, or undefined when it applies.
 * `negated`: a `noSysctl:` guard (applies when the guard does not hold).
 */
export function sysctlGuardReason(text: string, negated: boolean, host: string | undefined, ctx: EvalContext): string | undefined {
  const g = parseSysctlGuard(text)
  if (!g) return `cannot read the sysctl guard "${text}"`
  if (g.op === undefined || g.value === undefined) {
    const has = ctx.hasSysctl(g.key)
    if (!negated && !has) return `needs sysctl ${g.key}, which this kernel lacks`
    if (negated && has) return `applies to kernels without ${g.key}`
    return undefined
  }
  const values = ctx.sysctlValues?.(g.key)
  if (values === undefined) return `the values in force of ${g.key} are unknown to this run`
  const on = g.host ?? host
  const hosts = on !== undefined ? [on] : [...values.keys()]
  const seen = hosts.map((h) => `${h}: ${values.get(h) ?? '(absent)'}`).join(', ')
  const holdsOn = (h: string): boolean => {
    const v = values.get(h)
    return v !== undefined && valueSatisfies(v, g.op as NonNullable<SysctlGuard['op']>, g.value as string)
  }
  const holds = hosts.length > 0 && hosts.every(holdsOn)
  if (!negated && !holds) return `needs ${g.key} ${g.op} ${g.value}; in force: ${seen || `${g.key} absent`}`
  if (negated && holds) return `applies unless ${g.key} ${g.op} ${g.value}; in force: ${seen}`
  return undefined
}
