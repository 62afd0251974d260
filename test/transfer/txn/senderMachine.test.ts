/**
 * The sender's machine of a tree transaction, step by step: the manifest window, packing of the bundle
 * stream, retransmission waits that double up to `maxWait`, a silent member lost at `timeout` (not before, and
 * not counted while it owes nothing), NAK repair, and the commit rule with and without all-or-nothing.
 */
import { describe, expect, it } from "@effect/vitest"
import { bitmapFor, type Entry, setBit, type ToSender, type TxnId } from "../../../src/transfer/txn/messages.js"
import * as Sender from "../../../src/transfer/txn/senderMachine.js"
import { makeRttEstimator, type Target } from "../../../src/transfer/engine/rtt.js"

const TXN = 3 as TxnId
const targets: ReadonlyArray<Target> = [
  { host: "h2", address: "10.0.0.2", port: 5000 },
  { host: "h3", address: "10.0.0.3", port: 5000 }
]
const [A, B] = targets.map((t) => t.address) as [string, string]

const config = (allOrNothing = false): Sender.Config => ({ window: 2, block: 1000, datagram: 1400, allOrNothing, delete: false, maxWait: 400, timeout: 1000, rtt: makeRttEstimator() })
const file = (i: number, size: number): Entry => ({ path: `f${i}`, type: "file", size, mode: 0o644, uid: 0, gid: 0, mtime: { sec: 0, nsec: 0 } })

/** Steps the events; every `Data` the machine asks for is sent at once (`Sent`), as an unpaced driver would. */
const run = (s: Sender.SenderSession, now: number, ...events: Array<Sender.Event>) => {
  const out: Array<Sender.Action> = []
  for (const e of events) {
    const before = out.length
    Sender.step(s, e, out, now)
    const data = out.slice(before).reduce((n, a) => n + (a._tag === "TransmitData" ? 1 : a._tag === "TransmitRun" ? a.blocks : 0), 0)
    if (data > 0) Sender.step(s, { _tag: "Sent", count: data }, out, now)
  }
  return out
}
const reply = (from: string, message: ToSender): Sender.Event => ({ _tag: "Reply", from, message })
const needs = (batch: number, ...indices: Array<number>): Extract<ToSender, { _tag: "Needs" }> => {
  const bitmap = bitmapFor(8)
  for (const i of indices) setBit(bitmap, i)
  return { _tag: "Needs", txn: TXN, batch, bitmap, changes: bitmap }
}
const describeAction = (a: Sender.Action) => {
  switch (a._tag) {
    case "Transmit":
      return a.message._tag === "Manifest" ? `Manifest ${a.message.batch}` : a.message._tag
    case "TransmitData":
      return `Data ${a.spans.map((p) => `${p.index}@${p.offset}+${p.length}`).join(" ")}`
    case "TransmitRun":
      return `Run ${a.index}@${a.offset} x${a.blocks}`
    case "Deadline":
      return `Deadline ${a.at}`
    case "Finished":
      return `Finished ${a.members.map((m) => m.outcome).join(" ")}`
    case "NextBatch":
    case "DataEnd":
      return a._tag
    case "TransmitDigests":
      return `Digests ${a.indices.join(" ")}`
  }
}
const show = (out: ReadonlyArray<Sender.Action>) => out.map(describeAction)

describe("txn sender machine", () => {
  it("keeps `window` batches in flight, sends the union of the needs packed once everyone answered, then PREPARE", () => {
    const s = Sender.make(TXN, targets, config(), 0)
    expect(show(run(s, 0, { _tag: "Start" }))).toEqual(["NextBatch"])
    expect(show(run(s, 0, { _tag: "Batch", entries: [file(0, 300), file(1, 2500)], last: false }))).toEqual(["Manifest 0", "NextBatch", "Deadline 400"])
    expect(show(run(s, 0, { _tag: "Batch", entries: [file(2, 200), file(3, 0)], last: true }))).toEqual(["Manifest 1"])
    // A needs f1 (3 blocks), B f0: nothing goes until both answered; a datagram waits for batch 1 while it is in flight
    // (both batches are due again at 400, the first wait before any round trip was measured)
    expect(show(run(s, 10, reply(A, needs(0, 1))))).toEqual([])
    expect(show(run(s, 20, reply(B, needs(0, 0))))).toEqual(["Data 0@0+300 1@0+1000", "Data 1@1000+1000"])
    expect(show(run(s, 30, reply(A, needs(1, 0, 1)), reply(B, needs(1))))).toEqual(["Data 1@2000+500 2@0+200", "DataEnd", "Prepare", "Deadline 91"])
  })

  it("sends a request again after waits that double up to maxWait; a member silent for timeout is lost and the others commit", () => {
    const s = Sender.make(TXN, targets, config(), 0)
    run(s, 0, { _tag: "Start" }, { _tag: "Batch", entries: [file(0, 10)], last: true })
    expect(s.deadline).toBe(400)
    // A answers; B stays silent
    run(s, 5, reply(A, needs(0, 0)))
    const times: Array<number> = []
    let out: Array<Sender.Action> = []
    while (!out.some((a) => a._tag === "Finished" || (a._tag === "Transmit" && a.message._tag === "Prepare"))) {
      times.push(s.deadline)
      out = run(s, s.deadline, { _tag: "Expired" })
    }
    // B lost: the vote waits for A only
    expect(Sender.progress(s)).toEqual({ phase: "voting", entries: 1, awaiting: [targets[0]] })
    expect(times).toEqual([400, 800, 1000])
    expect(show(out)).toEqual(["Data 0@0+10", "DataEnd", "Prepare", "Deadline 1020"])
    expect(show(run(s, 1001, reply(A, { _tag: "Prepared", txn: TXN })))).toEqual(["Commit", "Deadline 1021"])
    expect(show(run(s, 1002, reply(A, { _tag: "Committed", txn: TXN, errno: 0 })))).toEqual(["Finished committed lost"])
  })

  it("takes a Needs only from a member not lost, for a batch still waiting for it: a lost member's late Needs names nothing the shell records", () => {
    const s = Sender.make(TXN, targets, { ...config(), timeout: 100 }, 0)
    run(s, 0, { _tag: "Start" }, { _tag: "Batch", entries: [file(0, 10)], last: false })
    const late = needs(0, 0)
    expect(Sender.takesNeeds(s, B, late)).toBe(true)
    run(s, 5, reply(A, needs(0)))
    expect(Sender.takesNeeds(s, A, needs(0))).toBe(false)
    // B silent past the timeout: lost, the batch completes without it
    while (!Sender.progress(s).awaiting.every((t) => t.address !== B)) run(s, s.deadline, { _tag: "Expired" })
    expect(Sender.takesNeeds(s, B, late)).toBe(false)
    expect(show(run(s, s.deadline + 1, reply(B, late)))).toEqual([])
    expect(Sender.takesNeeds(s, A, { ...needs(0), batch: 7 })).toBe(false)
  })

  it("counts a member's silence only from when it owes an answer", () => {
    const s = Sender.make(TXN, targets, { ...config(), timeout: 100 }, 0)
    run(s, 0, { _tag: "Start" }, { _tag: "Batch", entries: [file(0, 10)], last: false })
    run(s, 5, reply(A, needs(0)), reply(B, needs(0)))
    // the driver takes 500 ms to produce the next batch: nobody owed anything meanwhile
    run(s, 505, { _tag: "Batch", entries: [file(1, 10)], last: true })
    expect(s.deadline).toBe(525)
    expect(show(run(s, 510, reply(A, needs(1)), reply(B, needs(1))))).toEqual(["DataEnd", "Prepare", "Deadline 530"])
  })

  it("repairs the blocks a member reports missing at once", () => {
    const s = Sender.make(TXN, targets, config(), 0)
    run(s, 0, { _tag: "Start" }, { _tag: "Batch", entries: [file(0, 2500)], last: true }, reply(A, needs(0, 0)), reply(B, needs(0)))
    const out = run(s, 10, reply(A, { _tag: "Missing", txn: TXN, spans: [{ index: 0, offset: 1000, length: 1500 }] }))
    expect(show(out)).toEqual(["Data 0@1000+1000", "Data 0@2000+500"])
    run(s, 11, reply(A, { _tag: "Prepared", txn: TXN }), reply(B, { _tag: "Prepared", txn: TXN }))
    const done = run(s, 12, reply(A, { _tag: "Committed", txn: TXN, errno: 0 }), reply(B, { _tag: "Committed", txn: TXN, errno: 0 }))
    expect(done.at(-1)).toMatchObject({ _tag: "Finished", members: [{ outcome: "committed", missed: 2 }, { outcome: "committed", missed: 0 }] })
  })

  it("repairs for a member at most the bytes it needed in each round of the vote: asking for its file again and again repeats nothing until the next PREPARE", () => {
    const s = Sender.make(TXN, targets, config(), 0)
    run(s, 0, { _tag: "Start" }, { _tag: "Batch", entries: [file(0, 2500), file(1, 900)], last: true }, reply(A, needs(0, 0)), reply(B, needs(0)))
    const whole = { _tag: "Missing", txn: TXN, spans: [{ index: 0, offset: 0, length: 2500 }] } as const
    expect(show(run(s, 10, reply(A, whole)))).toEqual(["Data 0@0+1000", "Data 0@1000+1000", "Data 0@2000+500"])
    expect(show(run(s, 11, reply(A, whole)))).toEqual([])
    // a file it did not need counts for nothing: the budget is its own files
    expect(show(run(s, 11, reply(B, { _tag: "Missing", txn: TXN, spans: [{ index: 0, offset: 0, length: 1000 }] })))).toEqual([])
    const again = run(s, s.deadline, { _tag: "Expired" })
    expect(show(again)).toContain("Prepare")
    expect(show(run(s, s.deadline, reply(A, { _tag: "Missing", txn: TXN, spans: [{ index: 0, offset: 2000, length: 500 }, { index: 0, offset: 0, length: 2500 }] })))).toEqual(["Data 0@2000+500"])
  })

  it("a Missing that asks for digests (its Digests lost) has them sent again, once per member and round of the vote; a --checksum send (digests in the manifest) has no DataEnd", () => {
    const s = Sender.make(TXN, targets, config(), 0)
    run(s, 0, { _tag: "Start" }, { _tag: "Batch", entries: [file(0, 10), file(1, 10)], last: true }, reply(A, needs(0, 0, 1)), reply(B, needs(0)))
    expect(show(run(s, 10, reply(A, { _tag: "Missing", txn: TXN, spans: [], digests: [1, 0] })))).toEqual(["Digests 1 0"])
    // each digest once per member and round of the vote: the same ask again in this round is not answered
    expect(show(run(s, 10, reply(A, { _tag: "Missing", txn: TXN, spans: [], digests: [0, 1] })))).toEqual([])
    // the next round (PREPARE again to those that owe their vote) answers it again, once
    const again = run(s, s.deadline, { _tag: "Expired" })
    expect(show(again)).toContain("Prepare")
    expect(show(run(s, s.deadline, reply(A, { _tag: "Missing", txn: TXN, spans: [], digests: [0] })))).toEqual(["Digests 0"])
    expect(show(run(s, s.deadline, reply(A, { _tag: "Missing", txn: TXN, spans: [], digests: [0] })))).toEqual([])
    // a member that voted asks for nothing more
    run(s, 11, reply(B, { _tag: "Prepared", txn: TXN }))
    expect(show(run(s, 12, reply(B, { _tag: "Missing", txn: TXN, spans: [], digests: [0] })))).toEqual([])
    const c = Sender.make(TXN, targets, { ...config(), checksum: true }, 0)
    const out = run(c, 0, { _tag: "Start" }, { _tag: "Batch", entries: [file(0, 10)], last: true }, reply(A, needs(0, 0)), reply(B, needs(0)))
    expect(show(out).filter((a) => a.startsWith("Data") || a === "Prepare")).toEqual(["Data 0@0+10", "Prepare"])
  })

  it("reports a member whose switch failed part way as failed, with its errno", () => {
    const s = Sender.make(TXN, targets, config(), 0)
    run(s, 0, { _tag: "Start" }, { _tag: "Batch", entries: [file(0, 10)], last: true }, reply(A, needs(0)), reply(B, needs(0)))
    run(s, 1, reply(A, { _tag: "Prepared", txn: TXN }), reply(B, { _tag: "Prepared", txn: TXN }))
    const done = run(s, 2, reply(A, { _tag: "Committed", txn: TXN, errno: 28 }), reply(B, { _tag: "Committed", txn: TXN, errno: 0 }))
    expect(done.at(-1)).toMatchObject({ _tag: "Finished", members: [{ outcome: "failed", errno: 28 }, { outcome: "committed", errno: 0 }] })
  })

  it("a FAILED vote: the members that voted PREPARED commit, the failed one discards on the same COMMIT", () => {
    const s = Sender.make(TXN, targets, config(), 0)
    run(s, 0, { _tag: "Start" }, { _tag: "Batch", entries: [file(0, 10)], last: true }, reply(A, needs(0)), reply(B, needs(0)))
    const out = run(s, 1, reply(A, { _tag: "Prepared", txn: TXN }), reply(B, { _tag: "Failed", txn: TXN, failures: [{ index: 0, errno: 13 }], count: 1 }))
    expect(show(out)).toContain("Commit")
    const done = run(s, 2, reply(A, { _tag: "Committed", txn: TXN, errno: 0 }), reply(B, { _tag: "Aborted", txn: TXN }))
    expect(done.at(-1)).toMatchObject({ _tag: "Finished", members: [{ outcome: "committed" }, { outcome: "failed", failures: [{ index: 0, errno: 13 }], failedCount: 1 }] })
  })

  it("all or nothing: a FAILED vote aborts everywhere; a member that voted PREPARED is reported aborted", () => {
    const s = Sender.make(TXN, targets, config(true), 0)
    run(s, 0, { _tag: "Start" }, { _tag: "Batch", entries: [file(0, 10)], last: true }, reply(A, needs(0)), reply(B, needs(0)))
    const out = run(s, 1, reply(A, { _tag: "Prepared", txn: TXN }), reply(B, { _tag: "Failed", txn: TXN, failures: [{ index: 0, errno: 13 }], count: 1 }))
    expect(show(out)).toContain("Abort")
    const done = run(s, 2, reply(A, { _tag: "Aborted", txn: TXN }), reply(B, { _tag: "Aborted", txn: TXN }))
    expect(done.at(-1)).toMatchObject({ _tag: "Finished", members: [{ outcome: "aborted" }, { outcome: "failed", failures: [{ index: 0, errno: 13 }], failedCount: 1 }] })
  })

  it("a member whose Missing the driver refused (bad input) fails alone, told at once to discard; all or nothing: everyone aborts", () => {
    const reason = "asked for bytes 0-5000 of f0, past its end (10 bytes)"
    for (const allOrNothing of [false, true]) {
      const s = Sender.make(TXN, targets, config(allOrNothing), 0)
      run(s, 0, { _tag: "Start" }, { _tag: "Batch", entries: [file(0, 10)], last: true }, reply(A, needs(0, 0)), reply(B, needs(0, 0)))
      expect(s.phase).toBe("voting")
      expect(run(s, 1, { _tag: "Refuse", from: A, reason })).toEqual([{ _tag: "Transmit", message: { _tag: "Abort", txn: TXN }, to: [targets[0]] }])
      // its vote, late, counts no more: B's decides
      const out = run(s, 2, reply(A, { _tag: "Prepared", txn: TXN }), reply(B, { _tag: "Prepared", txn: TXN }))
      expect(show(out)).toContain(allOrNothing ? "Abort" : "Commit")
      const done = run(s, 3, reply(A, { _tag: "Aborted", txn: TXN }), reply(B, allOrNothing ? { _tag: "Aborted", txn: TXN } : { _tag: "Committed", txn: TXN, errno: 0 }))
      expect(done.at(-1)).toMatchObject({ _tag: "Finished", members: [{ outcome: "failed", refused: reason }, { outcome: allOrNothing ? "aborted" : "committed" }] })
    }
  })

  it("every member voted FAILED: nothing to commit, aborted", () => {
    const s = Sender.make(TXN, targets, config(), 0)
    run(s, 0, { _tag: "Start" }, { _tag: "Batch", entries: [file(0, 10)], last: true }, reply(A, needs(0)), reply(B, needs(0)))
    const failed = { _tag: "Failed", txn: TXN, failures: [{ index: 0, errno: 13 }], count: 1 } as const
    expect(show(run(s, 1, reply(A, failed), reply(B, failed)))).toContain("Abort")
  })

  it("all or nothing: a member lost before COMMIT (here it restarted: Unknown) aborts everywhere at once", () => {
    const s = Sender.make(TXN, targets, config(true), 0)
    run(s, 0, { _tag: "Start" }, { _tag: "Batch", entries: [file(0, 10)], last: false })
    const out = run(s, 1, reply(B, { _tag: "Unknown", txn: TXN }))
    expect(show(out)).toEqual(["Abort", "Deadline 401"])
    // the manifest is over: a batch the driver still brings is not sent
    expect(show(run(s, 2, { _tag: "Batch", entries: [file(1, 10)], last: true }))).toEqual([])
    expect(run(s, 3, reply(A, { _tag: "Aborted", txn: TXN })).at(-1)).toMatchObject({ _tag: "Finished", members: [{ outcome: "aborted" }, { outcome: "lost" }] })
  })

  it("a file's full blocks, each filling its datagram, are asked for as one run, not one action per block; its short tail as a Data", () => {
    const s = Sender.make(TXN, targets, { ...config(), datagram: 1000 + Sender.PIECE_OVERHEAD }, 0)
    const out = run(s, 0, { _tag: "Start" }, { _tag: "Batch", entries: [file(0, 20_500)], last: true }, reply(A, needs(0, 0)), reply(B, needs(0)))
    expect(show(out).filter((a) => a.startsWith("Run") || a.startsWith("Data") || a === "Prepare")).toEqual(["Run 0@0 x20", "Data 0@20000+500", "DataEnd", "Prepare"])
  })

  it("asks for the vote only once the driver has sent every Data (a paced driver): PREPARE never overtakes the data", () => {
    const s = Sender.make(TXN, targets, config(), 0)
    const out: Array<Sender.Action> = []
    for (const e of [{ _tag: "Start" }, { _tag: "Batch", entries: [file(0, 2500)], last: true }, reply(A, needs(0, 0)), reply(B, needs(0))] as const) {
      Sender.step(s, e, out, 0)
    }
    expect(show(out).filter((a) => a !== "NextBatch" && !a.startsWith("Deadline"))).toEqual(["Manifest 0", "Data 0@0+1000", "Data 0@1000+1000", "Data 0@2000+500"])
    // nobody owes an answer while the driver sends: no deadline, no member counted silent
    expect(s.deadline).toBe(Infinity)
    const step = (e: Sender.Event) => {
      const o: Array<Sender.Action> = []
      Sender.step(s, e, o, 5000)
      return show(o)
    }
    expect(step({ _tag: "Sent", count: 2 })).toEqual([])
    // the digests the driver holds go first (`DataEnd`), then the vote is asked
    expect(step({ _tag: "Sent", count: 1 })).toEqual(["DataEnd", "Prepare", "Deadline 5020"])
  })

  it("Cancel (a source changed) aborts everywhere before the decision, and changes nothing after it", () => {
    const before = Sender.make(TXN, targets, config(), 0)
    run(before, 0, { _tag: "Start" }, { _tag: "Batch", entries: [file(0, 10)], last: true }, reply(A, needs(0, 0)), reply(B, needs(0)))
    expect(show(run(before, 1, { _tag: "Cancel" }))).toEqual(["Abort", "Deadline 21"])
    expect(run(before, 2, reply(A, { _tag: "Aborted", txn: TXN }), reply(B, { _tag: "Aborted", txn: TXN })).at(-1))
      .toMatchObject({ _tag: "Finished", members: [{ outcome: "aborted" }, { outcome: "aborted" }] })
    const after = Sender.make(TXN, targets, config(), 0)
    run(after, 0, { _tag: "Start" }, { _tag: "Batch", entries: [file(0, 10)], last: true }, reply(A, needs(0)), reply(B, needs(0)))
    run(after, 1, reply(A, { _tag: "Prepared", txn: TXN }), reply(B, { _tag: "Prepared", txn: TXN }))
    expect(after.phase).toBe("committing")
    expect(show(run(after, 2, { _tag: "Cancel" }))).toEqual([])
  })

  it("--delete: batch 0 carries the scope; a PREPARED counts once the member's removals are all in, and they are its outcome", () => {
    const scope = { roots: ["www"], excludes: ["*.log"] }
    const s = Sender.make(TXN, targets, { ...config(), delete: true, scope }, 0)
    const out = run(s, 0, { _tag: "Start" }, { _tag: "Batch", entries: [file(0, 0)], last: true })
    const first = out.find((a) => a._tag === "Transmit")
    expect(first?._tag === "Transmit" && first.message).toMatchObject({ _tag: "Manifest", batch: 0, delete: true, scope })
    run(s, 10, reply(A, needs(0)), reply(B, needs(0)))
    const removals = (first: number, ...paths: Array<string>): ToSender => ({ _tag: "Removals", txn: TXN, total: 3, first, paths })
    // A's second datagram of removals was lost: its vote does not count, the next PREPARE brings them again
    expect(show(run(s, 20, reply(A, removals(0, "www/a", "www/b")), reply(A, { _tag: "Prepared", txn: TXN })))).toEqual([])
    expect(show(run(s, 30, reply(B, { _tag: "Removals", txn: TXN, total: 0, first: 0, paths: [] }), reply(B, { _tag: "Prepared", txn: TXN })))).toEqual([])
    expect(show(run(s, 40, reply(A, removals(0, "www/a", "www/b")), reply(A, removals(2, "www")), reply(A, { _tag: "Prepared", txn: TXN }))).filter((a) => a !== undefined && !a.startsWith("Deadline"))).toEqual(["Commit"])
    const done = run(s, 50, reply(A, { _tag: "Committed", txn: TXN, errno: 0 }), reply(B, { _tag: "Committed", txn: TXN, errno: 0 })).find((a) => a._tag === "Finished")
    expect(done?._tag === "Finished" && done.members.map((m) => [m.target.host, m.outcome, m.removals])).toEqual([["h2", "committed", ["www/a", "www/b", "www"]], ["h3", "committed", []]])
  })

  it("--delete: a member whose switch kept some of what it listed relists what it removed before Committed: that is its outcome", () => {
    const s = Sender.make(TXN, targets, { ...config(), delete: true, scope: { roots: [], excludes: [] } }, 0)
    run(s, 0, { _tag: "Start" }, { _tag: "Batch", entries: [file(0, 0)], last: true })
    run(s, 10, reply(A, needs(0)), reply(B, needs(0)))
    const listed = (member: string) => [reply(member, { _tag: "Removals", txn: TXN, total: 3, first: 0, paths: ["w/old/stale", "w/old/x", "w/old"] }), reply(member, { _tag: "Prepared", txn: TXN })]
    run(s, 20, ...listed(A), ...listed(B))
    const committed = (member: string) => reply(member, { _tag: "Committed", txn: TXN, errno: 0 })
    // A kept w/old: it relists the two paths it removed; a late copy of its vote's list (total 3) changes nothing
    const relist = (total: number, first: number, ...paths: Array<string>) => reply(A, { _tag: "Removals", txn: TXN, total, first, paths })
    // a relist of two datagrams, the second lost: its Committed waits for the next COMMIT, which brings both again
    expect(show(run(s, 30, relist(2, 0, "w/old/stale"), committed(A), committed(B))).filter((a) => !a.startsWith("Deadline"))).toEqual([])
    const done = run(s, 40, listed(A)[0]!, relist(2, 0, "w/old/stale"), relist(2, 1, "w/old/x"), committed(A)).find((a) => a._tag === "Finished")
    expect(done?._tag === "Finished" && done.members.map((m) => [m.target.host, m.outcome, m.removals])).toEqual([
      ["h2", "committed", ["w/old/stale", "w/old/x"]],
      ["h3", "committed", ["w/old/stale", "w/old/x", "w/old"]]
    ])
  })

  it("--delete: PREPARE is asked again only of the members that owe their vote: one that voted does not send its removals again each round", () => {
    const s = Sender.make(TXN, targets, { ...config(), delete: true, scope: { roots: [], excludes: [] } }, 0)
    run(s, 0, { _tag: "Start" }, { _tag: "Batch", entries: [file(0, 0)], last: true })
    const first = run(s, 10, reply(A, needs(0)), reply(B, needs(0))).find((a) => a._tag === "Transmit")
    expect(first).toEqual({ _tag: "Transmit", message: { _tag: "Prepare", txn: TXN, batches: 1 } })
    run(s, 20, reply(A, { _tag: "Removals", txn: TXN, total: 1, first: 0, paths: ["old"] }), reply(A, { _tag: "Prepared", txn: TXN }))
    const again = run(s, 500, { _tag: "Expired" }).filter((a) => a._tag === "Transmit")
    expect(again).toEqual([{ _tag: "Transmit", message: { _tag: "Prepare", txn: TXN, batches: 1 }, to: [targets[1]] }])
  })

  it("a dry run or a check: the manifest says so, no data goes out whatever the members answer, and once all voted it ends with ABORT", () => {
    for (const purpose of ["dryRun", "check"] as const) {
      const s = Sender.make(TXN, targets, { ...config(), purpose, checksum: true }, 0)
      const out = run(s, 0, { _tag: "Start" }, { _tag: "Batch", entries: [file(0, 300), file(1, 2500)], last: true })
      const manifest = out.find((a) => a._tag === "Transmit")
      expect(manifest?._tag === "Transmit" && manifest.message).toMatchObject({ _tag: "Manifest", purpose, checksum: true })
      const shown = (o: ReadonlyArray<Sender.Action>) => show(o).filter((a) => !a.startsWith("Deadline"))
      expect(shown(run(s, 10, reply(A, needs(0, 0, 1)), reply(B, needs(0, 1))))).toEqual(["Prepare"])
      expect(shown(run(s, 20, reply(A, { _tag: "Prepared", txn: TXN }), reply(B, { _tag: "Failed", txn: TXN, failures: [{ index: 1, errno: 13 }], count: 1 }))))
        .toEqual(["Abort"])
      expect(show(run(s, 30, reply(A, { _tag: "Aborted", txn: TXN }), reply(B, { _tag: "Aborted", txn: TXN })))).toEqual(["Finished aborted failed"])
    }
  })
})
