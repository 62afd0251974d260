/**
 * `node dist/scripts/benchScan.js [files...]`: figures, not a test. The sender's walk alone (`store/scan.ts`
 * over the store's listings) of a tree of small files in a temp dir, 100 files a directory: CPU time
 * (`process.cpuUsage`, user + system) per entry: of the first pass (what a daemon's first send costs, the code not
 * yet optimised) and of the passes after it, best and median (the machine may be shared). The tree is made by a
 * child process, so none of its garbage is collected during a pass. `EXCLUDE=PATTERN` scans with one pattern.
 * A transaction's sender takes nothing more per unchanged entry: its manifest entry is the scan's.
 */
import { Effect } from "effect"
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { makeExclude } from "../src/store/exclude.js"
import * as FileStore from "../src/store/FileStore.js"
import { walk } from "../src/store/scan.js"

const PER_DIR = 100
const PASSES = Number(process.env["PASSES"] ?? 20)

const makeTree = (root: string, files: number) => {
  for (let i = 0; i < files; i++) {
    const dir = join(root, `d${Math.floor(i / PER_DIR / 10)}`, `s${Math.floor(i / PER_DIR)}`)
    if (i % PER_DIR === 0) fs.mkdirSync(dir, { recursive: true })
    fs.writeFileSync(join(dir, `f${i}.txt`), Buffer.alloc(1024 + (i % 3072), i % 251))
  }
}

const measure = (files: number) =>
  Effect.gen(function*() {
    const root = fs.mkdtempSync(join(tmpdir(), "makuo-scan-"))
    try {
      execFileSync(process.execPath, [import.meta.filename, "--make", root, String(files)])
      const store = yield* FileStore.make(root)
      const exclude = makeExclude(root, process.env["EXCLUDE"] === undefined ? [] : [process.env["EXCLUDE"]])
      const passes: Array<number> = []
      let entries = 0
      for (let pass = 0; pass < PASSES; pass++) {
        const before = process.cpuUsage()
        let scanned = 0
        for (const item of walk(store, { paths: [], recursive: true, exclude })) if (item._tag === "Entry") scanned++
        const used = process.cpuUsage(before)
        passes.push(used.user + used.system)
        entries = scanned
      }
      const per = (us: number) => `${(us / entries).toFixed(2)} µs`
      const figures = (label: string, all: ReadonlyArray<number>) => {
        const sorted = all.slice(1).sort((a, b) => a - b)
        console.log(
          `${String(files).padStart(6)} files (${entries} entries), ${label}, CPU per entry: first pass ${per(all[0]!)}, ` +
            `then best ${per(sorted[0]!)}, median ${per(sorted[sorted.length >> 1]!)} (${PASSES - 1} passes)`
        )
      }
      figures("walk", passes)
    } finally {
      fs.rmSync(root, { recursive: true, force: true })
    }
  })

const [first, root, count] = process.argv.slice(2)
if (first === "--make") makeTree(root!, Number(count))
else {
  const sizes = process.argv.slice(2).map(Number)
  for (const files of sizes.length > 0 ? sizes : [2000, 20_000]) await Effect.runPromise(Effect.scoped(measure(files)) as Effect.Effect<void, unknown, never>)
}
