/**
 * What an idle daemon holds, as structure rather than figures (`npm run bench` prints the resident sizes): the
 * young generation at V8's initial size, receive space sized for idle traffic, and a bundle V8 can hold as
 * one-byte text.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { BIN, eventually, freePort, startDaemon, tempDir } from "../../scripts/lib/loopbackCluster.js"

const MiB = 1 << 20

describe("an idle daemon's memory", () => {
  it("the bundle is ASCII: one other character and V8 keeps its 2.5 MB source as UTF-16, twice the size", () => {
    const stray = /[^\x00-\x7f]/.exec(readFileSync(BIN, "latin1"))
    expect(stray === null ? "ascii" : `a byte ${stray[0].charCodeAt(0)} at ${stray.index}`).toBe("ascii")
  })

  it.scopedLive("keeps its young generation at the initial semi-spaces and little receive space", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const port = yield* freePort(["127.0.0.2"])
      const d = yield* startDaemon(dir, 1, port, [], { node: ["--import", join(import.meta.dirname, "..", "support", "heapProbe.mjs")] })
      expect(yield* eventually(Effect.sync(() => d.log().includes("control socket")), "10 seconds"), d.log()).toBe(true)
      const probed = () => /heap-probe (\{.*\})/.exec(d.log())?.[1]
      d.process.kill("SIGUSR2")
      expect(yield* eventually(Effect.sync(() => probed() !== undefined), "5 seconds"), d.log()).toBe(true)
      const heap = JSON.parse(probed()!) as { youngBytes: number; arrayBuffers: number }
      // a grown young generation is 16 MiB; the preallocated receive slots and slabs were 12 MiB
      expect(heap.youngBytes).toBeLessThanOrEqual(4 * MiB)
      expect(heap.arrayBuffers).toBeLessThanOrEqual(4 * MiB)
    }), 30_000)
})
