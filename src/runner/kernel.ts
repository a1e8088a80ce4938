// Facts about the lab's kernel that decide skips (`requires:`, `when:`).
import { kernelSatisfies } from '../expect/context.js'
import type { RunEnv } from './env.js'

export interface KernelFacts {
  release: string
  hasSysctl(key: string): boolean
  satisfies(constraint: string): boolean
}

/** Kernel facts from a collected env.json. */
export function loadScenarioKernelFacts(env: RunEnv): KernelFacts {
  const keys = new Set<string>()
  for (const h of Object.values(env.hosts)) for (const k of Object.keys(h.sysctls)) keys.add(k)
  return {
    release: env.kernel,
    hasSysctl: (k) => keys.has(k),
    satisfies: (c) => kernelSatisfies(env.kernel, c),
  }
}
