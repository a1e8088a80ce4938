import { z } from 'zod'
import { Name, MAX_INT32 } from '../scenario/fields.js'
import { defineSocketAction, ReadMode, SockOpts } from './socket.js'

export const ListenAction = z
  .object({
    name: Name.meta({ description: 'the name of the listening socket', examples: ['srv'] }),
    port: z.number().int().min(1).max(65535).meta({ description: 'the port to listen on', examples: [8000] }),
    addr: z.string().optional().meta({ description: 'the local address to bind (default: any)', examples: ['0.0.0.0'] }),
    backlog: z.number().int().min(0).max(MAX_INT32).optional().meta({ description: 'listen(2) backlog: how many completed connections may wait to be accepted', examples: [1, 128] }),
    accept: z.enum(['auto', 'manual', 'never']).default('auto').meta({ description: 'auto: accept every connection; manual: only on `accept` steps; never: leave them in the accept queue', examples: ['manual'] }),
    as: Name.optional().meta({ description: 'name of accepted sockets (default NAME-conn; later ones get -2, -3, ...)', examples: ['conn'] }),
    read: ReadMode.optional().meta({ description: 'accepted sockets: auto reads what arrives (default); pause leaves it queued', examples: ['pause'] }),
    ...SockOpts.shape,
  })
  .strict()

export const listen = defineSocketAction({
  name: 'listen',
  schema: ListenAction,
  doc: '`{ name: srv, port: 8000, backlog: 1, accept: manual }`: a listening socket; accepted ones are named `as` (default NAME-conn, then -2, -3...)',
  waitsForResult: true,
  refs: (a) => [{ defines: 'socket', name: a.name, key: 'name' }, { accepts: a.as ?? `${a.name}-conn` }],
})
