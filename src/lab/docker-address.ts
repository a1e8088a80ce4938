// `--docker-host a,b`: the daemons of a run, each written as DOCKER_HOST is
// (docker(1) -H): unix:///path/to/docker.sock, tcp://HOST:PORT, ssh://[USER@]HOST[:PORT].
// Parsed here, without loading the docker backend, so that a bad value is a
// usage error (exit 2) before anything is created. TLS for tcp:// comes from
// DOCKER_TLS_VERIFY / DOCKER_CERT_PATH, as for the docker CLI, for every daemon.

import { UsageError } from '../util/errors.js'

const HINT = 'write each daemon as DOCKER_HOST is written: unix:///var/run/docker.sock, tcp://10.0.0.7:2375 or ssh://user@host; several separated by commas'

/** Check one daemon address; returns it normalised (no trailing slash). */
export function parseDockerAddress(text: string): string {
  const a = text.trim()
  if (a === '') throw new UsageError('--docker-host: an empty daemon address (two commas in a row, or a trailing comma?)', { hint: HINT })
  const unix = /^unix:\/\/(\/\S*)$/.exec(a)
  if (unix) {
    const p = unix[1] as string
    if (p === '/' || p.endsWith('/')) throw new UsageError(`--docker-host ${a}: the socket path is a directory`, { hint: HINT })
    return a
  }
  if (/^(tcp|ssh):\/\//.test(a)) {
    let url: URL
    try {
      url = new URL(a)
    } catch {
      throw new UsageError(`--docker-host ${a}: not an address`, { hint: HINT })
    }
    if (url.hostname === '') throw new UsageError(`--docker-host ${a}: no host name`, { hint: HINT })
    if (url.pathname !== '/' && url.pathname !== '' || url.search !== '' || url.hash !== '') throw new UsageError(`--docker-host ${a}: a daemon address has no path`, { hint: HINT })
    if (url.protocol === 'tcp:' && url.port === '') throw new UsageError(`--docker-host ${a}: tcp:// needs a port (2375 plain, 2376 with TLS)`, { hint: HINT })
    return a.replace(/\/$/, '')
  }
  throw new UsageError(`--docker-host "${a}": expected unix://, tcp:// or ssh://`, { hint: HINT })
}

/** The daemons of `--docker-host` (repeated and/or comma-separated), checked; duplicates are refused. */
export function parseDockerHosts(values: string | readonly string[] | undefined): string[] {
  if (values === undefined) return []
  const list = (typeof values === 'string' ? [values] : values).flatMap((v) => v.split(','))
  const out: string[] = []
  for (const item of list) {
    const a = parseDockerAddress(item)
    if (out.includes(a)) throw new UsageError(`--docker-host names ${a} twice`, { hint: 'name each daemon once; --jobs sets how many scenarios run at a time' })
    out.push(a)
  }
  return out
}
