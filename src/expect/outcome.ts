// What an evaluator returns; index.ts turns it into an ExpectationResult.

export interface Outcome {
  pass: boolean
  expected: string
  measured: string
  t?: number | undefined
  deltaMs?: number | undefined
  toleranceMs?: number | undefined
  reason?: string | undefined
}
