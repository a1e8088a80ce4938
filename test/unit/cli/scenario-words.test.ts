// Completion's scenario names and tags, read from the files' lines
// (cli/scenario-words.ts): the same as the YAML parser gives, for every
// shipped scenario and every scenario fixture; read from the lines for every
// shipped one (that is what keeps Tab fast); and whatever the lines cannot
// tell for sure goes to the parser.

import t from 'tap'
import { readFileSync, readdirSync, statSync } from 'node:fs'
import path from 'node:path'
import { extractScenarioWords, parseScenarioWords, readScenarioWords } from '../../../src/cli/scenario-words.js'

/** The regular .yaml files under dir (not the hostile fixtures: dev-zero.yaml is /dev/zero). */
const yamlFiles = (dir: string): string[] =>
  readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((e) => /\.ya?ml$/.test(e)).map((e) => path.join(dir, e)).filter((f) => statSync(f).isFile() && statSync(f).size < 1 << 20).sort()

t.test('every shipped scenario: read from its lines, the same as the parser', async (t) => {
  const files = yamlFiles('scenarios')
  t.ok(files.length >= 30, `${files.length} shipped scenarios`)
  for (const f of files) {
    const text = readFileSync(f, 'utf8')
    const fromLines = extractScenarioWords(text)
    t.ok(fromLines, `${f}: read from its lines (no parser needed)`)
    t.same(fromLines, await parseScenarioWords(text), `${f}: ${fromLines?.name} [${fromLines?.tags.join(', ')}]`)
  }
})

t.test('every scenario fixture: the lines agree with the parser, or leave it to the parser', async (t) => {
  const files = [...yamlFiles('test/fixtures'), ...yamlFiles('bench/scenarios')]
  let fromLinesCount = 0
  for (const f of files) {
    const text = readFileSync(f, 'utf8')
    const fromLines = extractScenarioWords(text)
    if (fromLines === undefined) continue
    fromLinesCount++
    const parsed = await parseScenarioWords(text)
    // A file whose YAML is broken past its name (bad-inputs, bad-yaml): the parser refuses it; the lines,
    // which do not read that far, still give its name (run then names the error at file:line:col).
    if (parsed === undefined) t.match(text, new RegExp(`^name: *${fromLines.name}\\b`, 'm'), `${f}: refused by the parser; its name as written`)
    else t.same(fromLines, parsed, f)
  }
  t.ok(fromLinesCount > 10, `${fromLinesCount} of ${files.length} read from their lines`)
})

t.test('forms the lines read, each as the parser reads it', async (t) => {
  const cases = [
    'name: a-b_c.1\ntags: [x, y]\n',
    'name: a # the name\ntags: [x, y] # two\n',
    "name: 'quoted'\ntags: [\"q\", 'r', s,]\n",
    'name: a\ntags:\n  - x\n  # a comment\n  - y\nhosts: {}\n',
    'name: a\ntags:\n- x\n- y\n',
    '# comment first\n\nname: a\ntags: []\n',
    'title: t\nname: a\n', // no tags
    'name: 2026-12-07\n', // a string in YAML 1.2
    'namespace: x\nname: a\n',
    'explain: |\n  name: not this\nname: a\n', // an indented line inside a block scalar
  ]
  for (const text of cases) {
    const fromLines = extractScenarioWords(text)
    t.ok(fromLines, `read from the lines: ${JSON.stringify(text)}`)
    t.same(fromLines, await parseScenarioWords(text), JSON.stringify(text))
  }
})

t.test('what the lines cannot tell goes to the parser, which decides', async (t) => {
  const cases: Array<[string, { name: string; tags: string[] } | undefined]> = [
    ['name: "a\\u0062"\n', { name: 'ab', tags: [] }], // an escape
    ['name: 12\n', undefined], // a number, not a name
    ['name: true\n', undefined],
    ['name: null\n', undefined],
    ['name: a#b\n', { name: 'a#b', tags: [] }], // not a comment without a space before it
    ['name:\n  folded\n', { name: 'folded', tags: [] }],
    ['{ name: flow, tags: [a] }\n', { name: 'flow', tags: ['a'] }],
    ['---\nname: a\n---\nname: b\n', undefined], // several documents: the parser refuses them
    ['name: a\nname: b\n', undefined], // a duplicate key: the parser refuses it
    ['"name": a\n', { name: 'a', tags: [] }],
    ['name: &n a\ntags: [*n]\n', { name: 'a', tags: ['a'] }],
    ['name: a\ntags: [x, [y]]\n', { name: 'a', tags: ['x'] }],
    ['name: a\ntags:\n  - x: 1\n', { name: 'a', tags: [] }],
    ['name: a b\n', { name: 'a b', tags: [] }],
    ['name: a\ntags: [x y]\n', { name: 'a', tags: ['x y'] }],
    ['name: a\n\ttags: [x]\n', undefined], // a tab: the parser refuses it
  ]
  for (const [text, parsed] of cases) {
    t.equal(extractScenarioWords(text), undefined, `not read from the lines: ${JSON.stringify(text)}`)
    t.same(await parseScenarioWords(text), parsed, `the parser: ${JSON.stringify(text)}`)
  }
})

t.test('readScenarioWords: a directory of both kinds, and a missing one', async (t) => {
  const { mkdtempSync, writeFileSync, mkdirSync } = await import('node:fs')
  const { tmpdir } = await import('node:os')
  const dir = mkdtempSync(path.join(tmpdir(), 'tcplab-words-'))
  t.teardown(async () => (await import('node:fs')).rmSync(dir, { recursive: true, force: true }))
  mkdirSync(path.join(dir, 'sub'))
  writeFileSync(path.join(dir, 'a.yaml'), 'name: plain\ntags: [p]\n')
  writeFileSync(path.join(dir, 'sub', 'b.yml'), '{ name: flow, tags: [f] }\n')
  writeFileSync(path.join(dir, 'c.yaml'), 'name: [not, a, name]\n')
  writeFileSync(path.join(dir, 'notes.txt'), 'name: ignored\n')
  // The loader's hostile inputs: an alias bomb (refused within the alias limit, not expanded), /dev/zero, a file over 1 MiB.
  writeFileSync(path.join(dir, 'bomb.yaml'), `name: bomb\n${readFileSync('test/fixtures/bad-inputs/yaml-alias-bomb.yaml', 'utf8').replace(/^#.*\n/gm, '')}`)
  const { symlinkSync } = await import('node:fs')
  symlinkSync('/dev/zero', path.join(dir, 'zero.yaml')) // as test/fixtures/bad-inputs/dev-zero.yaml: not read
  writeFileSync(path.join(dir, 'big.yaml'), `name: big\n# ${'x'.repeat(1 << 20)}\n`) // more than the loader takes
  t.same(await readScenarioWords(dir), [{ name: 'plain', tags: ['p'] }, { name: 'bomb', tags: [] }, { name: 'flow', tags: ['f'] }], '/dev/zero, a big file and a name that is a list are left out; the bomb completes by its name line (its aliases are never expanded)')
  t.same(await readScenarioWords(path.join(dir, 'missing')), [])
})
