import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, FastCheck as fc } from "effect"
import type { SendJob } from "../../src/transfer/Sender.js"
import { runJob, setUp } from "../support/scenario.js"
import { describeTree, impairments, tempFiles, tree } from "../support/trees.js"

const job: SendJob = {
  paths: [], recursive: true, dryRun: false, operation: "send", delete: true, targets: [], excludes: [], parallel: 5,
  rateMbit: undefined, timeout: Duration.seconds(5)
}

const runs = Number(process.env.MAKUO_PROP_RUNS ?? 200) / 4

const scenario = fc.record({
  sender: tree,
  receivers: fc.array(tree, { minLength: 1, maxLength: 3 }),
  seed: fc.integer(),
  ...impairments,
  exclude: fc.constantFrom([], ["c"], ["*.txt"])
})


/** The entries an exclude pattern protects, as makuo's exclude matching sees them (by name here: no '/'). */
const excluded = (path: string, patterns: ReadonlyArray<string>) =>
  path.split("/").some((part) => patterns.some((p) => (p === "*.txt" ? part.endsWith(".txt") : part === p)))

describe("send -r --delete on the in-memory network (property)", () => {
  it.effect.prop(
    "-n changes nothing; then every receiver equals the sender, except excluded paths, which stay untouched; check finds no difference",
    [scenario],
    ([s]) =>
      Effect.scoped(Effect.gen(function*() {
        const { receivers, sender } = yield* setUp(s)
        const before = receivers.map((r) => describeTree(r.base))

        yield* runJob(sender, { ...job, excludes: s.exclude, dryRun: true })
        receivers.forEach((r, i) => expect(describeTree(r.base), `-n changed ${r.host}`).toEqual(before[i]))

        const events = yield* runJob(sender, { ...job, excludes: s.exclude })
        const failures = events.flatMap((e) => (e._tag === "File" ? e.hosts.filter((h) => h.outcome === "failed" || h.outcome === "lost") : []))
        expect(failures).toEqual([])
        const want = describeTree(sender.base)
        receivers.forEach((r, i) => {
          const got = describeTree(r.base)
          expect(tempFiles(got)).toEqual([])
          const relevant = (m: Map<string, string>) =>
            new Map([...m].filter(([k]) => !excluded(k, s.exclude)))
          // what is not excluded matches the sender exactly, nothing more and nothing less
          expect(relevant(got), `${r.host} differs`).toEqual(relevant(want))
          // what is excluded on the receiver was left as it was
          for (const [k, v] of before[i]!) if (excluded(k, s.exclude) && got.has(k)) expect(got.get(k)).toEqual(v)
        })
        const check = yield* runJob(sender, { ...job, delete: false, operation: "check", excludes: s.exclude })
        const bad = check.flatMap((e) => (e._tag === "File" ? e.hosts.filter((h) => h.outcome !== "same").map((h) => `${h.host}:${e.path} ${h.outcome}`) : []))
        expect(bad).toEqual([])
      })),
    { timeout: 600_000, fastCheck: { numRuns: runs } }
  )
})
