// The README's page script: joins room:lobby of examples/hello/app.py and says hi.
import {Socket} from "phoenix"
const socket = new Socket("/socket", {params: {user: "alice"}})
socket.connect()
const channel = socket.channel("room:lobby", {})
channel.on("new_msg", msg => console.log(msg))
channel.join().receive("ok", () => channel.push("new_msg", {body: "hi"}))
