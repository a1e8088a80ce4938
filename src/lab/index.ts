// The lab layer's public surface: backends are reached only through here.
import { UsageError } from '../util/errors.js'
import { createNetnsBackend } from './netns/backend.js'
import type { Backend } from './types.js'

export type { Backend, ExecOptions, ExecResult, ExitInfo, Host, HostSpec, Lab, LabSpec, Proc, ScratchHost, SpawnOptions } from './types.js'
export { applySysctls } from './netns/backend.js'
export { agentBinaryPath } from './agent-path.js'
export { STATE_DIR } from './lease.js'

export const BACKEND_NAMES = ['netns', 'docker'] as const
export type BackendName = (typeof BACKEND_NAMES)[number]

/** Backends created by this process: the emergency path asks each to remove what it made. */
const created = new Set<Backend>()

/**
 * Last resort (second Ctrl-C): every backend this process used removes its labs now, each in its
 * own way (netns: kill and delete its namespaces, synchronously; docker: remove its containers by
 * label). Never throws.
 */
export async function removeOwnLabsNow(): Promise<void> {
  await Promise.allSettled([...created].map(async (b) => b.removeOwnLabsNow?.()))
}

/** Create a backend by name. The docker backend is loaded lazily (dockerode is only needed there). */
export async function createBackend(name: string): Promise<Backend> {
  switch (name) {
    case 'netns':
      return remember(createNetnsBackend())
    case 'docker': {
      const specifier = './docker/backend.js'
      const mod = (await import(specifier).catch((e: unknown) => {
        throw new UsageError(`the docker backend is not available: ${(e as Error).message}`)
      })) as { createDockerBackend(): Backend }
      return remember(mod.createDockerBackend())
    }
    default:
      throw new UsageError(`unknown backend "${name}" (expected ${BACKEND_NAMES.join(' or ')})`)
  }
}

function remember(b: Backend): Backend {
  created.add(b)
  return b
}

/** A short random lab id: 8 lowercase hex characters (fits interface and namespace names). */
export function newLabId(): string {
  return Math.floor(Math.random() * 0x1_0000_0000).toString(16).padStart(8, '0')
}
