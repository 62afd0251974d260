/**
 * The messages of a native tree transaction (`src/transfer/txn/messages.ts`, docs/transactions.md) as Schemas
 * that carry the wire limits, so that `Arbitrary` generates only encodable messages and the codec's refusals
 * are the same rules. Their types are the machines' types (the codec encodes those); docs/protocol.md,
 * "Transaction messages", has the byte layout.
 */
import { Schema } from "effect"
import { SHA256_BYTES } from "../../sha256.js"
import { MAX_DIGEST_ASKS, MAX_FAILURES, MAX_SPANS } from "../../transfer/txn/messages.js"
import { utf8Length } from "../text.js"
import { U32, WireName } from "../fields.js"

/**
 * The message types of a transaction: sender → group from 0x20, member → sender from 0x30 (membership is
 * 0x10–0x1F, `message.ts`).
 */
export const TransferType = {
  MANIFEST: 0x20,
  DATA: 0x21,
  PREPARE: 0x22,
  COMMIT: 0x23,
  ABORT: 0x24,
  PROBE: 0x25,
  DIGESTS: 0x26,
  NEEDS: 0x30,
  MISSING: 0x31,
  BUSY: 0x32,
  PREPARED: 0x33,
  FAILED: 0x34,
  COMMITTED: 0x35,
  ABORTED: 0x36,
  UNKNOWN: 0x37,
  REMOVALS: 0x38,
  PROGRESS: 0x39,
  MISSING_DIGESTS: 0x3a
} as const
export type TransferType = (typeof TransferType)[keyof typeof TransferType]

const transferTypes: ReadonlySet<number> = new Set(Object.values(TransferType))
export const isTransferType = (type: number): type is TransferType => transferTypes.has(type)

/** A path and its link target together, in bytes: an entry of the longest names still fits one datagram at the least MTU. */
export const MAX_ENTRY_NAMES = 1024
/** A digest field: a SHA-256. */
export const DIGEST_BYTES = SHA256_BYTES
/**
 * A manifest's scope (roots and exclude patterns, `--delete`) in bytes, its counts included: with a batch's fixed
 * fields it fits one datagram at the least MTU (body 1289 − 19). A job whose scope is longer runs on the v7 path.
 */
export const MAX_SCOPE_BYTES = 1270

/** The bytes of a scope on the wire: flags u8, two u16 counts, each name a u16 length and its bytes. */
export const scopeBytes = (scope: { readonly roots: ReadonlyArray<string>; readonly excludes: ReadonlyArray<string> }): number =>
  [...scope.roots, ...scope.excludes].reduce((n, name) => n + 2 + utf8Length(name), 1 + 2 + 2)

/** Sizes, offsets, transaction ids: u64 on the wire, exact in a double only below 2^53, so refused above. */
const Safe = Schema.Int.pipe(Schema.between(0, Number.MAX_SAFE_INTEGER))

export const TxnId = Safe.pipe(Schema.brand("TxnId"))

/** Seconds may be before 1970 (i64 on the wire); nanoseconds are a fraction of one. */
const Mtime = Schema.Struct({
  sec: Schema.Int.pipe(Schema.between(-Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER)),
  nsec: Schema.Int.pipe(Schema.between(0, 999_999_999))
})

const Digest = Schema.Uint8ArrayFromSelf.pipe(
  Schema.filter((b) => b.length === DIGEST_BYTES, { message: () => `expected ${DIGEST_BYTES} bytes` }),
  Schema.annotations({ arbitrary: () => (fc) => fc.uint8Array({ minLength: DIGEST_BYTES, maxLength: DIGEST_BYTES }) })
)

const Name = WireName(MAX_ENTRY_NAMES)

const attributes = { path: Name, size: Safe, mode: U32, uid: U32, gid: U32, mtime: Mtime }

export const Entry = Schema.Union(
  Schema.Struct({ ...attributes, type: Schema.Literal("file"), digest: Schema.optionalWith(Digest, { exact: true }) }),
  Schema.Struct({ ...attributes, type: Schema.Literal("directory") }),
  Schema.Struct({ ...attributes, type: Schema.Literal("symlink"), target: Name })
).pipe(
  Schema.filter((e) => utf8Length(e.path) + (e.type === "symlink" ? utf8Length(e.target) : 0) <= MAX_ENTRY_NAMES, {
    message: () => `expected a path and link target of at most ${MAX_ENTRY_NAMES} bytes together`
  })
)

/** A run of contents within an entry: it ends below 2^53 as every size does. */
const endsBelow2p53 = { message: () => "expected a range ending below 2^53" }

const Bytes = Schema.Uint8ArrayFromSelf.pipe(Schema.annotations({ arbitrary: () => (fc) => fc.uint8Array({ maxLength: 64 }) }))

const Piece = Schema.Struct({ index: U32, offset: Safe, bytes: Bytes }).pipe(
  Schema.filter((p) => p.offset + p.bytes.length <= Number.MAX_SAFE_INTEGER, endsBelow2p53)
)
const Span = Schema.Struct({ index: U32, offset: Safe, length: Safe }).pipe(
  Schema.filter((s) => s.offset + s.length <= Number.MAX_SAFE_INTEGER, endsBelow2p53)
)

/** Index -1 is the member's scan for removals: u32 0xFFFFFFFF on the wire, so real indices stop below it. */
const Failure = Schema.Struct({ index: Schema.Int.pipe(Schema.between(-1, 2 ** 32 - 2)), errno: U32 })

/** Counts of a list on the wire (u16). */
const U16_MAX = 0xffff
const txn = { txn: TxnId }

const Scope = Schema.Struct({ roots: Schema.Array(Name), excludes: Schema.Array(Name), named: Schema.optionalWith(Schema.Literal(true), { exact: true }) }).pipe(
  Schema.filter((s) => scopeBytes(s) <= MAX_SCOPE_BYTES, { message: () => `expected a scope of at most ${MAX_SCOPE_BYTES} bytes` })
)

export const Manifest = Schema.TaggedStruct("Manifest", {
  ...txn,
  batch: U32,
  first: U32,
  entries: Schema.Array(Entry).pipe(Schema.maxItems(U16_MAX)),
  last: Schema.Boolean,
  delete: Schema.Boolean,
  scope: Schema.optionalWith(Scope, { exact: true }),
  purpose: Schema.optionalWith(Schema.Literal("dryRun", "check"), { exact: true }),
  checksum: Schema.optionalWith(Schema.Literal(true), { exact: true })
})
export const Data = Schema.TaggedStruct("Data", { ...txn, pieces: Schema.Array(Piece).pipe(Schema.maxItems(U16_MAX)) })
export const Prepare = Schema.TaggedStruct("Prepare", { ...txn, batches: U32 })
export const Commit = Schema.TaggedStruct("Commit", txn)
export const Abort = Schema.TaggedStruct("Abort", txn)
export const Probe = Schema.TaggedStruct("Probe", { ...txn, seq: U32 })
export const Digests = Schema.TaggedStruct("Digests", {
  ...txn,
  entries: Schema.Array(Schema.Struct({ index: U32, digest: Digest })).pipe(Schema.maxItems(0xff))
})

const Bitmap = Schema.Uint8ArrayFromSelf.pipe(
  Schema.filter((b) => b.length <= U16_MAX),
  Schema.annotations({ arbitrary: () => (fc) => fc.uint8Array({ maxLength: 16 }) })
)
export const Needs = Schema.TaggedStruct("Needs", { ...txn, batch: U32, bitmap: Bitmap, changes: Bitmap })
export const Missing = Schema.TaggedStruct("Missing", {
  ...txn,
  spans: Schema.Array(Span).pipe(Schema.maxItems(MAX_SPANS)),
  digests: Schema.optionalWith(Schema.Array(U32).pipe(Schema.minItems(1), Schema.maxItems(MAX_DIGEST_ASKS)), { exact: true })
}).pipe(Schema.filter((m) => m.digests === undefined || m.spans.length === 0, { message: () => "expected spans or digests asked for, not both" }))
export const Busy = Schema.TaggedStruct("Busy", txn)
export const Prepared = Schema.TaggedStruct("Prepared", txn)
export const Failed = Schema.TaggedStruct("Failed", {
  ...txn,
  failures: Schema.Array(Failure).pipe(Schema.maxItems(MAX_FAILURES)),
  count: U32
}).pipe(Schema.filter((f) => f.count >= f.failures.length, { message: () => "expected a count of at least the failures listed" }))
export const Committed = Schema.TaggedStruct("Committed", { ...txn, errno: U32 })
export const Aborted = Schema.TaggedStruct("Aborted", txn)
export const Unknown = Schema.TaggedStruct("Unknown", txn)
export const Removals = Schema.TaggedStruct("Removals", {
  ...txn,
  total: U32,
  first: U32,
  paths: Schema.Array(Name).pipe(Schema.maxItems(U16_MAX))
}).pipe(Schema.filter((r) => r.first + r.paths.length <= r.total, { message: () => "expected paths within the total" }))

export const Progress = Schema.TaggedStruct("Progress", { ...txn, seq: U32, received: Safe })

export const ToMember = Schema.Union(Manifest, Data, Digests, Prepare, Commit, Abort, Probe)
export const ToSender = Schema.Union(Needs, Missing, Busy, Prepared, Failed, Committed, Aborted, Unknown, Removals, Progress)
export const TransferMessage = Schema.Union(ToMember, ToSender)
