// iptables rules as tcplab adds, deletes and counts them, checked against what a
// real iptables accepted and printed (test/fixtures/iptables, see its README).

import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { addRule, buildRuleArgv, deleteRule, parseSaveCounters, readRuleCounters, toDeleteArgv, type IptablesCmd, type RuleCounter } from '../../../src/faults/iptables.js'
import type { ExecOptions, ExecResult, Host, Proc } from '../../../src/lab/types.js'
import { ProcessError, StepError } from '../../../src/util/errors.js'

const DIR = join(dirname(fileURLToPath(import.meta.url)), '../../fixtures/iptables')
const read = (f: string): string => readFileSync(join(DIR, f), 'utf8')

interface RecordedRule {
  cmd: IptablesCmd
  name: string
  table?: string
  rule: string | string[]
  argv: string[]
  deleteArgv: string[]
}
const recorded = JSON.parse(read('rules.json')) as { iptables: string; rules: RecordedRule[] }
const rejected = JSON.parse(read('rejected-rule.json')) as { argv: string[]; exitCode: number; stderr: string }

/** The `/* tcplab:NAME *\/` rows of `iptables -L -v -x -n`: an independent reading of the same counters. */
function parseListCounters(text: string): RuleCounter[] {
  const out: RuleCounter[] = []
  for (const line of text.split('\n')) {
    const m = /^\s*(\d+)\s+(\d+)\s.*\/\* tcplab:(\S+) \*\//.exec(line)
    if (m) out.push({ name: m[3] as string, packets: Number(m[1]), bytes: Number(m[2]) })
  }
  return out
}
const byName = (list: RuleCounter[]): RuleCounter[] => [...list].sort((a, b) => a.name.localeCompare(b.name))

t.test('buildRuleArgv gives the argv real iptables accepted', async (t) => {
  t.equal(recorded.rules.length, 7)
  t.match(recorded.iptables, /^iptables v1\.8/)
  for (const r of recorded.rules) {
    t.same(buildRuleArgv(r.rule, r.name, r.table), r.argv, `${r.cmd} ${r.name}`)
  }
  t.same(buildRuleArgv('-A INPUT -p tcp --dport 8000 --syn -j DROP', 'drop-syn'),
    ['-A', 'INPUT', '-p', 'tcp', '--dport', '8000', '--syn', '-j', 'DROP', '-m', 'comment', '--comment', 'tcplab:drop-syn'])
  t.same(buildRuleArgv('-A OUTPUT -j ACCEPT', 'm', 'mangle').slice(0, 3), ['-t', 'mangle', '-A'], 'the table goes first')
  t.same(buildRuleArgv(`-I INPUT -m comment --comment "two words" -j ACCEPT`, 'q'),
    ['-I', 'INPUT', '-m', 'comment', '--comment', 'two words', '-j', 'ACCEPT', '-m', 'comment', '--comment', 'tcplab:q'], 'quotes are honoured, no shell involved')
  const argv = ['-A', 'INPUT', '-j', 'DROP']
  buildRuleArgv(argv, 'x')
  t.same(argv, ['-A', 'INPUT', '-j', 'DROP'], 'the caller\'s argv is not modified')

  for (const bad of ['-D INPUT -j DROP', '-P INPUT DROP', '-F', 'INPUT -j DROP']) {
    t.throws(() => buildRuleArgv(bad, 'x'), StepError, bad)
  }
  t.throws(() => buildRuleArgv('-P INPUT DROP', 'x'), { message: /must add a rule \(-A CHAIN or -I CHAIN\)/ })
})

t.test('toDeleteArgv gives the argv real iptables deleted the rule with', async (t) => {
  for (const r of recorded.rules) t.same(toDeleteArgv(r.argv), r.deleteArgv, `${r.cmd} ${r.name}`)
  t.same(toDeleteArgv(['-I', 'INPUT', '1', '-p', 'tcp', '-j', 'DROP']), ['-D', 'INPUT', '-p', 'tcp', '-j', 'DROP'], 'the -I position is dropped')
  t.same(toDeleteArgv(['--insert', 'INPUT', '-p', 'tcp']), ['-D', 'INPUT', '-p', 'tcp'])
  t.same(toDeleteArgv(['--append', 'OUTPUT', '-j', 'ACCEPT']), ['-D', 'OUTPUT', '-j', 'ACCEPT'])
  t.same(toDeleteArgv(['-t', 'mangle', '-A', 'OUTPUT', '-j', 'ACCEPT']), ['-t', 'mangle', '-D', 'OUTPUT', '-j', 'ACCEPT'])
  t.same(toDeleteArgv(['-I', 'INPUT', '--dport', '8000']), ['-D', 'INPUT', '--dport', '8000'], 'a number that is an option value stays')
  // After every delete, no tcplab rule is left and the user's rules are untouched.
  const after = read('iptables-save-c-after-delete.txt')
  t.same(parseSaveCounters(after), [])
  t.same(parseSaveCounters(read('ip6tables-save-c-after-delete.txt')), [])
  t.equal(after.split('\n').filter((l) => l.startsWith('[')).length, 3, 'the three user rules remain')
})

t.test('parseSaveCounters reads every tcplab rule of iptables-save -c and nothing else', async (t) => {
  const v4 = parseSaveCounters(read('iptables-save-c.txt'))
  t.same(v4, [
    { name: 'mark_9000', packets: 3, bytes: 180 },
    { name: 'rst-9000', packets: 3, bytes: 180 },
    { name: 'drop-syn', packets: 2, bytes: 120 },
    { name: 'drop-acks', packets: 0, bytes: 0 },
    { name: 'every-2nd', packets: 2, bytes: 120 },
  ], 'file order (mangle, then filter); zero counters included; user rules and "not tcplab:" comments left out')
  t.same(byName(v4), byName(parseListCounters(read('iptables-L.txt'))), 'the same numbers as iptables -L -v -x prints')
  const v6 = parseSaveCounters(read('ip6tables-save-c.txt'))
  t.same(v6, [{ name: 'rst6', packets: 1, bytes: 80 }, { name: 'drop-syn6', packets: 2, bytes: 160 }])
  t.same(byName(v6), byName(parseListCounters(read('ip6tables-L.txt'))))

  // Variants of the same line (not from this iptables): an unquoted comment (older
  // iptables-legacy-save), large counters, CRLF line ends.
  t.same(parseSaveCounters('[7:420] -A INPUT -p tcp -m comment --comment tcplab:old -j DROP'), [{ name: 'old', packets: 7, bytes: 420 }])
  t.same(parseSaveCounters('[123456789:987654321012] -A INPUT -m comment --comment "tcplab:big" -j DROP'), [{ name: 'big', packets: 123456789, bytes: 987654321012 }])
  t.same(parseSaveCounters('[1:60] -A INPUT -m comment --comment "tcplab:crlf" -j DROP\r\n'), [{ name: 'crlf', packets: 1, bytes: 60 }])
  t.same(parseSaveCounters(''), [])
  t.same(parseSaveCounters(':INPUT ACCEPT [5:300]\n-A INPUT -m comment --comment "tcplab:nocount" -j DROP'), [], 'no counters without -c')
})

/** A host that records argv and answers like the recorded iptables. */
function fakeHost(answer: (argv: readonly string[]) => ExecResult): { host: Host; calls: string[][] } {
  const calls: string[][] = []
  const host: Host = {
    name: 'server', addr: '198.18.0.2', ifnames: ['eth0'], agentPath: '/x',
    async exec(argv: readonly string[], opts?: ExecOptions): Promise<ExecResult> {
      calls.push([...argv])
      const r = answer(argv)
      if (r.exitCode !== 0 && opts?.reject !== false) {
        throw new ProcessError({ argv, host: 'server', exitCode: r.exitCode, signal: undefined, stderr: r.stderr })
      }
      return r
    },
    spawn(): Proc {
      throw new Error('not used')
    },
  }
  return { host, calls }
}

t.test('addRule / deleteRule / readRuleCounters drive the host with argv arrays', async (t) => {
  const { host, calls } = fakeHost((argv) =>
    argv[0] === 'iptables-save' ? { exitCode: 0, stdout: read('iptables-save-c.txt'), stderr: '' } : { exitCode: 0, stdout: '', stderr: '' })
  const r = recorded.rules[0] as RecordedRule
  const installed = await addRule(host, 'iptables', r.argv, r.name)
  t.same(installed, { cmd: 'iptables', name: 'drop-syn', argv: r.argv })
  await deleteRule(host, installed)
  const counters = await readRuleCounters(host, 'iptables')
  t.same(calls, [['iptables', '-w', ...r.argv], ['iptables', '-w', ...r.deleteArgv], ['iptables-save', '-c']], '-w waits for the xtables lock')
  t.equal(counters.find((c) => c.name === 'drop-syn')?.packets, 2)

  // A rule iptables rejects is the scenario's fault: a StepError (exit 2) with iptables' own words.
  const bad = fakeHost(() => ({ exitCode: rejected.exitCode, stdout: '', stderr: rejected.stderr }))
  const argv = rejected.argv.slice(2)
  const err = await addRule(bad.host, 'iptables', argv, 'bad-port').then(() => undefined, (e: unknown) => e)
  t.ok(err instanceof StepError, 'StepError')
  const e = err as StepError
  t.equal(e.exitCode, 2)
  t.equal(e.message, `iptables rejected the rule on server: iptables ${argv.join(' ')}\n  iptables v1.8.9 (nf_tables): invalid port/service \`99999' specified`)
  t.match(e.hint, /iptables-extensions\(8\)/)
  t.ok(e.cause instanceof ProcessError, 'the cause is kept')
})
