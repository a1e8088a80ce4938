import { z } from 'zod'
import { Name } from '../scenario/fields.js'
import { defineSocketAction } from './socket.js'

export const AcceptAction = z.object({
  socket: Name.meta({ description: 'the listener to accept on (one with `accept: manual`)', examples: ['srv'] }),
  as: Name.optional().meta({ description: 'name of the accepted socket (default: the listener\'s NAME-conn)', examples: ['conn'] }),
}).strict()

export const accept = defineSocketAction({
  name: 'accept',
  schema: AcceptAction,
  doc: '`{ socket: srv, as: conn }`: accept one connection on a listener with `accept: manual`',
  waitsForResult: false,
  refs: (a) => [{ uses: 'socket', name: a.socket, key: 'socket' }, ...(a.as ? [{ accepts: a.as }] : [])],
})
