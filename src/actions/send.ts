import { z } from 'zod'
import { Duration, Name, MAX_INT32 } from '../scenario/fields.js'
import { defineSocketAction } from './socket.js'

export const SendAction = z
  .object({
    socket: Name.meta({ description: 'the socket to write to', examples: ['cli'] }),
    data: z.string().optional().meta({ description: 'the bytes to write, as text', examples: ['hello\n'] }),
    bytes: z.number().int().positive().max(MAX_INT32).optional().meta({ description: 'write this many bytes (of filler) instead of `data`', examples: [1000] }),
    count: z.number().int().positive().max(MAX_INT32).optional().meta({ description: 'repeat the write this many times', examples: [5] }),
    every: Duration.optional().meta({ description: 'the time between repeated writes', examples: ['1s'] }),
    untilFull: z.boolean().optional().meta({ description: 'write until the send buffer is full (a non-blocking write returns EAGAIN)', examples: [true] }),
    continueOnError: z.boolean().optional().meta({ description: 'keep repeating after a failed write, like a write loop that ignores errors (ETIMEDOUT, then EPIPE, EPIPE...)', examples: [true] }),
  })
  .strict()

export const send = defineSocketAction({
  name: 'send',
  schema: SendAction,
  doc: '`{ socket: cli, bytes: 1000, count: 5, every: 1s }` or `{ untilFull: true }`: write data (events sent, or error)',
  waitsForResult: false,
})
