// The lab layer's public surface: backends are reached only through here.
import { UsageError } from '../util/errors.js'
import { createNetnsBackend } from './netns/backend.js'
import type { Backend } from './types.js'
import { createVmToolsBackend } from './vm/tools-backend.js'

export type { Backend, ExecOptions, ExecResult, ExitInfo, Host, HostSpec, KernelEvent, Lab, LabSpec, Proc, SpawnOptions } from './types.js'
export { bootGuest, gcGuests, type Guest, type GuestOptions } from './vm/guest.js'
export { createVmBackend, type VmEnvFacts } from './vm/backend.js'
export { KERNEL_CACHE_DIR, listCachedKernels, resolveKernel, type CachedKernel, type KernelInfo } from './vm/kernel-cache.js'
export { applySysctls } from './netns/backend.js'
export { agentBinaryPath } from './agent-path.js'
export { STATE_DIR } from './lease.js'

export const BACKEND_NAMES = ['netns', 'docker', 'vm'] as const
export type BackendName = (typeof BACKEND_NAMES)[number]

/** Create a backend by name. The docker backend is loaded lazily (dockerode is only needed there). */
export async function createBackend(name: string): Promise<Backend> {
  switch (name) {
    case 'netns':
      return createNetnsBackend()
    case 'docker': {
      const specifier = './docker/backend.js'
      const mod = (await import(specifier).catch((e: unknown) => {
        throw new UsageError(`the docker backend is not available: ${(e as Error).message}`)
      })) as { createDockerBackend(): Backend }
      return mod.createDockerBackend()
    }
    case 'vm':
      return createVmToolsBackend()
    default:
      throw new UsageError(`unknown backend "${name}" (expected ${BACKEND_NAMES.join(' or ')})`)
  }
}

/** A short random lab id: 8 lowercase hex characters (fits interface and namespace names). */
export function newLabId(): string {
  return Math.floor(Math.random() * 0x1_0000_0000).toString(16).padStart(8, '0')
}
