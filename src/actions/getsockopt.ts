import { z } from 'zod'
import { Name } from '../scenario/fields.js'
import { defineSocketAction } from './socket.js'

export const GetsockoptAction = z.object({ socket: Name, opt: z.string() }).strict()

export const getsockopt = defineSocketAction({
  name: 'getsockopt',
  schema: GetsockoptAction,
  doc: '`{ socket: cli, opt: SO_ERROR }` (or TCP_INFO, SIOCINQ, SIOCOUTQ, all, an option name): read it back from the kernel',
  waitsForResult: true,
})
