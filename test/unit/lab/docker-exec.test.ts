// The docker backend's command launcher (src/lab/docker/exec.ts) is plain bash
// reading requests on stdin, so its protocol is checked here with a local bash,
// no daemon: spawn mode becomes the program, exec mode marks the end of both
// outputs and waits for the next request. Also the pure helpers of user images
// (src/lab/docker/user-exec.ts): which process is the exec'd one, and container
// logs without a TTY.

import { spawnSync } from 'node:child_process'
import t from 'tap'
import { LAUNCHER_ARGV, LAUNCHER_ENV, launchRequest } from '../../../src/lab/docker/exec.js'
import { demuxLogs, pickExecPid } from '../../../src/lab/docker/user-exec.js'

/** Run the launcher with `input` on stdin, as docker exec would. */
function launch(input: Buffer): { stdout: string; stderr: string; status: number | null } {
  const [cmd, ...args] = LAUNCHER_ARGV as [string, ...string[]]
  const env = Object.fromEntries(LAUNCHER_ENV.map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]))
  const r = spawnSync(cmd, args, { input, env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env }, encoding: 'utf8' })
  return { stdout: r.stdout, stderr: r.stderr, status: r.status }
}

t.test('launchRequest: a header line, then the argv NUL-separated', async (t) => {
  t.equal(launchRequest(['echo', 'a b', ''], false).toString(), '3 0 p -\necho\0a b\0\0')
  t.equal(launchRequest(['cat'], true, 'tok1').toString(), '1 1 x tok1\ncat\0')
  t.throws(() => launchRequest(['echo', 'a\0b'], false), /NUL/)
})

t.test('spawn mode: ready and pid on stderr, then the program itself (argv never through a shell)', async (t) => {
  const r = launch(launchRequest(['sh', '-c', 'echo "$1"; echo err >&2; exit 4', 'sh', '$HOME; rm -rf /'], false))
  const lines = r.stderr.split('\n')
  t.match(lines[0], /^tcplab-ready \d+$/)
  t.equal(lines[1], lines[0]?.replace('ready', 'pid'), 'the pid is the launcher\'s own: the program replaced it')
  t.equal(lines[2], 'err')
  t.equal(r.stdout, '$HOME; rm -rf /\n', 'arguments arrive verbatim')
  t.equal(r.status, 4, 'the exit status is the program\'s')
  const missing = launch(launchRequest(['no-such-program-x'], false))
  t.match(missing.stderr, /tcplab-missing no-such-program-x\n$/)
  t.equal(missing.status, 127)
})

t.test('spawn mode with stdin: the program reads what follows the request', async (t) => {
  const r = launch(Buffer.concat([launchRequest(['cat'], true), Buffer.from('line 1\nline 2\n')]))
  t.equal(r.stdout, 'line 1\nline 2\n')
})

t.test('exec mode: end marks on both outputs, then the next request; input ends the loop', async (t) => {
  const r = launch(Buffer.concat([
    launchRequest(['sh', '-c', 'printf out; printf err >&2; exit 3'], false, 'T1'),
    launchRequest(['no-such-program-y'], false, 'T2'),
    launchRequest(['cat'], true, 'T3'),
    Buffer.from('typed'),
  ]))
  t.equal(r.stdout, 'outT1T2typedT3', 'stdout: each command\'s output, then its token')
  t.match(r.stderr, /^tcplab-ready \d+\nerrtcplab-exit 3 T1\ntcplab-missing no-such-program-y T2\ntcplab-exit 0 T3\n$/, 'stderr: exit status or missing program, with the token')
  t.equal(r.status, 0, 'EOF after the input: the launcher ends')
  const quiet = launch(launchRequest(['sh', '-c', 'cat; echo done'], false, 'T4'))
  t.equal(quiet.stdout, 'done\nT4', 'without input the command reads /dev/null, not the requests')
})

t.test('pickExecPid: the session leader among the processes with the token', async (t) => {
  t.equal(pickExecPid(['41 (sh) S 0 41 41 0 -1', '57 (my prog (x)) S 41 41 41 0 -1']), 41)
  t.equal(pickExecPid(['57 (a b) R 41 41 41 0', '43 (c) S 1 43 43 0']), 43, 'comm with spaces')
  t.equal(pickExecPid(['60 (x) S 1 2 3', '58 (y) S 1 2 3']), 58, 'no leader: the lowest pid')
  t.equal(pickExecPid([]), undefined)
})

t.test('demuxLogs: frames of a non-TTY container log', async (t) => {
  const frame = (stream: number, text: string): Buffer => {
    const h = Buffer.alloc(8)
    h[0] = stream
    h.writeUInt32BE(Buffer.byteLength(text), 4)
    return Buffer.concat([h, Buffer.from(text)])
  }
  t.equal(demuxLogs(Buffer.concat([frame(1, 'listening 8000\n'), frame(2, 'oops\n')])), 'listening 8000\noops\n')
  t.equal(demuxLogs(Buffer.from('')), '')
})
