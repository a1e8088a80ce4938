import { z } from 'zod'
import { Duration, Name } from '../scenario/fields.js'
import { defineSocketAction } from './socket.js'

export const PollAction = z
  .object({
    socket: Name,
    events: z.array(z.enum(['in', 'out', 'err', 'hup', 'rdhup'])).default(['in', 'err']),
    timeout: Duration.optional(),
  })
  .strict()

export const poll = defineSocketAction({
  name: 'poll',
  schema: PollAction,
  doc: '`{ socket: cli, events: [in, err], timeout: 5s }`: wait until the socket reports one of the events (event polled)',
  waitsForResult: false,
})
