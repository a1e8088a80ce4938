import { z } from 'zod'
import { Name } from '../scenario/fields.js'
import { defineSocketAction } from './socket.js'

export const ShutdownAction = z.object({
  socket: Name.meta({ description: 'the socket to shut down', examples: ['cli'] }),
  how: z.enum(['wr', 'rd', 'rdwr']).meta({ description: 'wr: no more writes (a FIN goes out); rd: no more reads; rdwr: both', examples: ['wr'] }),
}).strict()

export const shutdown = defineSocketAction({
  name: 'shutdown',
  schema: ShutdownAction,
  doc: '`{ socket: cli, how: wr }`: shutdown(2) (wr sends a FIN)',
  waitsForResult: true,
})
