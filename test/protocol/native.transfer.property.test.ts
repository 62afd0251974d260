import { describe, expect, it } from "@effect/vitest"
import { Arbitrary, Either, FastCheck as fc } from "effect"
import { codecLaws, runs } from "./native/codecLaws.js"
import { budgetFor, DEFAULT_MTU, fillBatch, MIN_MTU, removalBatches } from "../../src/protocol/native/budget.js"
import { decodeAny } from "../../src/protocol/native/codec.js"
import { NativeType } from "../../src/protocol/native/message.js"
import { DATA_HEADER, decode, encode, type TransferMessage, typeOf, PIECE_HEADER, writeDataHeader } from "../../src/protocol/native/transfer.js"
import { Entry as EntrySchema, MAX_ENTRY_NAMES, MAX_SCOPE_BYTES, scopeBytes, TransferMessage as TransferSchema, TransferType } from "../../src/protocol/native/transferMessage.js"
import type { Entry, TxnId } from "../../src/transfer/txn/messages.js"
import { PIECE_OVERHEAD } from "../../src/transfer/txn/senderMachine.js"

const message = Arbitrary.make(TransferSchema)
const bytesOf = (m: TransferMessage) => Either.getOrThrow(encode(m))
const reasonOf = (type: number, body: Uint8Array) => Either.flip(decode(type, body)).pipe(Either.map((e) => e.reason), Either.getOrUndefined)
const types = Object.values(TransferType)

const txn = 0x0102_0304_0506 as TxnId
const digest = Uint8Array.from({ length: 32 }, (_, i) => i)
const file: Entry = { path: "a/b", type: "file", size: 2 ** 40 + 5, mode: 0o100644, uid: 1000, gid: 4_000_000_000, mtime: { sec: -2, nsec: 999_999_999 }, digest }
const link: Entry = { path: "l", type: "symlink", size: 3, mode: 0o120777, uid: 0, gid: 0, mtime: { sec: 1, nsec: 0 }, target: "b/c" }
const manifest: TransferMessage = { _tag: "Manifest", txn, batch: 2, first: 40, entries: [file, link], last: true, delete: false }

/** Offsets into `manifest`'s body, as docs/protocol.md gives them. */
const FILE_AT = 19
const LINK_AT = FILE_AT + 35 + 3
const DIGESTS_AT = LINK_AT + 35 + 1 + 2 + 3

const patched = (m: TransferMessage, at: number, bytes: ReadonlyArray<number>) => {
  const b = Uint8Array.from(bytesOf(m))
  b.set(bytes, at)
  return b
}

describe("native transaction codec", () => {
  codecLaws({ message, typeOf, encode, decode })

  it("the documented Manifest layout: fixed fields, entries with u16-length names, then the batch's digests", () => {
    expect([...bytesOf(manifest)]).toEqual([
      0, 0, 1, 2, 3, 4, 5, 6, // txn
      0, 0, 0, 2, 0, 0, 0, 40, 0x01, 0, 2, // batch, first, flags (last), entries
      1, 0, 0, 0x81, 0xa4, 0, 0, 3, 0xe8, 0xee, 0x6b, 0x28, 0, // file with digest, mode, uid, gid
      0, 0, 1, 0, 0, 0, 0, 5, // size 2^40 + 5
      0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe, 0x3b, 0x9a, 0xc9, 0xff, // mtime -2 s, 999 999 999 ns
      0, 3, ...Buffer.from("a/b"),
      3, 0, 0, 0xa1, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0,
      0, 1, ...Buffer.from("l"), 0, 3, ...Buffer.from("b/c"),
      ...digest
    ])
    expect(bytesOf(manifest).length).toBe(DIGESTS_AT + 32)
  })

  it("the documented Data, Needs, Missing and Failed layouts", () => {
    const data: TransferMessage = { _tag: "Data", txn, pieces: [{ index: 7, offset: 2048, bytes: Uint8Array.of(9, 8) }] }
    expect([...bytesOf(data)]).toEqual([0, 0, 1, 2, 3, 4, 5, 6, 0, 1, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 8, 0, 0, 0, 0, 2, 9, 8])
    expect([...bytesOf({ _tag: "Needs", txn, batch: 1, bitmap: Uint8Array.of(0x05), changes: Uint8Array.of(0x07, 0x80) })]).toEqual(
      [0, 0, 1, 2, 3, 4, 5, 6, 0, 0, 0, 1, 0, 1, 5, 0, 2, 7, 0x80]
    )
    expect([...bytesOf({ _tag: "Missing", txn, spans: [{ index: 1, offset: 1024, length: 2 ** 33 }] })]).toEqual(
      [0, 0, 1, 2, 3, 4, 5, 6, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0, 0, 2, 0, 0, 0, 0]
    )
    expect([...bytesOf({ _tag: "Failed", txn, failures: [{ index: -1, errno: 13 }], count: 3 })]).toEqual(
      [0, 0, 1, 2, 3, 4, 5, 6, 0, 0, 0, 3, 1, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 13]
    )
  })

  it.prop("arbitrary bytes under any type never throw, and what decodes encodes back to the same bytes", [fc.oneof(fc.constantFrom(...types), fc.integer({ min: 0, max: 255 })), fc.uint8Array({ maxLength: 300 })], ([type, raw]) => {
    const r = decode(type, raw)
    if (Either.isRight(r)) expect(bytesOf(r.right)).toEqual(raw)
  }, runs)

  it.prop("a message with bytes changed never throws, and what decodes encodes back to the same bytes", [message, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 })], ([m, changes]) => {
    const bytes = Uint8Array.from(bytesOf(m))
    for (const [at, value] of changes) if (bytes.length > 0) bytes[at % bytes.length] = value
    const r = decode(typeOf(m), bytes)
    if (Either.isRight(r)) expect(bytesOf(r.right)).toEqual(bytes)
  }, runs)

  it("bad fields are refused: nanoseconds, sizes and ids of 2^53 or more, NUL in a name, unknown kinds and flags", () => {
    const type = TransferType.MANIFEST
    expect(reasonOf(type, patched(manifest, FILE_AT + 29, [0x3b, 0x9a, 0xca, 0x00]))).toBe("Payload") // 10^9 ns
    expect(reasonOf(type, patched(manifest, FILE_AT + 13, [0, 0x20, 0, 0, 0, 0, 0, 0]))).toBe("Payload") // size 2^53
    expect(reasonOf(type, patched(manifest, FILE_AT + 13, [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]))).toBe("Payload")
    expect(reasonOf(type, patched(manifest, 0, [0, 0x20]))).toBe("Payload") // txn 2^53
    expect(reasonOf(type, patched(manifest, FILE_AT + 21, [0xff, 0xe0, 0, 0, 0, 0, 0, 0]))).toBe("Payload") // mtime -2^53
    expect(reasonOf(type, patched(manifest, FILE_AT + 36, [0]))).toBe("Payload") // "a\0b"
    expect(reasonOf(type, patched(manifest, LINK_AT + 39, [0]))).toBe("Payload") // target "b\0c"
    expect(reasonOf(type, patched(manifest, FILE_AT, [4]))).toBe("Payload")
    expect(reasonOf(type, patched(manifest, 16, [0x40]))).toBe("Payload")
    // the scope flag without a scope after the digests
    expect(reasonOf(type, patched(manifest, 16, [0x04]))).toBe("Length")
    // the symlink's kind turned into a directory's: its target length is read as the next entry's kind
    expect(Either.isLeft(decode(type, patched(manifest, LINK_AT, [2])))).toBe(true)
    // the file's digest dropped: 32 bytes are left over
    expect(reasonOf(type, patched(manifest, FILE_AT, [0]))).toBe("Length")
    expect(reasonOf(TransferType.DATA, patched({ _tag: "Data", txn, pieces: [{ index: 0, offset: 0, bytes: Uint8Array.of(1) }] }, 14, [0, 0x1f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]))).toBe("Payload") // ends at 2^53
    expect(reasonOf(TransferType.FAILED, patched({ _tag: "Failed", txn, failures: [{ index: 0, errno: 5 }], count: 1 }, 8, [0, 0, 0, 0]))).toBe("Payload") // count < listed
    expect(reasonOf(TransferType.MISSING, Uint8Array.of(0, 0, 0, 0, 0, 0, 0, 1, 65, ...new Uint8Array(65 * 20)))).toBe("Payload")
    expect(reasonOf(0x27, bytesOf(manifest))).toBe("Type")
    expect(reasonOf(TransferType.COMMIT, Uint8Array.of(0, 0, 0))).toBe("TooShort")
  })

  it("names longer than 1024 bytes together are refused, decoding and encoding", () => {
    const long: Entry = { ...link, path: "p".repeat(600), target: "t".repeat(MAX_ENTRY_NAMES - 600) }
    const ok = bytesOf({ ...manifest, entries: [long] })
    const over = Buffer.concat([ok.subarray(0, FILE_AT + 33), Uint8Array.of(602 >> 8, 602 & 0xff), Buffer.from("p".repeat(602)), ok.subarray(FILE_AT + 35 + 600)])
    expect(reasonOf(TransferType.MANIFEST, over)).toBe("Length")
    expect(Either.isLeft(encode({ ...manifest, entries: [{ ...long, path: "p".repeat(601) }] }))).toBe(true)
  })

  it("a Needs bitmap whose length does not match the bytes that follow is refused", () => {
    const message: TransferMessage = { _tag: "Needs", txn, batch: 0, bitmap: Uint8Array.of(1, 2, 3), changes: Uint8Array.of(3, 2, 3) }
    expect(reasonOf(TransferType.NEEDS, patched(message, 12, [0, 4]))).toBe("Length")
    expect(reasonOf(TransferType.NEEDS, patched(message, 12, [0, 2]))).toBe("Length")
    // the second bitmap's length: one byte short of its bytes, or longer than the body
    expect(reasonOf(TransferType.NEEDS, patched(message, 17, [0, 2]))).toBe("Length")
    expect(reasonOf(TransferType.NEEDS, patched(message, 17, [0, 4]))).toBe("Length")
    expect(Either.isRight(decode(TransferType.NEEDS, bytesOf(message)))).toBe(true)
  })

  it("the Manifest's flags: a dry run (0x08), a check (0x10), --checksum (0x20); both purposes at once are refused", () => {
    const flagsOf = (m: TransferMessage) => bytesOf(m)[16]
    expect(flagsOf({ ...manifest, last: false, delete: true })).toBe(0x02)
    expect(flagsOf({ ...manifest, purpose: "dryRun" })).toBe(0x09)
    expect(flagsOf({ ...manifest, last: false, purpose: "check" })).toBe(0x10)
    expect(flagsOf({ ...manifest, checksum: true })).toBe(0x21)
    for (const flags of [0x09, 0x11, 0x21]) {
      const m = Either.getOrThrow(decode(TransferType.MANIFEST, patched(manifest, 16, [flags])))
      expect(m).toMatchObject(flags === 0x09 ? { purpose: "dryRun" } : flags === 0x11 ? { purpose: "check" } : { checksum: true })
    }
    expect(reasonOf(TransferType.MANIFEST, patched(manifest, 16, [0x19]))).toBe("Payload")
    expect(reasonOf(TransferType.MANIFEST, patched(manifest, 16, [0x41]))).toBe("Payload")
  })

  it("what the types allow but the wire does not is unencodable", () => {
    const bad: ReadonlyArray<TransferMessage> = [
      { ...manifest, txn: 2 ** 53 as TxnId },
      { ...manifest, entries: [{ ...file, size: 2 ** 53 }] },
      { ...manifest, entries: [{ ...file, mtime: { sec: 0, nsec: 1e9 } }] },
      { ...manifest, entries: [{ ...file, path: "a\u0000b" }] },
      { ...manifest, entries: [{ ...file, type: "directory" }] }, // a digest on a directory
      { ...manifest, entries: [{ ...link, target: undefined as never }] },
      { _tag: "Failed", txn, failures: [{ index: -2, errno: 1 }], count: 1 },
      { _tag: "Missing", txn, spans: Array.from({ length: 65 }, () => ({ index: 0, offset: 0, length: 1 })) }
    ]
    for (const m of bad) expect(Either.isLeft(encode(m))).toBe(true)
  })

  it.prop("a decoded batch's digests are views of one buffer of the batch's digests, not of the body", [fc.array(Arbitrary.make(EntrySchema), { minLength: 1, maxLength: 12 })], ([entries]) => {
    const body = bytesOf({ ...manifest, entries })
    const m = Either.getOrThrow(decode(TransferType.MANIFEST, body))
    const digests = m._tag === "Manifest" ? m.entries.flatMap((e) => e.digest === undefined ? [] : [e.digest]) : []
    expect(digests.length).toBe(entries.filter((e) => e.type === "file" && e.digest !== undefined).length)
    for (const [k, d] of digests.entries()) {
      expect(d.buffer).toBe(digests[0]!.buffer)
      expect(d.byteOffset).toBe(32 * k)
      expect(d.buffer).not.toBe(body.buffer)
    }
    if (digests.length > 0) expect(digests[0]!.buffer.byteLength).toBe(32 * digests.length)
  }, runs)

  it.prop(
    "writeDataHeader, then the piece's bytes, in place in a larger buffer: byte for byte what encode writes",
    [fc.nat({ max: 2 ** 53 - 1 }), fc.nat({ max: 0xffff_ffff }), fc.nat({ max: 2 ** 52 }), fc.uint8Array({ maxLength: 1400 }), fc.nat({ max: 64 })],
    ([txnId, index, offset, bytes, at]) => {
      const out = new Uint8Array(at + DATA_HEADER + bytes.length + 3).fill(0xa5)
      writeDataHeader(new DataView(out.buffer), at, txnId, index, offset, bytes.length)
      out.set(bytes, at + DATA_HEADER)
      const expected = bytesOf({ _tag: "Data", txn: txnId as TxnId, pieces: [{ index, offset, bytes }] })
      expect([...out.subarray(at, at + DATA_HEADER + bytes.length)]).toEqual([...expected])
      // nothing written around it
      expect(out.subarray(0, at).every((b) => b === 0xa5) && out.subarray(at + expected.length).every((b) => b === 0xa5)).toBe(true)
    }
  )

  it("a refusal of a 64-bit field names the field, and the item of a list it belongs to", () => {
    const detailOf = (type: number, body: Uint8Array) => Either.flip(decode(type, body)).pipe(Either.map((e) => e.detail), Either.getOrUndefined)
    const data: TransferMessage = { _tag: "Data", txn, pieces: [{ index: 0, offset: 0, bytes: Uint8Array.of(1) }, { index: 1, offset: 0, bytes: Uint8Array.of(2) }] }
    const second = 10 + PIECE_HEADER + 1 + 4 // txn and count, the first piece, the second's index
    expect(detailOf(TransferType.DATA, patched(data, second, [0, 0x20, 0, 0, 0, 0, 0, 0]))).toBe(`piece 1: offset at ${second} is 2^53 or more`)
    expect(detailOf(TransferType.MANIFEST, patched(manifest, FILE_AT + 21, [0xff, 0xe0, 0, 0, 0, 0, 0, 0]))).toBe(`entry 0: mtime at ${FILE_AT + 21} is ±2^53 or beyond`)
    expect(detailOf(TransferType.DATA, patched(data, 0, [0, 0x20]))).toBe("transaction id at 0 is 2^53 or more")
  })

  it("a Data's pieces are views of the body (the hot path copies nothing)", () => {
    const body = bytesOf({ _tag: "Data", txn, pieces: [{ index: 0, offset: 0, bytes: Uint8Array.of(1, 2) }, { index: 1, offset: 0, bytes: Uint8Array.of(3) }] })
    const m = Either.getOrThrow(decode(TransferType.DATA, body))
    expect(m._tag === "Data" && m.pieces.every((p) => p.bytes.buffer === body.buffer)).toBe(true)
  })

  it("decodeAny dispatches by type: membership and transaction messages", () => {
    expect(Either.getOrThrow(decodeAny(TransferType.COMMIT, bytesOf({ _tag: "Commit", txn })))._tag).toBe("Commit")
    expect(Either.getOrThrow(decodeAny(NativeType.EXIT, Uint8Array.of(0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)))._tag).toBe("Exit")
    expect(Either.isLeft(decodeAny(0x40, Uint8Array.of()))).toBe(true)
  })
})

describe("the datagram budget", () => {
  const budget = Either.getOrThrow(budgetFor())

  it("at MTU 1500: 1403 bytes of body, 1393 of pieces, 1377 of contents in a one-piece Data filling the frame", () => {
    expect(budget).toEqual({ mtu: DEFAULT_MTU, body: 1403, pieces: 1393, block: 1377 })
    const data = bytesOf({ _tag: "Data", txn, pieces: [{ index: 0, offset: 0, bytes: new Uint8Array(budget.block) }] })
    // IPv4 20 + UDP 8 + frame header 52 + type 1 + tag 16
    expect(20 + 8 + 52 + 1 + data.length + 16).toBe(DEFAULT_MTU)
  })

  it("the sender machine packs pieces with the codec's piece header", () => {
    expect(PIECE_OVERHEAD).toBe(PIECE_HEADER)
  })

  it("refuses an MTU too small for the largest bounded messages, and allows jumbo frames", () => {
    expect(MIN_MTU).toBe(1386)
    expect(Either.isLeft(budgetFor(MIN_MTU - 1))).toBe(true)
    expect(Either.getOrThrow(budgetFor(9000)).block).toBe(9000 - 28 - 69 - 10 - 16)
    const longest: Entry = { ...file, path: "p".repeat(MAX_ENTRY_NAMES) }
    const atLeast = Either.getOrThrow(budgetFor(MIN_MTU))
    expect(bytesOf({ ...manifest, entries: [longest] }).length).toBeLessThanOrEqual(atLeast.body)
    expect(bytesOf({ _tag: "Missing", txn, spans: Array.from({ length: 64 }, () => ({ index: 0, offset: 0, length: 1 })) }).length).toBeLessThanOrEqual(atLeast.body)
  })

  it("17 files with 12-byte paths and digests fill a Manifest at MTU 1500", () => {
    const entries = Array.from({ length: 40 }, (_, i): Entry => ({ ...file, path: `dir/f${String(i).padStart(7, "0")}` }))
    expect(fillBatch(entries, 0, budget)).toBe(17)
    expect(fillBatch(entries, 30, budget)).toBe(10)
  })

  it.prop("fillBatch fills a Manifest to the datagram and no further", [fc.array(Arbitrary.make(EntrySchema), { minLength: 1, maxLength: 200 })], ([entries]) => {
    const n = fillBatch(entries, 0, budget)
    expect(n).toBeGreaterThan(0)
    expect(bytesOf({ ...manifest, entries: entries.slice(0, n) }).length).toBeLessThanOrEqual(budget.body)
    if (n < entries.length) expect(bytesOf({ ...manifest, entries: entries.slice(0, n + 1) }).length).toBeGreaterThan(budget.body)
  }, runs)

  it("the documented scope (after the digests, flag 0x04) and Removals layouts", () => {
    const scoped: TransferMessage = { _tag: "Manifest", txn, batch: 0, first: 0, entries: [], last: true, delete: true, scope: { roots: ["www"], excludes: ["*.log", "/c"] } }
    expect([...bytesOf(scoped)]).toEqual([
      0, 0, 1, 2, 3, 4, 5, 6, 0, 0, 0, 0, 0, 0, 0, 0, 0x07, 0, 0, // batch 0, first 0, flags last|delete|scope, no entries
      0, 0, 1, 0, 3, ...Buffer.from("www"), // scope flags, roots
      0, 2, 0, 5, ...Buffer.from("*.log"), 0, 2, ...Buffer.from("/c") // excludes
    ])
    expect([...bytesOf({ _tag: "Removals", txn, total: 3, first: 1, paths: ["a", "bc"] })]).toEqual(
      [0, 0, 1, 2, 3, 4, 5, 6, 0, 0, 0, 3, 0, 0, 0, 1, 0, 2, 0, 1, ...Buffer.from("a"), 0, 2, ...Buffer.from("bc")]
    )
    // paths past the total, a scope flag set, a scope too long: refused
    expect(reasonOf(TransferType.REMOVALS, patched({ _tag: "Removals", txn, total: 3, first: 1, paths: ["a"] }, 8, [0, 0, 0, 1]))).toBe("Payload")
    expect(reasonOf(TransferType.MANIFEST, patched(scoped, 19, [2]))).toBe("Payload")
    // sync's scope: flag 0x01, its roots the named paths gone at the sender
    expect(bytesOf({ ...scoped, scope: { roots: ["www"], excludes: [], named: true } })[19]).toBe(1)
    expect(Either.getOrThrow(decode(TransferType.MANIFEST, patched(scoped, 19, [1])))).toMatchObject({ scope: { roots: ["www"], named: true } })
    const long = { ...scoped, scope: { roots: ["r".repeat(1000)], excludes: ["e".repeat(300)] } }
    expect(Either.isLeft(encode(long))).toBe(true)
  })

  it("the longest scope fits the first batch at the least MTU, and fillBatch leaves it room (no entry at all if need be)", () => {
    const atLeast = Either.getOrThrow(budgetFor(MIN_MTU))
    const scope = { roots: ["r".repeat(MAX_SCOPE_BYTES - 5 - 2 - 2 - 600), "s".repeat(600)], excludes: [] }
    expect(scopeBytes(scope)).toBe(MAX_SCOPE_BYTES)
    expect(bytesOf({ ...manifest, entries: [], scope }).length).toBe(atLeast.body)
    expect(fillBatch([file], 0, atLeast, MAX_SCOPE_BYTES)).toBe(0)
    const some = { roots: ["www"], excludes: ["*.log"] }
    const entries = Array.from({ length: 40 }, (_, i): Entry => ({ ...file, path: `dir/f${String(i).padStart(7, "0")}` }))
    const n = fillBatch(entries, 0, budget, scopeBytes(some))
    expect(bytesOf({ ...manifest, entries: entries.slice(0, n), scope: some }).length).toBeLessThanOrEqual(budget.body)
    expect(bytesOf({ ...manifest, entries: entries.slice(0, n + 1), scope: some }).length).toBeGreaterThan(budget.body)
  })

  it.prop("removalBatches: every path once, in order, each Removals within the body at the least MTU", [fc.array(fc.string({ unit: "binary", minLength: 1, maxLength: 200 }).filter((p) => !p.includes("\0")), { maxLength: 60 })], ([paths]) => {
    const body = Either.getOrThrow(budgetFor(MIN_MTU)).body
    const batches = removalBatches(paths)
    expect(batches.flat()).toEqual(paths)
    let first = 0
    for (const b of batches) {
      expect(bytesOf({ _tag: "Removals", txn, total: paths.length, first, paths: b }).length).toBeLessThanOrEqual(body)
      first += b.length
    }
  }, runs)
})
