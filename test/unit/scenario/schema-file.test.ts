// The committed JSON Schema (what editors use through the yaml-language-server
// comment in every scenario) is exactly what the zod schema generates: a change
// to the schema without `make schema` fails here (`make test` runs test/unit).
// An independent validator (ajv, draft 2020-12) accepts every shipped scenario
// with it and rejects broken ones; every property has a description (what
// editors show on hover) and examples, and every example is valid where it sits.

import t from 'tap'
import { readFileSync, readdirSync } from 'node:fs'
import path from 'node:path'
import { parse } from 'yaml'
import { Ajv2020 } from 'ajv/dist/2020.js'
import { scenarioJsonSchema } from '../../../src/scenario/json-schema.js'

const SCHEMA_FILE = new URL('../../../schema/scenario.schema.json', import.meta.url)
const committed = readFileSync(SCHEMA_FILE, 'utf8')
const schema = JSON.parse(committed) as Record<string, unknown>

/** The first line where two texts differ (1-based), or undefined when they are equal. */
function firstDifference(a: string, b: string): { line: number; committed: string; generated: string } | undefined {
  if (a === b) return undefined
  const la = a.split('\n')
  const lb = b.split('\n')
  const i = la.findIndex((l, k) => l !== lb[k])
  const line = i < 0 ? la.length : i
  return { line: line + 1, committed: la[line] ?? '(end of file)', generated: lb[line] ?? '(end of file)' }
}

t.test('schema/scenario.schema.json is generated from the zod schema (make schema)', async (t) => {
  const drift = firstDifference(committed, scenarioJsonSchema())
  t.equal(drift, undefined, `the committed schema is up to date: run \`make schema\`${drift ? ` (line ${drift.line}: committed ${drift.committed.trim()} / generated ${drift.generated.trim()})` : ''}`)
  // The check itself fails on any drift: one changed description, one property fewer.
  const generated = scenarioJsonSchema()
  t.ok(firstDifference(generated.replace('"sets on every host"', '"x"').replace('sysctls set on every host', 'sysctls set on each host'), generated), 'a changed description is drift')
  const fewer = JSON.parse(generated) as { properties: Record<string, unknown> }
  delete fewer.properties.timeout
  t.ok(firstDifference(`${JSON.stringify(fewer, null, 2)}\n`, generated), 'a missing property is drift')
  const props = (schema as { properties?: Record<string, unknown> }).properties ?? {}
  t.ok('sockets' in props, 'sockets: (names for command endpoints) is in the schema')
  t.ok('timeout' in props, 'timeout: (a scenario\'s time limit) is in the schema')
})

/** Every YAML file under dir. */
function yamlFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true }).map(String).filter((f) => /\.ya?ml$/.test(f)).map((f) => path.join(dir, f)).sort()
}

t.test('ajv (an independent validator) accepts every shipped scenario with the committed schema', async (t) => {
  const ajv = new Ajv2020({ allErrors: true, strict: false })
  const validate = ajv.compile(schema)
  const files = yamlFiles('scenarios')
  t.ok(files.length >= 38, `${files.length} shipped scenarios`)
  for (const f of files) {
    const ok = validate(parse(readFileSync(f, 'utf8')))
    t.ok(ok, `${f}${ok ? '' : `: ${ajv.errorsText(validate.errors)}`}`)
  }
  // And it can say no: scenarios the loader rejects for their shape.
  t.notOk(validate(parse(readFileSync('test/fixtures/scenarios/bad-keys.yaml', 'utf8'))), 'bad-keys.yaml (unknown keys) is rejected')
  const good = parse(readFileSync(files[0] as string, 'utf8')) as Record<string, unknown>
  t.notOk(validate({ ...good, timeout: true }), 'timeout: true is rejected')
  t.notOk(validate({ ...good, steps: undefined }), 'a scenario without steps is rejected')
  t.notOk(validate({ ...good, expect: [{ ss: { match: { state: 'ESTAB' }, quantifier: 'sometimes' } }] }), 'an unknown quantifier is rejected')
})

interface Found { path: string; node: Record<string, unknown> }

/** Every property schema in the JSON Schema, with its path. */
function properties(node: unknown, at = '$'): Found[] {
  if (node === null || typeof node !== 'object') return []
  if (Array.isArray(node)) return node.flatMap((n, i) => properties(n, `${at}[${i}]`))
  const out: Found[] = []
  for (const [k, v] of Object.entries(node)) {
    if (k === 'properties' && v && typeof v === 'object') {
      for (const [name, p] of Object.entries(v as Record<string, unknown>)) {
        out.push({ path: `${at}.${name}`, node: p as Record<string, unknown> })
        out.push(...properties(p, `${at}.${name}`))
      }
    } else if (k !== 'examples' && k !== 'default') out.push(...properties(v, `${at}/${k}`))
  }
  return out
}

t.test('every property has a description and examples (what editors show), and every example is valid there', async (t) => {
  const all = properties(schema)
  t.ok(all.length > 250, `${all.length} properties`)
  const noDescription = all.filter((p) => typeof p.node.description !== 'string' || p.node.description.length === 0).map((p) => p.path)
  t.same(noDescription, [], 'no property lacks a description')
  const noExamples = all.filter((p) => !Array.isArray(p.node.examples) || p.node.examples.length === 0).map((p) => p.path)
  t.same(noExamples, [], 'no property lacks examples')
  const ajv = new Ajv2020({ strict: false })
  const invalid: string[] = []
  for (const p of all) {
    const check = ajv.compile({ ...p.node, $schema: undefined })
    for (const ex of (p.node.examples as unknown[] | undefined) ?? []) if (!check(ex)) invalid.push(`${p.path}: ${JSON.stringify(ex)} (${ajv.errorsText(check.errors)})`)
  }
  t.same(invalid, [], 'every example is valid against its own property schema')
  // The check can fail: a property without a description is found.
  t.same(properties({ properties: { a: { description: 'x', examples: [1] }, b: { type: 'string' } } }).filter((p) => !p.node.description).map((p) => p.path), ['$.b'])
})
