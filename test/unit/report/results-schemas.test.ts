// schema/summary.schema.json and schema/verdict.schema.json against every recorded
// results file under test/fixtures (real runs: netns, docker daemons, shards, a
// merge, interrupted scenarios): a field the runner writes and the schema does not
// know fails here (additionalProperties is false throughout), and so does a wrong type.

import { readdirSync, readFileSync, statSync } from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { Ajv2020 } from 'ajv/dist/2020.js'

const FIXTURES = 'test/fixtures'

function filesNamed(dir: string, name: string): string[] {
  return readdirSync(dir).flatMap((e) => {
    const p = path.join(dir, e)
    const st = statSync(p, { throwIfNoEntry: false })
    if (st?.isDirectory()) return filesNamed(p, name)
    return e === name && st?.isFile() ? [p] : []
  })
}

const ajv = new Ajv2020({ strict: false, allErrors: true })
const validator = (name: string): ReturnType<Ajv2020['compile']> => ajv.compile(JSON.parse(readFileSync(`schema/${name}.schema.json`, 'utf8')) as object)
const summary = validator('summary')
const verdict = validator('verdict')
/** A results file; those recorded before formatVersion existed are format 1 (the readers take them so). */
const read = (f: string): Record<string, unknown> => ({ formatVersion: 1, ...(JSON.parse(readFileSync(f, 'utf8')) as Record<string, unknown>) })

t.test('every recorded summary.json matches schema/summary.schema.json', async (t) => {
  const files = filesNamed(FIXTURES, 'summary.json')
  t.ok(files.length >= 6, `${files.length} summaries`)
  for (const f of files) t.ok(summary(read(f)), `${f} ${ajv.errorsText(summary.errors)}`)
  const sharded = files.map(read).find((s) => s.shard !== undefined)
  t.ok(sharded, 'a sharded run is among them')
  t.notOk(summary({ ...sharded, shard: { ...(sharded?.shard as object), index: 0 } }), 'the schema can say no (shard index 0)')
  t.notOk(summary({ ...sharded, shards: 2 }), '... (a field it does not know)')
})

t.test('every recorded verdict.json matches schema/verdict.schema.json', async (t) => {
  const files = filesNamed(FIXTURES, 'verdict.json')
  t.ok(files.length >= 20, `${files.length} verdicts`)
  for (const f of files) t.ok(verdict(read(f)), `${f} ${ajv.errorsText(verdict.errors)}`)
  const withMark = files.map(read).find((v) => (v.results as Array<Record<string, unknown>>).some((r) => r.mark !== undefined))
  t.ok(withMark, 'a verdict whose results carry a mark is among them')
  const v = files.map(read)[0] as Record<string, unknown>
  const results = v.results as Array<Record<string, unknown>>
  t.notOk(verdict({ ...v, results: [{ ...results[0], mark: { name: 'x' } }] }), 'the schema can say no (a mark without its moments)')
  t.notOk(verdict({ ...v, status: 'passed' }), '... (a status it does not know)')
})
