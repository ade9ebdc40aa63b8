// The /spa page, the single-page client (the LiveView pages at / are the other one): the
// HTTP API of CHAT_API.md for accounts, rooms and history, and the official phoenix.js
// client (served from the npm package at /vendor/phoenix.mjs) for everything live:
// messages, presence, typing, new rooms. phoenix.js reconnects and rejoins by itself;
// the page shows the connection state, and a rejoin asks for the messages it missed
// (docs/recovery.md): they come through the channel, or, when the server no longer
// has them all, the page fetches the last ones again.

import {Presence, Socket} from "/vendor/phoenix.mjs"

const PAGE_SIZE = 50
const TYPING_SEND_EVERY_MS = 2000
const TYPING_SHOWN_MS = 3500
const SESSION_KEY = "phoenix_py_chat_session"
const ROOM_KEY = "phoenix_py_chat_room"

const $ = (id) => document.getElementById(id)
const state = {
  session: null,          // {token, user}
  socket: null,
  personal: [],           // the user:<id> and rooms:public channels
  rooms: new Map(),       // id -> room
  room: null,             // the open room
  channel: null,          // its channel
  messages: new Map(),    // id -> message, for the open room
  hasOlder: false,
  typing: new Map(),      // user id -> {username, timer}
  lastTypingSent: 0,
}

// ------------------------------------------------------------------------------------------
// small helpers

function showError(text){
  const box = $("error")
  box.textContent = text
  box.hidden = !text
  clearTimeout(showError.timer)
  if(text){ showError.timer = setTimeout(() => { box.hidden = true }, 6000) }
}

async function api(method, path, body){
  const headers = {"content-type": "application/json"}
  if(state.session){ headers.authorization = `Bearer ${state.session.token}` }
  let response
  try {
    response = await fetch(path, {method, headers, body: body && JSON.stringify(body)})
  } catch(_unreachable) {  // the server is down or restarting: phoenix.js reconnects meanwhile
    return {ok: false, status: 0, data: {error: "The server cannot be reached."}}
  }
  const data = await response.json().catch(() => ({}))
  if(response.status === 401 && state.session){ signOut("Your session ended: please sign in again.") }
  return {ok: response.ok, status: response.status, data}
}

function describeErrors(data){
  if(data.error){ return data.error }
  if(data.errors){
    return Object.entries(data.errors).map(([field, problems]) => `${field} ${problems.join(", ")}`).join("; ")
  }
  if(data.reason === "rate_limited"){ return "Slow down: at most 10 messages a second." }
  return data.reason || "Something went wrong."
}

function hue(text){
  let h = 0
  for(const c of text){ h = (h * 31 + c.codePointAt(0)) % 360 }
  return h
}

function avatar(username){
  const span = document.createElement("span")
  span.className = "avatar"
  span.textContent = username.slice(0, 1).toUpperCase()
  span.style.background = `hsl(${hue(username)} 55% 45%)`
  span.setAttribute("aria-hidden", "true")
  return span
}

function formatTime(iso){
  const date = new Date(iso)
  const sameDay = date.toDateString() === new Date().toDateString()
  const time = date.toLocaleTimeString([], {hour: "2-digit", minute: "2-digit"})
  return sameDay ? time : `${date.toLocaleDateString()} ${time}`
}

// ------------------------------------------------------------------------------------------
// accounts

async function authenticate(kind){
  const username = $("username").value.trim()
  const password = $("password").value
  if(!$("auth-form").reportValidity()){ return }
  if(kind === "sign-up"){
    const created = await api("POST", "/api/users", {username, password})
    if(!created.ok){ return showError(describeErrors(created.data)) }
  }
  const session = await api("POST", "/api/sessions", {username, password})
  if(!session.ok){ return showError(describeErrors(session.data)) }
  localStorage.setItem(SESSION_KEY, JSON.stringify(session.data))
  $("password").value = ""
  start(session.data)
}

function signOut(reason){
  localStorage.removeItem(SESSION_KEY)
  if(state.socket){ state.socket.disconnect() }
  Object.assign(state, {session: null, socket: null, channel: null, room: null, personal: []})
  state.rooms.clear()
  state.messages.clear()
  showView()
  showError(reason || "")
}

function showView(){
  const signedIn = Boolean(state.session)
  $("auth-view").hidden = signedIn
  $("chat-view").hidden = !signedIn
  $("sign-out").hidden = !signedIn
  $("me").hidden = !signedIn
  $("me").textContent = signedIn ? state.session.user.username : ""
  if(!signedIn){ setConnection("offline"); $("username").focus() }
}

// ------------------------------------------------------------------------------------------
// the socket

function setConnection(connection){
  const labels = {connecting: "connecting…", online: "connected", reconnecting: "reconnecting…", offline: "offline"}
  $("connection").dataset.state = connection
  $("connection").textContent = labels[connection]
}

async function start(session){
  state.session = session
  showView()
  setConnection("connecting")
  // LongPoll when a WebSocket cannot open (a proxy that blocks it), as Phoenix apps do
  const socket = new Socket("/socket", {authToken: session.token, longPollFallbackMs: 3000})
  state.socket = socket
  socket.onOpen(() => setConnection("online"))
  socket.onError(() => {
    setConnection("reconnecting")
    api("GET", "/api/rooms")  // a 401 here means the token expired: back to the sign-in form
  })
  socket.onClose(() => { if(state.socket === socket){ setConnection("reconnecting") } })
  socket.connect()

  for(const topic of [`user:${session.user.id}`, "rooms:public"]){
    const channel = socket.channel(topic, {})
    channel.on("room_added", ({room}) => addRoom(room))
    channel.join()
    state.personal.push(channel)
  }
  await loadRooms()
}

// ------------------------------------------------------------------------------------------
// rooms

async function loadRooms(){
  const {ok, data} = await api("GET", "/api/rooms")
  if(!ok){ return }
  state.rooms.clear()
  data.rooms.forEach(room => state.rooms.set(room.id, room))
  renderRooms()
  openRoom(roomFromLink() || state.rooms.get(Number(localStorage.getItem(ROOM_KEY)))
    || data.rooms.find(room => room.name === "lobby") || data.rooms[0])
}

/** The room a #/rooms/<id> link names; one not in the list is tried (and may be refused). */
function roomFromLink(){
  const id = Number((location.hash.match(/^#\/rooms\/(\d+)$/) || [])[1])
  return id ? state.rooms.get(id) || {id, name: `room ${id}`, private: true} : null
}

function addRoom(room){
  state.rooms.set(room.id, room)
  renderRooms()
}

function roomLabel(room){
  const label = document.createDocumentFragment()
  label.append((room.private ? "" : "# ") + room.name)
  if(room.private){
    const badge = document.createElement("span")
    badge.className = "badge"
    badge.textContent = "private"
    label.append(badge)
  }
  return label
}

function renderRooms(){
  const list = $("room-list")
  list.replaceChildren(...[...state.rooms.values()].map(room => {
    const item = document.createElement("li")
    const button = document.createElement("button")
    button.type = "button"
    button.dataset.testid = "room-item"
    button.dataset.roomId = room.id
    button.className = "room" + (state.room && state.room.id === room.id ? " active" : "")
    button.append(roomLabel(room))
    button.addEventListener("click", () => openRoom(room))
    item.append(button)
    return item
  }))
}

async function createRoom(event){
  event.preventDefault()
  const name = $("new-room-name").value.trim()
  if(!name){ return }
  const {ok, data} = await api("POST", "/api/rooms", {name, private: $("new-room-private").checked})
  if(!ok){ return showError(describeErrors(data)) }
  $("new-room-name").value = ""
  $("new-room-private").checked = false
  addRoom(data.room)
  openRoom(data.room)
}

async function addMember(event){
  event.preventDefault()
  const username = $("member-name").value.trim()
  const {ok, data} = await api("POST", `/api/rooms/${state.room.id}/members`, {username})
  if(!ok){ return showError(describeErrors(data)) }
  $("member-name").value = ""
  showError("")
  notice(`${data.user.username} can now read and write in ${state.room.name}.`)
}

function notice(text){
  const item = document.createElement("li")
  item.className = "notice"
  item.textContent = text
  $("message-list").append(item)
  scrollToEnd()
}

// ------------------------------------------------------------------------------------------
// one open room

function openRoom(room){
  if(!room){ return }
  if(state.channel){ state.channel.leave() }
  history.replaceState(null, "", `#/rooms/${room.id}`)
  state.room = room
  state.messages.clear()
  state.hasOlder = false
  state.typing.forEach(({timer}) => clearTimeout(timer))
  state.typing.clear()
  localStorage.setItem(ROOM_KEY, String(room.id))
  $("room-title").replaceChildren(roomLabel(room))
  $("add-member").hidden = !room.private
  $("message-list").replaceChildren()
  renderRooms()
  renderTyping()

  let last = null  // where the page is in the room's history: {offset, epoch}
  const channel = state.socket.channel(`room:${room.id}`, () => (last ? {since: last} : {}))
  channel.on("new_message", (message, ref) => {
    if(ref){ last = position(ref) }
    addMessages([message])
    forgetTyping(message.user.id)
  })
  channel.join()
    .receive("ok", ({messages, offset, epoch, recovered}) => {  // also after every rejoin
      showError("")
      if(recovered){ return }  // what it missed comes next, through the channel
      last = {offset, epoch}
      if(messages){ showHistory(messages) } else { refetchHistory(room) }
    })
    .receive("error", ({reason}) => {
      channel.leave()
      showError(reason === "unauthorized" ? "This room is private." : "This room does not exist.")
    })
  state.channel = channel
  const presence = new Presence(channel)
  presence.onSync(() => renderOnline(presence))
  channel.on("typing", ({user}) => showTyping(user))
  $("message-input").focus()
}

/** A message's place in its room's history, from its ref: "<offset>:<epoch>". */
function position(ref){
  const colon = ref.indexOf(":")
  return {offset: Number(ref.slice(0, colon)), epoch: ref.slice(colon + 1)}
}

/** The last page of the room, merged by id into what is shown (paged-in messages stay). */
function showHistory(messages){
  if(state.messages.size === 0){ state.hasOlder = messages.length === PAGE_SIZE }
  addMessages(messages)
}

/** A rejoin that was not recovered (the server restarted, or the page was away too long). */
async function refetchHistory(room){
  const {ok, data} = await api("GET", `/api/rooms/${room.id}/messages?limit=${PAGE_SIZE}`)
  if(ok && state.room === room){ showHistory(data.messages) }
}

function addMessages(messages){
  const list = $("message-list")
  const nearEnd = list.parentElement.scrollHeight - list.parentElement.scrollTop - list.parentElement.clientHeight < 80
  for(const message of messages){
    if(message.room_id !== state.room.id || state.messages.has(message.id)){ continue }
    state.messages.set(message.id, message)
    const item = renderMessage(message)
    const next = [...list.children].find(el => Number(el.dataset.id) > message.id)
    list.insertBefore(item, next || null)
  }
  $("older").hidden = !state.hasOlder
  if(nearEnd || messages.length > 1){ scrollToEnd() }
}

function renderMessage(message){
  const item = document.createElement("li")
  item.className = "message" + (message.user.id === state.session.user.id ? " mine" : "")
  item.dataset.testid = "message-item"
  item.dataset.id = message.id
  const meta = document.createElement("div")
  meta.className = "meta"
  const author = document.createElement("strong")
  author.textContent = message.user.username
  const time = document.createElement("time")
  time.dateTime = message.inserted_at
  time.textContent = formatTime(message.inserted_at)
  meta.append(author, time)
  const body = document.createElement("div")
  body.className = "body"
  body.textContent = message.body
  const text = document.createElement("div")
  text.append(meta, body)
  item.append(avatar(message.user.username), text)
  return item
}

function scrollToEnd(){
  const scroller = $("scroller")
  scroller.scrollTop = scroller.scrollHeight
}

async function loadOlder(){
  const oldest = Math.min(...state.messages.keys())
  const room = state.room
  const {ok, data} = await api("GET", `/api/rooms/${room.id}/messages?before=${oldest}&limit=${PAGE_SIZE}`)
  if(!ok || state.room !== room){ return }
  const scroller = $("scroller")
  const fromBottom = scroller.scrollHeight - scroller.scrollTop
  state.hasOlder = data.messages.length === PAGE_SIZE
  const list = $("message-list")
  for(const message of data.messages.reverse()){
    if(state.messages.has(message.id)){ continue }
    state.messages.set(message.id, message)
    list.prepend(renderMessage(message))
  }
  $("older").hidden = !state.hasOlder
  scroller.scrollTop = scroller.scrollHeight - fromBottom
}

function sendMessage(event){
  event.preventDefault()
  const input = $("message-input")
  const body = input.value
  if(!body.trim() || !state.channel){ return }
  state.lastTypingSent = 0  // the others stop showing us typing when the message lands
  state.channel.push("new_message", {body})
    .receive("ok", () => { if(input.value === body){ input.value = "" } })
    .receive("error", response => showError(describeErrors(response)))
    .receive("timeout", () => showError("Not sent: the server did not answer. Try again."))
}

function typed(){
  const now = Date.now()
  if(state.channel && now - state.lastTypingSent > TYPING_SEND_EVERY_MS && $("message-input").value){
    state.lastTypingSent = now
    state.channel.push("typing", {})
  }
}

// ------------------------------------------------------------------------------------------
// people: online and typing

function renderOnline(presence){
  const people = presence.list((id, {metas}) => ({id, username: metas[0].username, tabs: metas.length}))
  people.sort((a, b) => a.username.localeCompare(b.username))
  $("online-count").textContent = people.length
  $("online-list").replaceChildren(...people.map(person => {
    const item = document.createElement("li")
    item.dataset.testid = "online-user"
    item.className = "person"
    const name = document.createElement("span")
    name.textContent = person.username + (String(person.id) === String(state.session.user.id) ? " (you)" : "")
    item.append(avatar(person.username), name)
    return item
  }))
}

function showTyping(user){
  const previous = state.typing.get(user.id)
  if(previous){ clearTimeout(previous.timer) }
  const timer = setTimeout(() => forgetTyping(user.id), TYPING_SHOWN_MS)
  state.typing.set(user.id, {username: user.username, timer})
  renderTyping()
}

function forgetTyping(userId){
  const entry = state.typing.get(userId)
  if(entry){ clearTimeout(entry.timer); state.typing.delete(userId); renderTyping() }
}

function renderTyping(){
  const names = [...state.typing.values()].map(entry => entry.username)
  const text = names.length === 0 ? "" :
    names.length === 1 ? `${names[0]} is typing…` :
    names.length === 2 ? `${names[0]} and ${names[1]} are typing…` : "Several people are typing…"
  $("typing").textContent = text
}

// ------------------------------------------------------------------------------------------
// wiring

$("auth-form").addEventListener("submit", event => { event.preventDefault(); authenticate("sign-in") })
$("sign-up").addEventListener("click", () => authenticate("sign-up"))
$("sign-out").addEventListener("click", () => signOut())
$("new-room").addEventListener("submit", createRoom)
$("add-member").addEventListener("submit", addMember)
$("older").addEventListener("click", loadOlder)
$("composer").addEventListener("submit", sendMessage)
$("message-input").addEventListener("input", typed)
window.addEventListener("hashchange", () => { if(state.socket){ openRoom(roomFromLink()) } })
$("message-input").addEventListener("keydown", event => {
  if(event.key === "Enter" && !event.shiftKey && !event.isComposing){ sendMessage(event) }
})

const saved = JSON.parse(localStorage.getItem(SESSION_KEY) || "null")
if(saved){ start(saved) } else { showView() }
