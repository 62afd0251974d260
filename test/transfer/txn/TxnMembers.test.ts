/**
 * The member's driver of tree transactions without a network: messages built with the machine's types go through
 * the codec (a Data's pieces are then views of the datagram, as the wire hands them over) into `handle`; the
 * replies it sends are taken from the wire's sealed send, through the codec again, and the disk is checked.
 */
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Either, Layer } from "effect"
import { createHash } from "node:crypto"
import * as fs from "node:fs"
import { join } from "node:path"
import { tempDir } from "../../../scripts/lib/loopbackCluster.js"
import { type Endpoint, Peer } from "../../../src/net/Transport.js"
import { type Refusal, Wire, type WireShape } from "../../../src/net/Wire.js"
import * as Transfer from "../../../src/protocol/native/transfer.js"
import * as FileStore from "../../../src/store/FileStore.js"
import { isTempName } from "../../../src/store/FileStore.js"
import * as ReceiveSessions from "../../../src/transfer/ReceiveSessions.js"
import type { Entry, Piece, ToMember, ToSender, TxnId } from "../../../src/transfer/txn/messages.js"
import * as TxnMembers from "../../../src/transfer/txn/TxnMembers.js"
import { generateKey, ringOf } from "../../secure/support.js"
import { advance, settle, startNode } from "../../support/cluster.js"
import * as MemoryNetwork from "../../support/MemoryNetwork.js"

const SENDER: Endpoint = { address: "10.0.0.1", port: 5000 }
const TXN = 41 as TxnId
const T = { sec: 1_700_000_000, nsec: 5_000 }
const uid = process.getuid?.() ?? 0
const gid = process.getgid?.() ?? 0

const file = (path: string, content: Uint8Array): Entry => ({
  path, type: "file", size: content.length, mode: 0o644, uid, gid, mtime: T, digest: new Uint8Array(createHash("sha256").update(content).digest())
})
const dir = (path: string): Entry => ({ path, type: "directory", size: 0, mode: 0o755, uid, gid, mtime: T })

/** The daemon's wire as far as the driver uses it: sealed unicast sends (kept, through the codec) and counters. */
const fakeWire = () => {
  const sent: Array<{ to: string; message: ToSender }> = []
  const refusals: Array<Refusal> = []
  const wire = {
    sendNativeNow: (to: { address: string }, message: Transfer.TransferMessage) => {
      const body = Either.getOrThrow(Transfer.encode(message))
      sent.push({ to: to.address, message: Either.getOrThrow(Transfer.decode(Transfer.typeOf(message), body)) as ToSender })
      return undefined
    },
    refused: (r: Refusal) => void refusals.push(r)
  } as unknown as WireShape
  return { wire, sent, refusals }
}

const setup = (readonly = false) =>
  Effect.gen(function*() {
    const root = yield* tempDir
    const base = join(root, "base")
    const journalDir = join(root, "journal")
    fs.mkdirSync(base)
    const { wire, sent, refusals } = fakeWire()
    const below = Layer.mergeAll(
      ReceiveSessions.layer({ maxSessions: 8, maxSessionsPerPeer: 4, maxTempFiles: 4, idleTimeout: Duration.seconds(30), halfOpenTimeout: Duration.seconds(10) }),
      FileStore.layer(base)
    ).pipe(Layer.provideMerge(Layer.succeed(Wire, wire)))
    const context = yield* Layer.build(TxnMembers.layer({ readonly, keepSetId: false, journalDir }).pipe(Layer.provideMerge(below)))
    const members = yield* Effect.provide(TxnMembers.TxnMembers, context)
    const receive = yield* Effect.provide(ReceiveSessions.ReceiveSessions, context)
    /** Feeds one message as the wire would: encoded, then decoded from the datagram's bytes. */
    const feed = (message: ToMember, now = 1000) => {
      const body = Either.getOrThrow(Transfer.encode(message))
      const decoded = Either.getOrThrow(Transfer.decode(Transfer.typeOf(message), body))
      return members.handle({ _tag: "Transfer", message: decoded, from: SENDER }, now)
    }
    const replies = () => sent.splice(0).map((s) => s.message)
    return { base, journalDir, members, receive, feed, replies, refusals }
  })

const blocks = (index: number, content: Uint8Array): Array<Piece> => {
  const pieces: Array<Piece> = []
  for (let offset = 0; offset < content.length; offset += TxnMembers.BLOCK) {
    pieces.push({ index, offset, bytes: content.subarray(offset, offset + TxnMembers.BLOCK) })
  }
  return pieces
}

const visible = (path: string) => fs.readdirSync(path).filter((n) => !isTempName(n)).sort()

/** Every name under `dir` with its size, mode and mtime: what a transaction that stages nothing must leave alone. */
const describe_ = (dir: string): Array<string> =>
  fs.readdirSync(dir, { recursive: true, encoding: "utf8" }).sort().map((n) => {
    const st = fs.lstatSync(join(dir, n))
    return `${n} ${st.size} ${st.mode.toString(8)} ${st.mtimeMs}`
  }).concat(`. ${fs.statSync(dir).mtimeMs}`)

/** The replies once `n` have come (a lookup that hashes answers on a later turn of the event loop). */
const awaitReplies = (replies: () => Array<ToSender>, n: number) =>
  Effect.gen(function*() {
    const got: Array<ToSender> = []
    for (let i = 0; i < 200 && got.length < n; i++) (got.push(...replies()), got.length < n && (yield* Effect.sleep("10 millis")))
    return got
  })

const big = new Uint8Array(3 * TxnMembers.BLOCK + 17).map((_, i) => i * 7)
const small = new TextEncoder().encode("small file")
/** Written to its temp as it comes: over the 64 KiB a member holds in memory until it stages the file. */
const large = new Uint8Array(50 * TxnMembers.BLOCK + 17).map((_, i) => i * 7)

describe("txn member driver", () => {
  it.scoped("a whole transaction: Needs per batch, data staged unseen, Prepared, and at Commit the tree at once", () =>
    Effect.gen(function*() {
      const { base, feed, replies, members } = yield* setup()
      fs.writeFileSync(join(base, "same"), "unchanged")
      fs.utimesSync(join(base, "same"), T.sec + T.nsec / 1e9, T.sec + T.nsec / 1e9)
      fs.chmodSync(join(base, "same"), 0o644)
      const entries = [dir("tree"), file("tree/big", big), file("tree/small", small), file("same", new TextEncoder().encode("unchanged"))]
      expect(feed({ _tag: "Manifest", txn: TXN, batch: 0, first: 0, entries: entries.slice(0, 2), last: false, delete: false })).toBe(true)
      expect(feed({ _tag: "Manifest", txn: TXN, batch: 1, first: 2, entries: entries.slice(2), last: true, delete: false })).toBe(true)
      expect(replies()).toEqual([
        // the new directory changes here too, its metadata alone; "same" does not change
        { _tag: "Needs", txn: TXN, batch: 0, bitmap: new Uint8Array([0b10]), changes: new Uint8Array([0b11]) },
        { _tag: "Needs", txn: TXN, batch: 1, bitmap: new Uint8Array([0b01]), changes: new Uint8Array([0b01]) }
      ])
      const pieces = [...blocks(1, big), ...blocks(2, small)]
      feed({ _tag: "Data", txn: TXN, pieces: pieces.slice(0, 3) })
      feed({ _tag: "Prepare", txn: TXN, batches: 2 })
      expect(replies()).toEqual([{ _tag: "Missing", txn: TXN, spans: [{ index: 1, offset: 3 * TxnMembers.BLOCK, length: 17 }, { index: 2, offset: 0, length: small.length }] }])
      feed({ _tag: "Data", txn: TXN, pieces: pieces.slice(3) })
      expect(replies()).toEqual([{ _tag: "Prepared", txn: TXN }])
      expect(members.sessions()).toEqual([{ txn: TXN, from: SENDER.address, phase: "prepared" }])
      expect(visible(base)).toEqual(["same"])
      feed({ _tag: "Commit", txn: TXN })
      expect(replies()).toEqual([{ _tag: "Committed", txn: TXN, errno: 0 }])
      expect(visible(base)).toEqual(["same", "tree"])
      expect(fs.readdirSync(base).filter(isTempName)).toEqual([])
      expect(new Uint8Array(fs.readFileSync(join(base, "tree/big")))).toEqual(big)
      expect(fs.readFileSync(join(base, "tree/small"), "utf8")).toBe("small file")
      // a late copy of the decision gets the same answer
      feed({ _tag: "Commit", txn: TXN })
      expect(replies()).toEqual([{ _tag: "Committed", txn: TXN, errno: 0 }])
    }))

  it.scoped("a transaction it does not hold is answered Unknown (counted), a sender-bound message is not its own", () =>
    Effect.gen(function*() {
      const { feed, replies, refusals, members } = yield* setup()
      expect(feed({ _tag: "Prepare", txn: 99 as TxnId, batches: 1 })).toBe(true)
      expect(feed({ _tag: "Commit", txn: 98 as TxnId })).toBe(true)
      expect(replies()).toEqual([{ _tag: "Unknown", txn: 99 }, { _tag: "Unknown", txn: 98 }])
      expect(refusals).toEqual(["unknownTransfers", "unknownTransfers"])
      expect(members.handle({ _tag: "Transfer", message: { _tag: "Prepared", txn: TXN }, from: SENDER }, 0)).toBe(false)
      expect(members.sessions()).toEqual([])
    }))

  it.scoped("a digest that differs fails that entry: the vote is Failed (EIO), and Abort leaves nothing behind", () =>
    Effect.gen(function*() {
      const { base, feed, replies } = yield* setup()
      const wrong = { ...file("bad", small), digest: new Uint8Array(32) }
      feed({ _tag: "Manifest", txn: TXN, batch: 0, first: 0, entries: [file("good", big), wrong], last: true, delete: false })
      replies()
      feed({ _tag: "Data", txn: TXN, pieces: [...blocks(0, big), ...blocks(1, small)] })
      feed({ _tag: "Prepare", txn: TXN, batches: 1 })
      expect(replies()).toEqual([{ _tag: "Failed", txn: TXN, failures: [{ index: 1, errno: 5 }], count: 1 }])
      feed({ _tag: "Abort", txn: TXN })
      expect(replies()).toEqual([{ _tag: "Aborted", txn: TXN }])
      expect(fs.readdirSync(base)).toEqual([])
    }))

  it.scoped("a readonly daemon asks for nothing and votes Failed with EROFS for every entry", () =>
    Effect.gen(function*() {
      const { base, feed, replies } = yield* setup(true)
      feed({ _tag: "Manifest", txn: TXN, batch: 0, first: 0, entries: [file("a", small), dir("d")], last: true, delete: false })
      feed({ _tag: "Prepare", txn: TXN, batches: 1 })
      expect(replies()).toEqual([
        { _tag: "Needs", txn: TXN, batch: 0, bitmap: new Uint8Array([0]), changes: new Uint8Array([0b11]) },
        { _tag: "Failed", txn: TXN, failures: [{ index: 0, errno: 30 }, { index: 1, errno: 30 }], count: 2 }
      ])
      expect(fs.readdirSync(base)).toEqual([])
    }))

  it.scopedLive("a check compares each file by size and SHA-256, hashing off the event loop's turn: what differs, what is missing, what it cannot read; it stages and changes nothing", () =>
    Effect.gen(function*() {
      const { base, feed, replies, receive } = yield* setup()
      fs.writeFileSync(join(base, "same"), small)
      fs.writeFileSync(join(base, "bad"), new Uint8Array(small.length))
      fs.mkdirSync(join(base, "d"))
      const before = describe_(base)
      const entries = [file("same", small), file("bad", small), file("gone", small), file("d", small), file("../out", small)]
      feed({ _tag: "Manifest", txn: TXN, batch: 0, first: 0, entries, last: true, delete: false, purpose: "check" })
      const answer = yield* awaitReplies(replies, 1)
      expect(answer).toEqual([{ _tag: "Needs", txn: TXN, batch: 0, bitmap: Uint8Array.of(0b11010), changes: Uint8Array.of(0b11110) }])
      expect(receive.table.descriptors).toBe(0)
      feed({ _tag: "Prepare", txn: TXN, batches: 1 })
      expect(replies()).toEqual([{ _tag: "Failed", txn: TXN, failures: [{ index: 3, errno: 21 }, { index: 4, errno: 13 }], count: 2 }])
      feed({ _tag: "Abort", txn: TXN })
      expect(replies()).toEqual([{ _tag: "Aborted", txn: TXN }])
      expect(describe_(base)).toEqual(before)
    }))

  it.scopedLive("a dry run answers what would change (a new directory, a mode alone, contents) and stages nothing; --checksum finds other contents of the same size and mtime", () =>
    Effect.gen(function*() {
      const { base, feed, replies } = yield* setup()
      const t = T.sec + T.nsec / 1e9
      for (const [name, mode] of [["same", 0o644], ["mode", 0o600], ["other", 0o644]] as const) {
        fs.writeFileSync(join(base, name), name === "other" ? new Uint8Array(small.length) : small)
        fs.chmodSync(join(base, name), mode)
        fs.utimesSync(join(base, name), t, t)
      }
      const before = describe_(base)
      const entries = [dir("new"), file("new/f", small), file("same", small), file("mode", small), file("other", small)]
      feed({ _tag: "Manifest", txn: TXN, batch: 0, first: 0, entries, last: true, delete: false, purpose: "dryRun" })
      expect(yield* awaitReplies(replies, 1)).toEqual([{ _tag: "Needs", txn: TXN, batch: 0, bitmap: Uint8Array.of(0b00010), changes: Uint8Array.of(0b01011) }])
      feed({ _tag: "Prepare", txn: TXN, batches: 1 })
      feed({ _tag: "Abort", txn: TXN })
      expect(replies()).toEqual([{ _tag: "Prepared", txn: TXN }, { _tag: "Aborted", txn: TXN }])
      expect(describe_(base)).toEqual(before)

      const checksum = (TXN + 1) as TxnId
      feed({ _tag: "Manifest", txn: checksum, batch: 0, first: 0, entries, last: true, delete: false, purpose: "dryRun", checksum: true })
      expect(yield* awaitReplies(replies, 1)).toEqual([{ _tag: "Needs", txn: checksum, batch: 0, bitmap: Uint8Array.of(0b10010), changes: Uint8Array.of(0b11011) }])
      feed({ _tag: "Abort", txn: checksum })
      expect(describe_(base)).toEqual(before)
    }))

  it.scoped("under --delete: what the manifest lacks under the roots goes in the same switch, excluded paths, temps and what a symlink points at spared", () =>
    Effect.gen(function*() {
      const { base, feed, replies } = yield* setup()
      const outside = join(base, "..", "outside")
      fs.mkdirSync(outside)
      fs.writeFileSync(join(outside, "keep"), "not under the base")
      fs.mkdirSync(join(base, "www/old/deep"), { recursive: true })
      fs.writeFileSync(join(base, "www/old/deep/f"), "gone at the sender")
      fs.writeFileSync(join(base, "www/app.log"), "excluded")
      fs.mkdirSync(join(base, "www/logs"))
      fs.writeFileSync(join(base, "www/logs/x.log"), "excluded, in a directory the sender lacks")
      fs.writeFileSync(join(base, "www/stale"), "gone at the sender")
      fs.symlinkSync(outside, join(base, "www/link"))
      fs.writeFileSync(join(base, "other"), "outside the roots")
      const entries = [dir("www"), file("www/new", small)]
      feed({ _tag: "Manifest", txn: TXN, batch: 0, first: 0, entries, last: true, delete: true, scope: { roots: ["www"], excludes: ["*.log"] } })
      feed({ _tag: "Data", txn: TXN, pieces: blocks(1, small) })
      feed({ _tag: "Prepare", txn: TXN, batches: 1 })
      const vote = replies().filter((m) => m._tag !== "Needs")
      expect(vote).toEqual([
        { _tag: "Removals", txn: TXN, total: 5, first: 0, paths: ["www/link", "www/old/deep/f", "www/old/deep", "www/old", "www/stale"] },
        { _tag: "Prepared", txn: TXN }
      ])
      // nothing removed before the switch
      expect(fs.existsSync(join(base, "www/stale"))).toBe(true)
      feed({ _tag: "Commit", txn: TXN })
      expect(replies()).toEqual([{ _tag: "Committed", txn: TXN, errno: 0 }])
      expect(visible(join(base, "www"))).toEqual(["app.log", "logs", "new"])
      expect(visible(join(base, "www/logs"))).toEqual(["x.log"])
      expect(visible(base)).toEqual(["other", "www"])
      expect(fs.readdirSync(outside)).toEqual(["keep"])
    }))

  it.scoped("under --delete a transaction that aborts removes nothing; one whose manifest named no roots, or a --readonly member, votes FAILED (index -1)", () =>
    Effect.gen(function*() {
      const { base, feed, replies } = yield* setup()
      fs.mkdirSync(join(base, "d"))
      fs.writeFileSync(join(base, "d/stale"), "gone at the sender")
      feed({ _tag: "Manifest", txn: TXN, batch: 0, first: 0, entries: [dir("d")], last: true, delete: true, scope: { roots: ["d"], excludes: [] } })
      feed({ _tag: "Prepare", txn: TXN, batches: 1 })
      expect(replies().at(-1)).toEqual({ _tag: "Prepared", txn: TXN })
      feed({ _tag: "Abort", txn: TXN })
      expect(visible(join(base, "d"))).toEqual(["stale"])
      const other = (TXN + 1) as TxnId
      feed({ _tag: "Manifest", txn: other, batch: 0, first: 0, entries: [dir("d")], last: true, delete: true })
      feed({ _tag: "Prepare", txn: other, batches: 1 })
      expect(replies().at(-1)).toEqual({ _tag: "Failed", txn: other, failures: [{ index: -1, errno: 22 }], count: 1 })
      const ro = yield* setup(true)
      ro.feed({ _tag: "Manifest", txn: TXN, batch: 0, first: 0, entries: [], last: true, delete: true, scope: { roots: [], excludes: [] } })
      ro.feed({ _tag: "Prepare", txn: TXN, batches: 1 })
      expect(ro.replies().at(-1)).toEqual({ _tag: "Failed", txn: TXN, failures: [{ index: -1, errno: 30 }], count: 1 })
    }))

  it.scoped("a dry run under --delete lists what it would remove before its vote and removes nothing; a --readonly member's dry run lists nothing and does not fail its scan", () =>
    Effect.gen(function*() {
      for (const readonly of [false, true]) {
        const { base, feed, replies } = yield* setup(readonly)
        fs.mkdirSync(join(base, "d"))
        fs.writeFileSync(join(base, "d/stale"), "gone at the sender")
        const before = describe_(base)
        // the readonly member is sent nothing it would change (that it reports EROFS, as the test above)
        feed({ _tag: "Manifest", txn: TXN, batch: 0, first: 0, entries: readonly ? [] : [dir("d")], last: true, delete: true, purpose: "dryRun", scope: { roots: readonly ? [] : ["d"], excludes: [] } })
        feed({ _tag: "Prepare", txn: TXN, batches: 1 })
        expect(replies().slice(1)).toEqual([
          { _tag: "Removals", txn: TXN, total: readonly ? 0 : 1, first: 0, paths: readonly ? [] : ["d/stale"] },
          { _tag: "Prepared", txn: TXN }
        ])
        feed({ _tag: "Abort", txn: TXN })
        expect(replies()).toEqual([{ _tag: "Aborted", txn: TXN }])
        expect(describe_(base)).toEqual(before)
      }
    }))

  it.scoped("under --delete an entry whose path is spelled otherwise (`w/./keep`, `./w/f/`) is the path it stages: never removed by the same switch", () =>
    Effect.gen(function*() {
      const { base, feed, replies } = yield* setup()
      fs.mkdirSync(join(base, "w"))
      fs.writeFileSync(join(base, "w/keep"), "old")
      fs.writeFileSync(join(base, "w/f"), "old")
      fs.writeFileSync(join(base, "w/stale"), "gone at the sender")
      const entries = [dir("w"), file("w/./keep", small), file("./w/f/", small)]
      feed({ _tag: "Manifest", txn: TXN, batch: 0, first: 0, entries, last: true, delete: true, scope: { roots: ["w"], excludes: [] } })
      feed({ _tag: "Data", txn: TXN, pieces: [...blocks(1, small), ...blocks(2, small)] })
      feed({ _tag: "Prepare", txn: TXN, batches: 1 })
      expect(replies().filter((m) => m._tag === "Removals")).toEqual([{ _tag: "Removals", txn: TXN, total: 1, first: 0, paths: ["w/stale"] }])
      feed({ _tag: "Commit", txn: TXN })
      expect(visible(join(base, "w"))).toEqual(["f", "keep"])
      expect(fs.readFileSync(join(base, "w/keep"), "utf8")).toBe("small file")
    }))

  it.scoped("under --delete the temps of another transaction in flight are spared by the scan", () =>
    Effect.gen(function*() {
      const { base, feed, replies } = yield* setup()
      // another transaction has a temp of its file being written here
      fs.mkdirSync(join(base, "w"))
      feed({ _tag: "Manifest", txn: (TXN + 7) as TxnId, batch: 0, first: 0, entries: [file("w/big", large)], last: true, delete: false })
      feed({ _tag: "Data", txn: (TXN + 7) as TxnId, pieces: blocks(0, large).slice(0, 1) })
      const temps = fs.readdirSync(join(base, "w")).filter(isTempName)
      expect(temps).toHaveLength(1)
      feed({ _tag: "Manifest", txn: TXN, batch: 0, first: 0, entries: [dir("w")], last: true, delete: true, scope: { roots: ["w"], excludes: [] } })
      feed({ _tag: "Prepare", txn: TXN, batches: 1 })
      expect(replies().filter((m) => m._tag === "Removals")).toEqual([{ _tag: "Removals", txn: TXN, total: 0, first: 0, paths: [] }])
      feed({ _tag: "Commit", txn: TXN })
      expect(fs.readdirSync(join(base, "w"))).toEqual(temps)
    }))

  it.scoped("under --delete a directory listed for removal keeps what came into it after the scan: another transaction's temp, then its file", () =>
    Effect.gen(function*() {
      const { base, feed, replies } = yield* setup()
      fs.mkdirSync(join(base, "w/old"), { recursive: true })
      fs.writeFileSync(join(base, "w/old/stale"), "gone at the sender")
      feed({ _tag: "Manifest", txn: TXN, batch: 0, first: 0, entries: [dir("w")], last: true, delete: true, scope: { roots: ["w"], excludes: [] } })
      feed({ _tag: "Prepare", txn: TXN, batches: 1 })
      expect(replies().filter((m) => m._tag === "Removals")).toEqual([{ _tag: "Removals", txn: TXN, total: 2, first: 0, paths: ["w/old/stale", "w/old"] }])
      // another sender's transaction starts writing w/old/new after that scan, before this one commits
      const other = (TXN + 3) as TxnId
      feed({ _tag: "Manifest", txn: other, batch: 0, first: 0, entries: [file("w/old/new", large)], last: true, delete: false })
      feed({ _tag: "Data", txn: other, pieces: blocks(0, large).slice(0, 1) })
      feed({ _tag: "Commit", txn: TXN })
      // w/old stays: the sender hears what was removed, before each Committed
      const removed: Array<ToSender> = [{ _tag: "Removals", txn: TXN, total: 1, first: 0, paths: ["w/old/stale"] }, { _tag: "Committed", txn: TXN, errno: 0 }]
      expect(replies().filter((m) => m.txn === TXN)).toEqual(removed)
      feed({ _tag: "Commit", txn: TXN })
      expect(replies()).toEqual(removed)
      expect(fs.existsSync(join(base, "w/old/stale"))).toBe(false)
      for (const piece of blocks(0, large).slice(1)) feed({ _tag: "Data", txn: other, pieces: [piece] })
      feed({ _tag: "Prepare", txn: other, batches: 1 })
      expect(replies().at(-1)).toEqual({ _tag: "Prepared", txn: other })
      feed({ _tag: "Commit", txn: other })
      expect(replies().at(-1)).toEqual({ _tag: "Committed", txn: other, errno: 0 })
      expect(new Uint8Array(fs.readFileSync(join(base, "w/old/new")))).toEqual(large)
    }))

  it.scoped("sync: a named path gone at the sender is removed whole, with all it holds", () =>
    Effect.gen(function*() {
      const { base, feed, replies } = yield* setup()
      fs.mkdirSync(join(base, "gone/deep"), { recursive: true })
      fs.writeFileSync(join(base, "gone/deep/f"), "gone at the sender")
      feed({ _tag: "Manifest", txn: TXN, batch: 0, first: 0, entries: [], last: true, delete: true, scope: { roots: ["gone"], excludes: [], named: true } })
      feed({ _tag: "Prepare", txn: TXN, batches: 1 })
      expect(replies().filter((m) => m._tag === "Removals")).toEqual([{ _tag: "Removals", txn: TXN, total: 1, first: 0, paths: ["gone"] }])
      feed({ _tag: "Commit", txn: TXN })
      expect(replies().at(-1)).toEqual({ _tag: "Committed", txn: TXN, errno: 0 })
      expect(fs.readdirSync(base)).toEqual([])
    }))

  it.scoped("a sender that goes silent: the session is collected after the timeout and its temps are discarded", () =>
    Effect.gen(function*() {
      const { base, feed, receive, members } = yield* setup()
      feed({ _tag: "Manifest", txn: TXN, batch: 0, first: 0, entries: [dir("n"), file("n/f", large)], last: true, delete: false })
      feed({ _tag: "Data", txn: TXN, pieces: blocks(1, large).slice(0, 1) })
      expect(fs.readdirSync(base).filter(isTempName)).toHaveLength(1)
      expect(receive.table.descriptors).toBe(1)
      expect(receive.table.collect(1000 + 30_000)).toHaveLength(1)
      expect(fs.readdirSync(base)).toEqual([])
      expect(receive.table.descriptors).toBe(0)
      expect(members.sessions()).toEqual([])
    }))
})

describe("txn member driver behind the router of a keyed daemon", () => {
  it.scoped("a transaction's messages sealed to a member reach its driver: the tree is switched there", () =>
    Effect.gen(function*() {
      const net = yield* MemoryNetwork.make({ seed: 3 })
      const keys = ringOf(generateKey())
      const a = yield* startNode(net, "10.0.0.1", { keys })
      const b = yield* startNode(net, "10.0.0.2", { keys })
      yield* Effect.addFinalizer(() => Effect.andThen(a.stop, b.stop))
      yield* advance("1 second")
      const to = Peer(b.wire.local)
      const send = (m: ToMember) => expect(a.wire.sendNativeNow!(to, m)).toBeUndefined()
      send({ _tag: "Manifest", txn: TXN, batch: 0, first: 0, entries: [dir("x"), file("x/f", small)], last: true, delete: false })
      send({ _tag: "Data", txn: TXN, pieces: blocks(1, small) })
      send({ _tag: "Prepare", txn: TXN, batches: 1 })
      yield* settle
      expect(fs.readdirSync(b.base).filter((n) => !isTempName(n))).toEqual([])
      send({ _tag: "Commit", txn: TXN })
      yield* settle
      expect(fs.readFileSync(join(b.base, "x/f"), "utf8")).toBe("small file")
      expect((yield* b.wire.counters).unknownTransfers).toBe(0)
      // a message of a transaction b does not hold is answered Unknown and counted there
      send({ _tag: "Commit", txn: 77 as TxnId })
      yield* settle
      expect((yield* b.wire.counters).unknownTransfers).toBe(1)
    }))
})
