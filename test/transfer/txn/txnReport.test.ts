/**
 * What a transaction's outcome says per path and host (`txnReport.ts`), from the sender's result: removals of a
 * member whose switch failed part way, a dry run's removals, a `--readonly` member's dry run and send.
 */
import { describe, expect, it } from "@effect/vitest"
import type { Entry } from "../../../src/transfer/txn/messages.js"
import type { MemberOutcome } from "../../../src/transfer/txn/senderMachine.js"
import type { TxnResult } from "../../../src/transfer/txn/TxnSend.js"
import { fileOutcomes, removalOutcomes } from "../../../src/transfer/txn/txnReport.js"

const EIO = 5
const EROFS = 30
const file = (path: string): Entry => ({ path, type: "file", size: 1, mode: 0o644, uid: 0, gid: 0, mtime: { sec: 1, nsec: 0 } })
const member = (i: number, outcome: MemberOutcome["outcome"], more: Partial<MemberOutcome> = {}): MemberOutcome => ({
  target: { host: `h${i}`, address: `10.0.0.${i}`, port: 5000 },
  outcome,
  failures: [],
  failedCount: 0,
  errno: 0,
  missed: 0,
  removals: [],
  ...more
})
const removed = (result: TxnResult) => removalOutcomes(result, ".").map((f) => [f.path, f.hosts.map((h) => `${h.host} ${h.outcome}${h.errno === undefined ? "" : ` ${h.errno}`}`)])

describe("txn report", () => {
  it("a member whose switch failed part way did its other removals: each is reported failed with that errno, not left out", () => {
    const result: TxnResult = {
      purpose: undefined,
      entries: [],
      cancelled: undefined,
      members: [member(2, "committed", { removals: ["old"] }), member(3, "failed", { errno: EIO, removals: ["old", "older"] }), member(4, "failed", { removals: ["old"] })]
    }
    expect(removed(result)).toEqual([["old", ["h2 deleted", "h3 failed 5"]], ["older", ["h3 failed 5"]]])
    expect(removalOutcomes(result, ".")[1]!.hosts[0]!.detail).toMatch(/switch failed part way/)
  })

  it("a dry run: what a member that voted PREPARED would remove is would-delete; a member that voted FAILED lists none", () => {
    const result: TxnResult = {
      purpose: "dryRun",
      entries: [],
      cancelled: undefined,
      members: [member(2, "aborted", { removals: ["old"] }), member(3, "aborted", { removals: ["old", "gone"] }), member(4, "lost")]
    }
    expect(removed(result)).toEqual([["old", ["h2 would-delete", "h3 would-delete"]], ["gone", ["h3 would-delete"]]])
  })

  it("a --readonly member's dry run: what it would change is readonly (EROFS, named or beyond the vote's list), not failed", () => {
    const entries = ["a", "b", "c"].map((p) => ({ entry: file(p), needers: [], changers: p === "c" ? ["10.0.0.2"] : ["10.0.0.2", "10.0.0.3"] }))
    const result: TxnResult = {
      purpose: "dryRun",
      entries,
      cancelled: undefined,
      // h2 is read-only: its vote named EROFS for a only (as if b, c were beyond MAX_FAILURES); h3 could not look b up
      members: [member(2, "failed", { failures: [{ index: 0, errno: EROFS }], failedCount: 3 }), member(3, "failed", { failures: [{ index: 1, errno: 13 }], failedCount: 1 })]
    }
    expect(fileOutcomes(result).map((f) => `${f.path}: ${f.hosts.map((h) => h.outcome).join(" ")}`)).toEqual([
      "a: readonly would-update",
      "b: readonly failed",
      "c: readonly skipped"
    ])
  })

  it("a --readonly member in a send: what it would change is readonly, not failed EROFS, as v7's READONLY; its refused scan for removals too; all or nothing names it", () => {
    // it answers every entry changes (it compares nothing) and its vote names EROFS for the first MAX_FAILURES only
    const entries = ["a", "b", "c"].map((p) => ({ entry: file(p), needers: [], changers: p === "c" ? ["10.0.0.2"] : ["10.0.0.2", "10.0.0.3"] }))
    const readonly = member(2, "failed", { failures: [{ index: -1, errno: EROFS }, { index: 0, errno: EROFS }], failedCount: 4 })
    const result: TxnResult = { purpose: undefined, entries, cancelled: undefined, members: [readonly, member(3, "committed")] }
    expect(fileOutcomes(result).map((f) => `${f.path}: ${f.hosts.map((h) => h.outcome).join(" ")}`)).toEqual([
      "a: readonly updated",
      "b: readonly updated",
      "c: readonly skipped"
    ])
    expect(removed(result)).toEqual([[".", ["h2 readonly"]]])
    expect(removalOutcomes(result, ".")[0]!.hosts[0]!.detail).toBe("removes nothing")
    // an entry a member named with another errno failed, and one it did not name is not taken for readonly
    const mixed: TxnResult = { ...result, members: [member(2, "failed", { failures: [{ index: 0, errno: EROFS }, { index: 1, errno: 13 }], failedCount: 3 })] }
    expect(fileOutcomes(mixed).map((f) => f.hosts[0]!.outcome)).toEqual(["readonly", "failed", "failed"])
    expect(fileOutcomes(mixed)[1]!.hosts[0]).toMatchObject({ errno: 13 })
    const aborted: TxnResult = { ...result, members: [readonly, member(3, "aborted")] }
    expect(fileOutcomes(aborted)[0]!.hosts[1]).toMatchObject({ outcome: "failed", detail: "not committed: the transaction aborted (h2 is --readonly)" })
  })
})
