/**
 * `npm run demo`: three daemons on 127.0.0.2, 127.0.0.3 and 127.0.0.4 share one group on interface 127.0.0.1
 * and find each other; `makuo send -r` pushes a sample tree (300 files and one 20 MiB file) from the first to
 * the other two, printing what went wrong (nothing) and the summary; then the three trees are compared. Loopback only; everything is removed.
 */
import { NodeRuntime } from "@effect/platform-node"
import { Console, Effect } from "effect"
import { spawn } from "node:child_process"
import { BIN, type Daemon, eventually, freePort, makuo, memberNames, startDaemon, stopped, tempDir } from "./lib/loopbackCluster.js"
import { describeTree, differences, makeSampleTree } from "./lib/trees.js"

const run = (d: Daemon, args: ReadonlyArray<string>) =>
  Effect.async<number | null>((resume) => {
    const child = spawn(process.execPath, [BIN, ...args, "--control", d.control], { stdio: ["ignore", "inherit", "inherit"] })
    child.once("exit", (code) => resume(Effect.succeed(code)))
  })

const demo = Effect.gen(function*() {
  const dir = yield* tempDir
  const port = yield* freePort(["127.0.0.2", "127.0.0.3", "127.0.0.4"])
  yield* Console.log(`starting 3 daemons on 127.0.0.2-4, group 224.0.0.108:${port} on interface 127.0.0.1 (${dir})`)
  const daemons = yield* Effect.forEach([1, 2, 3], (i) => startDaemon(dir, i, port))
  const allListed = Effect.map(Effect.forEach(daemons, memberNames), (lists) => lists.every((l) => l.length === 2))
  if (!(yield* eventually(allListed, "10 seconds"))) {
    yield* Console.error(daemons.map((d) => `--- ${d.name}\n${d.log()}`).join("\n"))
    return yield* Effect.fail("the daemons did not find each other within 10 s")
  }
  const [h1, h2, h3] = daemons as unknown as readonly [Daemon, Daemon, Daemon]
  for (const d of daemons) {
    yield* Console.log(`\n$ makuo members    # on ${d.name} (${d.address})`)
    yield* Console.log((yield* makuo(["members", "--control", d.control])).stdout.trimEnd())
  }
  makeSampleTree(h1.base, 300, 20)
  // -q: a line per file would be 300 lines; what went wrong (nothing) and the summary say it all
  yield* Console.log(`\n$ makuo send -r -q    # on h1: 300 small files, a symlink, an empty file and a 20 MiB file`)
  const code = yield* run(h1, ["send", "-r", "-q"])
  if (code !== 0) return yield* Effect.fail(`makuo send -r -q exited ${code}`)
  const want = describeTree(h1.base)
  for (const d of [h2, h3]) {
    const diff = differences(want, describeTree(d.base))
    if (diff.length > 0) return yield* Effect.fail(`${d.name} differs from h1:\n${diff.slice(0, 10).join("\n")}`)
  }
  yield* Console.log(`\nall three trees are identical (${want.size} entries: content, mode, mtime, link targets)`)
  yield* Effect.forEach(daemons, (d) => stopped(d, "SIGTERM"), { discard: true })
  yield* Console.log("stopped all three (SIGTERM: each announced EXIT). demo ok")
})

NodeRuntime.runMain(Effect.scoped(demo))
