import { z } from 'zod'
import { Name } from '../scenario/fields.js'
import { defineSocketAction, SockOpts } from './socket.js'

export const SetsockoptAction = z.object({ socket: Name.meta({ description: 'the socket to set options on', examples: ['cli'] }), ...SockOpts.shape }).strict()

export const setsockopt = defineSocketAction({
  name: 'setsockopt',
  schema: SetsockoptAction,
  doc: '`{ socket: cli, userTimeout: 10s, nodelay: true }`: set socket options (the same ones as on listen/connect)',
  waitsForResult: true,
})
