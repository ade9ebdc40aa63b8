// Runs a page script of examples/ (examples/docs/js/*.mjs) in Node, as a browser runs it on a
// page that the server at --origin served:
//
//   node page.mjs --script PATH --origin http://127.0.0.1:PORT --logs N [--timeout MS]
//                 [--local-storage JSON]
//
// The page's globals are there: location (--origin), WebSocket (the ws package), sessionStorage
// and localStorage (in memory, the latter filled from --local-storage). The script is copied
// into a temporary directory whose node_modules is this directory's, so that its
// `import ... from "phoenix"` loads the pinned phoenix.js, as a bundler would.
//
// Prints one JSON object on stdout, {"logs": [[arg, ...], ...]}: the script's console.log calls,
// once N of them have been made (exit 0) or when the timeout passes (exit 1).

import {copyFileSync, mkdtempSync, rmSync, symlinkSync} from "node:fs"
import {tmpdir} from "node:os"
import {basename, join} from "node:path"
import {fileURLToPath, pathToFileURL} from "node:url"
import WebSocket from "ws"
import {parseArgs} from "./cli.mjs"

const opts = parseArgs(process.argv.slice(2))
const wanted = Number(opts.logs)
const timeoutMs = Number(opts.timeout || 10000)

class MemoryStorage {
  constructor(items = {}){ this.items = new Map(Object.entries(items)) }
  getItem(key){ return this.items.has(key) ? this.items.get(key) : null }
  setItem(key, value){ this.items.set(key, String(value)) }
  removeItem(key){ this.items.delete(key) }
  clear(){ this.items.clear() }
}

globalThis.location = new URL(opts.origin)
globalThis.WebSocket = WebSocket
globalThis.sessionStorage = new MemoryStorage()
globalThis.localStorage = new MemoryStorage(JSON.parse(opts["local-storage"] || "{}"))

const here = fileURLToPath(new URL(".", import.meta.url))
const dir = mkdtempSync(join(tmpdir(), "phoenix-py-page-"))
symlinkSync(join(here, "node_modules"), join(dir, "node_modules"), "dir")
const copy = join(dir, basename(opts.script))
copyFileSync(opts.script, copy)

const logs = []
function finish(code){
  rmSync(dir, {recursive: true, force: true})
  process.stdout.write(JSON.stringify({logs}) + "\n", () => process.exit(code))
}
console.log = (...args) => {
  logs.push(JSON.parse(JSON.stringify(args, (_key, v) => v === undefined ? null : v)))
  if(logs.length === wanted){ finish(0) }
}
setTimeout(() => finish(1), timeoutMs)

await import(pathToFileURL(copy).href)
