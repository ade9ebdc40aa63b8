// docs/presence.md: the presence list of room:lobby, for examples/docs/presence.py.
import {Presence, Socket} from "phoenix"

const socket = new Socket("/socket", {params: {user: "alice"}})
socket.connect()
const channel = socket.channel("room:lobby", {name: "Alice"})

const presence = new Presence(channel)
presence.onSync(() => console.log(presence.list((key, {metas}) => ({key, metas}))))
channel.join()
