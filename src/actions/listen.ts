import { z } from 'zod'
import { Name, MAX_INT32 } from '../scenario/fields.js'
import { defineSocketAction, ReadMode, SockOpts } from './socket.js'

export const ListenAction = z
  .object({
    name: Name,
    port: z.number().int().min(1).max(65535),
    addr: z.string().optional(),
    backlog: z.number().int().min(0).max(MAX_INT32).optional(),
    accept: z.enum(['auto', 'manual', 'never']).default('auto'),
    as: Name.optional().meta({ description: 'name of accepted sockets (default NAME-conn; later ones get -2, -3, ...)' }),
    read: ReadMode.optional(),
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
