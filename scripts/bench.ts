/**
 * `npm run bench`: figures, not a test. Three daemons on loopback (127.0.0.2-4, a sender and two receivers):
 * seconds and MB/s to send one 200 MiB file, and files/s for 2000 files of 1-4 KiB (then the same tree again,
 * where every file is skipped). `--quick` uses 50 MiB and 500 files.
 */
import { NodeRuntime } from "@effect/platform-node"
import { Console, Effect } from "effect"
import * as fs from "node:fs"
import { cpus } from "node:os"
import { join } from "node:path"
import { type Daemon, eventually, freePort, makuo, memberNames, startDaemon, tempDir } from "./lib/loopbackCluster.js"
import { describeTree, differences, makeSampleTree } from "./lib/trees.js"

const quick = process.argv.includes("--quick")
const bigMiB = quick ? 20 : 200
const smallFiles = quick ? 500 : 2000

interface Summary {
  readonly files: number
  readonly bytes: number
  readonly milliseconds: number
  readonly failed: number
  readonly lost: number
}

const send = (d: Daemon, args: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const t0 = performance.now()
    const r = yield* makuo(["send", "--json", ...args, "--control", d.control], 600_000)
    const wall = (performance.now() - t0) / 1000
    const summary = JSON.parse(r.stdout.trim().split("\n").at(-1) ?? "{}") as Summary
    if (r.code !== 0) return yield* Effect.fail(`send ${args.join(" ")} exited ${r.code}: ${r.stderr}`)
    return { summary, wall }
  })

const bench = Effect.gen(function*() {
  const dir = yield* tempDir
  const port = yield* freePort(["127.0.0.2", "127.0.0.3", "127.0.0.4"])
  const daemons = yield* Effect.forEach([1, 2, 3], (i) => startDaemon(dir, i, port))
  const ready = Effect.map(Effect.forEach(daemons, memberNames), (ls) => ls.every((l) => l.length === 2))
  if (!(yield* eventually(ready, "10 seconds"))) return yield* Effect.fail("daemons did not find each other")
  const [h1, h2, h3] = daemons as unknown as readonly [Daemon, Daemon, Daemon]
  yield* Console.log(`makuo bench on loopback (no network namespaces), ${cpus().length} CPUs, node ${process.version}`)
  yield* Console.log(`1 sender -> 2 receivers, group 224.0.0.108:${port} on interface 127.0.0.1\n`)

  fs.mkdirSync(join(h1.base, "big"))
  makeSampleTree(join(h1.base, "big"), 0, bigMiB)
  fs.rmSync(join(h1.base, "big/empty"))
  fs.rmSync(join(h1.base, "big/link"))
  const big = yield* send(h1, ["-r", "big"])
  const mb = big.summary.bytes / 1_000_000
  yield* Console.log(`one ${bigMiB} MiB file:        ${big.summary.milliseconds / 1000} s   ${(mb / (big.summary.milliseconds / 1000)).toFixed(1)} MB/s   (wall ${big.wall.toFixed(2)} s with CLI start)`)

  fs.mkdirSync(join(h1.base, "small"))
  makeSampleTree(join(h1.base, "small"), smallFiles, 0)
  const small = yield* send(h1, ["-r", "small"])
  yield* Console.log(`${small.summary.files} small files (1-4 KiB): ${small.summary.milliseconds / 1000} s   ${(small.summary.files / (small.summary.milliseconds / 1000)).toFixed(0)} files/s`)
  const again = yield* send(h1, ["-r", "small"])
  yield* Console.log(`same tree again (skips):  ${again.summary.milliseconds / 1000} s   ${(again.summary.files / (again.summary.milliseconds / 1000)).toFixed(0)} files/s`)
  const wide = yield* send(h1, ["-r", "--parallel", "32", "small"])
  yield* Console.log(`again, --parallel 32:     ${wide.summary.milliseconds / 1000} s   ${(wide.summary.files / (wide.summary.milliseconds / 1000)).toFixed(0)} files/s`)

  const want = describeTree(h1.base)
  for (const d of [h2, h3]) {
    const diff = differences(want, describeTree(d.base))
    if (diff.length > 0) return yield* Effect.fail(`${d.name} differs after the bench: ${diff.slice(0, 5).join("; ")}`)
  }
  yield* Console.log("\nreceivers verified identical")
})

NodeRuntime.runMain(Effect.scoped(bench))
