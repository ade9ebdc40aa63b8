// docs/longpoll.md: LongPoll from the start, for examples/docs/longpoll.py.
import {LongPoll, Socket} from "phoenix"
const socket = new Socket("/socket", {transport: LongPoll, params: {user: "alice"}})

socket.connect()
socket.channel("room:lobby", {}).join()
  .receive("ok", resp => console.log("joined over", socket.transport.name, resp))
