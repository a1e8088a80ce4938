// Timelines recorded for the packet-field, value, aggregate and trend tests
// (test/fixtures/fields/<scenario>/, see its README): loaded like the seed
// timelines of timeline-fixture.ts. Not a test file itself.

import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { ScenarioVerdict } from '../../../src/expect/index.js'
import { parseJsonl } from '../../../src/recorder/timeline.js'
import { hostAddresses, type Fixture, type FixtureEnv, type FixtureName } from './timeline-fixture.js'

const FIELDS = join(dirname(fileURLToPath(import.meta.url)), '../../fixtures/fields')

export type FieldsFixtureName = 'keepalive' | 'zero-window' | 'syn-sent-nonblock'

/** Load one of test/fixtures/fields/ as a Fixture (for contextOf). */
export function loadFieldsFixture(name: FieldsFixtureName): Fixture {
  const dir = join(FIELDS, name)
  const records = parseJsonl(readFileSync(join(dir, 'records.jsonl'), 'utf8'))
  const env = JSON.parse(readFileSync(join(dir, 'env.json'), 'utf8')) as FixtureEnv
  const verdict = JSON.parse(readFileSync(join(dir, 'verdict.json'), 'utf8')) as ScenarioVerdict
  return { name: name as unknown as FixtureName, records, env, verdict, hosts: hostAddresses(records) }
}
