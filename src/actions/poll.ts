import { z } from 'zod'
import { Duration, Name } from '../scenario/fields.js'
import { defineSocketAction } from './socket.js'

export const PollAction = z
  .object({
    socket: Name.meta({ description: 'the socket to poll', examples: ['cli'] }),
    events: z.array(z.enum(['in', 'out', 'err', 'hup', 'rdhup'])).default(['in', 'err']).meta({ description: 'the poll(2) events to wait for (POLLIN, POLLOUT, POLLERR, POLLHUP, POLLRDHUP)', examples: [['in', 'err'], ['rdhup']] }),
    timeout: Duration.optional().meta({ description: 'give up after this long (event polled with no events)', examples: ['5s'] }),
  })
  .strict()

export const poll = defineSocketAction({
  name: 'poll',
  schema: PollAction,
  doc: '`{ socket: cli, events: [in, err], timeout: 5s }`: wait until the socket reports one of the events (event polled)',
  waitsForResult: false,
})
