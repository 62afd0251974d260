/**
 * What an idle daemon holds, as structure rather than figures (`npm run bench` prints the resident sizes): V8's
 * parser never held the whole bundle at once (its peak stays resident in the C heap), receive space is sized for
 * idle traffic, the young generation did not grow to fit start-up's allocations (`src/daemon/settle.ts`), and the
 * bundle is text V8 can hold one byte a character.
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

  it.scopedLive("compiled the CLI module by module, holds little receive space and a young generation of its initial size", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const port = yield* freePort(["127.0.0.2"])
      const d = yield* startDaemon(dir, 1, port, [], { node: ["--import", join(import.meta.dirname, "..", "support", "heapProbe.mjs")] })
      expect(yield* eventually(Effect.sync(() => d.log().includes("control socket")), "10 seconds"), d.log()).toBe(true)
      const probed = () => /heap-probe (\{.*\})/.exec(d.log())?.[1]
      d.process.kill("SIGUSR2")
      expect(yield* eventually(Effect.sync(() => probed() !== undefined), "5 seconds"), d.log()).toBe(true)
      const heap = JSON.parse(probed()!) as { peakMallocedBytes: number; arrayBuffers: number; youngGenerationBytes: number }
      // compiling the bundle as one top-level function took 24 MiB; the preallocated receive slots and slabs were 12 MiB
      expect(heap.peakMallocedBytes).toBeLessThanOrEqual(12 * MiB)
      expect(heap.arrayBuffers).toBeLessThanOrEqual(4 * MiB)
      // V8 starts it at 4 MiB here; start-up's allocations grew it to 16 MiB, which an idle daemon kept
      expect(heap.youngGenerationBytes).toBeLessThanOrEqual(4 * MiB)
    }), 30_000)
})
