import { z } from 'zod'
import { Name } from '../scenario/fields.js'
import { defineSocketAction } from './socket.js'

export const GetsockoptAction = z.object({
  socket: Name.meta({ description: 'the socket to read the option of', examples: ['cli'] }),
  opt: z.string().meta({ description: 'SO_ERROR, TCP_INFO, SIOCINQ, SIOCOUTQ, all, or an option name', examples: ['SO_ERROR', 'TCP_INFO'] }),
}).strict()

export const getsockopt = defineSocketAction({
  name: 'getsockopt',
  schema: GetsockoptAction,
  doc: '`{ socket: cli, opt: SO_ERROR }` (or TCP_INFO, SIOCINQ, SIOCOUTQ, all, an option name): read it back from the kernel',
  waitsForResult: true,
})
