/**
 * `send --all-or-nothing` needs the send to run as one transaction: refused, naming why and sending nothing, on an
 * unkeyed daemon (protocol v7), and on a keyed one where the job keeps the v7 path: --delete without -r.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Stream } from "effect"
import * as fs from "node:fs"
import { join } from "node:path"
import { sendJob } from "../../../src/domain/job.js"
import { generateKey, ringOf } from "../../secure/support.js"
import { startNode } from "../../support/cluster.js"
import * as MemoryNetwork from "../../support/MemoryNetwork.js"

describe("send --all-or-nothing", () => {
  it.scoped("is refused on an unkeyed daemon, and on a keyed one with --delete without -r; nothing is sent", () =>
    Effect.gen(function*() {
      const net = yield* MemoryNetwork.make({ seed: 5 })
      const plain = yield* startNode(net, "10.0.0.1")
      yield* startNode(net, "10.0.0.2")
      fs.writeFileSync(join(plain.base, "f"), "x")
      const refused = yield* Effect.flip(Stream.runCollect(plain.jobs.run(sendJob({ paths: ["f"], operation: "send", allOrNothing: true }))))
      expect(refused).toMatchObject({ _tag: "AllOrNothingUnavailable" })
      expect(refused.message).toMatch(/^--all-or-nothing: this daemon runs unkeyed .*nothing sent$/)

      const keyed = yield* MemoryNetwork.make({ seed: 6 })
      const ring = ringOf(generateKey())
      const a = yield* startNode(keyed, "10.0.1.1", { keys: ring })
      const b = yield* startNode(keyed, "10.0.1.2", { keys: ring })
      fs.writeFileSync(join(a.base, "f"), "x")
      const e = yield* Effect.flip(Stream.runCollect(a.jobs.run(sendJob({ paths: ["f"], operation: "send", allOrNothing: true, delete: true }))))
      expect(e.message).toContain("--delete without -r")
      expect(fs.existsSync(join(b.base, "f"))).toBe(false)
    }))
})
