// The Docker API client (dockerode) and the errors of talking to a daemon.
// Where the daemon is comes from the environment, as for the docker CLI:
// DOCKER_HOST (unix://, tcp://, ssh://), DOCKER_TLS_VERIFY, DOCKER_CERT_PATH
// (docker-modem reads them). Nothing here touches the local /proc or the docker
// CLI, so a remote daemon works the same as the local one.

import Docker from 'dockerode'
import { EnvironmentError, LabError, TcplabError } from '../../util/errors.js'

/**
 * A client for `address` (unix://, tcp://, ssh://; `--docker-host`), else for the daemon the
 * environment names (DOCKER_HOST or the default unix socket). docker-modem reads the address from
 * DOCKER_HOST only, so for an explicit one DOCKER_HOST is set for the (synchronous) constructor and
 * restored: the address is then read exactly as the docker CLI and DOCKER_HOST would read it
 * (TLS from DOCKER_TLS_VERIFY / DOCKER_CERT_PATH, ssh through SSH_AUTH_SOCK).
 */
export function connectDocker(address?: string): Docker {
  const saved = process.env.DOCKER_HOST
  try {
    if (address !== undefined) process.env.DOCKER_HOST = address
    const docker = new Docker()
    addresses.set(docker, describeDaemon(address))
    return docker
  } catch (e: unknown) {
    throw new EnvironmentError('E_DOCKER', `DOCKER_HOST="${process.env.DOCKER_HOST ?? ''}" is not a Docker address: ${errorText(e)}`, {
      hint: 'set DOCKER_HOST=unix:///var/run/docker.sock or tcp://HOST:PORT (or unset it)',
      cause: e,
    })
  } finally {
    if (address !== undefined) {
      if (saved === undefined) delete process.env.DOCKER_HOST
      else process.env.DOCKER_HOST = saved
    }
  }
}

const addresses = new WeakMap<Docker, string>()

/** The address of the daemon a client (from connectDocker) talks to, for messages and verdicts. */
export function daemonOf(docker: Docker): string {
  return addresses.get(docker) ?? describeDaemon()
}

/** Where a client talks to, for messages: `address`, else "tcp://127.0.0.1:23750" or "unix:///var/run/docker.sock" from the environment. */
export function describeDaemon(address?: string): string {
  return address ?? (process.env.DOCKER_HOST || 'unix:///var/run/docker.sock')
}

/** HTTP status of a daemon error (404 for "no such container"), undefined for a transport error. */
export function statusOf(e: unknown): number | undefined {
  const s = (e as { statusCode?: unknown } | null)?.statusCode
  return typeof s === 'number' ? s : undefined
}

/** The daemon's own message ("No such image: x"), without docker-modem's "(HTTP code 404) ..." prefix. */
export function errorText(e: unknown): string {
  const json = (e as { json?: unknown } | null)?.json
  if (json && typeof json === 'object' && 'message' in json && typeof json.message === 'string') return json.message
  if (typeof json === 'string' && json.trim()) return json.trim()
  return e instanceof Error ? e.message : String(e)
}

/** Whether an error means the daemon could not be reached at all (not a refusal by the daemon). */
export function isUnreachable(e: unknown): boolean {
  const code = (e as NodeJS.ErrnoException | null)?.code
  return statusOf(e) === undefined && typeof code === 'string' &&
    ['ENOENT', 'ECONNREFUSED', 'ECONNRESET', 'EACCES', 'EPERM', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'EPIPE'].includes(code)
}

/** The address a failed connection tried (the socket path, or host and port), when the error says. */
function addressOf(e: unknown): string | undefined {
  const err = e as { address?: unknown; port?: unknown } | null
  if (typeof err?.address !== 'string') return undefined
  if (err.address.startsWith('/')) return `unix://${err.address}`
  return typeof err.port === 'number' ? `tcp://${err.address}:${err.port}` : undefined
}

/** The daemon is not reachable: exit 3 with the fix. `where`: the daemon's address (default: what the error or the environment says). */
export function unreachableError(e: unknown, where: string = addressOf(e) ?? describeDaemon()): EnvironmentError {
  const code = (e as NodeJS.ErrnoException | null)?.code
  const hint = code === 'EACCES' || code === 'EPERM'
    ? `no permission on ${where}: run as root or add the user to the docker group`
    : 'start a daemon (containers/start-dockerd.sh as root), or point DOCKER_HOST at one (DOCKER_HOST=tcp://HOST:PORT)'
  return new EnvironmentError('E_DOCKER', `cannot reach the Docker daemon at ${where}: ${errorText(e)}`, { hint, cause: e })
}

/** Wrap a failed API call: unreachable daemon -> EnvironmentError, TcplabError as is, anything else -> LabError. */
export function toLabError(e: unknown, what: string): TcplabError {
  if (e instanceof TcplabError) return e
  if (isUnreachable(e)) return unreachableError(e)
  return new LabError(`${what}: ${errorText(e)}`, { cause: e })
}
