// The JSON Schema of scenario files, generated from the zod schema, for editors
// (`# yaml-language-server: $schema=...` at the top of each scenario).
import { z } from 'zod'
import { Scenario } from './schema.js'

/** The JSON Schema (draft 2020-12) of the scenario format, as text. */
export function scenarioJsonSchema(): string {
  const schema = z.toJSONSchema(Scenario, { io: 'input', unrepresentable: 'any', target: 'draft-2020-12' })
  return `${JSON.stringify({ ...schema, $id: 'https://tcplab.dev/schema/scenario.schema.json', title: 'tcplab scenario' }, null, 2)}\n`
}
