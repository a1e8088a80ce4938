import { z } from 'zod'
import { Duration, Name, MAX_INT32 } from '../scenario/fields.js'
import { defineSocketAction } from './socket.js'

export const SendAction = z
  .object({
    socket: Name,
    data: z.string().optional(),
    bytes: z.number().int().positive().max(MAX_INT32).optional(),
    count: z.number().int().positive().max(MAX_INT32).optional(),
    every: Duration.optional(),
    untilFull: z.boolean().optional(),
    continueOnError: z.boolean().optional().meta({ description: 'keep repeating after a failed write, like a write loop that ignores errors (ETIMEDOUT, then EPIPE, EPIPE...)' }),
  })
  .strict()

export const send = defineSocketAction({
  name: 'send',
  schema: SendAction,
  doc: '`{ socket: cli, bytes: 1000, count: 5, every: 1s }` or `{ untilFull: true }`: write data (events sent, or error)',
  waitsForResult: false,
})
