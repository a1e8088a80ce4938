// Live labs on real backends: `tcplab up --until`, `exec`, `step`, `down`,
// `ls` and `gc`, on netns and on docker. Nothing may be left behind: not by
// `down`, and not by an owner killed with SIGKILL (then `gc` collects it).
import t, { type Test } from 'tap'
import { execFileSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { e2eSkipReason, labNamespaces, labProcesses, runCli } from './helpers.js'

const SCENARIO = fileURLToPath(new URL('../fixtures/scenarios/live/live-lab.yaml', import.meta.url))
const skip = e2eSkipReason()

interface LsEntry { name: string; labId: string; pid: number; state: string; next: number; steps: number; alive: boolean }
async function ls(): Promise<LsEntry[]> {
  const r = await runCli(['ls', '--json'])
  return JSON.parse(r.stdout) as LsEntry[]
}
const entry = async (name: string): Promise<LsEntry | undefined> => (await ls()).find((l) => l.name === name)

function dockerLeftovers(labId: string): string {
  return execFileSync('docker', ['ps', '-a', '--filter', `name=tcplab-${labId}-`, '--format', '{{.Names}}'], { encoding: 'utf8' }).trim()
}

function dockerReady(): string | undefined {
  try {
    execFileSync('docker', ['image', 'inspect', 'tcplab-lab:0.1.0'], { stdio: 'ignore' })
    return undefined
  } catch {
    return 'no Docker daemon or no lab image tcplab-lab:0.1.0 (make docker image)'
  }
}

/** up --until 2 / exec / step / down on one backend. */
async function upExecStepDown(tt: Test, backend: 'netns' | 'docker', leftovers: (labId: string) => string): Promise<void> {
  const name = `live-e2e-${backend}-${process.pid}`
  const up = await runCli(['up', SCENARIO, '--until', '2', '--backend', backend, '--name', name], { timeoutMs: 120_000 })
  tt.equal(up.code, 0, `up exits 0\n${up.stderr}`)
  tt.match(up.stdout, /step 0 +server +listen/, 'up says it played the listen ...')
  tt.match(up.stdout, /step 1 +client +connect/, '... and the connect')
  tt.notMatch(up.stdout, /step 2 +client/, 'but not step 2 (--until 2)')
  tt.match(up.stdout, /next: step 2 of 4/, 'and names the next step')
  const e = await entry(name)
  tt.ok(e?.alive && e.state === 'ready' && e.next === 2, 'ls lists it, ready at step 2')
  const labId = e?.labId ?? 'none'
  tt.ok(leftovers(labId) !== '', 'its hosts exist')
  try {
    const ss = await runCli(['exec', name, 'server', '--', 'ss', '-tanH', 'state', 'established'])
    tt.equal(ss.code, 0, 'exec runs ss on the server')
    tt.match(ss.stdout, /:8000\s/, 'and sees the connection made by the prefix')
    const code = await runCli(['exec', name, 'client', '--', 'sh', '-c', 'exit 3'])
    tt.equal(code.code, 3, "exec exits with the command's code")
    const badHost = await runCli(['exec', name, 'nohost', '--', 'true'])
    tt.equal(badHost.code, 2, 'an unknown host is bad input (exit 2)')
    tt.match(badHost.stderr, /no host "nohost".*client, server/, 'naming the hosts there are')

    const st = await runCli(['step', name], { timeoutMs: 60_000 })
    tt.equal(st.code, 0, `step exits 0\n${st.stderr}`)
    tt.match(st.stdout, /step 2 +client +send/, 'step plays step 2 now, not at its 30 s')
    tt.match(st.stdout, /cli sent 5 bytes/, 'and shows what happened')
    tt.match(st.stdout, /next: step 3 of 4/, 'and the next step')
    const st2 = await runCli(['step', name], { timeoutMs: 60_000 })
    tt.match(st2.stdout, /step 3 +client +close/, 'the second step closes')
    tt.match(st2.stdout, /the timeline is played/, 'and the timeline is played')
    const st3 = await runCli(['step', name])
    tt.equal(st3.code, 2, 'stepping past the end is exit 2')
    tt.match(st3.stderr, /nothing left to step/, 'saying so')
  } finally {
    const down = await runCli(['down', name], { timeoutMs: 90_000 })
    tt.equal(down.code, 0, `down exits 0\n${down.stderr}`)
    tt.match(down.stdout, new RegExp(`lab ${name} is down`), 'down says so')
  }
  tt.equal(leftovers(labId), '', 'nothing of the lab is left')
  tt.equal(await entry(name), undefined, 'ls no longer lists it')
}

t.test('live lab on netns', { skip }, async (tt) => {
  await upExecStepDown(tt, 'netns', (labId) => [...labNamespaces([labId]), ...labProcesses([labId])].join('\n'))
})

t.test('gc leaves a live lab up unless --all; a killed owner is collected', { skip }, async (tt) => {
  const name = `live-e2e-gc-${process.pid}`
  const up = await runCli(['up', SCENARIO, '--until', '1', '--name', name], { timeoutMs: 120_000 })
  tt.equal(up.code, 0, `up exits 0\n${up.stderr}`)
  const e = await entry(name)
  const labId = e?.labId ?? 'none'
  const gc = await runCli(['gc', '--backend', 'netns'])
  tt.match(gc.stdout, new RegExp(`left up: live lab ${name}`), 'gc lists the live lab as left up')
  tt.equal(labNamespaces([labId]).length, 2, 'and leaves its namespaces')
  // The owner dies without tearing down: gc collects what it left.
  process.kill(e?.pid ?? -1, 'SIGKILL')
  await new Promise((r) => setTimeout(r, 200))
  tt.equal((await entry(name))?.alive, false, 'ls shows the owner gone')
  const gc2 = await runCli(['gc', '--backend', 'netns'])
  tt.equal(gc2.code, 0, 'gc exits 0')
  tt.match(gc2.stdout, new RegExp(`removed the record of live lab ${name}`), 'gc removes its record')
  tt.same(labNamespaces([labId]), [], 'and its namespaces')
  tt.same(labProcesses([labId]), [], 'and processes')
  tt.equal(await entry(name), undefined, 'ls no longer lists it')
})

t.test('up with bad input creates nothing', { skip }, async (tt) => {
  const before = (await ls()).length
  const r = await runCli(['up', SCENARIO, '--until', '9'])
  tt.equal(r.code, 2, 'exit 2')
  tt.match(r.stderr, /--until 9: the scenario has 4 steps/, 'saying why')
  const r2 = await runCli(['up', SCENARIO, '--until', 'soon'])
  tt.equal(r2.code, 2, 'a bad time is exit 2 too')
  tt.equal((await ls()).length, before, 'no lab was brought up')
})

t.test('live lab on docker', { skip: skip ?? dockerReady() }, async (tt) => {
  await upExecStepDown(tt, 'docker', dockerLeftovers)
})

t.test('no test left a live lab up', { skip }, async (tt) => {
  tt.same((await ls()).filter((l) => l.name.startsWith('live-e2e-')), [], 'no live-e2e lab in ls')
  tt.notOk(existsSync(`/run/tcplab/live/live-e2e-netns-${process.pid}.sock`), 'no socket left')
})
