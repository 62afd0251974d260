import { describe, expect, it } from "@effect/vitest"
import { Chunk, Duration, Effect, Stream } from "effect"
import * as fs from "node:fs"
import { join } from "node:path"
import { driveClock, startNode } from "../support/cluster.js"
import * as MemoryNetwork from "../support/MemoryNetwork.js"

const job = { paths: [], recursive: true, dryRun: false, sync: false, targets: [], excludes: [], parallel: 5, rateMbit: undefined, timeout: Duration.seconds(60) }

describe("send on the in-memory network", () => {
  it.scoped("a small tree reaches two receivers", () =>
    Effect.gen(function*() {
      const net = yield* MemoryNetwork.make({ seed: 1 })
      const [a, b, c] = yield* Effect.forEach(["10.0.0.1", "10.0.0.2", "10.0.0.3"], (x) => startNode(net, x))
      fs.mkdirSync(join(a!.base, "d/e"), { recursive: true })
      fs.writeFileSync(join(a!.base, "d/e/f.txt"), "hello")
      fs.writeFileSync(join(a!.base, "big"), Buffer.alloc(5000, 7))
      fs.symlinkSync("d/e/f.txt", join(a!.base, "link"))
      const events = Chunk.toReadonlyArray(yield* driveClock(Stream.runCollect(a!.sender.run(job))))
      expect(events.at(-1)).toMatchObject({ _tag: "Summary", summary: { files: 5, hosts: 2, failed: 0, lost: 0, bytes: 5005 } })
      for (const n of [b!, c!]) {
        expect(fs.readFileSync(join(n.base, "d/e/f.txt"), "utf8")).toBe("hello")
        expect(fs.readFileSync(join(n.base, "big")).equals(Buffer.alloc(5000, 7))).toBe(true)
        expect(fs.readlinkSync(join(n.base, "link"))).toBe("d/e/f.txt")
      }
    }))
})
