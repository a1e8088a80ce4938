// The committed JSON Schema (what editors use through the yaml-language-server
// comment in every scenario) is exactly what the zod schema generates: a change
// to the schema without `make schema` fails here. A test that can fail: change
// any description in src/ and this fails until the file is regenerated.

import t from 'tap'
import { readFileSync } from 'node:fs'
import { scenarioJsonSchema } from '../../../src/scenario/json-schema.js'

t.test('schema/scenario.schema.json is generated from the zod schema (make schema)', async (t) => {
  const committed = readFileSync(new URL('../../../schema/scenario.schema.json', import.meta.url), 'utf8')
  const generated = scenarioJsonSchema()
  t.ok(committed === generated, 'the committed schema is up to date: run `make schema`')
  const props = (JSON.parse(committed) as { properties?: Record<string, unknown> }).properties ?? {}
  t.ok('sockets' in props, 'sockets: (names for command endpoints) is in the schema')
})
