// Facts about the lab's kernel that decide skips (`requires:`, `when:`).
import { kernelSatisfies } from '../expect/context.js'
import type { RunEnv } from './env.js'

export interface KernelFacts {
  release: string
  hasSysctl(key: string): boolean
  /** Each host's value of a sysctl in force (the scenario's sysctls and --sysctl applied); hosts without the key are left out. */
  sysctlValues(key: string): ReadonlyMap<string, string>
  satisfies(constraint: string): boolean
}

/** Kernel facts from a collected env.json. */
export function loadScenarioKernelFacts(env: RunEnv): KernelFacts {
  const keys = new Set<string>()
  for (const h of Object.values(env.hosts)) for (const k of Object.keys(h.sysctls)) keys.add(k)
  return {
    release: env.kernel,
    hasSysctl: (k) => keys.has(k),
    sysctlValues: (k) => new Map(Object.entries(env.hosts).flatMap(([h, e]) => (e.sysctls[k] !== undefined ? [[h, e.sysctls[k] as string] as const] : []))),
    satisfies: (c) => kernelSatisfies(env.kernel, c),
  }
}
