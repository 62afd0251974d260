/**
 * `node dist/scripts/profileTop.js FILE|DIR...`: the 25 functions with the most self time of each `.cpuprofile`
 * given, or found under a directory given (what `npm run bench -- --profile DIR` leaves: one per daemon).
 */
import * as fs from "node:fs"
import { profilesUnder, topOfFile } from "./lib/cpuProfile.js"

const TOP = 25

const args = process.argv.slice(2)
if (args.length === 0 || args.includes("--help") || args.includes("-h")) {
  console.log("usage: node dist/scripts/profileTop.js FILE.cpuprofile|DIR...  (the top 25 functions by self time of each profile)")
  process.exit(args.length === 0 ? 2 : 0)
}
for (const arg of args) {
  if (!fs.existsSync(arg)) {
    console.error(`profileTop: ${arg} does not exist`)
    process.exit(2)
  }
  const files = profilesUnder(arg)
  if (files.length === 0) console.error(`profileTop: no .cpuprofile under ${arg}`)
  for (const file of files) {
    console.log(`\n== ${file}`)
    for (const line of topOfFile(file, TOP)) console.log(line)
  }
}
