import { defineSocketAction, SocketRef } from './socket.js'

export const close = defineSocketAction({
  name: 'close',
  schema: SocketRef,
  doc: '`{ socket: cli }`: close(2)',
  waitsForResult: true,
})
