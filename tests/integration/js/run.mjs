// Scenario runner: drives a Phoenix Channels server with the official phoenix.js client.
//
//   node run.mjs --url ws://127.0.0.1:PORT/socket --client phoenix|phoenix17 \
//                --vsn 2.0.0|1.0.0 --scenario NAME [--timeout MS] [--http-url URL] \
//                [--urls JSON --http-urls JSON] [--transport websocket|longpoll]
//
// Runs one scenario and prints one JSON object (the observations) on stdout, then exits 0.
// On a timeout or any other failure it prints a message (and what was observed so far) on
// stderr and exits non-zero. The Python tests under tests/integration make the assertions.
//
// Cluster scenarios (cluster_*) get the instances of a cluster as --urls / --http-urls (JSON
// lists, same order); clientOn(ctx, name, i) connects to instance i. Some of them stop at
// checkpoints: they print {"checkpoint": NAME, ...} as one line on stdout and wait for one JSON
// line on stdin (the test acts meanwhile: kills an instance, restarts Redis) before going on.
//
// Every client records:
//   frames: the decoded messages socket.onMessage saw ({join_ref, ref, topic, event, payload}),
//   raw:    each inbound frame as it came off the wire (V1: the JSON object, V2: the JSON array,
//           binary frames as {"$binary": [bytes...]}),
//   sent:   each outbound message as handed to the serializer,
//   opens / closes / errors: socket-level lifecycle callbacks.
// ArrayBuffers are written out as {"$binary": [bytes...]}.
//
// --transport longpoll makes every client use phoenix.js's LongPoll (1.8 only: 1.7's needs
// XMLHttpRequest, which Node lacks; 1.8 uses fetch). It is a subclass that adds nothing, because
// phoenix.js ignores the encode/decode options when the transport *is* LongPoll, and the runner
// records frames through them. phoenix.js speaks only V2 over LongPoll.

import {readFileSync} from "node:fs"
import {createInterface} from "node:readline"
import WebSocket from "ws"
import * as phoenix18 from "phoenix"
import * as phoenix17 from "phoenix17"
import {parseArgs, sleep} from "./cli.mjs"

const LIBS = {phoenix: phoenix18, phoenix17: phoenix17}

function installedVersion(packageName){
  const url = new URL(`./node_modules/${packageName}/package.json`, import.meta.url)
  return JSON.parse(readFileSync(url, "utf8")).version
}

// ---------------------------------------------------------------------------------------------
// command line


// ---------------------------------------------------------------------------------------------
// small utilities


class ScenarioTimeout extends Error {}

/** Polls `predicate` every 5 ms until it is truthy; rejects after `ms` with `label`. */
async function waitFor(predicate, label, ms = 3000){
  const deadline = Date.now() + ms
  for(;;){
    const value = predicate()
    if(value){ return value }
    if(Date.now() >= deadline){
      throw new ScenarioTimeout(`timeout after ${ms} ms waiting for: ${label}`)
    }
    await sleep(5)
  }
}

function bytesOf(buffer){ return Array.from(new Uint8Array(buffer)) }

function toJSONable(value){
  return JSON.parse(JSON.stringify(value, (_key, v) => {
    if(v instanceof ArrayBuffer){ return {"$binary": bytesOf(v)} }
    if(ArrayBuffer.isView(v)){ return {"$binary": Array.from(new Uint8Array(v.buffer, v.byteOffset, v.byteLength))} }
    if(v === undefined){ return null }
    return v
  }))
}

function uniqueId(){
  return `${process.pid.toString(36)}${Date.now().toString(36)}${Math.floor(Math.random() * 1e9).toString(36)}`
}

function normalizeMessage(msg){
  return {
    join_ref: msg.join_ref === undefined ? null : msg.join_ref,
    ref: msg.ref === undefined ? null : msg.ref,
    topic: msg.topic,
    event: msg.event,
    payload: msg.payload,
  }
}

function describeError(error){
  if(error === undefined || error === null){ return null }
  if(typeof error === "string"){ return error }
  if(error.message !== undefined){ return String(error.message) }
  if(error.error && error.error.message !== undefined){ return String(error.error.message) }
  return String(error)
}

// ---------------------------------------------------------------------------------------------
// serializers

/** The V1 (vsn 1.x) serializer: one JSON object per frame, text only. */
const V1Serializer = {
  encode(msg, callback){
    if(msg.payload instanceof ArrayBuffer){
      throw new Error("the V1 serializer cannot send binary payloads")
    }
    const frame = {
      topic: msg.topic,
      event: msg.event,
      payload: msg.payload,
      ref: msg.ref === undefined ? null : msg.ref,
      join_ref: msg.join_ref === undefined ? null : msg.join_ref,
    }
    return callback(JSON.stringify(frame))
  },
  decode(rawPayload, callback){
    if(typeof rawPayload !== "string"){
      throw new Error("the V1 serializer received a binary frame")
    }
    const obj = JSON.parse(rawPayload)
    return callback({
      join_ref: obj.join_ref === undefined ? null : obj.join_ref,
      ref: obj.ref === undefined ? null : obj.ref,
      topic: obj.topic,
      event: obj.event,
      payload: obj.payload,
    })
  },
}

// ---------------------------------------------------------------------------------------------
// clients and channels

class Client {
  /**
   * @param {object} ctx - the scenario context
   * @param {string} name - a label used in the observations
   * @param {object} options - params, heartbeatIntervalMs, transport, timeout, rejoinAfterMs
   */
  constructor(ctx, name, options = {}){
    this.ctx = ctx
    this.name = name
    this.frames = []
    this.raw = []
    this.sent = []
    this.opens = 0
    this.closes = []
    this.errors = []
    this.decodeErrors = []
    ctx.clients.push(this)

    const lib = ctx.lib
    const base = ctx.vsn === "1.0.0"
      ? V1Serializer
      : {encode: lib.Serializer.encode.bind(lib.Serializer), decode: lib.Serializer.decode.bind(lib.Serializer)}

    const encode = (msg, callback) => {
      this.sent.push(normalizeMessage(msg))
      return base.encode(msg, callback)
    }
    const decode = (rawPayload, callback) => {
      try {
        if(rawPayload instanceof ArrayBuffer){
          this.raw.push({"$binary": bytesOf(rawPayload)})
        } else {
          this.raw.push(JSON.parse(rawPayload))
        }
        return base.decode(rawPayload, callback)
      } catch (error){
        this.decodeErrors.push(String(error && error.message || error))
        throw error
      }
    }

    const socketOptions = {
      transport: options.transport || defaultTransport(ctx),
      vsn: ctx.vsn,
      encode,
      decode,
      params: options.params || {},
      timeout: options.timeout || 3000,
      heartbeatIntervalMs: options.heartbeatIntervalMs || 30000,
      reconnectAfterMs: options.reconnectAfterMs || (() => 50),
      rejoinAfterMs: options.rejoinAfterMs || (() => 100),
    }
    // phoenix.js 1.8 authToken (a string, or a function from 1.8.9): JWT scenarios
    if(options.authToken !== undefined){ socketOptions.authToken = options.authToken }
    if(options.longPollFallbackMs !== undefined){
      socketOptions.longPollFallbackMs = options.longPollFallbackMs
      socketOptions.sessionStorage = options.sessionStorage
    }
    this.socket = new lib.Socket(options.url || ctx.url, socketOptions)
    this.socket.onOpen(() => { this.opens++ })
    this.socket.onClose(event => {
      this.closes.push({code: event && event.code, reason: event && event.reason !== undefined ? String(event.reason) : null})
    })
    this.socket.onError(error => { this.errors.push(describeError(error)) })
    this.socket.onMessage(msg => { this.frames.push(normalizeMessage(msg)) })
  }

  async connect(){
    this.socket.connect()
    await waitFor(() => this.opens > 0 || this.closes.length > 0, `${this.name}: socket open`)
    if(this.opens === 0){
      throw new Error(`${this.name}: the socket closed before it opened: ${JSON.stringify({closes: this.closes, errors: this.errors})}`)
    }
  }

  channel(topic, params = {}){ return new Chan(this, topic, params) }

  /** Frames received on `topic` (optionally only `event`), in arrival order. */
  framesFor(topic, event){
    return this.frames.filter(f => f.topic === topic && (event === undefined || f.event === event))
  }

  /** Outbound messages for `topic` (optionally only `event`), in send order. */
  sentFor(topic, event){
    return this.sent.filter(f => f.topic === topic && (event === undefined || f.event === event))
  }

  disconnect(){
    try { this.socket.disconnect() } catch (_error){ /* already gone */ }
  }

  observations(){
    return {
      frames: this.frames,
      raw: this.raw,
      sent: this.sent,
      opens: this.opens,
      closes: this.closes,
      errors: this.errors,
      decode_errors: this.decodeErrors,
    }
  }
}

/** The transport --transport names: ws's WebSocket, or phoenix.js's LongPoll (see the top). */
function defaultTransport(ctx){
  if(ctx.transport === "websocket"){ return WebSocket }
  if(ctx.client !== "phoenix"){ throw new Error("LongPoll runs with --client phoenix (1.8) only") }
  return ctx.recordingLongPoll
}

class Chan {
  constructor(client, topic, params){
    this.client = client
    this.topic = topic
    this.ch = client.socket.channel(topic, params)
    this.joinReplies = []
    this.errors = []
    this.closes = []
    this.events = []
    this.joinRefs = []
    this.ch.onError(payload => { this.errors.push(payload === undefined ? null : payload) })
    this.ch.onClose(payload => { this.closes.push(payload === undefined ? null : payload) })
  }

  /** Records every payload of `event` that reaches this channel. */
  listen(event){
    this.ch.on(event, payload => { this.events.push({event, payload}) })
    return this
  }

  eventsNamed(event){ return this.events.filter(e => e.event === event).map(e => e.payload) }

  /** Joins and resolves with the first join result ({status, response}). */
  async join(timeout = 3000){
    const push = this.ch.join(timeout)
    push
      .receive("ok", response => { this.joinRefs.push(this.ch.joinRef()); this.joinReplies.push({status: "ok", response}) })
      .receive("error", response => { this.joinRefs.push(this.ch.joinRef()); this.joinReplies.push({status: "error", response}) })
      .receive("timeout", () => { this.joinReplies.push({status: "timeout", response: null}) })
    await waitFor(() => this.joinReplies.length > 0, `${this.client.name}: join reply for ${this.topic}`, timeout + 1000)
    return this.joinReplies[0]
  }

  /** Pushes and resolves with {status, response, ms} for ok, error or timeout. */
  push(event, payload, timeout = 3000){
    const started = Date.now()
    return new Promise(resolve => {
      this.ch.push(event, payload, timeout)
        .receive("ok", response => resolve({status: "ok", response, ms: Date.now() - started}))
        .receive("error", response => resolve({status: "error", response, ms: Date.now() - started}))
        .receive("timeout", () => resolve({status: "timeout", response: null, ms: Date.now() - started}))
    })
  }

  get state(){ return this.ch.state }
}

// ---------------------------------------------------------------------------------------------
// HTTP control endpoints (Node 20 has fetch)

async function postJSON(ctx, path, body, httpUrl = ctx.httpUrl){
  const response = await fetch(`${httpUrl}${path}`, {
    method: "POST",
    headers: {"content-type": "application/json"},
    body: JSON.stringify(body),
  })
  const text = await response.text()
  let parsed
  try { parsed = JSON.parse(text) } catch (_error){ parsed = {"$text": text} }
  return {status: response.status, body: parsed}
}

// ---------------------------------------------------------------------------------------------
// presence helpers

function presenceList(presence){
  const entries = presence.list((key, {metas}) => ({key, metas}))
  entries.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
  return entries
}

function presenceKeys(presence){ return presenceList(presence).map(e => e.key) }

// ---------------------------------------------------------------------------------------------
// scenarios
//
// Each returns a plain object of scenario-specific observations. The runner adds the
// clients' own observations under "clients".

const scenarios = {}

/** Connect (optionally with --user) and join a room; the join reply names the user. */
scenarios.join = async(ctx) => {
  const params = ctx.opts.user !== undefined ? {user: ctx.opts.user} : {}
  const a = new Client(ctx, "a", {params})
  await a.connect()
  const topic = `room:join-${ctx.uid}`
  const chan = a.channel(topic, {})
  const join = await chan.join()
  return {topic, user: ctx.opts.user === undefined ? null : ctx.opts.user, join, join_ref: chan.joinRefs[0] || null}
}

/** Connect with an arbitrary Origin header (every origin is allowed). */
scenarios.origin = async(ctx) => {
  const origin = ctx.opts.origin || "https://elsewhere.invalid"
  class OriginWebSocket extends WebSocket {
    constructor(url, protocols){ super(url, protocols, {origin}) }
  }
  const a = new Client(ctx, "a", {transport: OriginWebSocket})
  await a.connect()
  const topic = `room:origin-${ctx.uid}`
  const join = await a.channel(topic, {}).join()
  return {topic, origin, join}
}

/** token=bad: the upgrade is refused; phoenix.js reports an error and never opens. */
scenarios.token_bad = async(ctx) => {
  const a = new Client(ctx, "a", {params: {token: "bad"}, reconnectAfterMs: () => 100})
  a.socket.connect()
  await waitFor(() => a.closes.length > 0 && a.errors.length > 0, "a: error and close after a refused connect")
  a.disconnect()
  // give a wrongly accepted connection the time to show up
  await sleep(150)
  return {opens: a.opens, first_close: a.closes[0], first_error: a.errors[0]}
}

scenarios.join_forbidden = async(ctx) => {
  const a = new Client(ctx, "a")
  await a.connect()
  const join = await a.channel("room:forbidden", {}).join()
  a.disconnect()
  return {topic: "room:forbidden", join}
}

/** A join handler that raises; the socket stays up and another join works. */
scenarios.join_crash = async(ctx) => {
  const a = new Client(ctx, "a", {rejoinAfterMs: () => 5000})
  await a.connect()
  const topic = `room:joincrash-${ctx.uid}`
  const crashed = a.channel(topic, {crash: true})
  const join = await crashed.join()
  const otherTopic = `room:joincrash-other-${ctx.uid}`
  const other = a.channel(otherTopic, {})
  const otherJoin = await other.join()
  const echo = await other.push("echo", {after: "join crash"})
  return {topic, join, other_topic: otherTopic, other_join: otherJoin, other_echo: echo, closes: a.closes.length}
}

scenarios.echo = async(ctx) => {
  const a = new Client(ctx, "a")
  await a.connect()
  const topic = `room:echo-${ctx.uid}`
  const chan = a.channel(topic, {})
  await chan.join()
  const payload = {body: "hello", n: 42, f: 1.5, t: true, nothing: null, list: [1, "two", {three: 3}], nested: {k: "v"}, unicode: "héllo ✓ 日本"}
  const reply = await chan.push("echo", payload)
  const empty = await chan.push("echo", {})
  return {topic, payload, reply, empty_reply: empty, join_ref: chan.joinRefs[0]}
}

scenarios.echo_error = async(ctx) => {
  const a = new Client(ctx, "a")
  await a.connect()
  const topic = `room:echoerr-${ctx.uid}`
  const chan = a.channel(topic, {})
  await chan.join()
  const payload = {why: "because", code: 7}
  const reply = await chan.push("echo_error", payload)
  return {topic, payload, reply, channel_state: chan.state, channel_errors: chan.errors}
}

/** noreply: the push times out; the channel still answers afterwards. */
scenarios.noreply = async(ctx) => {
  const a = new Client(ctx, "a")
  await a.connect()
  const topic = `room:noreply-${ctx.uid}`
  const chan = a.channel(topic, {})
  await chan.join()
  const timeoutMs = Number(ctx.opts["push-timeout"] || 300)
  const reply = await chan.push("noreply", {x: 1}, timeoutMs)
  const after = await chan.push("echo", {after: "noreply"})
  return {topic, timeout_ms: timeoutMs, reply, after, replies_for_topic: a.framesFor(topic, "phx_reply").length}
}

async function twoInRoom(ctx, prefix, events){
  const a = new Client(ctx, "a")
  const b = new Client(ctx, "b")
  await Promise.all([a.connect(), b.connect()])
  const topic = `room:${prefix}-${ctx.uid}`
  const ca = a.channel(topic, {})
  const cb = b.channel(topic, {})
  for(const event of events){ ca.listen(event); cb.listen(event) }
  await ca.join()
  await cb.join()
  return {a, b, ca, cb, topic}
}

scenarios.shout = async(ctx) => {
  const {ca, cb, topic} = await twoInRoom(ctx, "shout", ["shout"])
  const payload = {body: "hi all", from: "a"}
  const reply = await ca.push("shout", payload)
  await waitFor(() => ca.events.length >= 1 && cb.events.length >= 1, "shout reaching a and b")
  await sleep(150) // a duplicate would show up here
  return {topic, payload, reply, a_events: ca.eventsNamed("shout"), b_events: cb.eventsNamed("shout")}
}

scenarios.shout_others = async(ctx) => {
  const {ca, cb, topic} = await twoInRoom(ctx, "shoutothers", ["shout"])
  const payload = {body: "not for me"}
  const reply = await ca.push("shout_others", payload)
  await waitFor(() => cb.events.length >= 1, "shout reaching b")
  await sleep(200) // the sender must get nothing
  return {topic, payload, reply, a_events: ca.eventsNamed("shout"), b_events: cb.eventsNamed("shout")}
}

scenarios.push_me = async(ctx) => {
  const {a, ca, cb, topic} = await twoInRoom(ctx, "pushme", ["pushed"])
  const payload = {only: "me", n: 1}
  const reply = await ca.push("push_me", payload)
  await waitFor(() => ca.events.length >= 1, "pushed reaching a")
  await sleep(200) // b must get nothing
  return {
    topic, payload, reply,
    a_events: ca.eventsNamed("pushed"), b_events: cb.eventsNamed("pushed"),
    a_push_frames: a.framesFor(topic, "pushed"), a_join_ref: ca.joinRefs[0],
  }
}

scenarios.censor = async(ctx) => {
  const {a, b, ca, cb, topic} = await twoInRoom(ctx, "censor", ["censored"])
  const withText = {text: "a secret", from: "a", n: 1}
  const withoutText = {from: "b", n: 2}
  const reply1 = await ca.push("censor", withText)
  const reply2 = await cb.push("censor", withoutText)
  await waitFor(() => ca.events.length >= 2 && cb.events.length >= 2, "both censored events reaching a and b")
  await sleep(150)
  return {
    topic, with_text: withText, without_text: withoutText, replies: [reply1, reply2],
    a_events: ca.eventsNamed("censored"), b_events: cb.eventsNamed("censored"),
    a_frames: a.framesFor(topic, "censored"), b_frames: b.framesFor(topic, "censored"),
    a_join_ref: ca.joinRefs[0], b_join_ref: cb.joinRefs[0],
  }
}

/** V2 only: an ArrayBuffer payload comes back as identical bytes in a binary reply. */
scenarios.binary_echo = async(ctx) => {
  const a = new Client(ctx, "a")
  await a.connect()
  const topic = `room:binary-${ctx.uid}`
  const chan = a.channel(topic, {})
  await chan.join()
  const bytes = [0, 1, 2, 3, 127, 128, 200, 254, 255, 0, 10, 13, 34, 92]
  const buffer = new Uint8Array(bytes).buffer
  const reply = await chan.push("binary_echo", buffer)
  const isArrayBuffer = reply.response instanceof ArrayBuffer
  return {topic, bytes, reply, response_is_arraybuffer: isArrayBuffer}
}

/** A slow handler on one topic must not delay another topic of the same socket. */
scenarios.slow_echo = async(ctx) => {
  const a = new Client(ctx, "a")
  await a.connect()
  const topicA = `room:a-slow-${ctx.uid}`
  const topicB = `room:b-slow-${ctx.uid}`
  const ca = a.channel(topicA, {})
  const cb = a.channel(topicB, {})
  await ca.join()
  await cb.join()
  const ms = Number(ctx.opts.ms || 1500)
  const started = Date.now()
  const slowPromise = ca.push("slow_echo", {ms}, ms + 3000)
  await sleep(20)
  const fast = await cb.push("echo", {quick: true})
  const fastAt = Date.now() - started
  const slow = await slowPromise
  const slowAt = Date.now() - started
  return {topic_a: topicA, topic_b: topicB, ms, slow, fast, slow_at_ms: slowAt, fast_at_ms: fastAt}
}

/** crash: phx_error on that topic only; the other channel answers; the client rejoins. */
scenarios.crash = async(ctx) => {
  const a = new Client(ctx, "a")
  await a.connect()
  const topicA = `room:crash-${ctx.uid}`
  const topicB = `room:crash-other-${ctx.uid}`
  const ca = a.channel(topicA, {})
  const cb = a.channel(topicB, {})
  await ca.join()
  await cb.join()
  const joinRef = ca.joinRefs[0]
  ca.push("crash", {}, 1500)
  await waitFor(() => ca.errors.length >= 1, "phx_error on the crashed channel")
  const otherEcho = await cb.push("echo", {still: "alive"})
  await waitFor(() => ca.joinReplies.length >= 2, "the crashed channel rejoining")
  const echoAfterRejoin = await ca.push("echo", {rejoined: true})
  return {
    topic: topicA, other_topic: topicB, join_ref: joinRef,
    channel_errors: ca.errors, error_frames: a.framesFor(topicA, "phx_error"),
    other_errors: cb.errors, other_echo: otherEcho,
    rejoin: ca.joinReplies[1], rejoin_join_ref: ca.joinRefs[1] || null, echo_after_rejoin: echoAfterRejoin,
    socket_closes: a.closes.length, opens: a.opens,
  }
}

/** An event the channel does not handle crashes that channel only. */
scenarios.unhandled_event = async(ctx) => {
  const a = new Client(ctx, "a", {rejoinAfterMs: () => 5000})
  await a.connect()
  const topicA = `room:unhandled-${ctx.uid}`
  const topicB = `room:unhandled-other-${ctx.uid}`
  const ca = a.channel(topicA, {})
  const cb = a.channel(topicB, {})
  await ca.join()
  await cb.join()
  const joinRef = ca.joinRefs[0]
  ca.push("no_such_event", {x: 1}, 1500)
  await waitFor(() => ca.errors.length >= 1, "phx_error after an unhandled event")
  const otherEcho = await cb.push("echo", {still: "alive"})
  return {
    topic: topicA, join_ref: joinRef, channel_errors: ca.errors,
    error_frames: a.framesFor(topicA, "phx_error"), other_errors: cb.errors, other_echo: otherEcho,
    socket_closes: a.closes.length,
  }
}

/** stop: reply ok, then phx_close; onClose fires and the channel never rejoins. */
scenarios.stop = async(ctx) => {
  const a = new Client(ctx, "a", {rejoinAfterMs: () => 50})
  await a.connect()
  const topic = `room:stop-${ctx.uid}`
  const chan = a.channel(topic, {})
  await chan.join()
  const joinRef = chan.joinRefs[0]
  const reply = await chan.push("stop", {})
  await waitFor(() => chan.closes.length >= 1, "onClose after stop")
  await sleep(500) // 10 rejoin periods: a rejoin would show up
  return {
    topic, join_ref: joinRef, reply, channel_closes: chan.closes, channel_errors: chan.errors,
    close_frames: a.framesFor(topic, "phx_close"), state: chan.state,
    joins_sent: a.sentFor(topic, "phx_join").length,
    still_registered: a.socket.channels.some(c => c.topic === topic),
    socket_closes: a.closes.length,
  }
}

scenarios.unmatched_topic = async(ctx) => {
  const a = new Client(ctx, "a", {rejoinAfterMs: () => 5000})
  await a.connect()
  const topic = `nope:${ctx.uid}`
  const chan = a.channel(topic, {})
  const join = await chan.join()
  const sentJoin = a.sentFor(topic, "phx_join")[0]
  return {topic, join, reply_frames: a.framesFor(topic, "phx_reply"), sent_join: sentJoin}
}

/** A message for a topic the socket never joined gets the unmatched topic error. */
scenarios.unjoined_push = async(ctx) => {
  const a = new Client(ctx, "a")
  await a.connect()
  const topic = `room:notjoined-${ctx.uid}`
  const ref = a.socket.makeRef()
  a.socket.push({topic, event: "echo", payload: {x: 1}, ref, join_ref: null})
  await waitFor(() => a.framesFor(topic).length >= 1, "reply to a push on a topic not joined")
  await sleep(100)
  return {topic, ref, frames: a.framesFor(topic), socket_closes: a.closes.length}
}

scenarios.presence = async(ctx) => {
  const userA = `alice-${ctx.uid}`
  const topic = `presence:${ctx.uid}`
  const {Presence} = ctx.lib

  const a = new Client(ctx, "a", {params: {user: userA}})
  await a.connect()
  const ca = a.channel(topic, {name: "Alice"})
  const pa = new Presence(ca.ch)
  let syncsA = 0
  pa.onSync(() => { syncsA++ })
  const joinA = await ca.join()
  await waitFor(() => presenceKeys(pa).includes(userA), "a seeing itself in the presence list")
  const listA1 = presenceList(pa)

  const b = new Client(ctx, "b")
  await b.connect()
  const cb = b.channel(topic, {})
  const pb = new Presence(cb.ch)
  const joinB = await cb.join()
  await waitFor(() => presenceKeys(pb).length === 2, "b seeing two presences")
  const listB1 = presenceList(pb)
  const anonKey = presenceKeys(pb).find(k => k !== userA)
  await waitFor(() => presenceKeys(pa).length === 2, "a seeing b join")
  const listA2 = presenceList(pa)

  const update = await cb.push("update", {status: "away", mood: "ok"})
  await waitFor(() => {
    const entry = presenceList(pa).find(e => e.key === anonKey)
    return entry && entry.metas.some(m => m.status === "away")
  }, "a seeing b's update")
  const listA3 = presenceList(pa)
  await waitFor(() => {
    const entry = presenceList(pb).find(e => e.key === anonKey)
    return entry && entry.metas.some(m => m.status === "away")
  }, "b seeing its own update")
  const listB2 = presenceList(pb)

  // A LongPoll client that just goes away leaves once its session expires (window * 1.5, 15 s
  // by default, as in Phoenix); this one leaves its channel first.
  // (phoenix.js reports a leave ok at once; the server's phx_close says that it arrived)
  if(ctx.transport === "longpoll"){
    cb.ch.leave()
    await waitFor(() => b.framesFor(topic, "phx_close").length > 0, "b's leave reaching the server")
  }
  b.disconnect()
  await waitFor(() => presenceKeys(pa).length === 1, "a seeing b leave")
  const listA4 = presenceList(pa)

  return {
    topic, user_a: userA, anon_key: anonKey || null, join_a: joinA, join_b: joinB, update,
    list_a_alone: listA1, list_b_after_join: listB1, list_a_after_b_join: listA2,
    list_a_after_update: listA3, list_b_after_update: listB2, list_a_after_b_left: listA4,
    a_presence_frames: a.frames.filter(f => f.topic === topic && f.event.startsWith("presence_")),
    b_presence_frames: b.frames.filter(f => f.topic === topic && f.event.startsWith("presence_")),
    a_join_ref: ca.joinRefs[0], b_join_ref: cb.joinRefs[0], syncs_a: syncsA,
  }
}

scenarios.bench = async(ctx) => {
  const a = new Client(ctx, "a")
  const b = new Client(ctx, "b")
  await Promise.all([a.connect(), b.connect()])
  const topic = `bench:${ctx.uid}`
  const ca = a.channel(topic, {}).listen("broadcast")
  const cb = b.channel(topic, {}).listen("broadcast")
  const joinA = await ca.join()
  const joinB = await cb.join()
  const payload = {seq: 1, sent_at: 12345, body: "x".repeat(64)}
  const reply = await ca.push("broadcast", payload)
  await waitFor(() => ca.events.length >= 1 && cb.events.length >= 1, "broadcast reaching a and b")
  await sleep(150)
  return {
    topic, payload, join_a: joinA, join_b: joinB, reply,
    a_events: ca.eventsNamed("broadcast"), b_events: cb.eventsNamed("broadcast"),
    a_frames: a.framesFor(topic, "broadcast"),
  }
}

/** POST /api/broadcast reaches every subscriber of the topic. */
scenarios.api_broadcast = async(ctx) => {
  const {a, ca, cb, topic} = await twoInRoom(ctx, "api", ["news"])
  const payload = {headline: "from http", n: 3, nested: {ok: true}}
  const http = await postJSON(ctx, "/api/broadcast", {topic, event: "news", payload})
  await waitFor(() => ca.events.length >= 1 && cb.events.length >= 1, "the HTTP broadcast reaching a and b")
  await sleep(150)
  return {topic, payload, http, a_events: ca.eventsNamed("news"), b_events: cb.eventsNamed("news"), a_frames: a.framesFor(topic, "news")}
}

/** POST /api/disconnect closes that user's socket; phoenix.js reconnects and rejoins. */
scenarios.api_disconnect = async(ctx) => {
  const userA = `dis-a-${ctx.uid}`
  const userB = `dis-b-${ctx.uid}`
  const a = new Client(ctx, "a", {params: {user: userA}})
  const b = new Client(ctx, "b", {params: {user: userB}})
  await Promise.all([a.connect(), b.connect()])
  const topic = `room:disconnect-${ctx.uid}`
  const ca = a.channel(topic, {})
  const cb = b.channel(topic, {})
  await ca.join()
  await cb.join()
  const http = await postJSON(ctx, "/api/disconnect", {user: userA})
  await waitFor(() => a.closes.length >= 1, "a's socket closing after /api/disconnect")
  await waitFor(() => a.opens >= 2, "a reconnecting")
  await waitFor(() => ca.joinReplies.length >= 2, "a rejoining")
  const echoA = await ca.push("echo", {back: true})
  const echoB = await cb.push("echo", {untouched: true})
  return {
    topic, user_a: userA, user_b: userB, http, a_first_close: a.closes[0], a_opens: a.opens,
    a_rejoin: ca.joinReplies[1], a_echo: echoA, b_closes: b.closes, b_opens: b.opens, b_echo: echoB,
  }
}

/** socket.ping gets a heartbeat reply. */
scenarios.heartbeat_ping = async(ctx) => {
  const a = new Client(ctx, "a")
  await a.connect()
  const rtt = await new Promise((resolve, reject) => {
    const pushed = a.socket.ping(ms => resolve(ms))
    if(!pushed){ reject(new Error("socket.ping could not push")) }
  })
  const sent = a.sentFor("phoenix", "heartbeat")
  await sleep(50)
  return {rtt, heartbeats_sent: sent, phoenix_frames: a.framesFor("phoenix")}
}

/** With heartbeatIntervalMs 200 the client stays connected: every heartbeat is answered. */
scenarios.heartbeat_interval = async(ctx) => {
  const interval = Number(ctx.opts.interval || 200)
  const duration = Number(ctx.opts.duration || 1000)
  const a = new Client(ctx, "a", {heartbeatIntervalMs: interval})
  await a.connect()
  const topic = `room:hb-${ctx.uid}`
  const chan = a.channel(topic, {})
  await chan.join()
  await sleep(duration)
  const echo = await chan.push("echo", {after: "heartbeats"})
  return {
    interval, duration, heartbeats_sent: a.sentFor("phoenix", "heartbeat"),
    phoenix_frames: a.framesFor("phoenix"), opens: a.opens, closes: a.closes, echo,
    channel_errors: chan.errors,
  }
}

/** A malformed frame closes only that socket (1011); another socket is unaffected. */
scenarios.malformed_frame = async(ctx) => {
  const a = new Client(ctx, "a", {reconnectAfterMs: () => 5000})
  const b = new Client(ctx, "b")
  await Promise.all([a.connect(), b.connect()])
  const topic = `room:malformed-${ctx.uid}`
  const ca = a.channel(topic, {})
  const cb = b.channel(topic, {})
  await ca.join()
  await cb.join()
  a.socket.conn.send(ctx.opts.frame || "this is not json {")
  await waitFor(() => a.closes.length >= 1, "a's socket closing after a malformed frame")
  a.disconnect()
  const echoB = await cb.push("echo", {fine: true})
  return {topic, a_first_close: a.closes[0], b_closes: b.closes, b_echo: echoB}
}

/** A raw ws client without vsn speaks V1 (JSON objects). Not run through phoenix.js. */
scenarios.no_vsn = async(ctx) => {
  const ws = new WebSocket(`${ctx.url}/websocket`)
  const received = []
  const closes = []
  ws.on("message", (data, isBinary) => { received.push(isBinary ? {"$binary": Array.from(data)} : JSON.parse(data.toString())) })
  ws.on("close", code => closes.push(code))
  const errors = []
  ws.on("error", error => errors.push(String(error && error.message)))
  await waitFor(() => ws.readyState === WebSocket.OPEN || closes.length > 0, "raw websocket open")
  if(ws.readyState !== WebSocket.OPEN){ throw new Error(`raw websocket did not open: ${JSON.stringify({closes, errors})}`) }
  ws.send(JSON.stringify({topic: "phoenix", event: "heartbeat", payload: {}, ref: "1"}))
  const topic = `room:novsn-${ctx.uid}`
  ws.send(JSON.stringify({topic, event: "phx_join", payload: {}, ref: "2", join_ref: "2"}))
  ws.send(JSON.stringify({topic, event: "echo", payload: {v: 1}, ref: "3", join_ref: "2"}))
  await waitFor(() => received.length >= 3, "three replies")
  ws.close()
  return {topic, received, closes, errors}
}

// ---------------------------------------------------------------------------------------------
// cluster scenarios: clients on different instances of one cluster (--urls, --http-urls)

/** A client connected to instance `index` of the cluster. */
function clientOn(ctx, name, index, options = {}){
  if(index >= ctx.urls.length){
    throw new Error(`${name}: no instance ${index} (--urls names ${ctx.urls.length})`)
  }
  return new Client(ctx, name, {...options, url: ctx.urls[index]})
}

let stdinReader = null

function stdinLines(){
  if(stdinReader === null){
    const reader = {queue: [], waiters: [], closed: false}
    const lines = createInterface({input: process.stdin})
    lines.on("line", line => {
      const waiter = reader.waiters.shift()
      if(waiter){ waiter(line) } else { reader.queue.push(line) }
    })
    lines.on("close", () => {
      reader.closed = true
      for(const waiter of reader.waiters.splice(0)){ waiter(null) }
    })
    stdinReader = reader
  }
  return stdinReader
}

/** Prints {"checkpoint": name, ...data} on one line; resolves with the JSON line the test answers. */
async function checkpoint(name, data = {}){
  const reader = stdinLines()
  process.stdout.write(JSON.stringify(toJSONable({checkpoint: name, ...data})) + "\n")
  let line
  if(reader.queue.length > 0){ line = reader.queue.shift() }
  else if(reader.closed){ line = null }
  else { line = await new Promise(resolve => reader.waiters.push(resolve)) }
  if(line === null){ throw new Error(`stdin closed while waiting at checkpoint ${name}`) }
  return JSON.parse(line)
}

/** Two clients, on instances 0 and 1, joined to one room topic and listening to `events`. */
async function twoNodesInRoom(ctx, prefix, events, optionsA = {}, optionsB = {}){
  const a = clientOn(ctx, "a", 0, optionsA)
  const b = clientOn(ctx, "b", 1, optionsB)
  await Promise.all([a.connect(), b.connect()])
  const topic = `room:${prefix}-${ctx.uid}`
  const ca = a.channel(topic, {})
  const cb = b.channel(topic, {})
  for(const event of events){ ca.listen(event); cb.listen(event) }
  const joinA = await ca.join()
  const joinB = await cb.join()
  return {a, b, ca, cb, topic, joinA, joinB}
}

function presenceFrames(client, topic){
  return client.frames.filter(f => f.topic === topic && f.event.startsWith("presence_"))
}

function pushResult(result){ return {status: result.status, response: result.response} }

/** A shout by a client of instance 0 reaches a client of instance 1, and the sender. */
scenarios.cluster_shout = async(ctx) => {
  const {b, ca, cb, topic, joinA, joinB} = await twoNodesInRoom(ctx, "cluster-shout", ["shout"])
  const payload = {
    body: "hello from instance 0", n: 7, f: 2.5, t: true, nothing: null,
    list: [1, "two", {three: 3}], nested: {k: "v"}, unicode: "héllo ✓ 日本",
  }
  const reply = await ca.push("shout", payload)
  await waitFor(() => ca.events.length >= 1 && cb.events.length >= 1, "the shout reaching a (instance 0) and b (instance 1)")
  await sleep(200) // a duplicate would show up here
  return {
    topic, payload, join_a: joinA, join_b: joinB, reply,
    a_events: ca.eventsNamed("shout"), b_events: cb.eventsNamed("shout"), b_frames: b.framesFor(topic, "shout"),
  }
}

/** censor on instance 0: the intercepted event reaches a client of instance 1 as "***". */
scenarios.cluster_censor = async(ctx) => {
  const {b, ca, cb, topic} = await twoNodesInRoom(ctx, "cluster-censor", ["censored"])
  const withText = {text: "a secret", from: "a", n: 1}
  const withoutText = {from: "a", n: 2, nested: {text: "kept"}}
  const reply1 = await ca.push("censor", withText)
  const reply2 = await ca.push("censor", withoutText)
  await waitFor(() => ca.events.length >= 2 && cb.events.length >= 2, "both censored events reaching a and b")
  await sleep(200)
  return {
    topic, with_text: withText, without_text: withoutText, replies: [pushResult(reply1), pushResult(reply2)],
    a_events: ca.eventsNamed("censored"), b_events: cb.eventsNamed("censored"), b_frames: b.framesFor(topic, "censored"),
    b_join_ref: cb.joinRefs[0],
  }
}

/** POST /api/broadcast on instance 0 reaches a client of instance 1. */
scenarios.cluster_api_broadcast = async(ctx) => {
  const {b, ca, cb, topic} = await twoNodesInRoom(ctx, "cluster-api", ["news"])
  const payload = {headline: "from http on instance 0", n: 3, nested: {ok: true}, list: [null, 1.5]}
  const http = await postJSON(ctx, "/api/broadcast", {topic, event: "news", payload}, ctx.httpUrls[0])
  await waitFor(() => ca.events.length >= 1 && cb.events.length >= 1, "the HTTP broadcast reaching a and b")
  await sleep(200)
  return {topic, payload, http, a_events: ca.eventsNamed("news"), b_events: cb.eventsNamed("news"), b_frames: b.framesFor(topic, "news")}
}

/**
 * POST /api/disconnect {"user": U} on instance 1 closes U's sockets on instance 0 (a) and on
 * instance 1 (a2); both reconnect and rejoin by themselves. Another user (c, instance 0) is untouched.
 */
scenarios.cluster_api_disconnect = async(ctx) => {
  const user = `cdis-${ctx.uid}`
  const other = `cother-${ctx.uid}`
  const a = clientOn(ctx, "a", 0, {params: {user}})
  const a2 = clientOn(ctx, "a2", 1, {params: {user}})
  const c = clientOn(ctx, "c", 0, {params: {user: other}})
  await Promise.all([a.connect(), a2.connect(), c.connect()])
  const topic = `room:cluster-disconnect-${ctx.uid}`
  const ca = a.channel(topic, {})
  const ca2 = a2.channel(topic, {})
  const cc = c.channel(topic, {})
  await Promise.all([ca.join(), ca2.join(), cc.join()])
  const posted = Date.now()
  const http = await postJSON(ctx, "/api/disconnect", {user}, ctx.httpUrls[1])
  await waitFor(() => a.closes.length >= 1 && a2.closes.length >= 1, "U's sockets on instances 0 and 1 closing")
  const closedMs = Date.now() - posted
  await waitFor(() => a.opens >= 2 && a2.opens >= 2, "U's sockets reconnecting")
  await waitFor(() => ca.joinReplies.length >= 2 && ca2.joinReplies.length >= 2, "U's channels rejoining")
  const echoA = await ca.push("echo", {back: true, instance: 0})
  const echoA2 = await ca2.push("echo", {back: true, instance: 1})
  const echoC = await cc.push("echo", {untouched: true})
  return {
    topic, user, other, http, closed_ms: closedMs,
    a_closes: a.closes, a_opens: a.opens, a_join_replies: ca.joinReplies, a_echo: pushResult(echoA),
    a2_closes: a2.closes, a2_opens: a2.opens, a2_join_replies: ca2.joinReplies, a2_echo: pushResult(echoA2),
    c_closes: c.closes, c_opens: c.opens, c_join_replies: cc.joinReplies, c_echo: pushResult(echoC),
  }
}

/** A publisher on instance 0 and subscribers on instances 1 and 2: everyone gets every shout, in order. */
scenarios.cluster_fanout = async(ctx) => {
  const count = Number(ctx.opts.count || 20)
  const p = clientOn(ctx, "p", 0)
  const s1 = clientOn(ctx, "s1", 1)
  const s2 = clientOn(ctx, "s2", 2)
  await Promise.all([p.connect(), s1.connect(), s2.connect()])
  const topic = `room:cluster-fanout-${ctx.uid}`
  const chans = [p, s1, s2].map(client => client.channel(topic, {}).listen("shout"))
  const joins = []
  for(const chan of chans){ joins.push(await chan.join()) }
  const payloads = Array.from({length: count}, (_, i) => ({seq: i, body: `message ${i}`, from: "instance 0"}))
  const replies = await Promise.all(payloads.map(payload => chans[0].push("shout", payload)))
  await waitFor(() => chans.every(chan => chan.events.length >= count), "every shout reaching the publisher and both subscribers")
  await sleep(200)
  return {
    topic, payloads, joins, replies: replies.map(pushResult),
    p_events: chans[0].eventsNamed("shout"), s1_events: chans[1].eventsNamed("shout"), s2_events: chans[2].eventsNamed("shout"),
  }
}

/**
 * Presence across instances: a (instance 0, "Alice") and b (instance 1, "Bob") join one presence
 * topic; both lists converge; b's update shows in a's list; a's leave shows in b's list.
 */
scenarios.cluster_presence = async(ctx) => {
  const topic = ctx.opts.topic || `presence:room-${ctx.uid}`
  const userA = `alice-${ctx.uid}`
  const userB = `bob-${ctx.uid}`
  const {Presence} = ctx.lib
  const a = clientOn(ctx, "a", 0, {params: {user: userA}})
  const b = clientOn(ctx, "b", 1, {params: {user: userB}})
  await Promise.all([a.connect(), b.connect()])
  const ca = a.channel(topic, {name: "Alice"})
  const cb = b.channel(topic, {name: "Bob"})
  const pa = new Presence(ca.ch)
  const pb = new Presence(cb.ch)
  const both = JSON.stringify([userA, userB].sort())
  const listsBoth = p => JSON.stringify(presenceKeys(p)) === both

  const started = Date.now()
  const [joinA, joinB] = await Promise.all([ca.join(), cb.join()])
  await waitFor(() => listsBoth(pa) && listsBoth(pb), "a and b both listing both users", 8000)
  const convergedMs = Date.now() - started
  const listA1 = presenceList(pa)
  const listB1 = presenceList(pb)

  const away = p => {
    const entry = presenceList(p).find(e => e.key === userB)
    return entry && entry.metas.some(m => m.status === "away")
  }
  const updateStarted = Date.now()
  const update = await cb.push("update", {status: "away"})
  await waitFor(() => away(pa), "a (instance 0) seeing b's update", 8000)
  const updateMs = Date.now() - updateStarted
  await waitFor(() => away(pb), "b seeing its own update")
  const listA2 = presenceList(pa)
  const listB2 = presenceList(pb)

  const leaveStarted = Date.now()
  const leave = await new Promise(resolve => {
    ca.ch.leave()
      .receive("ok", response => resolve({status: "ok", response}))
      .receive("timeout", () => resolve({status: "timeout", response: null}))
  })
  await waitFor(() => !presenceKeys(pb).includes(userA), "b (instance 1) seeing a leave", 8000)
  const leaveMs = Date.now() - leaveStarted
  const listB3 = presenceList(pb)
  await sleep(300) // a presence coming back (flapping) would show up here
  return {
    topic, user_a: userA, user_b: userB, join_a: joinA, join_b: joinB, update: pushResult(update), leave,
    converged_ms: convergedMs, update_ms: updateMs, leave_ms: leaveMs,
    list_a_both: listA1, list_b_both: listB1, list_a_after_update: listA2, list_b_after_update: listB2,
    list_b_after_leave: listB3, list_b_later: presenceList(pb),
    a_presence_frames: presenceFrames(a, topic), b_presence_frames: presenceFrames(b, topic),
  }
}

/**
 * a (instance 0) and b (instance 1) are tracked on a presence topic. At the checkpoint "tracked"
 * the test stops instance 0 (SIGKILL, SIGTERM or SIGINT) and answers {"stopped_at_ms": wall ms};
 * the scenario then times how long b's Presence keeps a's user.
 */
scenarios.cluster_presence_stop = async(ctx) => {
  const topic = ctx.opts.topic || `presence:room-${ctx.uid}`
  const userA = `victim-${ctx.uid}`
  const userB = `watcher-${ctx.uid}`
  const {Presence} = ctx.lib
  // a's instance goes away for good: no reconnection noise
  const a = clientOn(ctx, "a", 0, {params: {user: userA}, reconnectAfterMs: () => 60000})
  const b = clientOn(ctx, "b", 1, {params: {user: userB}})
  await Promise.all([a.connect(), b.connect()])
  const ca = a.channel(topic, {name: "Victim"})
  const cb = b.channel(topic, {name: "Watcher"})
  const pa = new Presence(ca.ch)
  const pb = new Presence(cb.ch)
  const both = JSON.stringify([userA, userB].sort())
  await Promise.all([ca.join(), cb.join()])
  await waitFor(() => JSON.stringify(presenceKeys(pa)) === both && JSON.stringify(presenceKeys(pb)) === both, "a and b both listing both users", 8000)
  const listB1 = presenceList(pb)
  const leaves = []
  const joins = []
  pb.onLeave((key, current, left) => { leaves.push({key, at_ms: Date.now(), left_metas: left.metas}) })
  pb.onJoin((key, current, joined) => { joins.push({key, at_ms: Date.now(), joined_metas: joined.metas}) })
  const framesBefore = b.frames.length

  const go = await checkpoint("tracked", {list_b: listB1})
  const stoppedAt = Number(go.stopped_at_ms)
  await waitFor(() => !presenceKeys(pb).includes(userA), "b (instance 1) seeing a's user leave", 15000)
  const goneAt = Date.now()
  const listB2 = presenceList(pb)
  await sleep(300) // a presence coming back would show up here
  return {
    topic, user_a: userA, user_b: userB, stopped_at_ms: stoppedAt, gone_after_ms: goneAt - stoppedAt,
    list_b_before: listB1, list_b_after: listB2, list_b_later: presenceList(pb),
    leaves: leaves.map(l => ({...l, after_ms: l.at_ms - stoppedAt})), joins,
    b_presence_frames_after: b.frames.slice(framesBefore).filter(f => f.topic === topic && f.event.startsWith("presence_")),
    b_closes: b.closes, a_closes: a.closes,
  }
}

/**
 * Redis goes away and comes back on the same port while a (instance 0) and b (instance 1) stay
 * connected. Checkpoints: "connected" (the test kills Redis), "outage_checked" (the test
 * restarts Redis and answers {"restarted_at_ms": wall ms}); then a shouts until b hears again.
 */
scenarios.cluster_redis_restart = async(ctx) => {
  const {ca, cb, topic, joinA, joinB} = await twoNodesInRoom(ctx, "cluster-redis", ["shout"])
  const sent = []
  const replies = []
  const shout = async(payload) => {
    sent.push(payload)
    const result = await ca.push("shout", payload)
    replies.push({payload, ...pushResult(result)})
    return result
  }
  const heardByB = phase => cb.eventsNamed("shout").some(e => e.phase === phase)

  await shout({phase: "before", seq: 0})
  await waitFor(() => heardByB("before"), "the first shout reaching b")
  await checkpoint("connected")

  // Redis is down now: a still hears itself; b cannot hear a
  await shout({phase: "outage", seq: 1})
  await waitFor(() => ca.eventsNamed("shout").some(e => e.phase === "outage"), "a hearing its own shout during the outage")
  await sleep(300)
  const go = await checkpoint("outage_checked", {b_events: cb.eventsNamed("shout")})
  const restartedAt = Number(go.restarted_at_ms)

  const deadline = restartedAt + Number(ctx.opts["recover-ms"] || 12000)
  let seq = 2
  let recoveredAt = null
  while(Date.now() < deadline){
    await shout({phase: "after", seq: seq++})
    try {
      await waitFor(() => heardByB("after"), "", 250)
      recoveredAt = Date.now()
      break
    } catch (error){
      if(!(error instanceof ScenarioTimeout)){ throw error }
    }
  }
  if(recoveredAt === null){ throw new Error("b heard nothing from a after Redis came back") }
  await shout({phase: "final", seq: seq++})
  await waitFor(() => heardByB("final") && ca.eventsNamed("shout").some(e => e.phase === "final"), "the final shout reaching a and b")
  await sleep(200)
  return {
    topic, join_a: joinA, join_b: joinB, sent, replies,
    recovered_after_ms: recoveredAt - restartedAt,
    a_events: ca.eventsNamed("shout"), b_events: cb.eventsNamed("shout"),
    a_closes: ca.client.closes, b_closes: cb.client.closes, a_opens: ca.client.opens, b_opens: cb.client.opens,
  }
}

// ---------------------------------------------------------------------------------------------
// LongPoll scenarios (longpoll_*; tests/integration/test_longpoll_js.py)

/**
 * A socket with longPollFallbackMs and WebSocket as its primary transport: reports the transport
 * it ends up on, and what phoenix.js remembered in its (in-memory) sessionStorage.
 */
scenarios.longpoll_fallback = async(ctx) => {
  const store = {}
  const sessionStorage = {
    getItem: key => (key in store ? store[key] : null),
    setItem: (key, value) => { store[key] = String(value) },
    removeItem: key => { delete store[key] },
  }
  const fallbackMs = Number(ctx.opts["fallback-ms"] || 300)
  const a = new Client(ctx, "a", {transport: WebSocket, longPollFallbackMs: fallbackMs, sessionStorage})
  const started = Date.now()
  await a.connect()
  const openedMs = Date.now() - started
  const topic = `room:fallback-${ctx.uid}`
  const chan = a.channel(topic, {})
  const join = await chan.join()
  const echo = await chan.push("echo", {via: "fallback"})
  await sleep(fallbackMs + 100) // a late fallback would show up here
  const transport = a.socket.transport === ctx.lib.LongPoll ? "LongPoll" : a.socket.transport.name
  return {topic, fallback_ms: fallbackMs, opened_ms: openedMs, transport, join, echo, stored: store, opens: a.opens}
}

/** LongPoll sends binary pushes as base64 lines; the server cannot send binary back. */
scenarios.longpoll_binary_push = async(ctx) => {
  const a = new Client(ctx, "a", {rejoinAfterMs: () => 5000})
  await a.connect()
  const topic = `room:lpbinary-${ctx.uid}`
  const chan = a.channel(topic, {})
  await chan.join()
  const bytes = [0, 1, 2, 255]
  const echo = await chan.push("binary_echo", new Uint8Array(bytes).buffer, 500)
  chan.push("crash", new Uint8Array(bytes).buffer, 500)
  await waitFor(() => chan.errors.length >= 1, "phx_error after a binary crash push")
  return {topic, echo, channel_errors: chan.errors, socket_closes: a.closes.length, sent: a.sentFor(topic)}
}

/** A LongPoll client and a WebSocket client in one room and one presence topic. */
scenarios.longpoll_mixed = async(ctx) => {
  const {Presence} = ctx.lib
  const userA = `lp-${ctx.uid}`
  const userB = `ws-${ctx.uid}`
  const a = new Client(ctx, "a", {transport: ctx.recordingLongPoll, params: {user: userA}})
  const b = new Client(ctx, "b", {transport: WebSocket, params: {user: userB}})
  await Promise.all([a.connect(), b.connect()])
  const topic = `room:mixed-${ctx.uid}`
  const ca = a.channel(topic, {}).listen("shout").listen("censored")
  const cb = b.channel(topic, {}).listen("shout").listen("censored")
  await ca.join()
  await cb.join()
  const fromA = await ca.push("shout", {from: "longpoll"})
  const fromB = await cb.push("shout", {from: "websocket"})
  const censored = await cb.push("censor", {text: "secret", from: "websocket"})
  await waitFor(() => ca.events.length >= 3 && cb.events.length >= 3, "every shout and censored event reaching a and b")

  const presenceTopic = `presence:mixed-${ctx.uid}`
  const pa = new Presence(a.channel(presenceTopic, {}).ch)
  const pb = new Presence(b.channel(presenceTopic, {}).ch)
  const both = JSON.stringify([userA, userB].sort())
  pa.channel.join()
  pb.channel.join()
  await waitFor(() => JSON.stringify(presenceKeys(pa)) === both && JSON.stringify(presenceKeys(pb)) === both, "a and b both listing both users")
  await sleep(150) // a duplicate would show up here
  return {
    topic, user_a: userA, user_b: userB, replies: [fromA, fromB, censored].map(pushResult),
    a_events: ca.events, b_events: cb.events, list_a: presenceKeys(pa), list_b: presenceKeys(pb),
    a_closes: a.closes, b_closes: b.closes,
  }
}

/**
 * Two instances behind a proxy that alternates between them (--proxy-url): a talks LongPoll
 * through the proxy, b WebSocket to instance 1. They shout to each other, see each other's
 * presence; then /api/disconnect on instance 1 ends a's session, and a comes back by itself.
 */
scenarios.longpoll_cluster = async(ctx) => {
  const {Presence} = ctx.lib
  const userA = `lpc-a-${ctx.uid}`
  const userB = `lpc-b-${ctx.uid}`
  const a = new Client(ctx, "a", {transport: ctx.recordingLongPoll, url: ctx.opts["proxy-url"], params: {user: userA}})
  const b = clientOn(ctx, "b", 1, {transport: WebSocket, params: {user: userB}})
  await Promise.all([a.connect(), b.connect()])
  const topic = `room:lpcluster-${ctx.uid}`
  const ca = a.channel(topic, {}).listen("shout").listen("pushed")
  const cb = b.channel(topic, {}).listen("shout").listen("pushed")
  const joinA = await ca.join()
  const joinB = await cb.join()
  const replies = []
  for(let n = 0; n < 6; n++){
    replies.push(await ca.push("shout", {from: "a", n}))
    replies.push(await cb.push("shout", {from: "b", n}))
  }
  replies.push(await ca.push("echo", {unicode: "héllo ✓ 日本", n: 1.5}))
  replies.push(await ca.push("push_me", {only: "a"}))
  await waitFor(() => ca.events.length >= 13 && cb.events.length >= 12, "every shout reaching a and b, and a's push")

  const presenceTopic = `presence:lpcluster-${ctx.uid}`
  const pa = new Presence(a.channel(presenceTopic, {}).ch)
  const pb = new Presence(b.channel(presenceTopic, {}).ch)
  const both = JSON.stringify([userA, userB].sort())
  pa.channel.join()
  pb.channel.join()
  await waitFor(() => JSON.stringify(presenceKeys(pa)) === both && JSON.stringify(presenceKeys(pb)) === both, "a and b both listing both users", 8000)
  const closesBefore = a.closes.length

  const http = await postJSON(ctx, "/api/disconnect", {user: userA}, ctx.httpUrls[1])
  await waitFor(() => a.closes.length >= 1, "a's session ending after /api/disconnect", 8000)
  await waitFor(() => a.opens >= 2 && ca.joinReplies.length >= 2, "a reconnecting and rejoining", 8000)
  const echoAfter = await ca.push("echo", {back: true})
  const shoutAfter = await ca.push("shout", {from: "a", back: true})
  await waitFor(() => cb.events.some(e => e.payload.back), "b hearing a after a came back")
  return {
    topic, user_a: userA, joins: [joinA, joinB], replies: replies.map(pushResult),
    a_events: ca.events, b_events: cb.events, closes_before_disconnect: closesBefore,
    http, a_closes: a.closes, a_opens: a.opens, rejoin: ca.joinReplies[1],
    echo_after: pushResult(echoAfter), shout_after: pushResult(shoutAfter), b_closes: b.closes,
  }
}

// ---------------------------------------------------------------------------------------------
// JWT mode scenarios (jwt_*): the contract app started with --jwt-secret
// (tests/integration/test_jwt.py).
//
// The Python test mints the tokens (pyjwt) and hands them over:
//   --mode params|auth_token   how phoenix.js gives the token: the `token` connect param, or the
//                              phoenix.js 1.8 `authToken` option (a WebSocket subprotocol);
//                              jwt_refused cases may also say "none" (no token at all)
//   --token T                  one token (a constant option)
//   --tokens [T0, T1, ...]     tokens a params/authToken *function* hands out, one per call
//   --sub S, --other O         the tokens' subject, and another user
//   --cases [{name, mode, token}]   jwt_refused only
//   --wait-ms, --watch-ms      jwt_expiry*: how long to wait for the expiry close / to watch after it
// Each JWT client logs its connects (the "connects" observations): the URL, the subprotocols
// phoenix.js offered, the one the server agreed to, and the token each one carried.

const jwtAuthPrefix = "base64url.bearer.phx."

/** A WebSocket class that logs every connect into `log`. */
function jwtRecordingWebSocket(log){
  return class JwtRecordingWebSocket extends WebSocket {
    constructor(url, protocols){
      super(url, protocols)
      const offered = protocols === undefined ? null : Array.from(protocols)
      const bearer = offered && offered.find(p => p.startsWith(jwtAuthPrefix))
      const entry = {
        url: String(url),
        protocols: offered,
        agreed: null,
        param_token: new URL(String(url)).searchParams.get("token"),
        auth_token: bearer ? Buffer.from(bearer.slice(jwtAuthPrefix.length), "base64").toString("latin1") : null,
        opened: false,
      }
      log.push(entry)
      this.on("open", () => { entry.opened = true; entry.agreed = this.protocol })
    }
  }
}

/** Client options giving `token` (a string or a function) the `mode` way; `params` are added. */
function jwtClientOptions(mode, token, log, params = {}, options = {}){
  const transport = jwtRecordingWebSocket(log)
  if(mode === "params"){
    const withToken = typeof token === "function" ? () => ({...params, token: token()}) : {...params, token}
    return {...options, transport, params: withToken}
  }
  if(mode === "auth_token"){ return {...options, transport, params, authToken: token} }
  if(mode === "none"){ return {...options, transport, params} }
  throw new Error(`unknown --mode ${mode} (params, auth_token or none)`)
}

/** A token function that hands out `tokens` in order (the last one again once all are used). */
function jwtDispenser(tokens){
  if(!Array.isArray(tokens) || tokens.length === 0){ throw new Error("--tokens must be a non-empty JSON list") }
  const handedOut = []
  const next = () => {
    const index = Math.min(handedOut.length, tokens.length - 1)
    handedOut.push(index)
    return tokens[index]
  }
  return {next, handedOut}
}

/** A valid token (--token, --mode): the socket opens and a room join names the token's sub. */
scenarios.jwt_join = async(ctx) => {
  const connects = []
  const a = new Client(ctx, "a", jwtClientOptions(ctx.opts.mode, ctx.opts.token, connects))
  await a.connect()
  const topic = `room:jwt-${ctx.uid}`
  const chan = a.channel(topic, {})
  const join = await chan.join()
  const echo = await chan.push("echo", {hello: "jwt"})
  return {topic, join, echo: pushResult(echo), connects, closes: a.closes, errors: a.errors}
}

/**
 * room:private:<sub> joins; room:private:<other> is refused. The socket is also given
 * ?user=<other>, which JWT mode ignores (the sub is the user).
 */
scenarios.jwt_private = async(ctx) => {
  const {sub, other} = ctx.opts
  const connects = []
  // a refused join would be retried every rejoinAfterMs: not during this scenario
  const options = {rejoinAfterMs: () => 60000}
  const a = new Client(ctx, "a", jwtClientOptions(ctx.opts.mode, ctx.opts.token, connects, {user: other}, options))
  await a.connect()
  const own = a.channel(`room:private:${sub}`, {})
  const ownJoin = await own.join()
  const ownEcho = await own.push("echo", {mine: true})
  const theirs = a.channel(`room:private:${other}`, {})
  const theirJoin = await theirs.join()
  const roomTopic = `room:jwt-private-${ctx.uid}`
  const room = a.channel(roomTopic, {})
  const roomJoin = await room.join()
  await sleep(100) // a late close or frame would show up here
  return {
    own_topic: own.topic, own_join: ownJoin, own_echo: pushResult(ownEcho),
    their_topic: theirs.topic, their_join: theirJoin, their_state: theirs.state,
    their_joins_sent: a.sentFor(theirs.topic, "phx_join").length,
    room_topic: roomTopic, room_join: roomJoin, connects, closes: a.closes,
  }
}

/**
 * The socket id is user_socket:<sub>: POST /api/disconnect {"user": <other>} (the ignored
 * ?user=) closes nothing; {"user": <sub>} closes it (1001), and phoenix.js comes back.
 */
scenarios.jwt_socket_id = async(ctx) => {
  const {sub, other} = ctx.opts
  const connects = []
  const a = new Client(ctx, "a", jwtClientOptions(ctx.opts.mode, ctx.opts.token, connects, {user: other}))
  await a.connect()
  const topic = `room:private:${sub}`
  const chan = a.channel(topic, {})
  await chan.join()
  const httpOther = await postJSON(ctx, "/api/disconnect", {user: other})
  await sleep(300) // a wrong close would show up here
  const closesAfterOther = a.closes.length
  const httpSub = await postJSON(ctx, "/api/disconnect", {user: sub})
  await waitFor(() => a.closes.length >= 1, "a's socket closing after /api/disconnect of its sub")
  await waitFor(() => a.opens >= 2 && chan.joinReplies.length >= 2, "a reconnecting and rejoining")
  const echo = await chan.push("echo", {back: true})
  return {
    topic, http_other: httpOther, closes_after_other: closesAfterOther, http_sub: httpSub,
    closes: a.closes, opens: a.opens, join_replies: chan.joinReplies, echo: pushResult(echo), connects,
  }
}

/**
 * Refused tokens. --cases [{name, mode, token}] (mode none: no token at all); one client per
 * case, all at once. Each must see the upgrade fail (error, close) and never open.
 */
scenarios.jwt_refused = async(ctx) => {
  const cases = JSON.parse(ctx.opts.cases)
  const results = await Promise.all(cases.map(async(c) => {
    const connects = []
    const client = new Client(ctx, c.name, jwtClientOptions(c.mode, c.token, connects, {}, {reconnectAfterMs: () => 100}))
    client.socket.connect()
    await waitFor(() => client.closes.length > 0 && client.errors.length > 0, `${c.name}: error and close after a refused connect`)
    client.disconnect()
    return [c.name, client, connects]
  }))
  await sleep(150) // a wrongly accepted connection would show up here
  const observed = {}
  for(const [name, client, connects] of results){
    observed[name] = {
      opens: client.opens, first_close: client.closes[0], first_error: client.errors[0],
      frames: client.frames, connects,
    }
  }
  return {cases: observed}
}

/**
 * Expiry while connected. A params or authToken *function* (--mode) hands out --tokens in order:
 * the first one expires soon, the next ones later. The scenario joins room:private:<sub>, waits for
 * the server to close the socket when the first token expires, and for phoenix.js to reconnect
 * (with the next token), rejoin and echo.
 */
scenarios.jwt_expiry = async(ctx) => {
  const {sub} = ctx.opts
  const dispenser = jwtDispenser(JSON.parse(ctx.opts.tokens))
  const connects = []
  const a = new Client(ctx, "a", jwtClientOptions(ctx.opts.mode, dispenser.next, connects))
  const openedAt = []
  const closedAt = []
  a.socket.onOpen(() => { openedAt.push(Date.now()) })
  a.socket.onClose(() => { closedAt.push(Date.now()) })
  await a.connect()
  const topic = `room:private:${sub}`
  const chan = a.channel(topic, {})
  await chan.join()
  const echoBefore = await chan.push("echo", {before: "expiry"})
  const waitMs = Number(ctx.opts["wait-ms"] || 6000)
  await waitFor(() => a.closes.length >= 1, "the server closing the socket when the token expires", waitMs)
  await waitFor(() => a.opens >= 2, "phoenix.js reconnecting")
  await waitFor(() => chan.joinReplies.length >= 2, "the channel rejoining")
  const echoAfter = await chan.push("echo", {after: "expiry"})
  await sleep(200) // another close would show up here
  return {
    topic, handed_out: dispenser.handedOut, connects, closes: a.closes, opens: a.opens,
    opened_at_ms: openedAt, closed_at_ms: closedAt, join_replies: chan.joinReplies,
    join_refs: chan.joinRefs, joins_sent: a.sentFor(topic, "phx_join"), channel_errors: chan.errors,
    echo_before: pushResult(echoBefore), echo_after: pushResult(echoAfter),
  }
}

/**
 * Expiry with a constant token (a string, not a function). After the server closes the socket
 * when the token expires, phoenix.js reconnects with the same, now expired, token: each attempt
 * should be refused like token=bad. The scenario watches --watch-ms after the first close.
 */
scenarios.jwt_expiry_constant = async(ctx) => {
  const connects = []
  const a = new Client(ctx, "a", jwtClientOptions(ctx.opts.mode, ctx.opts.token, connects))
  const closedAt = []
  a.socket.onClose(() => { closedAt.push(Date.now()) })
  await a.connect()
  const topic = `room:jwt-constant-${ctx.uid}`
  const chan = a.channel(topic, {})
  const join = await chan.join()
  const waitMs = Number(ctx.opts["wait-ms"] || 6000)
  await waitFor(() => a.closes.length >= 1, "the server closing the socket when the token expires", waitMs)
  await sleep(Number(ctx.opts["watch-ms"] || 1500))
  a.disconnect()
  return {
    topic, join, opens: a.opens, closes: a.closes, errors: a.errors, closed_at_ms: closedAt,
    connects: connects.length, joins_sent: a.sentFor(topic, "phx_join").length,
  }
}

// ---------------------------------------------------------------------------------------------
// metrics (tests/integration/test_metrics_js.py reads GET /metrics meanwhile)

/**
 * a and b on WebSocket and c on LongPoll join one room, and a a presence topic; a is refused a
 * join and b's join crashes (neither is tried again); a echoes, b shouts to all three; a
 * connection with token=bad is refused. At the checkpoint "busy" the test reads the metrics and
 * is told how many frames each client sent; then c leaves its room, and the runner disconnects
 * every client at the end.
 */
scenarios.metrics_traffic = async(ctx) => {
  const once = {rejoinAfterMs: () => 60000}
  const a = new Client(ctx, "a", once)
  const b = new Client(ctx, "b", once)
  const c = new Client(ctx, "c", {...once, transport: ctx.recordingLongPoll})
  await Promise.all([a.connect(), b.connect(), c.connect()])
  const topic = `room:metrics-${ctx.uid}`
  const rooms = [a, b, c].map(client => client.channel(topic, {}).listen("shout"))
  const joins = []
  for(const room of rooms){ joins.push(await room.join()) }
  const presence = a.channel(`presence:metrics-${ctx.uid}`, {}).listen("presence_state")
  joins.push(await presence.join())
  await waitFor(() => presence.events.length > 0, "a's presence_state")
  const refused = await a.channel("room:forbidden", {}).join()
  const crashed = await b.channel(`room:metrics-crash-${ctx.uid}`, {crash: true}).join()
  const echo = await rooms[0].push("echo", {n: 1})
  const shout = await rooms[1].push("shout", {n: 2})
  await waitFor(() => rooms.every(room => room.events.length === 1), "the shout reaching a, b and c")
  const bad = new Client(ctx, "bad", {params: {token: "bad"}, reconnectAfterMs: () => 60000})
  bad.socket.connect()
  await waitFor(() => bad.errors.length > 0, "the refused connection's error")
  bad.disconnect()
  await checkpoint("busy", {sent: Object.fromEntries(ctx.clients.map(client => [client.name, client.sent.length]))})
  rooms[2].ch.leave()
  await waitFor(() => c.framesFor(topic, "phx_close").length > 0, "c's leave reaching the server")
  return {topic, joins, refused, crashed, echo, shout}
}

// ---------------------------------------------------------------------------------------------
// main

async function main(){
  const opts = parseArgs(process.argv.slice(2))
  for(const required of ["url", "scenario"]){
    if(!opts[required]){ throw new Error(`--${required} is required`) }
  }
  const clientName = opts.client || "phoenix"
  const lib = LIBS[clientName]
  if(!lib){ throw new Error(`unknown --client ${clientName} (expected ${Object.keys(LIBS).join(" or ")})`) }
  const vsn = opts.vsn || "2.0.0"
  if(vsn !== "2.0.0" && vsn !== "1.0.0"){ throw new Error(`unsupported --vsn ${vsn}`) }
  const scenario = scenarios[opts.scenario]
  if(!scenario){ throw new Error(`unknown --scenario ${opts.scenario}; known: ${Object.keys(scenarios).join(", ")}`) }
  const url = opts.url.replace(/\/+$/, "")
  const httpUrl = (opts["http-url"] || url.replace(/^ws(s?):/, "http$1:").replace(/\/socket$/, "")).replace(/\/+$/, "")
  const timeoutMs = Number(opts.timeout || 10000)

  const urls = opts.urls ? JSON.parse(opts.urls).map(u => u.replace(/\/+$/, "")) : [url]
  const httpUrls = opts["http-urls"] ? JSON.parse(opts["http-urls"]).map(u => u.replace(/\/+$/, "")) : [httpUrl]
  const transport = opts.transport || "websocket"
  if(transport !== "websocket" && transport !== "longpoll"){ throw new Error(`unsupported --transport ${transport}`) }
  const ctx = {
    opts, lib, client: clientName, vsn, url, httpUrl, urls, httpUrls, uid: opts.uid || uniqueId(), clients: [],
    transport, recordingLongPoll: class RecordingLongPoll extends lib.LongPoll {},
  }
  const partial = () => toJSONable({
    scenario: opts.scenario, client: clientName, vsn, transport,
    clients: Object.fromEntries(ctx.clients.map(c => [c.name, c.observations()])),
  })

  let timer
  const overall = new Promise((_resolve, reject) => {
    timer = setTimeout(() => reject(new ScenarioTimeout(`scenario ${opts.scenario} exceeded ${timeoutMs} ms`)), timeoutMs)
  })
  try {
    const result = await Promise.race([scenario(ctx), overall])
    clearTimeout(timer)
    // snapshot before disconnecting: the disconnect itself fires channel error callbacks
    const output = toJSONable({
      scenario: opts.scenario, client: clientName, vsn, transport,
      library_version: installedVersion(clientName),
      ...result,
      clients: Object.fromEntries(ctx.clients.map(c => [c.name, c.observations()])),
    })
    for(const c of ctx.clients){ c.disconnect() }
    process.stdout.write(JSON.stringify(output) + "\n", () => process.exit(0))
  } catch (error){
    clearTimeout(timer)
    const kind = error instanceof ScenarioTimeout ? "TIMEOUT" : "ERROR"
    let observed
    try { observed = JSON.stringify(partial()) } catch (_e){ observed = "(unavailable)" }
    process.stderr.write(
      `${kind} in scenario ${opts.scenario} (client ${clientName}, vsn ${vsn}): ${error && error.stack || error}\n` +
      `observed so far: ${observed}\n`,
      () => process.exit(error instanceof ScenarioTimeout ? 3 : 1),
    )
  }
}

main().catch(error => {
  process.stderr.write(`ERROR: ${error && error.stack || error}\n`, () => process.exit(2))
})
