// What an evaluator returns; index.ts turns it into an ExpectationResult.

export interface Outcome {
  pass: boolean
  expected: string
  measured: string
  t?: number | undefined
  deltaMs?: number | undefined
  toleranceMs?: number | undefined
  reason?: string | undefined
  /** The moments the expectation matched (absolute seconds): what its `mark:` names. */
  moments?: readonly number[] | undefined
  /** How its times were dated, when not by the records' own times (states: samples, destroy events). */
  datedBy?: string | undefined
}
