import { describe, expect, it } from "@effect/vitest"
import { Chunk, Duration, Effect, Stream } from "effect"
import * as fs from "node:fs"
import { join } from "node:path"
import { type SendEvent, sendJob } from "../../src/domain/job.js"
import { driveClock, startNode } from "../support/cluster.js"
import * as MemoryNetwork from "../support/MemoryNetwork.js"
import { describeTree } from "../support/trees.js"

const job = sendJob({ paths: [], operation: "send", recursive: true, delete: true, parallel: 5, reportSkipped: true, timeout: Duration.seconds(60) })

const collect = (s: Stream.Stream<SendEvent, unknown>) => Effect.map(driveClock(Stream.runCollect(s)), Chunk.toReadonlyArray)

describe("files named like temp files", () => {
  it.scoped("are content: send -r --delete deletes a member's that the sender lacks, and sends the sender's", () =>
    Effect.gen(function*() {
      const net = yield* MemoryNetwork.make({ seed: 3 })
      const a = yield* startNode(net, "10.0.0.1")
      const b = yield* startNode(net, "10.0.0.2")
      fs.mkdirSync(join(a.base, "d"))
      fs.writeFileSync(join(a.base, "d/index.php"), "page")
      fs.writeFileSync(join(a.base, "d/notes.makuo654321"), "the sender's, named like a temp file")
      fs.mkdirSync(join(b.base, "d"))
      fs.writeFileSync(join(b.base, "d/shell.php.makuo123456"), "planted")
      fs.writeFileSync(join(b.base, "top.makuo000123456"), "planted")
      const events = yield* collect(a.jobs.run(job))
      expect(events.at(-1)).toMatchObject({ _tag: "Summary", summary: { failed: 0, lost: 0 } })
      expect(describeTree(b.base)).toEqual(describeTree(a.base))
      expect(fs.readdirSync(join(b.base, "d")).sort()).toEqual(["index.php", "notes.makuo654321"])
    }))
})
