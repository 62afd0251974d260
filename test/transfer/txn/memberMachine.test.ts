/**
 * The member's machine of a tree transaction, step by step: duplicates change nothing and get the same answer,
 * the blocks it lacks are named in runs, its vote goes unsolicited once staging is done, and it never switches
 * a transaction it did not vote PREPARED for. A file whose manifest entry has no digest is staged only once the
 * sender's digest of it (`Digests`, after its data) is in, and checked against that; a lost one is asked for.
 */
import { describe, expect, it } from "@effect/vitest"
import type { Entry, ToMember, TxnId } from "../../../src/transfer/txn/messages.js"
import * as Member from "../../../src/transfer/txn/memberMachine.js"

const TXN = 5 as TxnId
const BLOCK = 4

const file = (path: string, size: number): Entry => ({ path, type: "file", size, mode: 0o644, uid: 1, gid: 1, mtime: { sec: 1, nsec: 2 } })
/** Digests in the manifest (as under `--checksum`): the files stage once their blocks are in. */
const big = { ...file("big", 18), digest: new Uint8Array(32).fill(1) } // 5 blocks, the last of 2 bytes
const small = { ...file("small", 3), digest: new Uint8Array(32).fill(2) }
const dir: Entry = { path: "d", type: "directory", size: 0, mode: 0o755, uid: 0, gid: 0, mtime: { sec: 1, nsec: 0 } }

const manifest: ToMember = { _tag: "Manifest", txn: TXN, batch: 0, first: 0, entries: [big, small, dir], last: true, delete: false }
const piece = (index: number, offset: number, length: number) => ({ index, offset, bytes: new Uint8Array(length) })
const data = (...pieces: Array<ReturnType<typeof piece>>): ToMember => ({ _tag: "Data", txn: TXN, pieces })
const prepare: ToMember = { _tag: "Prepare", txn: TXN, batches: 1 }

const run = (s: Member.MemberSession, ...events: Array<Member.Event>) => {
  const out: Array<Member.Action> = []
  for (const e of events) Member.step(s, e, out)
  return out
}
const message = (m: ToMember): Member.Event => ({ _tag: "Message", message: m })
const tags = (out: ReadonlyArray<Member.Action>) => out.map((a) => (a._tag === "Reply" ? `Reply ${a.message._tag}` : a._tag))

/** A session past its lookup: it needs the contents of `big` and `small`, the metadata of `d`. */
const looked = () => {
  const s = Member.make(TXN, BLOCK)
  const out = run(s, message(manifest), message(manifest), { _tag: "LookedUp", batch: 0, needs: ["contents", "contents", "metadata"] })
  return { s, out }
}

describe("txn member machine", () => {
  it("looks a batch up once, stages a metadata-only entry at once, answers every copy of the batch with the same Needs", () => {
    const { s, out } = looked()
    expect(tags(out)).toEqual(["Lookup", "Stage", "Reply Needs"])
    const needs = out.at(-1)!
    expect(needs._tag === "Reply" && needs.message._tag === "Needs" && [...needs.message.bitmap]).toEqual([0b011])
    // the directory changes too (its metadata), though no contents are asked for it
    expect(needs._tag === "Reply" && needs.message._tag === "Needs" && [...needs.message.changes]).toEqual([0b111])
    expect(run(s, message(manifest))).toEqual([needs])
  })

  it("writes each block once, names the blocks it lacks in runs, and votes unsolicited when the last entry is staged", () => {
    const { s } = looked()
    // blocks 0 and 3 of big, small whole; a copy of block 0
    const written = run(s, message(data(piece(0, 0, 4), piece(0, 12, 4), piece(1, 0, 3))), message(data(piece(0, 0, 4))))
    expect(tags(written)).toEqual(["Write", "Write", "Write", "Stage"])
    expect(run(s, message(prepare))).toEqual([
      { _tag: "Reply", message: { _tag: "Missing", txn: TXN, spans: [{ index: 0, offset: 4, length: 8 }, { index: 0, offset: 16, length: 2 }] } }
    ])
    // a piece of the wrong length or offset is not a block of this entry
    expect(run(s, message(data(piece(0, 16, 4), piece(0, 5, 4))))).toEqual([])
    expect(tags(run(s, message(data(piece(0, 4, 4), piece(0, 8, 4), piece(0, 16, 2)))))).toEqual(["Write", "Write", "Write", "Stage"])
    expect(tags(run(s, { _tag: "Staged", index: 2, errno: 0 }, { _tag: "Staged", index: 1, errno: 0 }))).toEqual([])
    expect(tags(run(s, { _tag: "Staged", index: 0, errno: 0 }))).toEqual(["Reply Prepared"])
    expect(tags(run(s, message(prepare), { _tag: "Staged", index: 0, errno: 0 }))).toEqual(["Reply Prepared"])
  })

  it("counts the blocks of a small file (bits in a number) and of a big one (a bitmap) alike; an empty piece at an entry's size is no block", () => {
    const s = Member.make(TXN, BLOCK)
    const even = { ...file("even", 8), digest: new Uint8Array(32) } // 2 blocks, the last whole
    const huge = { ...file("huge", 40 * BLOCK), digest: new Uint8Array(32) } // more blocks than a number's bits
    run(s, message({ ...manifest, entries: [even, huge] }), { _tag: "LookedUp", batch: 0, needs: ["contents", "contents"] })
    // past the end: were it counted, the entry would be staged a block short
    expect(run(s, message(data(piece(0, 8, 0), piece(1, 40 * BLOCK, 0))))).toEqual([])
    expect(tags(run(s, message(data(piece(0, 4, 4), piece(1, 35 * BLOCK, 4), piece(0, 4, 4)))))).toEqual(["Write", "Write"])
    expect(run(s, message(prepare))).toEqual([
      {
        _tag: "Reply",
        message: {
          _tag: "Missing",
          txn: TXN,
          spans: [{ index: 0, offset: 0, length: 4 }, { index: 1, offset: 0, length: 35 * BLOCK }, { index: 1, offset: 36 * BLOCK, length: 4 * BLOCK }]
        }
      }
    ])
    expect(tags(run(s, message(data(piece(0, 0, 4)))))).toEqual(["Write", "Stage"])
  })

  it("a file without a digest in the manifest stages only once its Digests is in, checked against that digest; a copy of its block meanwhile is no news", () => {
    const s = Member.make(TXN, BLOCK)
    const one = file("one", 3)
    const two = file("two", 6)
    run(s, message({ ...manifest, entries: [one, two] }), { _tag: "LookedUp", batch: 0, needs: ["contents", "contents"] })
    expect(tags(run(s, message(data(piece(0, 0, 3), piece(1, 0, 4), piece(1, 4, 2))), message(data(piece(0, 0, 3)))))).toEqual(["Write", "Write", "Write"])
    const d1 = new Uint8Array(32).fill(7)
    const d0 = new Uint8Array(32).fill(9)
    // a digest of an entry it does not need, and a later copy of one it holds, change nothing
    const out = run(s, message({ _tag: "Digests", txn: TXN, entries: [{ index: 5, digest: d0 }, { index: 1, digest: d1 }] }))
    expect(out).toEqual([{ _tag: "Stage", index: 1, entry: two, digest: d1 }])
    expect(run(s, message({ _tag: "Digests", txn: TXN, entries: [{ index: 1, digest: d0 }] }))).toEqual([])
    expect(run(s, message({ _tag: "Digests", txn: TXN, entries: [{ index: 0, digest: d0 }] }))).toEqual([{ _tag: "Stage", index: 0, entry: one, digest: d0 }])
    // an empty file needs neither data nor a digest: its SHA-256 is known
    const t = Member.make(TXN, BLOCK)
    const staged = run(t, message({ ...manifest, entries: [file("empty", 0)] }), { _tag: "LookedUp", batch: 0, needs: ["contents"] }).find((a) => a._tag === "Stage")
    expect(staged?._tag === "Stage" && Buffer.from(staged.digest!).toString("hex")).toBe("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
  })

  it("a lost Digests: the blocks asked for first, then (none lacking) the digests, in a Missing; the Digests that answers it lets the vote go", () => {
    const s = Member.make(TXN, BLOCK)
    const one = file("one", 3)
    const two = file("two", 6)
    run(s, message({ ...manifest, entries: [one, two] }), { _tag: "LookedUp", batch: 0, needs: ["contents", "contents"] })
    run(s, message(data(piece(0, 0, 3), piece(1, 0, 4))))
    expect(run(s, message(prepare))).toEqual([{ _tag: "Reply", message: { _tag: "Missing", txn: TXN, spans: [{ index: 1, offset: 4, length: 2 }] } }])
    expect(run(s, message(data(piece(1, 4, 2))))).toEqual([{ _tag: "Write", index: 1, entry: two, offset: 4, bytes: new Uint8Array(2) }])
    expect(run(s, message(prepare))).toEqual([{ _tag: "Reply", message: { _tag: "Missing", txn: TXN, spans: [], digests: [0, 1] } }])
    const digest = new Uint8Array(32)
    expect(tags(run(s, message({ _tag: "Digests", txn: TXN, entries: [{ index: 0, digest }, { index: 1, digest }] })))).toEqual(["Stage", "Stage"])
    expect(tags(run(s, { _tag: "Staged", index: 0, errno: 0 }, { _tag: "Staged", index: 1, errno: 0 }))).toEqual(["Reply Prepared"])
  })

  it("answers a Probe with the contents received so far, needed or not, repeats included; silent once it voted", () => {
    const { s } = looked()
    const probe = (seq: number) => message({ _tag: "Probe", txn: TXN, seq })
    expect(run(s, probe(1))).toEqual([{ _tag: "Reply", message: { _tag: "Progress", txn: TXN, seq: 1, received: 0 } }])
    // a block twice, and a piece of an entry it does not need
    run(s, message(data(piece(0, 0, 4), piece(0, 0, 4))), message(data(piece(2, 0, 4), piece(1, 0, 3))))
    expect(run(s, probe(2))).toEqual([{ _tag: "Reply", message: { _tag: "Progress", txn: TXN, seq: 2, received: 15 } }])
    run(s, message(data(piece(0, 4, 4), piece(0, 8, 4), piece(0, 12, 4), piece(0, 16, 2))), message(prepare))
    run(s, ...[0, 1, 2].map((index): Member.Event => ({ _tag: "Staged", index, errno: 0 })))
    expect(s.state).toBe("prepared")
    expect(run(s, probe(3))).toEqual([])
  })

  it("stays silent on the first PREPARE while staging (its vote follows), answers Busy to the next", () => {
    const { s } = looked()
    run(s, message(data(piece(0, 0, 4), piece(0, 4, 4), piece(0, 8, 4), piece(0, 12, 4), piece(0, 16, 2), piece(1, 0, 3))))
    expect(run(s, message(prepare))).toEqual([])
    expect(tags(run(s, message(prepare)))).toEqual(["Reply Busy"])
  })

  it("switches all it staged once on COMMIT, answers every later COMMIT with the same Committed, ignores a late ABORT", () => {
    const { s } = looked()
    run(s, message(data(piece(0, 0, 4), piece(0, 4, 4), piece(0, 8, 4), piece(0, 12, 4), piece(0, 16, 2), piece(1, 0, 3))), message(prepare))
    run(s, ...[0, 1, 2].map((index): Member.Event => ({ _tag: "Staged", index, errno: 0 })))
    const commit = message({ _tag: "Commit", txn: TXN })
    expect(run(s, commit, commit)).toEqual([{ _tag: "Switch", entries: [big, small, dir], removals: [] }])
    expect(tags(run(s, { _tag: "Switched", errno: 0 }, commit, { _tag: "Switched", errno: 0 }))).toEqual(["Reply Committed", "Reply Committed"])
    expect(run(s, message({ _tag: "Abort", txn: TXN }), message(prepare), message(manifest))).toEqual([
      { _tag: "Reply", message: { _tag: "Needs", txn: TXN, batch: 0, bitmap: Uint8Array.of(0b011), changes: Uint8Array.of(0b111) } }
    ])
  })

  it("votes FAILED naming the entries that failed, and discards everything on ABORT, once", () => {
    const { s } = looked()
    run(s, message(data(piece(0, 0, 4), piece(0, 4, 4), piece(0, 8, 4), piece(0, 12, 4), piece(0, 16, 2), piece(1, 0, 3))), message(prepare))
    const vote = run(s, { _tag: "Staged", index: 0, errno: 0 }, { _tag: "Staged", index: 1, errno: 13 }, { _tag: "Staged", index: 2, errno: 0 })
    expect(vote).toEqual([{ _tag: "Reply", message: { _tag: "Failed", txn: TXN, failures: [{ index: 1, errno: 13 }], count: 1 } }])
    expect(run(s, message(prepare))).toEqual(vote)
    const abort = message({ _tag: "Abort", txn: TXN })
    expect(tags(run(s, abort, abort))).toEqual(["Discard", "Reply Aborted", "Reply Aborted"])
  })

  it("never switches on a COMMIT it did not vote PREPARED for (the sender counted it lost): it discards", () => {
    const { s } = looked()
    run(s, message(data(piece(1, 0, 3))))
    const out = run(s, message({ _tag: "Commit", txn: TXN }))
    expect(out).toEqual([{ _tag: "Discard", entries: [big, small, dir] }, { _tag: "Reply", message: { _tag: "Aborted", txn: TXN } }])
    // its staging, still out, changes nothing now
    expect(run(s, { _tag: "Staged", index: 1, errno: 0 }, message(data(piece(0, 0, 4))))).toEqual([])
  })

  it("--delete: scans once every batch is looked up, votes only after the scan, removes in the same switch", () => {
    const s = Member.make(TXN, BLOCK)
    const batch = (n: number, entries: Array<Entry>, last: boolean): ToMember => ({ _tag: "Manifest", txn: TXN, batch: n, first: n, entries, last, delete: true })
    // the last batch first: the scan waits for batch 0
    expect(tags(run(s, message(batch(1, [dir], true)), { _tag: "LookedUp", batch: 1, needs: ["none"] }))).toEqual(["Lookup", "Reply Needs"])
    expect(tags(run(s, message(batch(0, [small], false)), { _tag: "LookedUp", batch: 0, needs: ["metadata"] }))).toEqual(["Lookup", "Stage", "Reply Needs", "Scan"])
    expect(tags(run(s, { _tag: "Staged", index: 0, errno: 0 }, message({ _tag: "Prepare", txn: TXN, batches: 2 }), message({ _tag: "Prepare", txn: TXN, batches: 2 }))))
      .toEqual(["Reply Busy"])
    // its removals go before its vote (the sender counts the vote once it holds them all), and again with each vote
    const removals = { _tag: "Reply", message: { _tag: "Removals", txn: TXN, total: 1, first: 0, paths: ["extra"] } }
    const prepared = { _tag: "Reply", message: { _tag: "Prepared", txn: TXN } }
    expect(run(s, { _tag: "Scanned", removals: ["extra"], errno: 0 }, { _tag: "Scanned", removals: ["other"], errno: 0 })).toEqual([removals, prepared])
    expect(run(s, message({ _tag: "Prepare", txn: TXN, batches: 2 }))).toEqual([removals, prepared])
    expect(run(s, message({ _tag: "Commit", txn: TXN }))).toEqual([{ _tag: "Switch", entries: [small], removals: ["extra"] }])
  })

  it("--delete: the scan waits for every batch up to the last, whatever other numbers came, and no batch is looked up after it", () => {
    const s = Member.make(TXN, BLOCK)
    const batch = (n: number, last: boolean): ToMember => ({ _tag: "Manifest", txn: TXN, batch: n, first: n, entries: [file(`f${n}`, 0)], last, delete: true })
    const look = (n: number, last = false) => tags(run(s, message(batch(n, last)), { _tag: "LookedUp", batch: n, needs: ["none"] }))
    expect(look(2, true)).toEqual(["Lookup", "Reply Needs"])
    expect(look(1)).toEqual(["Lookup", "Reply Needs"])
    expect(look(0)).toEqual(["Lookup", "Reply Needs", "Scan"])
    // a batch beyond the last would stage, after the scan, what it may list for removal: it is not looked up
    expect(tags(run(s, message(batch(3, false))))).toEqual([])
    // a buggy sender's batch 9 beside batches 0 and 2 (the last): as many batches answered as 0…2, batch 1 unseen;
    // the manifest is not what the sender has: no scan, the member votes FAILED and removes nothing
    const t = Member.make(TXN, BLOCK)
    const lookT = (n: number, last = false) => tags(run(t, message(batch(n, last)), { _tag: "LookedUp", batch: n, needs: ["none"] }))
    expect([lookT(0), lookT(9), lookT(2, true), lookT(1)].flat()).not.toContain("Scan")
    expect(run(t, message({ _tag: "Prepare", txn: TXN, batches: 3 }))).toEqual([
      { _tag: "Reply", message: { _tag: "Failed", txn: TXN, failures: [{ index: -1, errno: 22 }], count: 1 } }
    ])
  })

  it("--delete: the scan goes by batch 0's scope only: a scope on a later batch (a buggy sender's) does not widen it", () => {
    const s = Member.make(TXN, BLOCK)
    const www = { roots: ["www"], excludes: [] }
    const out = run(
      s,
      message({ ...manifest, entries: [], last: false, delete: true, scope: www }),
      { _tag: "LookedUp", batch: 0, needs: [] },
      message({ ...manifest, batch: 1, first: 0, entries: [], last: true, delete: true, scope: { roots: ["."], excludes: [] } }),
      { _tag: "LookedUp", batch: 1, needs: [] }
    )
    expect(out.find((a) => a._tag === "Scan")).toEqual({ _tag: "Scan", scope: www })
  })

  it("--delete: the scope of batch 0 goes to the scan; many removals go as several Removals before each vote", () => {
    const s = Member.make(TXN, BLOCK)
    const scope = { roots: ["www"], excludes: ["*.log"] }
    const out = run(s, message({ ...manifest, entries: [], delete: true, scope }), { _tag: "LookedUp", batch: 0, needs: [] }, message(prepare))
    expect(out.find((a) => a._tag === "Scan")).toEqual({ _tag: "Scan", scope })
    const paths = Array.from({ length: 40 }, (_, i) => `www/${"x".repeat(100)}${i}`)
    const vote = run(s, { _tag: "Scanned", removals: paths, errno: 0 }).map((a) => (a._tag === "Reply" ? a.message : undefined))
    const removals = vote.filter((m) => m?._tag === "Removals")
    // each within one datagram at the least MTU: 1289 bytes of body
    expect(removals.length).toBeGreaterThan(3)
    expect(removals.flatMap((m) => m._tag === "Removals" ? [m.first, m.total] : [])).toEqual(
      removals.flatMap((_, k) => [removals.slice(0, k).reduce((n, m) => n + (m?._tag === "Removals" ? m.paths.length : 0), 0), 40])
    )
    expect(removals.flatMap((m) => (m?._tag === "Removals" ? m.paths : []))).toEqual(paths)
    expect(vote.at(-1)).toEqual({ _tag: "Prepared", txn: TXN })
  })

  it("--delete: a scan broken off is a FAILED vote (entry -1)", () => {
    const s = Member.make(TXN, BLOCK)
    run(s, message({ ...manifest, delete: true }), { _tag: "LookedUp", batch: 0, needs: ["none", "none", "none"] }, message(prepare))
    expect(run(s, { _tag: "Scanned", removals: [], errno: 5 })).toEqual([{ _tag: "Reply", message: { _tag: "Failed", txn: TXN, failures: [{ index: -1, errno: 5 }], count: 1 } }])
  })

  it("discards, unasked, what it staged when the sender fell silent past the session timeout; never after its switch", () => {
    const { s } = looked()
    expect(run(s, { _tag: "Expired" }, { _tag: "Expired" })).toEqual([{ _tag: "Discard", entries: [big, small, dir] }])
    const switched = looked().s
    run(switched, message(data(piece(0, 0, 4), piece(0, 4, 4), piece(0, 8, 4), piece(0, 12, 4), piece(0, 16, 2), piece(1, 0, 3))), message(prepare))
    run(switched, ...[0, 1, 2].map((index): Member.Event => ({ _tag: "Staged", index, errno: 0 })), message({ _tag: "Commit", txn: TXN }))
    expect(run(switched, { _tag: "Expired" })).toEqual([])
  })

  it("ignores another transaction's messages", () => {
    const { s } = looked()
    expect(run(s, message({ _tag: "Commit", txn: 6 as TxnId }), message({ ...manifest, txn: 6 as TxnId }))).toEqual([])
  })

  it("a dry run stages nothing: it answers what would change (contents and metadata), names what it cannot look up in its vote, never switches", () => {
    const s = Member.make(TXN, BLOCK)
    const dry: ToMember = { ...manifest, purpose: "dryRun" }
    expect(run(s, message(dry))).toEqual([{ _tag: "Lookup", batch: 0, entries: [big, small, dir], checksum: false }])
    const out = run(s, { _tag: "LookedUp", batch: 0, needs: ["contents", "metadata", "none"], errnos: [0, 13, 0] })
    expect(out).toEqual([{ _tag: "Reply", message: { _tag: "Needs", txn: TXN, batch: 0, bitmap: Uint8Array.of(0b001), changes: Uint8Array.of(0b011) } }])
    // no data is asked for; a stray piece writes nothing
    expect(run(s, message(data(piece(0, 0, 4))))).toEqual([])
    expect(run(s, message(prepare))).toEqual([{ _tag: "Reply", message: { _tag: "Failed", txn: TXN, failures: [{ index: 1, errno: 13 }], count: 1 } }])
    // a COMMIT (the sender never sends one) switches nothing: it discards, which holds nothing
    expect(run(s, message({ _tag: "Commit", txn: TXN }))).toEqual([{ _tag: "Discard", entries: [] }, { _tag: "Reply", message: { _tag: "Aborted", txn: TXN } }])
  })

  it("a check compares each file (Verify) and stages nothing: differs in both bitmaps, missing in changes alone, unreadable named in the vote", () => {
    const s = Member.make(TXN, BLOCK)
    const other = file("other", 1)
    const check: ToMember = { ...manifest, entries: [big, small, other, file("same", 2)], purpose: "check" }
    expect(tags(run(s, message(check)))).toEqual(["Verify"])
    const out = run(s, { _tag: "Verified", batch: 0, findings: ["differs", "missing", { errno: 13 }, "same"] })
    expect(out).toEqual([{ _tag: "Reply", message: { _tag: "Needs", txn: TXN, batch: 0, bitmap: Uint8Array.of(0b0101), changes: Uint8Array.of(0b0111) } }])
    expect(run(s, message(prepare))).toEqual([{ _tag: "Reply", message: { _tag: "Failed", txn: TXN, failures: [{ index: 2, errno: 13 }], count: 1 } }])
    expect(tags(run(s, message({ _tag: "Abort", txn: TXN })))).toEqual(["Discard", "Reply Aborted"])
  })

  it("--checksum: the lookup is asked to compare contents by SHA-256", () => {
    const s = Member.make(TXN, BLOCK)
    expect(run(s, message({ ...manifest, checksum: true }))).toEqual([{ _tag: "Lookup", batch: 0, entries: [big, small, dir], checksum: true }])
  })

  it("a directory whose metadata is set again though the same (reapply) is staged but not reported as a change", () => {
    const s = Member.make(TXN, BLOCK)
    const out = run(s, message({ ...manifest, entries: [dir, { ...dir, path: "e" }] }), { _tag: "LookedUp", batch: 0, needs: ["reapply", "metadata"] })
    expect(tags(out)).toEqual(["Lookup", "Stage", "Stage", "Reply Needs"])
    expect(out.at(-1)).toEqual({ _tag: "Reply", message: { _tag: "Needs", txn: TXN, batch: 0, bitmap: Uint8Array.of(0), changes: Uint8Array.of(0b10) } })
  })
})
