import { defineSocketAction, SocketRef } from './socket.js'

export const resume = defineSocketAction({
  name: 'resume',
  schema: SocketRef,
  doc: '`{ socket: conn }`: read whatever arrives again',
  waitsForResult: true,
})
