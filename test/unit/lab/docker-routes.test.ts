// A docker lab host's routes (src/lab/docker/routes.ts): the `ip -batch` input,
// which hosts set them as they start, and the start command itself, run here by
// a local sh with stand-ins for `ip` and `sleep` on PATH (no daemon, the host's
// routes never touched): its one report line, on success and on failure.

import { spawnSync } from 'node:child_process'
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { planDockerLab } from '../../../src/lab/docker/addressing.js'
import { canRouteAtStart, parseRoutesReport, routeBatch, routesAtStartCmd } from '../../../src/lab/docker/routes.js'
import type { HostSpec } from '../../../src/lab/types.js'

const host = (name: string, isWire = false): HostSpec => ({ name, sysctls: {}, isWire })
const twoHosts = planDockerLab({ labId: 'x', scenario: 's', hosts: [host('client'), host('server')] }, '198.18.7')
const wired = planDockerLab({ labId: 'x', scenario: 's', hosts: [host('a'), host('wire', true), host('b')] }, '198.18.7')

t.test('routeBatch: drop the default route, then the lab routes', async (t) => {
  t.equal(routeBatch(twoHosts.hosts[0]!), 'route flush exact 0.0.0.0/0\n')
  t.equal(routeBatch(wired.hosts[0]!), 'route flush exact 0.0.0.0/0\nroute add 198.18.7.0/24 via 198.18.7.126\n')
})

t.test('canRouteAtStart: lab-image hosts on one network only', async (t) => {
  t.equal(canRouteAtStart(twoHosts.hosts[0]!, false), true, 'a host on one network')
  t.equal(canRouteAtStart(wired.hosts[0]!, false), true, 'an end of a wire (its route goes over eth0)')
  t.equal(canRouteAtStart(wired.hosts[1]!, false), false, 'the wire: eth1 is connected after the start')
  t.equal(canRouteAtStart(twoHosts.hosts[0]!, true), false, "a user's image: its command is its own")
})

t.test('parseRoutesReport: the first line, once complete', async (t) => {
  t.equal(parseRoutesReport('tcplab-routes 0'), undefined, 'no newline yet')
  t.same(parseRoutesReport('tcplab-routes 0 \n'), { exitCode: 0, errors: '' })
  t.same(parseRoutesReport('tcplab-routes 2 Error: Nexthop has invalid gateway. \n'), { exitCode: 2, errors: 'Error: Nexthop has invalid gateway.' })
  t.same(parseRoutesReport('sh: 1: ip: not found\n'), { exitCode: -1, errors: 'unexpected output: sh: 1: ip: not found' })
})

/** Run the start command with `ip` replaced by `ipScript` and `sleep` by one that records its argv and exits. */
function runStartCmd(cmd: string[], ipScript: string): { stdout: string; stderr: string; batch: string; sleep: string } {
  const dir = mkdtempSync(join(tmpdir(), 'tcplab-routes-'))
  try {
    writeFileSync(join(dir, 'ip'), `#!/bin/sh\ncat > "${dir}/batch"\n${ipScript}\n`)
    writeFileSync(join(dir, 'sleep'), `#!/bin/sh\necho "$@" > "${dir}/sleep.args"\n`)
    chmodSync(join(dir, 'ip'), 0o755)
    chmodSync(join(dir, 'sleep'), 0o755)
    const [sh, ...args] = cmd as [string, ...string[]]
    const r = spawnSync(sh, args, { env: { PATH: `${dir}:/usr/bin:/bin` }, encoding: 'utf8' })
    const read = (f: string): string => {
      try {
        return readFileSync(join(dir, f), 'utf8')
      } catch {
        return ''
      }
    }
    return { stdout: r.stdout, stderr: r.stderr, batch: read('batch'), sleep: read('sleep.args') }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

t.test('the start command: ip reads the batch, one report line, then sleep infinity', async (t) => {
  const hp = wired.hosts[0]!
  const cmd = routesAtStartCmd(hp)
  t.equal(cmd[0], 'sh')
  t.equal(cmd.at(-1), routeBatch(hp), 'the batch is an argument, not in the environment every lab command inherits')
  const ok = runStartCmd(cmd, 'exit 0')
  t.equal(ok.batch.trimEnd(), routeBatch(hp).trimEnd(), 'ip -batch gets the batch (ip skips the blank line the here-document adds)')
  t.equal(ok.stdout, 'tcplab-routes 0 \n')
  t.same(parseRoutesReport(ok.stdout), { exitCode: 0, errors: '' })
  t.equal(ok.sleep, 'infinity\n', 'then it becomes the image\'s `sleep infinity`')
  t.equal(ok.stderr, '')
})

t.test('the start command: a failing ip is reported with its messages on one line', async (t) => {
  const bad = runStartCmd(routesAtStartCmd(wired.hosts[0]!), 'echo "Error: Nexthop has invalid gateway." >&2\necho "Command failed -:2" >&2\nexit 1')
  t.same(parseRoutesReport(bad.stdout), { exitCode: 1, errors: 'Error: Nexthop has invalid gateway. Command failed -:2' })
  t.equal(bad.sleep, 'infinity\n', 'the host still becomes sleep (the backend tears it down)')
})
