// The JSON Schema of scenario files, generated from the zod schema, for editors
// (`# yaml-language-server: $schema=...` at the top of each scenario).
import { z } from 'zod'
import { Scenario } from './schema.js'

/** The JSON Schema (draft 2020-12) of the scenario format, as text. */
export function scenarioJsonSchema(): string {
  const schema = z.toJSONSchema(Scenario, {
    io: 'input',
    unrepresentable: 'any',
    target: 'draft-2020-12',
    // zod drops `examples` of anything that transforms (durations, sysctl values) in the input schema, as it
    // takes them for output values; ours are written as a scenario file writes them, so they are kept.
    override: (ctx) => {
      const examples = z.globalRegistry.get(ctx.zodSchema)?.examples
      if (examples !== undefined && ctx.jsonSchema.examples === undefined) ctx.jsonSchema.examples = examples as z.core.JSONSchema.JSONSchema['examples']
    },
  })
  return `${JSON.stringify({ ...schema, $id: 'https://tcplab.dev/schema/scenario.schema.json', title: 'tcplab scenario' }, null, 2)}\n`
}
