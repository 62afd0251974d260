import { describe, expect, it } from "@effect/vitest"
import { Chunk, Duration, Effect, Stream } from "effect"
import * as fs from "node:fs"
import { join } from "node:path"
import { type SendEvent, sendJob } from "../../src/domain/job.js"
import { driveClock, startNode } from "../support/cluster.js"
import * as MemoryNetwork from "../support/MemoryNetwork.js"

const collect = (s: Stream.Stream<SendEvent, unknown>) => Effect.map(driveClock(Stream.runCollect(s)), Chunk.toReadonlyArray)

const outcomes = (events: ReadonlyArray<SendEvent>) =>
  events.flatMap((e) => (e._tag === "File" ? e.hosts.map((h) => `${e.path} ${h.host} ${h.outcome}${h.detail === undefined ? "" : `: ${h.detail}`}`) : []))

describe("send --checksum", () => {
  it.scoped("a member whose copy has the same size, mtime and mode but other content is repaired by --checksum, not by a plain send", () =>
    Effect.gen(function*() {
      const net = yield* MemoryNetwork.make({ seed: 31 })
      const a = yield* startNode(net, "10.0.0.1")
      const b = yield* startNode(net, "10.0.0.2")
      const c = yield* startNode(net, "10.0.0.3")
      const content = Buffer.alloc(50 * 1024, "good ")
      fs.writeFileSync(join(a.base, "page"), content)
      fs.writeFileSync(join(a.base, "other"), "unchanged")
      fs.utimesSync(join(a.base, "page"), 1_600_000_000, 1_600_000_000)
      const job = sendJob({ paths: [], recursive: true, operation: "send", timeout: Duration.seconds(60) })
      const first = yield* collect(a.jobs.run(job))
      expect(first.at(-1)).toMatchObject({ _tag: "Summary", summary: { updated: 4, failed: 0 } })
      // what a forged DATA block leaves: other bytes under the metadata of the real file
      const copy = join(b.base, "page")
      const fd = fs.openSync(copy, "r+")
      fs.writeSync(fd, "EVIL!", 30 * 1024)
      fs.closeSync(fd)
      fs.utimesSync(copy, 1_600_000_000, 1_600_000_000)
      const plain = yield* collect(a.jobs.run(job))
      expect(plain.at(-1)).toMatchObject({ _tag: "Summary", summary: { updated: 0, skipped: 4 } })
      expect(fs.readFileSync(copy).equals(content)).toBe(false)
      const dry = yield* collect(a.jobs.run({ ...job, dryRun: true, checksum: true }))
      expect(outcomes(dry)).toContain("page h2 would-update: content differs")
      expect(fs.readFileSync(copy).equals(content)).toBe(false)
      const repaired = yield* collect(a.jobs.run({ ...job, checksum: true }))
      expect(outcomes(repaired).sort()).toEqual([
        "other h2 skipped",
        "other h3 skipped",
        "page h2 updated: content differed",
        "page h3 skipped"
      ])
      expect(repaired.at(-1)).toMatchObject({ _tag: "Summary", summary: { updated: 1, skipped: 3, failed: 0, different: 0 } })
      expect(fs.readFileSync(copy).equals(content)).toBe(true)
      expect(fs.statSync(copy).mtimeMs).toBe(1_600_000_000_000)
      expect(fs.readFileSync(join(c.base, "page")).equals(content)).toBe(true)
      // repaired for good: a plain send skips it, and --checksum finds nothing to repair
      const after = yield* collect(a.jobs.run({ ...job, checksum: true }))
      expect(after.at(-1)).toMatchObject({ _tag: "Summary", summary: { updated: 0, skipped: 4 } })
    }))
})
