import t from 'tap'
import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { readRunResults } from '../../../src/report/results.js'
import { renderJunit } from '../../../src/report/junit.js'
import type { ScenarioVerdict } from '../../../src/expect/verdict.js'
import { RUN_LINEAR0, normalise } from './runs.js'

const run = readRunResults(RUN_LINEAR0, { records: false })
const verdicts = run.scenarios.map((s) => s.verdict)

/** Volatile values of a JUnit document: times and lab ids. */
function normaliseJunit(xml: string): string {
  return normalise(xml).replace(/time="[\d.]+"/g, 'time="<s>"').replace(/timestamp="[^"]*"/g, 'timestamp="<date>"').replace(/"labId" value="\w+"/g, '"labId" value="<id>"')
}

const nasty: ScenarioVerdict = {
  name: 'nasty', file: 'x.yaml', title: 'a <title> & "quotes"', status: 'error', backend: 'netns', startedAt: '2026-01-01T00:00:00.000Z', durationMs: 5,
  results: [],
  error: { code: 'E_STEP', message: 'nc printed \u0001\u001b[31mred\u001b[0m ]]> and <tags> & stuff\nsecond line', hint: 'fix "it"', exitCode: 1 },
}
const nastyFail: ScenarioVerdict = {
  ...nasty, name: 'nasty-fail', status: 'fail', error: undefined,
  results: [{ index: 0, kind: 'process', status: 'fail', description: 'prints <ok> & "done"', expected: 'stdout ~ /a]]>b/', measured: 'got \u0007bell\ud800 lone surrogate', line: 3, col: 5, deltaMs: -12.5, toleranceMs: 100, t: 1.5 }],
}

t.test('one testcase per expectation, failure text with measured vs expected', async (t) => {
  const xml = renderJunit(run.summary, verdicts, { properties: { kernel: '6.18' } })
  t.matchSnapshot(normaliseJunit(xml), 'junit of the tcp_syn_linear_timeouts=0 run')
  t.equal((xml.match(/<testcase /g) ?? []).length, verdicts.reduce((n, v) => n + v.results.length, 0))
  t.match(xml, /<failure message="expected counter drop-syn on server: packets = 5; measured packets=3" type="counter">/)
  t.match(xml, /<skipped message="applies to kernels without net.ipv4.tcp_syn_linear_timeouts"\/>/)
})

t.test('markup and characters XML cannot carry are escaped', async (t) => {
  const xml = renderJunit(undefined, [nasty, nastyFail])
  t.notMatch(xml, /[\u0000-\u0008\u000B\u000C\u000E-\u001F]/, 'no control characters')
  t.notMatch(xml, /<tags>|<ok>|<title>/, 'no markup leaks')
  t.match(xml, /&lt;tags&gt; &amp; stuff/)
  t.match(xml, /<error message="nc printed \uFFFD\uFFFD\[31mred\uFFFD\[0m \]\]&gt; and &lt;tags&gt; &amp; stuff" type="E_STEP">/)
  t.match(xml, /hint: fix &quot;it&quot;/)
  t.match(xml, /got \uFFFDbell\uFFFD lone surrogate/)
})

/** The JUnit consumer of Debian's python3-junitparser, if installed. */
const PYTHON = '/usr/bin/python3'
const hasJunitparser = existsSync(PYTHON) && spawnSync(PYTHON, ['-c', 'import junitparser'], { encoding: 'utf8' }).status === 0

t.test('a JUnit consumer reads it (python3-junitparser)', { skip: hasJunitparser ? false : 'python3-junitparser is not installed (apt-get install python3-junitparser)' }, async (t) => {
  const tmp = mkdtempSync(path.join(tmpdir(), 'tcplab-junit-'))
  t.teardown(() => rmSync(tmp, { recursive: true, force: true }))
  const file = path.join(tmp, 'junit.xml')
  writeFileSync(file, renderJunit(run.summary, [...verdicts, nasty, nastyFail]))
  const script = [
    'import json, sys',
    'from junitparser import JUnitXml',
    'x = JUnitXml.fromfile(sys.argv[1])',
    'out = []',
    'for s in x:',
    '    cases = []',
    '    for c in s:',
    '        cases.append([c.name, [[r._tag, r.message, r.text] for r in c.result]])',
    '    out.append({"name": s.name, "tests": s.tests, "failures": s.failures, "errors": s.errors, "skipped": s.skipped, "cases": cases})',
    'print(json.dumps(out))',
  ].join('\n')
  const r = spawnSync(PYTHON, ['-c', script, file], { encoding: 'utf8' })
  t.equal(r.status, 0, r.stderr)
  const suites = JSON.parse(r.stdout) as Array<{ name: string; tests: number; failures: number; errors: number; skipped: number; cases: Array<[string, Array<[string, string | null, string | null]>]> }>
  const syn = suites.find((s) => s.name === 'seed-syn-drop-timeout')
  t.match(syn, { tests: 8, failures: 3, errors: 0, skipped: 3 })
  const failure = syn?.cases.find(([name]) => name.startsWith('#7'))?.[1][0]
  t.equal(failure?.[0], 'failure')
  t.match(failure?.[2] ?? '', /expected: counter drop-syn on server: packets = 5\nmeasured: packets=3/)
  t.match(suites.find((s) => s.name === 'nasty'), { errors: 1, tests: 1 })
  t.match(suites.find((s) => s.name === 'nasty-fail')?.cases[0]?.[1][0]?.[1] ?? '', /prints|stdout ~ \/a\]\]>b\//)
})
