// docs/getting-started.md: a page script for examples/hello/app.py.
import {Socket} from "phoenix"

const socket = new Socket("/socket", {params: {user: "alice"}})
socket.connect()

const channel = socket.channel("room:lobby", {})
channel.on("new_msg", msg => console.log(`${msg.user}: ${msg.body}`))

channel.join()
  .receive("ok", resp => console.log("joined", resp))       // {user: "alice"}
  .receive("error", resp => console.log("refused", resp))

channel.push("new_msg", {body: "hello"})
  .receive("ok", () => console.log("sent"))
channel.push("ping", {n: 1})
  .receive("ok", resp => console.log(resp))                  // {pong: {n: 1}}
