/**
 * `npm run demo`: three daemons on 127.0.0.2, 127.0.0.3 and 127.0.0.4 share one group on interface 127.0.0.1,
 * find each other, and each prints its `makuo members`; then they are stopped. Loopback only.
 */
import { NodeRuntime } from "@effect/platform-node"
import { Console, Effect } from "effect"
import { eventually, freePort, makuo, memberNames, startDaemon, stopped, tempDir } from "./lib/loopbackCluster.js"

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
  for (const d of daemons) {
    yield* Console.log(`\n$ makuo members --control ${d.control}    # on ${d.name} (${d.address})`)
    yield* Console.log((yield* makuo(["members", "--control", d.control])).stdout.trimEnd())
  }
  yield* Effect.forEach(daemons, (d) => stopped(d, "SIGTERM"), { discard: true })
  yield* Console.log("\nstopped all three (SIGTERM: each announced EXIT). demo ok")
})

NodeRuntime.runMain(Effect.scoped(demo))
