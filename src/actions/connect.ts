import { z } from 'zod'
import { hasValidPort, Name, PORT_MESSAGE } from '../scenario/fields.js'
import { defineSocketAction, ReadMode, SockOpts } from './socket.js'

export const ConnectAction = z
  .object({
    name: Name.meta({ description: 'the name of the new socket (for later steps and expectations)', examples: ['cli'] }),
    to: z.string().regex(/^[a-z][a-z0-9]{0,7}:\d+$|^[0-9a-fA-F.:[\]]+:\d+$/, { message: 'expected HOST:PORT, e.g. server:8000' }).refine(hasValidPort, { message: PORT_MESSAGE }).meta({ description: 'where to connect: HOST:PORT (a host of this scenario) or ADDRESS:PORT', examples: ['server:8000'] }),
    sport: z.number().int().min(1).max(65535).optional().meta({ description: 'bind to this local port first (a fixed 4-tuple)', examples: [40000] }),
    nonblock: z.boolean().optional().meta({ description: 'a non-blocking connect: event connecting now, connected or error later', examples: [true] }),
    read: ReadMode.optional().meta({ description: 'auto: read what arrives (default); pause: leave it queued (Recv-Q grows)', examples: ['pause'] }),
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
