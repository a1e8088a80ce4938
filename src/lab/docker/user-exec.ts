// Programs in a host's own image (the scenario's `hosts.<name>.image`). The
// user's container has no shell and no tools, so a program is exec'd there
// exactly as given. Its pid (for signals) is found from the sidecar, which
// shares the user container's network and pid namespaces: the exec carries a
// unique TCPLAB_PROC=<token> in its environment, and a short bash loop in the
// sidecar looks for it in /proc/*/environ (readable by the same user; hence
// the finder runs as the user the image runs as).
//
// A program the user's image does not have (nc, curl, ...) runs in the
// sidecar instead: same network and pid namespaces, so the same on the wire.

import { randomBytes } from 'node:crypto'
import type Docker from 'dockerode'
import { LabError, ProcessError, StepError } from '../../util/errors.js'
import { statusOf, toLabError } from './client.js'
import { attachExec, exitCodeOf, launcherStarter, spawnInContainer, type Attached, type ContainerRef, type ProcStarter } from './exec.js'

/** A host that runs the user's image, and its sidecar. */
export interface UserImageHost {
  /** The user's container (the host's own program, entrypoint and command as in the image). */
  user: ContainerRef
  /** The sidecar from the lab image: tools, agent, and `kill` for the user's processes. */
  tools: ContainerRef
  image: string
  /** "uid:gid" the image runs as when that is not root (the finder must be the same user to read environ). */
  finderUser: string | undefined
}

/** Environment variable that marks an exec in the user's container. */
export const PROC_ENV = 'TCPLAB_PROC'

// docker 20.10+: `OCI runtime exec failed: exec failed: ...: exec: "nc": executable file not found in $PATH: unknown`
// (on stdout, exit code 126 or 127).
const OCI_FAILED = 'OCI runtime exec failed'
const NOT_FOUND = /executable file not found|no such file or directory/i

/**
 * Prints /proc/PID/stat of every process whose environment has the token, polling every 10 ms
 * for up to 3 s. $1 is the token; nothing is interpolated.
 */
const FINDER = [
  `tok="${PROC_ENV}=$1"`,
  'for ((i = 0; i < 300; i++)); do',
  '  m=$(grep -lzxF -- "$tok" /proc/[0-9]*/environ 2>/dev/null)',
  '  if [ -n "$m" ]; then',
  '    for f in $m; do p=${f#/proc/}; p=${p%/environ}; IFS= read -r s <"/proc/$p/stat" && printf "%s\\n" "$s"; done',
  '    exit 0',
  '  fi',
  '  sleep 0.01',
  'done',
  'exit 1',
].join('\n')

/** The exec'd program among the processes carrying the token: the session leader (docker exec makes it one), else the lowest pid. */
export function pickExecPid(statLines: readonly string[]): number | undefined {
  const procs = statLines.flatMap((l) => {
    // "PID (COMM) STATE PPID PGRP SESSION ..." (proc(5)); COMM may hold spaces and parentheses.
    const close = l.lastIndexOf(')')
    const pid = Number(l.slice(0, l.indexOf(' ')))
    const session = Number(l.slice(close + 2).split(' ')[3])
    return Number.isInteger(pid) && pid > 0 ? [{ pid, session }] : []
  })
  return (procs.find((p) => p.pid === p.session) ?? procs.sort((a, b) => a.pid - b.pid)[0])?.pid
}

/** The image does not have the program: run it in the sidecar instead. */
class NotInUserImage extends Error {}

/** Start `argv` in the user's container (or, when the image lacks the program, in the sidecar). */
export function userImageStarter(h: UserImageHost, argv: readonly string[], wantStdin: boolean): ProcStarter {
  if (argv.length === 0) throw new Error('userImageStarter: empty argv')
  return async (sinks) => {
    try {
      return await startInUserContainer(h, argv, wantStdin, sinks)
    } catch (e: unknown) {
      if (!(e instanceof NotInUserImage)) throw e
      return launcherStarter(h.tools, argv, wantStdin, {
        missingHint: `"${argv[0] ?? ''}" is neither in the image ${h.image} of ${h.user.host} nor in the lab image (iproute2, iptables, tcpdump, nc, procps, the agent)`,
      })(sinks)
    }
  }
}

async function startInUserContainer(h: UserImageHost, argv: readonly string[], wantStdin: boolean,
  sinks: { stdout(b: Buffer): void; stderr(b: Buffer): void }): Promise<{ attached: Attached; pid: number | undefined }> {
  const token = randomBytes(12).toString('hex')
  // docker reports a failed exec (no such program) on the exec's stdout: hold it back from the program's output.
  let first = true
  let ociError = ''
  const onStdout = (b: Buffer): void => {
    if (first) {
      first = false
      if (b.toString('latin1', 0, OCI_FAILED.length) === OCI_FAILED) {
        ociError = b.toString()
        return
      }
    }
    if (ociError) ociError += b.toString()
    else sinks.stdout(b)
  }
  // The finder starts first: it polls, and the exec in the user's container is the slow part.
  const stats: string[] = []
  const finder = spawnInContainer(h.tools, ['bash', '-c', FINDER, 'tcplab-find', token], { onStdoutLine: (l) => stats.push(l) }, { user: h.finderUser })
  const found = finder.exited.then(() => pickExecPid(stats))
  let attached: Attached
  try {
    attached = await attachExec(h.user, { Cmd: [...argv], Env: [`${PROC_ENV}=${token}`], stdin: wantStdin }, onStdout, sinks.stderr)
  } catch (e: unknown) {
    void finder.stop({ graceMs: 200 }).catch(() => undefined)
    throw await notRunningError(h, e) ?? toLabError(e, `cannot start "${argv.join(' ')}" on ${h.user.host} (image ${h.image})`)
  }

  const outcome = await Promise.race([found.then((pid) => ({ pid, closed: false })), attached.closed.then(() => ({ pid: undefined, closed: true }))])
  if (!outcome.closed) return { attached, pid: outcome.pid }

  // It ended before it was found: docker could not start it, or it was that quick.
  void finder.stop({ graceMs: 200 }).catch(() => undefined)
  if (!ociError) return { attached, pid: undefined }
  if (NOT_FOUND.test(ociError)) throw new NotInUserImage(ociError)
  const exitCode = await exitCodeOf(attached.exec).catch(() => undefined)
  throw new ProcessError({ argv, host: h.user.host, exitCode, signal: undefined, stderr: ociError.trim() }, {
    hint: `docker could not start it in the image ${h.image} (a program in a host's own image runs as the image's user, with the lab capabilities)`,
  })
}

/** When the user's container is not running any more: what its program did, as a StepError; else undefined. */
export async function notRunningError(h: Pick<UserImageHost, 'user' | 'image'>, cause: unknown): Promise<StepError | undefined> {
  const status = statusOf(cause instanceof LabError ? cause.cause : cause)
  if (status !== 409 && status !== undefined) return undefined
  return exitedError(h.user.container, h.user.host, h.image, cause)
}

/** A StepError saying that the program of a host's own image has exited, with its exit code and last output; undefined while it runs. */
export async function exitedError(container: Docker.Container, host: string, image: string, cause?: unknown): Promise<StepError | undefined> {
  let info: Docker.ContainerInspectInfo
  try {
    info = await container.inspect()
  } catch {
    return undefined
  }
  if (info.State.Running) return undefined
  const tail = await container.logs({ stdout: true, stderr: true, follow: false, tail: 10 })
    .then((b: Buffer) => demuxLogs(b).trim(), () => '')
  const argv = [...(info.Config.Entrypoint ?? []), ...(info.Config.Cmd ?? [])].join(' ')
  return new StepError(
    `the program of host ${host} (image ${image}: ${argv || 'no command'}) exited with code ${info.State.ExitCode}` +
    `${info.State.Error ? ` (${info.State.Error})` : ''}; it is the host, so it must keep running for the whole scenario` +
    `${tail ? `\n  its last output:\n    ${tail.split('\n').join('\n    ')}` : '\n  it printed nothing'}`,
    {
      hint: `try the image on its own: docker run --rm ${image} (tcplab keeps its ENTRYPOINT and CMD; it runs with NET_ADMIN, NET_RAW, SETUID, SETGID and KILL only)`,
      cause,
    },
  )
}

/** A non-TTY container log (8-byte frame headers: stream, 0, 0, 0, size big-endian) as text. */
export function demuxLogs(b: Buffer): string {
  const parts: Buffer[] = []
  let i = 0
  while (i + 8 <= b.length) {
    const size = b.readUInt32BE(i + 4)
    parts.push(b.subarray(i + 8, i + 8 + size))
    i += 8 + size
  }
  return i === 0 && b.length > 0 ? b.toString() : Buffer.concat(parts).toString()
}
