// Message history and recovery on rejoin (CONTRACT.md, channel `history:*`) with phoenix.js 1.8.
//
//   node history.mjs --urls JSON --http-urls JSON --scenario NAME [--timeout MS] [--uid UID]
//                    [scenario options, below]
//
// --urls / --http-urls list the instances (ws://HOST:PORT/socket, http://HOST:PORT), same order.
// Prints one JSON object (the observations) on stdout and exits 0; on a failure, a message and
// what was observed so far on stderr, and a non-zero exit. Some scenarios stop at checkpoints, as
// in run.mjs: {"checkpoint": NAME, ...} on one line of stdout, then one JSON line read from stdin
// (the test acts meanwhile). tests/integration/test_history_js.py makes the assertions.
//
// Subscribers follow the documented pattern: the join payload is a function of the last message
// seen, which phoenix.js calls again on every rejoin, and the last message is read from the ref
// slot that phoenix.js hands to `channel.on` callbacks as their second argument:
//
//   let last = null
//   const ch = socket.channel(topic, () => (last ? {since: last} : {}))
//   ch.on("shout", (payload, ref) => { const [o, e] = ref.split(":"); last = {offset: Number(o), epoch: e} })

import {readFileSync} from "node:fs"
import {createInterface} from "node:readline"
import WebSocket from "ws"
import * as phoenix from "phoenix"
import {parseArgs, sleep} from "./cli.mjs"

// Where a client "offline" connects: nothing listens on port 1, so every attempt fails at once,
// as when the network is down, and phoenix.js keeps retrying by itself.
const OFFLINE_URL = "ws://127.0.0.1:1/socket/websocket"

class ScenarioTimeout extends Error {}

/** Polls `predicate` every 5 ms until it is truthy; rejects after `ms` with `label`. */
async function waitFor(predicate, label, ms = 5000){
  const deadline = Date.now() + ms
  for(;;){
    const value = predicate()
    if(value){ return value }
    if(Date.now() >= deadline){ throw new ScenarioTimeout(`timeout after ${ms} ms waiting for: ${label}`) }
    await sleep(5)
  }
}

let stdinReader = null

/** Prints {"checkpoint": name, ...data} on one line; resolves with the JSON line the test answers. */
async function checkpoint(name, data = {}){
  if(stdinReader === null){
    const reader = stdinReader = {queue: [], waiters: [], closed: false}
    const lines = createInterface({input: process.stdin})
    lines.on("line", line => {
      const waiter = reader.waiters.shift()
      if(waiter){ waiter(line) } else { reader.queue.push(line) }
    })
    lines.on("close", () => {
      reader.closed = true
      for(const waiter of reader.waiters.splice(0)){ waiter(null) }
    })
  }
  process.stdout.write(JSON.stringify({checkpoint: name, ...data}) + "\n")
  const reader = stdinReader
  const line = reader.queue.length > 0 ? reader.queue.shift()
    : reader.closed ? null : await new Promise(resolve => reader.waiters.push(resolve))
  if(line === null){ throw new Error(`stdin closed while waiting at checkpoint ${name}`) }
  return JSON.parse(line)
}

async function postJSON(httpUrl, path, body){
  const response = await fetch(`${httpUrl}${path}`, {
    method: "POST", headers: {"content-type": "application/json"}, body: JSON.stringify(body),
  })
  const text = await response.text()
  let parsed
  try { parsed = JSON.parse(text) } catch (_error){ parsed = {"$text": text} }
  return {status: response.status, body: parsed}
}

/** The V1 serializer (vsn 1.0.0): one JSON object per frame; phoenix.js 1.8 has only V2 built in. */
const V1 = {
  encode(msg, callback){
    const {topic, event, payload} = msg
    return callback(JSON.stringify({topic, event, payload, ref: msg.ref ?? null, join_ref: msg.join_ref ?? null}))
  },
  decode(raw, callback){
    const {topic, event, payload, ref} = JSON.parse(raw)
    return callback({topic, event, payload, ref: ref ?? null, join_ref: null})
  },
}

// ---------------------------------------------------------------------------------------------
// clients

/**
 * A phoenix.js socket on instance `node` (ctx.urls), with `?user=` when given. It can go
 * offline (every connect attempt fails until it is back online), be pointed at another
 * instance for its next connect (`socket.endPoint`, what phoenix.js builds its URL from), and
 * go silent (no heartbeats, nothing read) until woken up.
 */
class Client {
  constructor(ctx, name, {node = 0, user, heartbeatIntervalMs = 30000, rejoinAfterMs = 100, vsn = "2.0.0"} = {}){
    this.name = name
    this.online = true
    this.connects = []   // the URL of every attempt made while online
    this.opens = 0
    this.closes = []     // closes of connections that had opened: {code, reason}
    this.sent = []       // every outbound message, as phoenix.js handed it to the serializer
    this.raw = []        // every inbound frame, as it came off the wire (parsed JSON)
    this.subscribers = []
    const client = this
    class GatedWebSocket extends WebSocket {
      constructor(url, protocols){
        super(client.online ? url : OFFLINE_URL, protocols)
        this.opened = false
        if(client.online){ client.connects.push(String(url)) }
        this.on("open", () => { this.opened = true })
      }
    }
    const base = vsn === "1.0.0" ? V1 : phoenix.Serializer
    this.socket = new phoenix.Socket(ctx.urls[node], {
      transport: GatedWebSocket,
      vsn,
      params: user === undefined ? {} : {user},
      encode: (msg, callback) => { this.sent.push(msg); return base.encode(msg, callback) },
      decode: (raw, callback) => { this.raw.push(JSON.parse(raw)); return base.decode(raw, callback) },
      timeout: 10000,
      heartbeatIntervalMs,
      reconnectAfterMs: () => 50,
      rejoinAfterMs: () => rejoinAfterMs,
    })
    this.socket.onOpen(() => { this.opens++ })
    this.socket.onClose(event => {
      if(event && event.target && event.target.opened){
        this.closes.push({code: event.code, reason: String(event.reason ?? "")})
      }
    })
    ctx.clients.push(this)
  }

  async connect(){
    this.socket.connect()
    await waitFor(() => this.opens > 0, `${this.name}: socket open`)
  }

  /** Its next connect goes to instance `node` (phoenix.js builds the URL from socket.endPoint). */
  pointAt(ctx, node){ this.socket.endPoint = `${ctx.urls[node]}/websocket` }

  /** To the server, a client that vanished without a word: it sends nothing and reads nothing. */
  goSilent(){
    this.socket.clearHeartbeats()
    this.socket.sendHeartbeat = () => {}
    this.socket.conn.pause()  // ws stops reading its TCP socket
  }

  wakeUp(){
    delete this.socket.sendHeartbeat  // phoenix.js's own again
    this.socket.conn.resume()
    this.socket.resetHeartbeat()
  }

  joinsSent(topic){
    return this.sent.filter(m => m.topic === topic && m.event === "phx_join").map(m => m.payload)
  }

  disconnect(){ try { this.socket.disconnect() } catch (_error){ /* gone already */ } }
}

/** A history channel, joined with the documented pattern, recording every `event` with its ref. */
class Subscriber {
  constructor(client, topic, {event = "shout", params} = {}){
    this.client = client
    this.topic = topic
    this.last = null
    this.received = []      // {ref, payload}, in arrival order
    this.joinReplies = []   // {status, response, received}: `received` counts what came before it
    this.errors = 0
    const payload = params !== undefined ? params : () => (this.last ? {since: this.last} : {})
    this.ch = client.socket.channel(topic, payload)
    this.ch.on(event, (payload, ref) => {
      const [o, e] = ref.split(":")
      this.last = {offset: Number(o), epoch: e}
      this.received.push({ref, payload})
    })
    this.ch.onError(() => { this.errors++ })
    client.subscribers.push(this)
  }

  /** Joins; resolves with the first reply. phoenix.js keeps the hooks for every rejoin. */
  async join(){
    const record = status => response => {
      this.joinReplies.push({status, response: response ?? null, received: this.received.length})
    }
    this.ch.join()
      .receive("ok", record("ok"))
      .receive("error", record("error"))
      .receive("timeout", record("timeout"))
    await waitFor(() => this.joinReplies.length > 0, `${this.client.name}: join reply on ${this.topic}`, 11000)
    return this.joinReplies[0]
  }

  leave(){
    return new Promise(resolve => {
      this.ch.leave().receive("ok", () => resolve("ok")).receive("timeout", () => resolve("timeout"))
    })
  }

  shout(payload){ return push(this.ch, "shout", payload) }

  observations(){ return {received: this.received, join_replies: this.joinReplies, errors: this.errors} }
}

function push(ch, event, payload){
  return new Promise(resolve => {
    ch.push(event, payload)
      .receive("ok", response => resolve({status: "ok", response}))
      .receive("error", response => resolve({status: "error", response}))
      .receive("timeout", () => resolve({status: "timeout", response: null}))
  })
}

/** Shouts `payloads` all at once (phoenix.js sends them in order); fails unless every one is ok. */
async function shoutAll(sub, payloads){
  const replies = await Promise.all(payloads.map(p => sub.shout(p)))
  const bad = replies.filter(r => r.status !== "ok")
  if(bad.length > 0){ throw new Error(`${bad.length} shouts failed, first: ${JSON.stringify(bad[0])}`) }
  return replies
}

function payloads(phase, from, count){
  return Array.from({length: count}, (_v, i) => ({phase, n: from + i}))
}

// ---------------------------------------------------------------------------------------------
// scenarios

const scenarios = {}

/**
 * A subscriber is away while messages are broadcast, then comes back by itself.
 *
 * a (user U, on instance --subscriber-node) subscribes; c (instance --shouter-node) subscribes
 * too, the reference of what was broadcast, and shouts 5 messages. Then a goes away, --away:
 *   "disconnect": a goes offline and POST /api/disconnect {"user": U} closes its socket;
 *   "silent":     a stops sending and reading, and the server's idle timeout closes it.
 * Meanwhile --count messages are broadcast, --away-via "http" (POST /api/broadcast, to the
 * shouter's instance, one at a time) or "shout" (c's shouts); when silent, half of them before
 * --silent-ms have passed (the server still has a's socket), half after. Then a is pointed at
 * --reconnect-node and comes back; c shouts live messages, one at a time: at most
 * --live-before-rejoin (default 0) until a's rejoin reply, then 20 more.
 */
scenarios.away = async(ctx) => {
  const {opts} = ctx
  const away = opts.away || "disconnect"
  const count = Number(opts.count || 1000)
  const subscriberNode = Number(opts["subscriber-node"] || 0)
  const shouterNode = Number(opts["shouter-node"] || 0)
  const heartbeatIntervalMs = Number(opts["heartbeat-ms"] || 30000)
  const user = `away-${ctx.uid}`
  const topic = `history:away-${ctx.uid}`
  const a = new Client(ctx, "a", {node: subscriberNode, user, heartbeatIntervalMs})
  const c = new Client(ctx, "c", {node: shouterNode, heartbeatIntervalMs})
  await Promise.all([a.connect(), c.connect()])
  const sa = new Subscriber(a, topic)
  const sc = new Subscriber(c, topic)
  await sa.join()
  await sc.join()

  const before = payloads("before", 1, 5)
  for(const p of before){ await sc.shout(p) }
  await waitFor(() => sa.received.length === 5, "a receiving the 5 first messages")

  const awayMessages = payloads("away", 6, count)
  const broadcastAway = async(batch) => {
    if(opts["away-via"] === "http"){
      for(const p of batch){
        const http = await postJSON(ctx.httpUrls[shouterNode], "/api/broadcast", {topic, event: "shout", payload: p})
        if(http.status !== 200){ throw new Error(`POST /api/broadcast: ${JSON.stringify(http)}`) }
      }
    } else {
      await shoutAll(sc, batch)
    }
  }
  const seenByC = n => waitFor(() => sc.received.length >= n, `c receiving ${n} messages`, 15000)

  let disconnectHttp = null
  let silentAt = null
  if(away === "disconnect"){
    a.online = false
    disconnectHttp = await postJSON(ctx.httpUrls[subscriberNode], "/api/disconnect", {user})
    await waitFor(() => a.closes.length === 1, "a's socket closing after /api/disconnect")
    await broadcastAway(awayMessages)
    await seenByC(5 + count)
  } else {
    a.goSilent()
    silentAt = Date.now()
    const half = Math.floor(count / 2)
    await broadcastAway(awayMessages.slice(0, half))
    await seenByC(5 + half)
    await sleep(Math.max(0, silentAt + Number(opts["silent-ms"]) - Date.now()))
    await broadcastAway(awayMessages.slice(half))
    await seenByC(5 + count)
  }
  const receivedWhileAway = sa.received.length

  a.pointAt(ctx, Number(opts["reconnect-node"] || subscriberNode))
  if(away === "silent"){ a.wakeUp() }
  const wokeAt = Date.now()
  a.online = true

  // live messages: up to --live-before-rejoin while a reconnects and rejoins (the history keeps
  // 1,000: these and the away ones must not be more), then 20 after a's rejoin reply
  const maxBefore = Number(opts["live-before-rejoin"] || 0)
  let live = 5 + count
  let liveBeforeRejoin = 0
  let afterRejoin = 0
  while(afterRejoin < 20){
    if(Date.now() - wokeAt > 15000){ throw new ScenarioTimeout("a did not rejoin within 15 s") }
    const rejoined = sa.joinReplies.length >= 2
    if(!rejoined && liveBeforeRejoin >= maxBefore){ await sleep(5); continue }
    const reply = await sc.shout({phase: "live", n: ++live})
    if(reply.status !== "ok"){ throw new Error(`live shout: ${JSON.stringify(reply)}`) }
    if(rejoined){ afterRejoin++ } else { liveBeforeRejoin++ }
  }
  await seenByC(live)
  await waitFor(() => sa.received.length >= live, `a receiving all ${live} messages`, 15000)
  await sleep(200)  // a duplicate would show up here
  return {
    topic, user, count, live_total: live, live_before_rejoin: liveBeforeRejoin, disconnect_http: disconnectHttp,
    received_while_away: receivedWhileAway, silent_ms: silentAt === null ? null : wokeAt - silentAt,
    a: {...sa.observations(), joins_sent: a.joinsSent(topic), connects: a.connects, opens: a.opens, closes: a.closes},
    c: {...sc.observations(), opens: c.opens, closes: c.closes},
  }
}

/**
 * Joins of one topic with explicit `since` payloads (--probes, a JSON list of names; each is
 * resolved against the topic's epoch E once known): what each join answers and what it
 * recovers. c subscribes ({}) and shouts --old messages; after --wait-ms, --fresh more. Then
 * each probe joins on p's socket, one after another: its reply, the messages it received within
 * 300 ms, then a live shout it must hear next; then it leaves.
 */
scenarios.probes = async(ctx) => {
  const {opts} = ctx
  const topic = `history:probes-${ctx.uid}`
  const c = new Client(ctx, "c")
  const p = new Client(ctx, "p", {rejoinAfterMs: 60000})
  await Promise.all([c.connect(), p.connect()])
  const sc = new Subscriber(c, topic)
  const join = await sc.join()
  const epoch = join.response.epoch
  const old = Number(opts.old || 0)
  const fresh = Number(opts.fresh || 0)
  const shoutReplies = await shoutAll(sc, payloads("old", 1, old))
  await sleep(Number(opts["wait-ms"] || 0))
  shoutReplies.push(...await shoutAll(sc, payloads("fresh", old + 1, fresh)))
  let last = old + fresh
  await waitFor(() => sc.received.length === last, "c receiving its own shouts")

  const probes = []
  for(const probe of JSON.parse(opts.probes)){
    const since = {offset: probe.offset, epoch: probe.epoch === "E" ? epoch : probe.epoch}
    const sp = new Subscriber(p, topic, {params: {since}})
    const reply = await sp.join()
    await sleep(300)  // what it recovers comes right after the reply
    const recovered = sp.received.slice()
    last++
    await sc.shout({phase: "live", n: last})
    await waitFor(() => sp.received.length > recovered.length, `probe ${JSON.stringify(since)} hearing a live shout`)
    probes.push({since, reply, recovered, next: sp.received[recovered.length], left: await sp.leave()})
  }
  return {topic, epoch, join, shout_replies: shoutReplies, probes, c: sc.observations()}
}

/**
 * Redis restarts without persistence. s subscribes (documented pattern, user U) and c shouts 3
 * messages; checkpoint "shouted" (the test restarts Redis); then p joins with since {3, E}
 * (phoenix.js rejoins by itself while the history is unavailable), and shouts until it and s hear
 * one; checkpoint "heard" (with both epochs). Then s is disconnected (POST /api/disconnect) and
 * comes back with since = the last message it heard, in the new epoch.
 */
scenarios.redis_restart = async(ctx) => {
  const user = `restart-${ctx.uid}`
  const topic = `history:restart-${ctx.uid}`
  const c = new Client(ctx, "c")
  const s = new Client(ctx, "s", {user})
  const p = new Client(ctx, "p")
  await Promise.all([c.connect(), s.connect(), p.connect()])
  const ss = new Subscriber(s, topic)
  const sc = new Subscriber(c, topic)
  await ss.join()
  await sc.join()
  const epoch = sc.joinReplies[0].response.epoch
  await shoutAll(sc, payloads("before", 1, 3))
  await waitFor(() => ss.received.length === 3, "s receiving the 3 shouts")
  await checkpoint("shouted", {epoch})

  const sp = new Subscriber(p, topic, {params: {since: {offset: 3, epoch}}})
  sp.join()
  await waitFor(() => sp.joinReplies.some(r => r.status === "ok"), "p's join succeeding after the restart", 15000)
  const shouts = []
  const heard = () => ss.received.length > 3 && sp.received.length > 0
  for(let n = 1; !heard(); n++){
    if(n > 300){ throw new ScenarioTimeout("nobody heard p's shouts after the restart") }
    shouts.push({n, reply: await sp.shout({phase: "after", n})})
    await sleep(50)
  }
  await sleep(200)
  const sHeard = ss.received.length
  await checkpoint("heard")

  await postJSON(ctx.httpUrls[0], "/api/disconnect", {user})
  await waitFor(() => ss.joinReplies.length >= 2, "s rejoining after /api/disconnect")
  const reply = await sp.shout({phase: "final"})
  await waitFor(() => ss.received.some(m => m.payload.phase === "final"), "s hearing the final shout")
  await sleep(200)
  return {
    topic, epoch, shouts, final_reply: reply, s_heard_before_rejoin: sHeard,
    s: {...ss.observations(), joins_sent: s.joinsSent(topic), closes: s.closes},
    c: sc.observations(), p: sp.observations(),
  }
}

/**
 * Malformed and unrecoverable `since`s do not disturb anyone. w subscribes to the topic T; x
 * joins a room and another history topic T2 (whose epoch is "another topic's"), then tries
 * each of --cases ([{name, payload}], "E" and "E2" in a since's epoch stand for T's and T2's
 * epochs, "LAST+1" in its offset for T's last offset + 1) on T, one after another: before each,
 * w shouts; after an ok, x's channel must hear w's next shout. x's room echoes after each case.
 */
scenarios.bad_since = async(ctx) => {
  const topic = `history:bad-${ctx.uid}`
  const topic2 = `history:bad2-${ctx.uid}`
  const room = `room:bad-${ctx.uid}`
  const w = new Client(ctx, "w")
  const x = new Client(ctx, "x", {rejoinAfterMs: 60000})  // a refused join is not retried here
  await Promise.all([w.connect(), x.connect()])
  const sw = new Subscriber(w, topic)
  await sw.join()
  const epoch = sw.joinReplies[0].response.epoch
  const xRoom = x.socket.channel(room, {})
  const roomErrors = []
  xRoom.onError(() => roomErrors.push("error"))
  await new Promise((resolve, reject) => { xRoom.join().receive("ok", resolve).receive("error", reject) })
  const x2 = new Subscriber(x, topic2)
  await x2.join()
  const epoch2 = x2.joinReplies[0].response.epoch

  let shouted = 0
  const resolve = value => {
    if(value === "E"){ return epoch }
    if(value === "E2"){ return epoch2 }
    if(value === "LAST+1"){ return shouted + 1 }
    if(Array.isArray(value)){ return value.map(resolve) }
    if(value && typeof value === "object"){
      return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, resolve(v)]))
    }
    return value
  }
  const results = []
  for(const {name, payload} of JSON.parse(ctx.opts.cases)){
    await sw.shout({case: name, n: ++shouted})
    await waitFor(() => sw.received.length === shouted, `w hearing its shout before case ${name}`)
    const sent = resolve(payload)
    const sx = new Subscriber(x, topic, {params: sent})
    const reply = await sx.join()
    const result = {name, sent, reply}
    if(reply.status === "ok"){
      await sleep(200)
      result.recovered = sx.received.slice()
      await sw.shout({case: name, n: ++shouted, live: true})
      await waitFor(() => sx.received.length > result.recovered.length, `x hearing a live shout after case ${name}`)
      result.next = sx.received[result.recovered.length]
      result.left = await sx.leave()
    } else {
      x.socket.remove(sx.ch)  // phoenix.js would rejoin it: gone
    }
    result.room_echo = await push(xRoom, "echo", {after: name})
    results.push(result)
  }
  await sw.shout({case: "end", n: ++shouted})
  const t2Reply = await x2.shout({on: "T2"})
  await waitFor(() => sw.received.length === shouted && x2.received.length === 1, "the last shouts")
  await sleep(200)
  return {
    topic, epoch, epoch2, results, shouted, t2_reply: t2Reply,
    w: sw.observations(), x2: x2.observations(), room_errors: roomErrors,
    x_opens: x.opens, x_closes: x.closes, w_closes: w.closes,
  }
}

/**
 * A client that ignores the ref: a plain `ch.on("shout", payload => ...)` on a history topic
 * gets the payload exactly as sent, by a shout and by POST /api/broadcast; the frames carry
 * "<offset>:<epoch>" in the ref slot. On a room topic, the ref slot stays empty.
 */
scenarios.plain = async(ctx) => {
  const vsn = ctx.opts.vsn || "2.0.0"
  const topic = `history:plain-${ctx.uid}`
  const room = `room:plain-${ctx.uid}`
  const a = new Client(ctx, "a", {vsn})
  await a.connect()
  const seen = {shout: [], news: [], room: []}
  const ch = a.socket.channel(topic, {})
  ch.on("shout", payload => { seen.shout.push(payload) })
  ch.on("news", (...args) => { seen.news.push(args.length >= 1 ? args[0] : null) })
  const roomCh = a.socket.channel(room, {})
  roomCh.on("shout", (payload, ref) => { seen.room.push({payload, ref: ref ?? null}) })
  const join = await new Promise(resolve => { ch.join().receive("ok", resolve).receive("error", resolve) })
  await new Promise(resolve => { roomCh.join().receive("ok", resolve) })
  const payload = JSON.parse(ctx.opts.payload)
  const reply = await push(ch, "shout", payload)
  const http = await postJSON(ctx.httpUrls[0], "/api/broadcast", {topic, event: "news", payload: {...payload, via: "http"}})
  const roomReply = await push(roomCh, "shout", payload)
  await waitFor(() => seen.shout.length === 1 && seen.news.length === 1 && seen.room.length === 1, "the three broadcasts")
  await sleep(100)
  const frames = a.raw.filter(f => {
    const [t, e] = Array.isArray(f) ? [f[2], f[3]] : [f.topic, f.event]
    return (t === topic || t === room) && (e === "shout" || e === "news")
  })
  return {topic, room, vsn, join, reply, http, room_reply: roomReply, seen, frames}
}

// ---------------------------------------------------------------------------------------------
// main

async function main(){
  const opts = parseArgs(process.argv.slice(2))
  const scenario = scenarios[opts.scenario]
  if(!scenario){ throw new Error(`unknown --scenario ${opts.scenario}; known: ${Object.keys(scenarios).join(", ")}`) }
  if(!opts.urls || !opts["http-urls"]){ throw new Error("--urls and --http-urls are required") }
  const strip = u => u.replace(/\/+$/, "")
  const ctx = {
    opts,
    urls: JSON.parse(opts.urls).map(strip),
    httpUrls: JSON.parse(opts["http-urls"]).map(strip),
    uid: opts.uid || `${process.pid.toString(36)}${Date.now().toString(36)}${Math.floor(Math.random() * 1e9).toString(36)}`,
    clients: [],
  }
  const timeoutMs = Number(opts.timeout || 30000)
  let timer
  const overall = new Promise((_resolve, reject) => {
    timer = setTimeout(() => reject(new ScenarioTimeout(`scenario ${opts.scenario} exceeded ${timeoutMs} ms`)), timeoutMs)
  })
  try {
    const result = await Promise.race([scenario(ctx), overall])
    clearTimeout(timer)
    const output = JSON.stringify({scenario: opts.scenario, library_version: phoenixVersion(), ...result})
    for(const client of ctx.clients){ client.disconnect() }
    process.stdout.write(output + "\n", () => process.exit(0))
  } catch (error){
    clearTimeout(timer)
    const observed = ctx.clients.map(c => ({
      name: c.name, opens: c.opens, closes: c.closes, connects: c.connects,
      subscribers: c.subscribers.map(summary),
    }))
    process.stderr.write(
      `${error instanceof ScenarioTimeout ? "TIMEOUT" : "ERROR"} in scenario ${opts.scenario}: ${error && error.stack || error}\n` +
      `clients: ${JSON.stringify(observed)}\n`,
      () => process.exit(error instanceof ScenarioTimeout ? 3 : 1),
    )
  }
}

/** A subscriber's observations in short, for a failure: the offsets it received, as runs. */
function summary(sub){
  const runs = []
  for(const {ref} of sub.received){
    const [o, e] = ref.split(":")
    const offset = Number(o)
    const run = runs[runs.length - 1]
    if(run && run.epoch === e && run.to + 1 === offset){ run.to = offset } else { runs.push({epoch: e, from: offset, to: offset}) }
  }
  return {topic: sub.topic, join_replies: sub.joinReplies, received: sub.received.length, runs}
}

function phoenixVersion(){
  return JSON.parse(readFileSync(new URL("./node_modules/phoenix/package.json", import.meta.url), "utf8")).version
}

main().catch(error => {
  process.stderr.write(`ERROR: ${error && error.stack || error}\n`, () => process.exit(2))
})
