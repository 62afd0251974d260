/** A member says in its log each file it received or deleted, and from whom: a deletion leaves a trace where it happened. */
import { describe, expect, it } from "@effect/vitest"
import { Chunk, Duration, Effect, HashMap, Logger, Stream } from "effect"
import * as fs from "node:fs"
import { join } from "node:path"
import type { SendEvent, SendJob } from "../../src/domain/job.js"
import { driveClock, startNode } from "../support/cluster.js"
import * as MemoryNetwork from "../support/MemoryNetwork.js"

const job: SendJob = {
  paths: [], recursive: true, dryRun: false, operation: "send", delete: false, targets: [], excludes: [], parallel: 5, checksum: false, reportSkipped: true, rateMbit: undefined, progress: false,
  timeout: Duration.seconds(60)
}

const collect = (s: Stream.Stream<SendEvent, unknown>) => Effect.map(driveClock(Stream.runCollect(s)), Chunk.toReadonlyArray)

describe("the members' log of what changed", () => {
  it.scoped("each file received, deleted by --delete or by sync is one info line naming the path and the sender; a dry run logs nothing", () => {
    const lines: Array<string> = []
    // each line as the journal shows it: the message, then its annotations
    const logger = Logger.make(({ annotations, logLevel, message }) =>
      void (logLevel._tag === "Info" && lines.push([String(message), ...HashMap.toEntries(annotations).map(([k, v]) => `${k}=${String(v)}`)].join(" "))))
    const changes = () => lines.filter((l) => /^(received|deleted) /.test(l)).sort()
    return Effect.gen(function*() {
      const net = yield* MemoryNetwork.make({ seed: 3 })
      const a = yield* startNode(net, "10.0.0.1")
      yield* startNode(net, "10.0.0.2").pipe(Effect.tap((b) => {
        fs.mkdirSync(join(a.base, "d"))
        fs.writeFileSync(join(a.base, "d/x.html"), "x")
        fs.writeFileSync(join(a.base, "old.html"), "old")
        fs.writeFileSync(join(b.base, "stale.html"), "stale")
      }))
      yield* collect(a.jobs.run(job))
      expect(changes().filter((l) => l.includes(".html"))).toEqual(["received d/x.html from=10.0.0.1 bytes=1", "received old.html from=10.0.0.1 bytes=3"])

      lines.length = 0
      fs.rmSync(join(a.base, "old.html"))
      yield* collect(a.jobs.run({ ...job, delete: true, dryRun: true }))
      yield* collect(a.jobs.run({ ...job, paths: ["old.html"], recursive: false, operation: "sync", dryRun: true }))
      expect(changes()).toEqual([])
      yield* collect(a.jobs.run({ ...job, paths: ["old.html"], recursive: false, operation: "sync" }))
      yield* collect(a.jobs.run({ ...job, delete: true }))
      expect(changes()).toEqual(["deleted old.html from=10.0.0.1 by=sync", "deleted stale.html from=10.0.0.1 by=delete"])
    }).pipe(Effect.provide(Logger.replace(Logger.defaultLogger, logger)))
  })
})
