// Chat app smoke test with the official phoenix.js: two people sign up over HTTP, join the
// lobby (one over WebSocket with the 1.8 authToken, one over LongPoll with the token param),
// see each other in Presence, and exchange a message.
//
//   node chat_app.mjs --http-url http://127.0.0.1:PORT [--other-http-url http://127.0.0.1:PORT2]
//
// With --other-http-url (another instance of the same cluster) the second person connects there.
//
// Prints one JSON object of observations on stdout and exits 0; on a failure it prints the
// reason on stderr and exits 1. tests/chat_app/test_phoenix_js.py makes the assertions.

import WebSocket from "ws"
import {LongPoll, Presence, Socket} from "phoenix"

function option(name){
  const index = process.argv.indexOf(name)
  return index === -1 ? undefined : process.argv[index + 1]
}
const httpUrl = option("--http-url")
const otherHttpUrl = option("--other-http-url") || httpUrl
import {sleep} from "./cli.mjs"

async function waitFor(predicate, label, ms = 10000){
  const deadline = Date.now() + ms
  while(!predicate()){
    if(Date.now() > deadline){ throw new Error(`timeout waiting for ${label}`) }
    await sleep(10)
  }
}

async function postJSON(path, body, token){
  const headers = {"content-type": "application/json"}
  if(token){ headers.authorization = `Bearer ${token}` }
  const response = await fetch(httpUrl + path, {method: "POST", headers, body: JSON.stringify(body)})
  return {status: response.status, body: await response.json()}
}

async function signUp(username){
  const credentials = {username, password: "phoenix.js smoke test"}
  const created = await postJSON("/api/users", credentials)
  if(created.status !== 201){ throw new Error(`sign up ${username}: ${JSON.stringify(created)}`) }
  return (await postJSON("/api/sessions", credentials)).body
}

function joinLobby(socket, lobbyId){
  const channel = socket.channel(`room:${lobbyId}`, {})
  const seen = {messages: [], joined: null, online: []}
  const presence = new Presence(channel)
  presence.onSync(() => { seen.online = presence.list((id, {metas}) => metas[0].username).sort() })
  channel.on("new_message", message => seen.messages.push(message))
  channel.join().receive("ok", response => { seen.joined = response })
  return {channel, seen}
}

function pushAndWait(channel, event, payload){
  return new Promise((resolve, reject) => {
    channel.push(event, payload)
      .receive("ok", response => resolve({status: "ok", response}))
      .receive("error", response => resolve({status: "error", response}))
      .receive("timeout", () => reject(new Error(`${event}: no reply`)))
  })
}

async function main(){
  const suffix = Date.now().toString(36)
  const ann = await signUp(`ann_${suffix}`)
  const bob = await signUp(`bob_${suffix}`)
  const rooms = await (await fetch(`${httpUrl}/api/rooms`, {headers: {authorization: `Bearer ${ann.token}`}})).json()
  const lobbyId = rooms.rooms.find(room => room.name === "lobby").id
  const wsUrl = httpUrl.replace(/^http/, "ws") + "/socket"

  const refused = await new Promise(resolve => {
    const socket = new Socket(wsUrl, {transport: WebSocket, params: {token: "not a token"}, reconnectAfterMs: () => 60000})
    socket.onError(() => { socket.disconnect(); resolve(true) })
    socket.onOpen(() => { socket.disconnect(); resolve(false) })
    socket.connect()
  })

  const annSocket = new Socket(wsUrl, {transport: WebSocket, authToken: ann.token})
  const bobSocket = new Socket(otherHttpUrl + "/socket", {transport: LongPoll, params: {token: bob.token}})
  annSocket.connect()
  bobSocket.connect()
  const a = joinLobby(annSocket, lobbyId)
  const b = joinLobby(bobSocket, lobbyId)
  await waitFor(() => a.seen.joined && b.seen.joined, "both joins")
  await waitFor(() => a.seen.online.length === 2 && b.seen.online.length === 2, "both online")

  const sent = await pushAndWait(a.channel, "new_message", {body: "hello from phoenix.js"})
  await waitFor(() => b.seen.messages.length === 1 && a.seen.messages.length === 1, "the message")
  const answer = await pushAndWait(b.channel, "new_message", {body: "hi ann"})
  await waitFor(() => a.seen.messages.length === 2, "the answer")
  const empty = await pushAndWait(a.channel, "new_message", {body: ""})

  annSocket.disconnect()
  bobSocket.disconnect()
  console.log(JSON.stringify({
    refused, ann: ann.user, bob: bob.user, lobby_id: lobbyId,
    joined_room: a.seen.joined.room, online_seen_by_ann: a.seen.online, online_seen_by_bob: b.seen.online,
    sent, answer, empty, received_by_bob: b.seen.messages, received_by_ann: a.seen.messages,
  }))
}

main().then(() => process.exit(0), error => { console.error(error.stack || error); process.exit(1) })
