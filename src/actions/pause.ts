import { defineSocketAction, SocketRef } from './socket.js'

export const pause = defineSocketAction({
  name: 'pause',
  schema: SocketRef,
  doc: '`{ socket: conn }`: stop reading (Recv-Q grows, the window closes)',
  waitsForResult: true,
})
