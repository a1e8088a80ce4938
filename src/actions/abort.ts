import { defineSocketAction, SocketRef } from './socket.js'

export const abort = defineSocketAction({
  name: 'abort',
  schema: SocketRef,
  doc: '`{ socket: cli }`: SO_LINGER 0, then close(2): the kernel sends a RST',
  waitsForResult: true,
})
