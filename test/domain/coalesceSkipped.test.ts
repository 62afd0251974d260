/**
 * `coalesceSkipped`: the daemon sends each run of files every host skipped as one count (`Skipped`), however its
 * events were batched. What the client counts must not change: per host set, as many skipped files, in the same
 * place among the other events, and no run left split.
 */
import { describe, expect, it } from "@effect/vitest"
import { FastCheck as fc } from "effect"
import { coalesceSkipped, type SendEvent } from "../../src/domain/job.js"
import type { HostOutcome } from "../../src/domain/outcome.js"

const host = (name: string, address: string): HostOutcome => ({ host: name, address, outcome: "skipped" })
/** Host sets as a daemon reports them: a new array each file (v7) or one shared array (a transaction's). */
const hostSets = [[host("h2", "10.0.0.2")], [host("h2", "10.0.0.2"), host("h3", "10.0.0.3")], [host("h3", "10.0.0.3")]]

const event: fc.Arbitrary<SendEvent> = fc.oneof(
  fc.record({ set: fc.integer({ min: 0, max: 2 }), files: fc.integer({ min: 1, max: 5 }), copy: fc.boolean() }).map(({ copy, files, set }) =>
    ({ _tag: "Skipped" as const, files, hosts: copy ? hostSets[set]!.map((h) => ({ ...h })) : hostSets[set]! })),
  fc.string({ minLength: 1, maxLength: 3 }).map((path) => ({ _tag: "File" as const, path, hosts: [{ ...host("h2", "10.0.0.2"), outcome: "updated" as const }] }))
)

const key = (e: SendEvent) => (e._tag === "Skipped" ? `skipped ${e.hosts.map((h) => h.address).join(",")}` : `${e._tag} ${e._tag === "File" ? e.path : ""}`)

/** The events as the client counts them: each skipped file once, in order. */
const counted = (events: ReadonlyArray<SendEvent>) => events.flatMap((e) => (e._tag === "Skipped" ? Array.from({ length: e.files }, () => key(e)) : [key(e)]))

describe("runs of skipped files, counted", () => {
  it.prop("the same files, hosts and order as the events given; no two counts of the same hosts side by side", [fc.array(event, { maxLength: 40 })], ([events]) => {
    const out = coalesceSkipped(events)
    expect(counted(out)).toEqual(counted(events))
    out.forEach((e, i) => {
      const next = out[i + 1]
      if (e._tag === "Skipped" && next?._tag === "Skipped") expect(key(next)).not.toBe(key(e))
    })
  })

  it("a tree's unchanged files between two changed ones: one count each side", () => {
    const skipped = (files: number): SendEvent => ({ _tag: "Skipped", files, hosts: hostSets[1]! })
    const changed: SendEvent = { _tag: "File", path: "a", hosts: [{ ...host("h2", "10.0.0.2"), outcome: "updated" }] }
    expect(coalesceSkipped([skipped(1), skipped(1), changed, skipped(2), skipped(1), skipped(1)])).toEqual([skipped(2), changed, skipped(4)])
  })
})
