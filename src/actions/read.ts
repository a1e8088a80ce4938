import { z } from 'zod'
import { Name, MAX_INT32 } from '../scenario/fields.js'
import { defineSocketAction } from './socket.js'

export const ReadAction = z.object({ socket: Name, bytes: z.number().int().positive().max(MAX_INT32).optional() }).strict()

export const read = defineSocketAction({
  name: 'read',
  schema: ReadAction,
  doc: '`{ socket: conn, bytes: 100 }`: one read now, of what is queued (events read, eof, or error)',
  waitsForResult: true,
})
