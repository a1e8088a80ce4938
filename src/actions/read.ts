import { z } from 'zod'
import { Name, MAX_INT32 } from '../scenario/fields.js'
import { defineSocketAction } from './socket.js'

export const ReadAction = z.object({
  socket: Name.meta({ description: 'the socket to read from', examples: ['conn'] }),
  bytes: z.number().int().positive().max(MAX_INT32).optional().meta({ description: 'read at most this many bytes (default: what is queued)', examples: [100] }),
}).strict()

export const read = defineSocketAction({
  name: 'read',
  schema: ReadAction,
  doc: '`{ socket: conn, bytes: 100 }`: one read now, of what is queued (events read, eof, or error)',
  waitsForResult: true,
})
