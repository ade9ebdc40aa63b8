// The diff oracle: the pinned phoenix_live_view client's own Rendered class (rendered.js,
// from the package's built bundle, unmodified) merges the diffs a Python renderer produced.
//
// Reads one JSON request per line on stdin: {"diffs": [rendered, diff, diff, ...]}; writes
// one JSON line per request: {"html": [html after the join, after each diff]} or {"error": "..."}.
"use strict"
const fs = require("fs")
const path = require("path")
const readline = require("readline")

const bundle = path.join(
  __dirname, "..", "..", "examples", "contract", "assets", "node_modules",
  "phoenix_live_view", "priv", "static", "phoenix_live_view.cjs.js",
)
const source = fs.readFileSync(bundle, "utf8")
const loaded = {exports: {}}
// The bundle keeps Rendered internal; evaluate it as it is and hand the class out. Its
// deepClone looks for structuredClone on window, as in a browser: Node has it globally.
new Function(
  "module", "exports", "require", "window",
  source + "\n;module.exports.__Rendered = Rendered;",
)(loaded, loaded.exports, require, globalThis)
const Rendered = loaded.exports.__Rendered

const lines = readline.createInterface({input: process.stdin})
lines.on("line", (line) => {
  let answer
  try {
    const {diffs} = JSON.parse(line)
    const rendered = new Rendered("phx-oracle", diffs[0])
    const html = [rendered.toString().buffer]
    for (const diff of diffs.slice(1)) {
      rendered.mergeDiff(diff)
      html.push(rendered.toString().buffer)
    }
    answer = {html}
  } catch (error) {
    answer = {error: String(error && error.stack || error)}
  }
  process.stdout.write(JSON.stringify(answer) + "\n")
})
