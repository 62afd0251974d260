/**
 * A receive session broken off mid-file holds a temp file beside its target until it is collected (up to
 * --session-timeout later). A new transfer of the same path ends it at once: otherwise the late removal of its temp
 * file would change the directory's mtime after the new transfer's job had set it.
 */
import { describe, expect, it } from "@effect/vitest"
import { Chunk, Duration, Effect, Fiber, Stream } from "effect"
import * as fs from "node:fs"
import { join } from "node:path"
import type { SendJob } from "../../src/domain/job.js"
import { advance, driveClock, settle, startNode } from "../support/cluster.js"
import * as MemoryNetwork from "../support/MemoryNetwork.js"

const job: SendJob = {
  paths: ["sub/f"], recursive: false, dryRun: false, operation: "send", delete: false, targets: ["h2"], excludes: [], parallel: 5, checksum: false,
  reportSkipped: true, rateMbit: undefined, progress: false, timeout: Duration.seconds(60)
}

const temps = (dir: string) => fs.readdirSync(dir).filter((f) => /\.makuo\d+$/.test(f))

describe("a transfer of a path that an abandoned session still holds a temp file for", () => {
  it.scoped("ends the abandoned session at once: only the new file is left, the directory keeps the mtime sent, the old sender is told the transfer broke off", () =>
    Effect.gen(function*() {
      const net = yield* MemoryNetwork.make({ seed: 21 })
      const a = yield* startNode(net, "10.0.0.1")
      const b = yield* startNode(net, "10.0.0.2", { members: { memberTimeout: Duration.hours(1) } })
      const c = yield* startNode(net, "10.0.0.3")
      for (const n of [a, c]) fs.mkdirSync(join(n.base, "sub"))
      fs.writeFileSync(join(a.base, "sub/f"), Buffer.alloc(4_000_000, 1))
      fs.writeFileSync(join(c.base, "sub/f"), Buffer.alloc(3000, 7))
      fs.utimesSync(join(c.base, "sub"), 1_000_000, 1_000_000)

      // a's transfer of sub/f to b breaks off once DATA flows: a is cut off from b, b's session holds its temp file
      const first = yield* Effect.fork(Effect.map(Stream.runCollect(a.jobs.run(job)), Chunk.toReadonlyArray))
      for (let i = 0; i < 200 && !(fs.existsSync(join(b.base, "sub")) && temps(join(b.base, "sub")).length > 0); i++) yield* advance("1 millis")
      expect(temps(join(b.base, "sub"))).toHaveLength(1)
      yield* net.partition([a.address], [b.address])

      // c sends sub (the directory's mtime after its contents): the old temp file is gone as the new one is made
      const second = yield* driveClock(Effect.map(Stream.runCollect(c.jobs.run({ ...job, paths: ["sub"], recursive: true })), Chunk.toReadonlyArray), "5 millis")
      expect(second).toMatchObject([{ path: "sub/f", hosts: [{ host: "h2", outcome: "updated" }] }, { path: "sub", hosts: [{ host: "h2", outcome: "updated" }] }, { _tag: "Summary" }])
      expect(fs.readdirSync(join(b.base, "sub"))).toEqual(["f"])
      expect(fs.readFileSync(join(b.base, "sub/f")).equals(Buffer.alloc(3000, 7))).toBe(true)
      expect(fs.statSync(join(b.base, "sub")).mtimeMs).toBe(1_000_000_000)

      // a, in reach again, is answered as for a transfer b does not know: its transfer did not complete there
      yield* net.heal
      const events = yield* driveClock(Fiber.join(first), "5 millis")
      expect(events[0]).toMatchObject({ _tag: "File", path: "sub/f", hosts: [{ host: "h2", outcome: "failed", detail: "did not complete" }] })
      yield* advance("200 seconds")
      expect(fs.readdirSync(join(b.base, "sub"))).toEqual(["f"])
      expect(fs.readFileSync(join(b.base, "sub/f")).equals(Buffer.alloc(3000, 7))).toBe(true)
      expect(fs.statSync(join(b.base, "sub")).mtimeMs).toBe(1_000_000_000)
      yield* settle
    }))
})
