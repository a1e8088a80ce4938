// The lab layer's public surface: backends are reached only through here.
import { UsageError } from '../util/errors.js'
import { createNetnsBackend } from './netns/backend.js'
import type { Backend } from './types.js'
import { createVmToolsBackend } from './vm/tools-backend.js'
import { removeOwnGuestFilesSync } from './vm/emergency.js'

export type { Backend, ExecOptions, ExecResult, ExitInfo, Host, HostSpec, KernelEvent, Lab, LabSpec, Proc, ScratchHost, SpawnOptions } from './types.js'
export { bootGuest, gcGuests, type Guest, type GuestOptions } from './vm/guest.js'
export { createVmBackend, type VmEnvFacts } from './vm/backend.js'
export { applySysctls } from './netns/backend.js'
export { agentBinaryPath } from './agent-path.js'
export { relayDirOf, STATE_DIR } from './lease.js'
export { parseDockerAddress, parseDockerHosts } from './docker-address.js'

export const BACKEND_NAMES = ['netns', 'docker', 'vm'] as const
export type BackendName = (typeof BACKEND_NAMES)[number]

/** Backends created by this process: the emergency path asks each to remove what it made. */
const created = new Set<Backend>()

/**
 * Last resort (second Ctrl-C): every backend this process used removes its labs now, each in its
 * own way (netns: kill and delete its namespaces, synchronously; docker: remove its containers by
 * label). Never throws.
 */
export async function removeOwnLabsNow(): Promise<void> {
  removeOwnGuestFilesSync()
  await Promise.allSettled([...created].map(async (b) => b.removeOwnLabsNow?.()))
}

export interface CreateBackendOptions {
  /** docker: the daemon (unix://, tcp://, ssh://); default DOCKER_HOST, else the local socket. */
  dockerHost?: string | undefined
}

/** Create a backend by name. The docker backend is loaded lazily (dockerode is only needed there). */
export async function createBackend(name: string, opts: CreateBackendOptions = {}): Promise<Backend> {
  if (opts.dockerHost !== undefined && name !== 'docker') throw new UsageError(`--docker-host applies to the docker backend, not ${name}`, { hint: 'drop --backend, or use --backend docker' })
  switch (name) {
    case 'netns':
      return remember(createNetnsBackend())
    case 'docker': {
      const specifier = './docker/backend.js'
      const mod = (await import(specifier).catch((e: unknown) => {
        throw new UsageError(`the docker backend is not available: ${(e as Error).message}`)
      })) as { createDockerBackend(address?: string): Backend }
      return remember(mod.createDockerBackend(opts.dockerHost))
    }
    case 'vm':
      return remember(createVmToolsBackend())
    default:
      throw new UsageError(`unknown backend "${name}" (expected ${BACKEND_NAMES.join(' or ')})`)
  }
}

function remember(b: Backend): Backend {
  created.add(b)
  return b
}

/**
 * The backends of a run: one per daemon of `--docker-host` (which implies the docker backend),
 * else the one backend named. Each still needs its check().
 */
export async function createBackends(name: string | undefined, dockerHosts: readonly string[] = []): Promise<Backend[]> {
  if (dockerHosts.length === 0) return [await createBackend(name ?? 'netns')]
  if (name !== undefined && name !== 'docker') throw new UsageError(`--docker-host applies to the docker backend, not ${name}`, { hint: 'drop --backend, or use --backend docker' })
  return Promise.all(dockerHosts.map((h) => createBackend('docker', { dockerHost: h })))
}

/** A short random lab id: 8 lowercase hex characters (fits interface and namespace names). */
export function newLabId(): string {
  return Math.floor(Math.random() * 0x1_0000_0000).toString(16).padStart(8, '0')
}
