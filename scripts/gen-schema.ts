// Regenerate schema/scenario.schema.json from the zod schema (make schema).
import { writeFileSync } from 'node:fs'
import { scenarioJsonSchema } from '../src/scenario/json-schema.js'

writeFileSync(new URL('../schema/scenario.schema.json', import.meta.url), scenarioJsonSchema())
console.log('wrote schema/scenario.schema.json')
