// docs/channels.md: the phoenix.js 1.8 authToken, for examples/docs/channels.py.
import {Socket} from "phoenix"

const socket = new Socket("/socket", {authToken: "secret-token"})
socket.connect()
socket.channel("room:lobby", {}).join()
  .receive("ok", resp => console.log(resp))  // {topic: "room:lobby", user: "alice"}
