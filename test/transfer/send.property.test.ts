import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, FastCheck as fc } from "effect"
import type { SendEvent, SendJob } from "../../src/domain/job.js"
import { driveClock } from "../support/cluster.js"
import * as MemoryNetwork from "../support/MemoryNetwork.js"
import { runJob, setUp } from "../support/scenario.js"
import { describeTree, differences, impairments, tempFiles, tree } from "../support/trees.js"

const job: SendJob = {
  paths: [], recursive: true, dryRun: false, operation: "send", delete: false, targets: [], excludes: [], parallel: 5, checksum: false, reportSkipped: true,
  rateMbit: undefined, progress: false, timeout: Duration.seconds(5)
}

const runs = Number(process.env.MAKUO_PROP_RUNS ?? 200)

const scenario = fc.record({
  sender: tree,
  receivers: fc.array(tree, { minLength: 1, maxLength: 5 }),
  seed: fc.integer(),
  ...impairments,
  crashAfter: fc.option(fc.integer({ min: 1, max: 400 }), { freq: 3 })
})

describe("send -r on the in-memory network (property)", () => {
  it.effect.prop(
    "every live receiver ends equal to the sender; a crashed one is reported lost; no temp file anywhere",
    [scenario],
    ([s]) =>
      Effect.scoped(Effect.gen(function*() {
        const { net, receivers, sender } = yield* setUp(s)
        const victim = s.crashAfter !== null ? receivers.at(-1)! : undefined
        if (victim !== undefined && s.crashAfter !== null) yield* net.crashAfter(victim.address, s.crashAfter)

        const t0 = Date.now()
        const events = yield* runJob(sender, job)
        if (process.env.MAKUO_TRACE) console.log(Date.now() - t0, "ms", JSON.stringify({ ...s, sender: s.sender.length, receivers: s.receivers.length }))
        yield* net.setImpairments(MemoryNetwork.perfect)
        yield* advanceUntilQuiet

        const want = describeTree(sender.base)
        for (const r of receivers) {
          const got = describeTree(r.base)
          if (r === victim) continue
          expect(tempFiles(got), `temp files on ${r.host}`).toEqual([])
          expect(differences(want, got), `${r.host} differs`).toEqual([])
        }
        const outcomes = events.flatMap((e: SendEvent) => (e._tag === "File" ? e.hosts : []))
        expect(outcomes.filter((o) => o.host !== victim?.host && (o.outcome === "failed" || o.outcome === "lost"))).toEqual([])
        const summary = events.at(-1)
        expect(summary?._tag).toBe("Summary")
        // the victim, if it was cut before answering everything, is reported lost and never failed silently
        if (victim !== undefined) {
          const mine = outcomes.filter((o) => o.host === victim.host)
          const victimTree = describeTree(victim.base)
          if (differences(want, victimTree).length > 0) expect(mine.some((o) => o.outcome === "lost")).toBe(true)
          yield* victim.stop
          expect(tempFiles(describeTree(victim.base))).toEqual([])
        }
      })),
    { timeout: 600_000, fastCheck: { numRuns: runs } }
  )
})

/** Lets late duplicates and delayed datagrams land: they must change nothing. */
const advanceUntilQuiet = Effect.gen(function*() {
  yield* driveClock(Effect.sleep("1 second"), "250 millis")
})
