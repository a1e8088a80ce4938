// The bad-input corpus (test/fixtures/bad-inputs/, one case per file, each
// saying what it tests and what the error must say) plus the cases a file
// cannot hold: /dev/zero, a FIFO, /proc/self/environ, a directory named
// *.yaml, a generated 50 MB file, an empty directory. Each goes through
// `tcplab validate` (which on root also checks in a throwaway namespace): the
// corpus files through the CLI's own command and error printing in this
// process (a node start per case costs 2-30 s on a loaded CI machine), the
// special cases and a sample of the corpus through the real CLI process. Each must:
//   - exit 2, naming file:line:col, with no stack trace and no input beyond an excerpt;
//   - create nothing (no results, no namespace, no lab state file of its own);
//   - leave the host as it was: iptables-save, nft list ruleset, net.* sysctls,
//     namespaces and links (compared before and after the whole corpus, leaving
//     out what other tcplab processes on the machine own at that moment).

import { execFileSync, spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { Writable } from 'node:stream'
import { CLI, e2eSkipReason, runCli, tempDir, type CliResult } from './helpers.js'
import { findCommand } from '../../src/cli/registry.js'
import { invokeCommand } from '../../src/cli/invoke.js'
import { TcplabError, exitCodeOf } from '../../src/util/errors.js'

/** `tcplab validate FILE` in this process: the command, then main.ts's printing and exit code. */
async function validateInProcess(file: string): Promise<CliResult> {
  let stdout = ''
  let stderr = ''
  const sink = (add: (s: string) => void): Writable => new Writable({ write(chunk, _enc, cb) { add(String(chunk)); cb() } })
  let code: number
  try {
    code = await invokeCommand(findCommand('validate') as NonNullable<ReturnType<typeof findCommand>>, [file], {
      out: sink((s) => (stdout += s)), err: sink((s) => (stderr += s)),
    })
  } catch (e: unknown) {
    stderr += e instanceof TcplabError ? `tcplab: ${e.format()}\n` : `tcplab: internal error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`
    code = exitCodeOf(e)
  }
  return { code, signal: null, stdout, stderr }
}

const DIR = 'test/fixtures/bad-inputs'

interface Case {
  file: string
  why: string
  expect?: RegExp | undefined
  /** Through the real CLI process (default: in this process). */
  cli?: boolean | undefined
}

/** Corpus files also run through the real CLI process: one of each kind. */
const THROUGH_CLI = new Set(['dev-zero.yaml', 'proc-self-environ.yaml', 'yaml-deep-flow.yaml', 'yaml-alias-bomb.yaml', 'sysctl-hostwide-kernel-panic.yaml', 'iptables-6.yaml'])

function corpusCases(): Case[] {
  return readdirSync(DIR).filter((f) => f.endsWith('.yaml')).sort().map((f) => {
    const file = path.join(DIR, f)
    const text = spawnSync('head', ['-c', '4096', file], { encoding: 'latin1' }).stdout
    const why = /^# tests: (.*)$/m.exec(text)?.[1]
    const exp = /^# expect: (.*)$/m.exec(text)?.[1]
    return { file, why: why ?? SPECIAL[f] ?? '(no comment)', expect: exp ? new RegExp(exp) : undefined, cli: THROUGH_CLI.has(f) }
  })
}

/** Corpus entries that are symlinks (no room for a comment): what they test. */
const SPECIAL: Record<string, string> = {
  'dev-zero.yaml': 'a symlink to /dev/zero: refused as a character device, never read (it used to read until "Invalid string length")',
  'proc-self-environ.yaml': 'a symlink to /proc/self/environ: refused (NUL bytes) without echoing the environment',
}

/** What the host looks like, leaving out what other live tcplab processes and docker own right now. */
function hostState(): Record<string, string> {
  const run = (cmd: string, args: string[]): string => {
    const r = spawnSync(cmd, args, { encoding: 'utf8' })
    return r.status === 0 ? r.stdout : `(${cmd} unavailable)`
  }
  const foreign = /docker|DOCKER|br-[0-9a-f]{12}|veth|tcpl-|tcplab-|cali|^# |^\s*$/
  const keep = (text: string): string => text.split('\n').filter((l) => !foreign.test(l)).join('\n')
  // Counters and per-interface keys of docker's interfaces change under other helpers' labs.
  const volatileSysctl = /conntrack_count|nf_conntrack_expect|\.(veth|br-|docker|tcpl-)|neigh\.|route\.gc|fib_multipath_hash_seed|netfilter\.nf_log|ipv6\.route/
  return {
    iptables: keep(run('iptables-save', [])),
    ip6tables: keep(run('ip6tables-save', [])),
    nft: keep(run('nft', ['list', 'ruleset']).replace(/handle \d+/g, '')),
    sysctls: run('sysctl', ['-a', '-r', '^net\\.']).split('\n').filter((l) => !volatileSysctl.test(l)).sort().join('\n'),
    namespaces: keep(run('ip', ['netns', 'list'])),
    links: keep(run('ip', ['-o', 'link', 'show']).replace(/^\d+: /gm, '').replace(/link\/ether \S+ brd \S+/g, '')),
  }
}

/** Namespaces and lab state files whose lab belongs to `pid` (the CLI process of a case). */
function leftoversOf(pid: number): string[] {
  const out: string[] = []
  const labs = '/run/tcplab/labs'
  for (const f of existsSync(labs) ? readdirSync(labs) : []) {
    try {
      const rec = JSON.parse(readFileSync(path.join(labs, f), 'utf8')) as { pid: number; labId: string }
      if (rec.pid === pid) out.push(`lab state ${f}`)
    } catch {
      // another run's file in the middle of being written
    }
  }
  return out
}

async function runCorpus(): Promise<void> {
  const cases = corpusCases()
  const work = tempDir('tcplab-bad-inputs-')
  const fifo = path.join(work, 'fifo.yaml')
  execFileSync('mkfifo', [fifo])
  mkdirSync(path.join(work, 'dir.yaml', 'inner'), { recursive: true })
  const empty = path.join(work, 'empty')
  mkdirSync(empty)
  const huge = path.join(work, 'huge.yaml')
  execFileSync(process.execPath, [path.join(DIR, 'gen-huge.mjs'), huge, '50'])
  cases.push(
    { file: fifo, why: 'a FIFO: refused without waiting for a writer', expect: /not a regular file \(a FIFO\)/, cli: true },
    { file: huge, why: 'a generated 50 MB file: refused by its size at once (it took 22 s)', expect: /more than the limit of 1048576/, cli: true },
  )
  t.ok(cases.length >= 60, `at least 60 cases (${cases.length})`)
  const before = hostState()
  const namespacesBefore = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })

  // Two at a time: each is a CLI process or, past the schema, a throwaway namespace.
  let next = 0
  let clean = 0
  const one = async (c: Case): Promise<void> => {
    let pid = process.pid
    const startedMs = Date.now()
    const r = c.cli ? await runCli(['validate', c.file], { onSpawn: (child) => (pid = child.pid ?? 0), timeoutMs: 120_000 }) : await validateInProcess(c.file)
    const ms = Date.now() - startedMs
    const name = path.basename(c.file)
    const problems: string[] = []
    if (r.code !== 2) problems.push(`exit ${String(r.code)} (signal ${String(r.signal)})`)
    const where = new RegExp(`${escapeRe(name)}:\\d+:\\d+`)
    if (!where.test(r.stderr)) problems.push('no file:line:col')
    if (/^\s+at |internal error|\n\s+at .*\.js:\d+/m.test(r.stderr)) problems.push('a stack trace')
    if (c.expect && !c.expect.test(r.stderr)) problems.push(`message does not match ${String(c.expect)}`)
    if (r.stderr.length > 4000) problems.push(`message of ${r.stderr.length} characters (echoes the input?)`)
    if (/PATH=|HOME=/.test(r.stderr)) problems.push('echoes the environment')
    if (r.stdout !== '') problems.push(`printed on stdout: ${r.stdout.slice(0, 200)}`)
    // In-process cases share this pid (and run two at a time): theirs are checked once, at the end.
    if (c.cli) problems.push(...leftoversOf(pid))
    if (problems.length === 0) clean++
    t.same(problems, [], `${name}: ${c.why} (${c.cli ? 'CLI, ' : ''}${ms} ms)`, { stderr: r.stderr.slice(0, 1500) })
  }
  await Promise.all(Array.from({ length: 2 }, async () => {
    while (next < cases.length) await one(cases[next++] as Case)
  }))

  // An empty directory: "no scenarios", exit 2 (as run says).
  const e = await runCli(['validate', empty])
  t.equal(e.code, 2, 'validate of an empty directory exits 2')
  t.match(e.stderr, /no scenarios/, 'and says "no scenarios"')
  const d = await runCli(['validate', path.join(work, 'dir.yaml')])
  t.equal(d.code, 2, 'a directory named *.yaml holding no scenario: exit 2')

  t.same(leftoversOf(process.pid), [], 'no lab state left by the in-process cases')
  t.equal(clean, cases.length, `${clean} of ${cases.length} cases clean (100 % required)`)
  const after = hostState()
  for (const k of Object.keys(before)) t.equal(after[k], before[k], `host ${k} unchanged`)
  const namespacesAfter = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })
  const ours = namespacesAfter.split('\n').filter((l) => /-check\b/.test(l) && !namespacesBefore.includes(l))
  t.same(ours, [], 'no scratch namespace left')
  t.notOk(existsSync('results') && readdirSync('results').some((f) => f.includes('bad-input')), 'no results written')
  rmSync(work, { recursive: true, force: true })
  void CLI
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
}

const skip = e2eSkipReason()
if (skip) t.plan(0, skip)
else await runCorpus()
