import { z } from 'zod'
import { hasValidPort, Name, PORT_MESSAGE } from '../scenario/fields.js'
import { defineSocketAction, ReadMode, SockOpts } from './socket.js'

export const ConnectAction = z
  .object({
    name: Name,
    to: z.string().regex(/^[a-z][a-z0-9]{0,7}:\d+$|^[0-9a-fA-F.:[\]]+:\d+$/, { message: 'expected HOST:PORT, e.g. server:8000' }).refine(hasValidPort, { message: PORT_MESSAGE }),
    sport: z.number().int().min(1).max(65535).optional(),
    nonblock: z.boolean().optional(),
    read: ReadMode.optional(),
    ...SockOpts.shape,
  })
  .strict()

export const connect = defineSocketAction({
  name: 'connect',
  schema: ConnectAction,
  doc: '`{ name: cli, to: "server:8000", nonblock: true }`: connect a socket (events connecting, connected or error)',
  waitsForResult: false,
  refs: (a) => [{ defines: 'socket', name: a.name, key: 'name' }, { hostPort: a.to, key: 'to' }],
})
