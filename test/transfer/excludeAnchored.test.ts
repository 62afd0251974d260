/** `--exclude /cache2` (rsync's anchored form) as a send and a member's --delete walk see it. */
import { describe, expect, it } from "@effect/vitest"
import { Chunk, Duration, Effect, Stream } from "effect"
import * as fs from "node:fs"
import { join } from "node:path"
import type { SendEvent, SendJob } from "../../src/domain/job.js"
import { driveClock, startNode } from "../support/cluster.js"
import * as MemoryNetwork from "../support/MemoryNetwork.js"

const job: SendJob = {
  paths: [], recursive: true, dryRun: false, operation: "send", delete: true, targets: [], excludes: ["/cache2"], parallel: 5, checksum: false, reportSkipped: true, rateMbit: undefined, progress: false,
  timeout: Duration.seconds(60)
}

const collect = (s: Stream.Stream<SendEvent, unknown>) => Effect.map(driveClock(Stream.runCollect(s)), Chunk.toReadonlyArray)

describe("an anchored exclude", () => {
  it.scoped("/cache2 is the base's cache2 only: not sent, not deleted on a member by --delete; a deeper cache2 is sent and synced", () =>
    Effect.gen(function*() {
      const net = yield* MemoryNetwork.make({ seed: 5 })
      const a = yield* startNode(net, "10.0.0.1")
      const b = yield* startNode(net, "10.0.0.2")
      for (const rel of ["cache2/here", "d/cache2/deep", "keep"]) {
        fs.mkdirSync(join(a.base, rel, ".."), { recursive: true })
        fs.writeFileSync(join(a.base, rel), rel)
      }
      fs.mkdirSync(join(b.base, "cache2"))
      fs.writeFileSync(join(b.base, "cache2", "members-own"), "stays")
      fs.mkdirSync(join(b.base, "d", "cache2"), { recursive: true })
      fs.writeFileSync(join(b.base, "d", "cache2", "stale"), "goes")
      const events = yield* collect(a.jobs.run(job))
      const paths = events.flatMap((e) => (e._tag === "File" ? [`${e.hosts.map((h) => h.outcome).join(",")} ${e.path}`] : []))
      expect(paths.filter((p) => / cache2/.test(p))).toEqual([])
      expect(paths).toEqual(expect.arrayContaining(["deleted d/cache2/stale", "updated d/cache2/deep", "updated keep"]))
      expect(fs.readFileSync(join(b.base, "cache2", "members-own"), "utf8")).toBe("stays")
      expect(fs.existsSync(join(b.base, "cache2", "here"))).toBe(false)
      expect(fs.readFileSync(join(b.base, "d", "cache2", "deep"), "utf8")).toBe("d/cache2/deep")
      expect(fs.existsSync(join(b.base, "d", "cache2", "stale"))).toBe(false)
    }))
})
