import { z } from 'zod'
import { Name } from '../scenario/fields.js'
import { defineSocketAction } from './socket.js'

export const ShutdownAction = z.object({ socket: Name, how: z.enum(['wr', 'rd', 'rdwr']) }).strict()

export const shutdown = defineSocketAction({
  name: 'shutdown',
  schema: ShutdownAction,
  doc: '`{ socket: cli, how: wr }`: shutdown(2) (wr sends a FIN)',
  waitsForResult: true,
})
