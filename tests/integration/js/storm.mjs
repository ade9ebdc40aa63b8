// Reconnect storm: N official phoenix.js 1.8 clients (WebSocket via `ws`, default reconnect
// backoff, vsn 2.0.0) in one Node process, each joined to room:storm-<i % rooms>.
//
//   node storm.mjs --url ws://127.0.0.1:PORT/socket [--clients 1000] [--rooms 50]
//                  [--setup-timeout-ms 60000] [--rejoin-timeout-ms 60000]
//                  [--echo-timeout-ms 20000] [--batch 200]
//
// 1. Connects the clients (in batches of --batch opens) and waits until every join has
//    replied ok; then prints {"checkpoint": "joined", ...} as one line on stdout and waits for
//    one JSON line on stdin (the test kills the server with SIGKILL and restarts it on the same
//    port meanwhile, then answers).
// 2. Waits until every client has seen its socket close, opened again and had its channel
//    rejoined (the join ok reply after the close), at most --rejoin-timeout-ms.
// 3. Pushes one `echo` per client (all at once) and waits for the replies, at most
//    --echo-timeout-ms.
// 4. Prints one JSON object on stdout and exits 0, also when some client did not come back (the
//    Python test, tests/integration/test_reconnect_storm.py, makes the assertions and computes
//    the figures). Times are wall-clock epoch milliseconds (Date.now()), comparable with the
//    test's time.time(). It exits non-zero only when the setup (step 1) fails.

import {readFileSync} from "node:fs"
import {createInterface} from "node:readline"
import WebSocket from "ws"
import {Socket} from "phoenix"
import {parseArgs, sleep} from "./cli.mjs"



/** Polls `predicate` every 10 ms until it is true or `ms` have passed; returns the last value. */
async function waitUntil(predicate, ms){
  const deadline = Date.now() + ms
  for(;;){
    if(predicate()){ return true }
    if(Date.now() >= deadline){ return false }
    await sleep(10)
  }
}

/** The lines of stdin, from the start (a line read before anyone asks is kept). */
function stdinLines(){
  const queued = []
  const waiting = []
  let closed = false
  const lines = createInterface({input: process.stdin})
  lines.on("line", (line) => {
    const next = waiting.shift()
    if(next){ next.resolve(line) } else { queued.push(line) }
  })
  lines.on("close", () => {
    closed = true
    for(const w of waiting.splice(0)){ w.reject(new Error("stdin closed before the test answered")) }
  })
  return () => new Promise((resolve, reject) => {
    if(queued.length > 0){ resolve(queued.shift()) }
    else if(closed){ reject(new Error("stdin closed before the test answered")) }
    else { waiting.push({resolve, reject}) }
  })
}

function phoenixVersion(){
  const url = new URL("./node_modules/phoenix/package.json", import.meta.url)
  return JSON.parse(readFileSync(url, "utf8")).version
}

/**
 * One phoenix.js socket and its channel, with every lifecycle event timestamped. `mark` is the
 * time (ms) the storm phase began (the "joined" checkpoint); events before it are setup.
 */
class StormClient {
  constructor(index, url, topic){
    this.index = index
    this.topic = topic
    this.attempts = [] // each WebSocket construction (a connect attempt), epoch ms
    this.opens = []
    this.closes = []
    this.errors = 0
    this.joinOks = []
    this.joinErrors = []
    this.joinTimeouts = 0
    this.echo = null
    const attempts = this.attempts
    class CountingWebSocket extends WebSocket {
      constructor(address, protocols){
        attempts.push(Date.now())
        super(address, protocols)
      }
    }
    this.socket = new Socket(url, {transport: CountingWebSocket, vsn: "2.0.0"})
    this.socket.onOpen(() => this.opens.push(Date.now()))
    this.socket.onClose(() => this.closes.push(Date.now()))
    this.socket.onError(() => { this.errors++ })
    this.channel = this.socket.channel(topic, {})
  }

  connect(){
    this.socket.connect()
    this.channel.join()
      .receive("ok", () => this.joinOks.push(Date.now()))
      .receive("error", (response) => this.joinErrors.push({at: Date.now(), response}))
      .receive("timeout", () => { this.joinTimeouts++ })
  }

  get joined(){ return this.joinOks.length > 0 && this.channel.state === "joined" }

  /** The storm, as seen by this client: first close, then the first open and join ok after it. */
  storm(mark){
    const closedAt = this.closes.find(t => t >= mark) ?? null
    const after = (list) => closedAt === null ? null : (list.find(t => t >= closedAt) ?? null)
    const reopenedAt = after(this.opens)
    return {
      closed_at: closedAt,
      reopened_at: reopenedAt,
      rejoined_at: reopenedAt === null ? null : (this.joinOks.find(t => t >= reopenedAt) ?? null),
    }
  }

  isBack(mark){
    const s = this.storm(mark)
    return s.rejoined_at !== null && this.channel.state === "joined"
  }

  pushEcho(timeoutMs){
    const sentAt = Date.now()
    return new Promise(resolve => {
      this.channel.push("echo", {i: this.index}, timeoutMs)
        .receive("ok", (response) => {
          const ok = response && response.i === this.index
          resolve(this.echo = {status: ok ? "ok" : "wrong_payload", sent_at: sentAt, replied_at: Date.now()})
        })
        .receive("error", () => resolve(this.echo = {status: "error", sent_at: sentAt, replied_at: Date.now()}))
        .receive("timeout", () => resolve(this.echo = {status: "timeout", sent_at: sentAt, replied_at: null}))
    })
  }

  record(mark){
    const s = this.storm(mark)
    const since = (list) => list.filter(t => t >= mark).length
    return [
      s.closed_at, s.reopened_at, s.rejoined_at,
      this.echo ? this.echo.status : null, this.echo ? this.echo.replied_at : null,
      since(this.attempts), since(this.opens), since(this.closes),
      this.joinErrors.filter(e => e.at >= mark).length, this.channel.state,
    ]
  }
}

const RECORD_FIELDS = [
  "closed_at", "reopened_at", "rejoined_at", "echo_status", "echo_replied_at",
  "attempts", "opens", "closes", "join_errors", "channel_state",
]

async function main(){
  const opts = parseArgs(process.argv.slice(2))
  if(!opts.url){ throw new Error("--url is required") }
  const url = opts.url.replace(/\/+$/, "")
  const n = Number(opts.clients || 1000)
  const rooms = Number(opts.rooms || 50)
  const batch = Number(opts.batch || 200)
  const setupTimeoutMs = Number(opts["setup-timeout-ms"] || 60000)
  const rejoinTimeoutMs = Number(opts["rejoin-timeout-ms"] || 60000)
  const echoTimeoutMs = Number(opts["echo-timeout-ms"] || 20000)
  const readLine = stdinLines()

  // 1. setup: connect in batches (the setup is not the storm), then wait for every join
  const setupStart = Date.now()
  const clients = []
  for(let i = 0; i < n; i++){
    const client = new StormClient(i, url, `room:storm-${i % rooms}`)
    clients.push(client)
    client.connect()
    if((i + 1) % batch === 0 || i === n - 1){
      const from = i + 1 - ((i % batch) + 1)
      const slice = clients.slice(from)
      const opened = await waitUntil(() => slice.every(c => c.opens.length > 0), setupTimeoutMs)
      if(!opened){ throw new Error(`setup: clients ${from}..${i} did not all open within ${setupTimeoutMs} ms`) }
    }
  }
  const joined = await waitUntil(() => clients.every(c => c.joined), setupTimeoutMs)
  if(!joined){
    const missing = clients.filter(c => !c.joined).map(c => c.index)
    throw new Error(`setup: ${missing.length} clients not joined within ${setupTimeoutMs} ms (first: ${missing.slice(0, 10)})`)
  }
  const mark = Date.now()
  const cpuBefore = process.cpuUsage()
  process.stdout.write(JSON.stringify({
    checkpoint: "joined", clients: n, rooms, setup_ms: mark - setupStart, at: mark,
  }) + "\n")

  // 2. the test kills and restarts the server, then says so
  const answer = JSON.parse((await readLine()) || "{}")
  const resumedAt = Date.now()
  const allBack = await waitUntil(() => clients.every(c => c.isBack(mark)), rejoinTimeoutMs)
  const backAt = Date.now()

  // 3. one echo per client that is back
  const echoStart = Date.now()
  await Promise.all(clients.filter(c => c.isBack(mark)).map(c => c.pushEcho(echoTimeoutMs)))
  const echoEnd = Date.now()
  const cpu = process.cpuUsage(cpuBefore)

  const output = {
    library_version: phoenixVersion(),
    clients: n, rooms, setup_ms: mark - setupStart, mark, answer,
    resumed_at: resumedAt, all_back: allBack, back_checked_at: backAt,
    echo_started_at: echoStart, echo_ended_at: echoEnd,
    node_cpu_s: (cpu.user + cpu.system) / 1e6,
    fields: RECORD_FIELDS,
    records: clients.map(c => c.record(mark)),
  }
  for(const c of clients){ c.socket.disconnect() }
  process.stdout.write(JSON.stringify(output) + "\n", () => process.exit(0))
}

main().catch(error => {
  process.stderr.write(`ERROR: ${error && error.stack || error}\n`, () => process.exit(1))
})
