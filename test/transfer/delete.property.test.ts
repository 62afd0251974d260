import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, FastCheck as fc } from "effect"
import type { SendJob } from "../../src/domain/job.js"
import { runJob, setUp } from "../support/scenario.js"
import { describeTree, impairments, tempFiles, tree } from "../support/trees.js"

const job: SendJob = {
  paths: [], recursive: true, dryRun: false, operation: "send", delete: true, targets: [], excludes: [], parallel: 5, checksum: false, reportSkipped: true,
  rateMbit: undefined, progress: false, timeout: Duration.seconds(5)
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

/** What `check` must say of a sender's regular file on a receiver, from the two trees' descriptions. */
const expectedCheck = (path: string, want: string, got: Map<string, string>) => {
  const parts = path.split("/")
  for (let i = 1; i < parts.length; i++) {
    const parent = got.get(parts.slice(0, i).join("/"))
    // below a file or a symlink (never followed) nothing exists as far as a member is concerned
    if (parent !== undefined && !parent.startsWith("dir")) return "missing"
  }
  const entry = got.get(path)
  if (entry === undefined) return "missing"
  if (!entry.startsWith("file")) return "failed"
  const content = (d: string) => d.split(" ").slice(3).join(" ")
  return content(entry) === content(want) ? "same" : "different"
}

describe("send -r --delete on the in-memory network (property)", () => {
  it.effect.prop(
    "check reports exactly the files that differ; -n changes nothing; then every receiver equals the sender, except excluded paths, which stay untouched; check finds no difference",
    [scenario],
    ([s]) =>
      Effect.scoped(Effect.gen(function*() {
        const { receivers, sender } = yield* setUp(s)
        const before = receivers.map((r) => describeTree(r.base))

        const initial = describeTree(sender.base)
        const compared = yield* runJob(sender, { ...job, delete: false, operation: "check", excludes: s.exclude })
        const reported = compared.flatMap((e) => (e._tag === "File" ? e.hosts.map((h) => `${h.host}:${e.path} ${h.outcome}`) : [])).sort()
        const expected = [...initial].filter(([k, v]) => v.startsWith("file") && !excluded(k, s.exclude))
          .flatMap(([k, v]) => receivers.map((r, i) => `${r.host}:${k} ${expectedCheck(k, v, before[i]!)}`)).sort()
        expect(reported).toEqual(expected)
        receivers.forEach((r, i) => expect(describeTree(r.base), `check changed ${r.host}`).toEqual(before[i]))

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
