// docs/longpoll.md: LongPoll when the WebSocket fails, for examples/docs/longpoll.py.
import {Socket} from "phoenix"
const socket = new Socket("/socket", {longPollFallbackMs: 2500, params: {user: "alice"}})

socket.connect()
socket.channel("room:lobby", {}).join()
  .receive("ok", resp => console.log("joined over", socket.transport.name, resp))
