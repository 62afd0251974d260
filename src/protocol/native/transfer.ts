/**
 * The codec of a tree transaction's messages (docs/protocol.md, "Transaction messages", has the byte layout):
 * big-endian, fixed fields first, the exact length, every field canonical, so that what decodes encodes back to
 * the same bytes. `decode` never throws and never reads outside the body. What it returns:
 *
 * - a Manifest's names are strings (copied) and its digests are views of ONE buffer copied out of the body per
 *   batch: a member keeps the entries it needs for the whole transaction, and a `Uint8Array` of its own per
 *   digest would cost ~110 bytes more per entry (docs/transactions.md, "Memory");
 * - a Data's piece bytes are views of the body, not copies: the driver writes them before the receive buffer
 *   is reused, and the hot path copies nothing;
 * - names obey the v7 side's rule (bytes without NUL); whether a path stays under the base (no `..`, not
 *   absolute, no symlinked parent) is the receiver's to check before it touches the disk, as for v7.
 */
import { Either } from "effect"
import type { Entry, EntryType, Failure, FileDigest, Piece, Span, ToMember, ToSender } from "../../transfer/txn/messages.js"
import { MAX_DIGEST_ASKS, MAX_FAILURES, MAX_SPANS } from "../../transfer/txn/messages.js"
import { MalformedDatagram, type MalformedReason, UnencodableMessage } from "../errors.js"
import { decodeName, hasEscapedBytes, isWireName, utf8Bytes, utf8Length } from "../text.js"
import { DIGEST_BYTES, MAX_ENTRY_NAMES, MAX_SCOPE_BYTES, scopeBytes, TransferType } from "./transferMessage.js"
import { HEADER_BYTES, MAX_FRAME_BYTES, TAG_BYTES } from "../../secure/frame.js"

export type TransferMessage = ToMember | ToSender

/** Bytes every message starts with: the transaction id, u64. */
const TXN = 8
/** txn, batch u32, first u32, flags u8, entry count u16. */
export const MANIFEST_FIXED = TXN + 4 + 4 + 1 + 2
/** kind u8, mode u32, uid u32, gid u32, size u64, mtime seconds i64, nanoseconds u32, path length u16. */
export const ENTRY_FIXED = 1 + 4 + 4 + 4 + 8 + 8 + 4 + 2
/** txn, piece count u16. */
export const DATA_FIXED = TXN + 2
/** A piece's entry index u32, offset u64, length u32. */
export const PIECE_HEADER = 4 + 8 + 4
/** A span's entry index u32, offset u64, length u64. */
const SPAN_BYTES = 4 + 8 + 8
/** The largest Missing: txn, span count u8, the most spans (a Missing asks for spans or digests, and these are fewer bytes). */
export const MISSING_MAX = TXN + 1 + SPAN_BYTES * MAX_SPANS
/** txn, digest count u8. */
export const DIGESTS_FIXED = TXN + 1
/** What a digest adds to a Digests: its entry's index u32 and the SHA-256. */
export const DIGESTS_ENTRY = 4 + DIGEST_BYTES
/** Digests one Digests carries at most (its count is a u8). */
export const MAX_DIGESTS = 0xff
/** A failure's entry index u32, errno u32. */
const FAILURE_BYTES = 4 + 4
/** The largest body a frame carries: 65 535 bytes less the header, the type byte and the tag. */
export const MAX_BODY = MAX_FRAME_BYTES - HEADER_BYTES - 1 - TAG_BYTES

const LAST = 0x01
const DELETE = 0x02
const SCOPE = 0x04
const DRY_RUN = 0x08
const CHECK = 0x10
const CHECKSUM = 0x20
const FLAGS = LAST | DELETE | SCOPE | DRY_RUN | CHECK | CHECKSUM
/** The scope's flag: its roots are named paths to remove themselves (`sync`). */
const NAMED = 0x01
/** txn, total u32, first u32, path count u16. */
export const REMOVALS_FIXED = TXN + 4 + 4 + 2
const SCAN_INDEX = 0xffff_ffff

/** An entry's kind byte: a file with a digest has the next one, so that the digests of a batch can trail its entries. */
const Kind = { FILE: 0, FILE_WITH_DIGEST: 1, DIRECTORY: 2, SYMLINK: 3 } as const
const kindOf = (e: Entry): number =>
  e.type === "file" ? (e.digest === undefined ? Kind.FILE : Kind.FILE_WITH_DIGEST) : e.type === "directory" ? Kind.DIRECTORY : Kind.SYMLINK
const typeOfKind: ReadonlyArray<EntryType> = ["file", "file", "directory", "symlink"]

const typeByTag: Record<TransferMessage["_tag"], TransferType> = {
  Manifest: TransferType.MANIFEST,
  Data: TransferType.DATA,
  Prepare: TransferType.PREPARE,
  Commit: TransferType.COMMIT,
  Abort: TransferType.ABORT,
  Probe: TransferType.PROBE,
  Digests: TransferType.DIGESTS,
  Needs: TransferType.NEEDS,
  Missing: TransferType.MISSING,
  Busy: TransferType.BUSY,
  Prepared: TransferType.PREPARED,
  Failed: TransferType.FAILED,
  Committed: TransferType.COMMITTED,
  Aborted: TransferType.ABORTED,
  Unknown: TransferType.UNKNOWN,
  Removals: TransferType.REMOVALS,
  Progress: TransferType.PROGRESS
}

/**
 * The message type byte of the frame that carries `m`: a Missing that asks for digests is MISSING_DIGESTS, so that
 * MISSING keeps its layout (and its largest size, which sets the least MTU).
 */
export const typeOf = (m: TransferMessage): TransferType =>
  m._tag === "Missing" && m.digests !== undefined ? TransferType.MISSING_DIGESTS : typeByTag[m._tag]

/** The messages that are their transaction id alone. */
const TXN_ONLY = ["Commit", "Abort", "Busy", "Prepared", "Aborted", "Unknown"] as const
type TxnOnly = Extract<TransferMessage, { readonly _tag: (typeof TXN_ONLY)[number] }>
const isTxnOnly = (m: TransferMessage): m is TxnOnly => (TXN_ONLY as ReadonlyArray<string>).includes(m._tag)
const txnOnlyByType: ReadonlyMap<number, TxnOnly["_tag"]> = new Map(TXN_ONLY.map((tag) => [typeByTag[tag], tag]))

// == sizes: the driver fills batches and datagrams with these (`budget.ts`)

const namesOf = (e: Entry): number => utf8Length(e.path) + (e.type === "symlink" ? utf8Length(e.target ?? "") : 0)

/** What an entry adds to a Manifest's body, its digest included. */
export const entryBytes = (e: Entry): number => ENTRY_FIXED + namesOf(e) + (e.type === "symlink" ? 2 : 0) + (e.digest === undefined ? 0 : DIGEST_BYTES)

// == encoding

/**
 * A safe integer as an i64 (two's complement), which for one not negative is its u64: high and low words, no
 * bigint on the per-file path.
 */
const setInt64 = (v: DataView, at: number, x: number) => {
  const hi = Math.floor(x / 2 ** 32)
  v.setInt32(at, hi)
  v.setUint32(at + 4, x - hi * 2 ** 32)
}

class Writer {
  readonly out: Uint8Array
  private readonly v: DataView
  at = 0
  constructor(size: number) {
    this.out = new Uint8Array(size)
    this.v = new DataView(this.out.buffer)
  }
  u8(x: number) {
    this.out[this.at++] = x
  }
  u16(x: number) {
    this.v.setUint16(this.at, x)
    this.at += 2
  }
  u32(x: number) {
    this.v.setUint32(this.at, x)
    this.at += 4
  }
  int64(x: number) {
    setInt64(this.v, this.at, x)
    this.at += 8
  }
  bytes(b: Uint8Array) {
    this.out.set(b, this.at)
    this.at += b.length
  }
  name(b: Uint8Array) {
    this.u16(b.length)
    this.bytes(b)
  }
  /** A name as `name(utf8Bytes(text))` writes it, encoded in place (no array of its own) unless it holds escaped bytes. */
  text(text: string) {
    if (hasEscapedBytes(text)) return this.name(utf8Bytes(text))
    const at = this.at
    const { written } = encoder.encodeInto(text, this.out.subarray(at + 2))
    this.v.setUint16(at, written)
    this.at = at + 2 + written
  }
}

const encoder = new TextEncoder()

const unencodable = (detail: string) => Either.left(new UnencodableMessage({ detail }))

/** Checks what the types do not say (the Schemas of `transferMessage.ts` say it too). */
const invalid = (m: TransferMessage): string | undefined => {
  const safe = (x: number) => Number.isSafeInteger(x) && x >= 0
  const u32 = (x: number) => Number.isInteger(x) && x >= 0 && x <= 0xffff_ffff
  if (!safe(m.txn)) return `transaction id ${m.txn}`
  if (isTxnOnly(m)) return undefined
  switch (m._tag) {
    case "Manifest":
      if (!u32(m.batch) || !u32(m.first) || m.entries.length > 0xffff) return `batch ${m.batch}, first ${m.first}, ${m.entries.length} entries`
      for (const e of m.entries) {
        if (!safe(e.size) || !u32(e.mode) || !u32(e.uid) || !u32(e.gid)) return `entry ${e.path}: size ${e.size}, mode ${e.mode}, uid ${e.uid}, gid ${e.gid}`
        if (!Number.isSafeInteger(e.mtime.sec) || !Number.isInteger(e.mtime.nsec) || e.mtime.nsec < 0 || e.mtime.nsec >= 1e9) return `entry ${e.path}: mtime ${e.mtime.sec}.${e.mtime.nsec}`
        if ((e.type === "symlink") !== (e.target !== undefined) || (e.digest !== undefined && (e.type !== "file" || e.digest.length !== DIGEST_BYTES))) {
          return `entry ${e.path}: a ${e.type} with${e.target === undefined ? "out" : ""} a target, digest of ${e.digest?.length ?? 0} bytes`
        }
        if (!isWireName(e.path) || (e.target !== undefined && !isWireName(e.target))) return `entry ${e.path}: a name holds NUL`
        if (namesOf(e) > MAX_ENTRY_NAMES) return `entry ${e.path}: names longer than ${MAX_ENTRY_NAMES} bytes`
      }
      if (m.scope === undefined) return undefined
      if (![...m.scope.roots, ...m.scope.excludes].every((n) => isWireName(n) && utf8Length(n) <= MAX_ENTRY_NAMES)) return "a scope name holds NUL or is too long"
      return scopeBytes(m.scope) <= MAX_SCOPE_BYTES ? undefined : `a scope of ${scopeBytes(m.scope)} bytes (at most ${MAX_SCOPE_BYTES})`
    case "Removals":
      if (!u32(m.total) || !u32(m.first) || m.paths.length > 0xffff || m.first + m.paths.length > m.total) return `paths ${m.first}+${m.paths.length} of ${m.total}`
      return m.paths.every((p) => isWireName(p) && utf8Length(p) <= MAX_ENTRY_NAMES) ? undefined : "a path holds NUL or is too long"
    case "Data":
      if (m.pieces.length > 0xffff) return `${m.pieces.length} pieces`
      for (const p of m.pieces) if (!u32(p.index) || !safe(p.offset) || !safe(p.offset + p.bytes.length)) return `piece ${p.index} at ${p.offset}`
      return undefined
    case "Prepare":
      return u32(m.batches) ? undefined : `${m.batches} batches`
    case "Probe":
      return u32(m.seq) ? undefined : `probe ${m.seq}`
    case "Progress":
      return u32(m.seq) && safe(m.received) ? undefined : `probe ${m.seq}, ${m.received} bytes`
    case "Needs":
      return u32(m.batch) && m.bitmap.length <= 0xffff && m.changes.length <= 0xffff
        ? undefined
        : `batch ${m.batch}, bitmaps of ${m.bitmap.length} and ${m.changes.length} bytes`
    case "Missing":
      if (m.spans.length > MAX_SPANS) return `${m.spans.length} spans`
      for (const s of m.spans) if (!u32(s.index) || !safe(s.offset) || !safe(s.length) || !safe(s.offset + s.length)) return `span ${s.index} at ${s.offset}`
      if (m.digests === undefined) return undefined
      // digests asked for go alone (MISSING_DIGESTS), at least one
      if (m.digests.length === 0 || m.digests.length > MAX_DIGEST_ASKS || m.spans.length > 0) return `${m.digests.length} digests asked with ${m.spans.length} spans`
      return m.digests.every(u32) ? undefined : `digests of entries ${m.digests.join(", ")}`
    case "Digests":
      if (m.entries.length > MAX_DIGESTS) return `${m.entries.length} digests`
      for (const e of m.entries) if (!u32(e.index) || e.digest.length !== DIGEST_BYTES) return `digest of entry ${e.index}: ${e.digest.length} bytes`
      return undefined
    case "Failed":
      if (m.failures.length > MAX_FAILURES || !u32(m.count) || m.count < m.failures.length) return `${m.failures.length} failures of ${m.count}`
      for (const f of m.failures) if (!Number.isInteger(f.index) || f.index < -1 || f.index >= SCAN_INDEX || !u32(f.errno)) return `failure ${f.index}`
      return undefined
    case "Committed":
      return u32(m.errno) ? undefined : `errno ${m.errno}`
  }
}

const bodyBytes = (m: TransferMessage): number => {
  if (isTxnOnly(m)) return TXN
  switch (m._tag) {
    case "Manifest":
      return m.entries.reduce((n, e) => n + entryBytes(e), MANIFEST_FIXED) + (m.scope === undefined ? 0 : scopeBytes(m.scope))
    case "Removals":
      return m.paths.reduce((n, p) => n + 2 + utf8Length(p), REMOVALS_FIXED)
    case "Data":
      return m.pieces.reduce((n, p) => n + PIECE_HEADER + p.bytes.length, DATA_FIXED)
    case "Prepare":
    case "Committed":
    case "Probe":
      return TXN + 4
    case "Progress":
      return TXN + 4 + 8
    case "Needs":
      return TXN + 4 + 2 + m.bitmap.length + 2 + m.changes.length
    case "Missing":
      return m.digests === undefined ? TXN + 1 + SPAN_BYTES * m.spans.length : TXN + 1 + 4 * m.digests.length
    case "Digests":
      return DIGESTS_FIXED + DIGESTS_ENTRY * m.entries.length
    case "Failed":
      return TXN + 4 + 1 + FAILURE_BYTES * m.failures.length
  }
}

/** The body of the frame whose message type is `typeOf(m)`. */
export const encode = (m: TransferMessage): Either.Either<Uint8Array, UnencodableMessage> => {
  const bad = invalid(m)
  if (bad !== undefined) return unencodable(`${m._tag}: ${bad}`)
  const size = bodyBytes(m)
  if (size > MAX_BODY) return unencodable(`${m._tag} of ${size} bytes (a frame carries at most ${MAX_BODY})`)
  const w = new Writer(size)
  w.int64(m.txn)
  if (!isTxnOnly(m)) writeFields(w, m)
  return Either.right(w.out)
}

/** What a Data of one piece holds before the piece's bytes. */
export const DATA_HEADER = DATA_FIXED + PIECE_HEADER

/**
 * Writes at `at` of `v` the first `DATA_HEADER` bytes of a Data of one piece of `length` bytes, exactly as
 * `encode` writes them: the piece's bytes, laid out right after by the caller, make the message. The sender's
 * burst of a big file is laid out in place this way, read straight into the datagrams. `txn`, `index` and
 * `offset + length` are the caller's to keep in range (a transaction id, a manifest index, a file's size).
 */
export const writeDataHeader = (v: DataView, at: number, txn: number, index: number, offset: number, length: number): void => {
  writeDataFixed(v, at, txn, 1)
  writePieceHeader(v, at + DATA_FIXED, index, offset, length)
}

/** Writes at `at` the first `DATA_FIXED` bytes of a Data of `pieces` pieces, as `encode` does; each piece follows. */
export const writeDataFixed = (v: DataView, at: number, txn: number, pieces: number): void => {
  setInt64(v, at, txn)
  v.setUint16(at + TXN, pieces)
}

/** Writes at `at` the `PIECE_HEADER` bytes before a piece's bytes, as `encode` does. */
export const writePieceHeader = (v: DataView, at: number, index: number, offset: number, length: number): void => {
  v.setUint32(at, index)
  setInt64(v, at + 4, offset)
  v.setUint32(at + 12, length)
}

const writeFields = (w: Writer, m: Exclude<TransferMessage, TxnOnly>) => {
  switch (m._tag) {
    case "Manifest":
      w.u32(m.batch)
      w.u32(m.first)
      w.u8(
        (m.last ? LAST : 0) | (m.delete ? DELETE : 0) | (m.scope !== undefined ? SCOPE : 0) |
          (m.purpose === "dryRun" ? DRY_RUN : m.purpose === "check" ? CHECK : 0) | (m.checksum ? CHECKSUM : 0)
      )
      w.u16(m.entries.length)
      for (const e of m.entries) {
        w.u8(kindOf(e))
        w.u32(e.mode)
        w.u32(e.uid)
        w.u32(e.gid)
        w.int64(e.size)
        w.int64(e.mtime.sec)
        w.u32(e.mtime.nsec)
        w.text(e.path)
        if (e.type === "symlink") w.text(e.target ?? "")
      }
      for (const e of m.entries) if (e.digest !== undefined) w.bytes(e.digest)
      if (m.scope !== undefined) {
        w.u8(m.scope.named === true ? NAMED : 0)
        w.u16(m.scope.roots.length)
        for (const root of m.scope.roots) w.name(utf8Bytes(root))
        w.u16(m.scope.excludes.length)
        for (const pattern of m.scope.excludes) w.name(utf8Bytes(pattern))
      }
      break
    case "Removals":
      w.u32(m.total)
      w.u32(m.first)
      w.u16(m.paths.length)
      for (const p of m.paths) w.name(utf8Bytes(p))
      break
    case "Data":
      w.u16(m.pieces.length)
      for (const p of m.pieces) {
        w.u32(p.index)
        w.int64(p.offset)
        w.u32(p.bytes.length)
        w.bytes(p.bytes)
      }
      break
    case "Prepare":
      w.u32(m.batches)
      break
    case "Probe":
      w.u32(m.seq)
      break
    case "Progress":
      w.u32(m.seq)
      w.int64(m.received)
      break
    case "Needs":
      w.u32(m.batch)
      for (const b of [m.bitmap, m.changes]) (w.u16(b.length), w.bytes(b))
      break
    case "Missing":
      if (m.digests !== undefined) {
        w.u8(m.digests.length)
        for (const index of m.digests) w.u32(index)
        break
      }
      w.u8(m.spans.length)
      for (const s of m.spans) {
        w.u32(s.index)
        w.int64(s.offset)
        w.int64(s.length)
      }
      break
    case "Digests":
      w.u8(m.entries.length)
      for (const e of m.entries) w.u32(e.index)
      for (const e of m.entries) w.bytes(e.digest)
      break
    case "Failed":
      w.u32(m.count)
      w.u8(m.failures.length)
      for (const f of m.failures) {
        w.u32(f.index === -1 ? SCAN_INDEX : f.index)
        w.u32(f.errno)
      }
      break
    case "Committed":
      w.u32(m.errno)
      break
  }
}

// == decoding

/** A field as a refusal names it: `field`, or `field` of item `i` of `list` ("piece 3: offset"). */
const named = (field: string, list: string | undefined, i: number | undefined) => (list === undefined ? field : `${list} ${i}: ${field}`)

/**
 * Reads the body; the first refusal sticks (`error`) and every later read returns 0 without reading, so a
 * decoder checks once at the end rather than after every field, and no loop outlives a short body by more
 * than its u16 count of cheap steps.
 */
class Reader {
  body: Uint8Array = new Uint8Array(0)
  at = 0
  error: MalformedDatagram | undefined
  /** Starts on another body: one reader serves every decode (they never overlap), so a Data allocates no reader. */
  reset(body: Uint8Array): this {
    this.body = body
    this.at = 0
    this.error = undefined
    return this
  }
  refuse(reason: MalformedReason, detail: string) {
    this.error ??= new MalformedDatagram({ reason, detail })
  }
  private take(n: number): number {
    if (this.error !== undefined) return -1
    if (this.at + n > this.body.length) {
      this.refuse("Length", `${this.body.length} bytes end inside a field of ${n} at ${this.at}`)
      return -1
    }
    const at = this.at
    this.at += n
    return at
  }
  u8(): number {
    const at = this.take(1)
    return at < 0 ? 0 : this.body[at]!
  }
  // big-endian by hand: a DataView per datagram would cost more than its reads
  u16(): number {
    const at = this.take(2)
    return at < 0 ? 0 : (this.body[at]! << 8) | this.body[at + 1]!
  }
  u32(): number {
    const at = this.take(4)
    return at < 0 ? 0 : this.u32At(at)
  }
  private u32At(at: number): number {
    const b = this.body
    return b[at]! * 0x100_0000 + ((b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!)
  }
  /**
   * A u64 that must be below 2^53; the refusal names it `field`, or `field` of item `i` of `list` (the name is
   * built only then: a Data's piece must not cost a string).
   */
  u64(field: string, list?: string, i?: number): number {
    const at = this.take(8)
    if (at < 0) return 0
    const hi = this.u32At(at)
    if (hi > 0x1f_ffff) this.refuse("Payload", `${named(field, list, i)} at ${at} is 2^53 or more`)
    return hi * 2 ** 32 + this.u32At(at + 4)
  }
  /** An i64 whose magnitude must be below 2^53, named as by `u64`. */
  i64(field: string, list?: string, i?: number): number {
    const at = this.take(8)
    if (at < 0) return 0
    const x = (this.u32At(at) | 0) * 2 ** 32 + this.u32At(at + 4)
    if (!Number.isSafeInteger(x)) this.refuse("Payload", `${named(field, list, i)} at ${at} is ±2^53 or beyond`)
    return x
  }
  bytes(n: number): Uint8Array {
    const at = this.take(n)
    return at < 0 ? new Uint8Array(0) : this.body.subarray(at, at + n)
  }
  /** A name's text: bytes without NUL, as on the v7 side. */
  text(bytes: Uint8Array, what: string): string {
    if (this.error !== undefined) return ""
    const text = decodeName(bytes)
    if (text === undefined) this.refuse("Payload", `${what} holds NUL`)
    return text ?? ""
  }
  /** The body must end exactly here. */
  end<A>(m: A): Either.Either<A, MalformedDatagram> {
    if (this.error === undefined && this.at !== this.body.length) this.refuse("Length", `${this.body.length - this.at} bytes after the message`)
    return this.error === undefined ? Either.right(m) : Either.left(this.error)
  }
}

const reader = new Reader()

/** An entry while its batch decodes: the digest is set once the batch's shared buffer is made. */
type MutableEntry = { -readonly [K in keyof Entry]: Entry[K] }

const decodeManifest = (r: Reader, txn: ToMember["txn"]) => {
  const batch = r.u32()
  const first = r.u32()
  const flags = r.u8()
  // a purpose is one: a dry run or a check, not both
  if ((flags & ~FLAGS) !== 0 || (flags & (DRY_RUN | CHECK)) === (DRY_RUN | CHECK)) r.refuse("Payload", `manifest flags ${flags}`)
  const n = r.u16()
  const entries: Array<MutableEntry> = []
  const digested: Array<MutableEntry> = []
  for (let i = 0; i < n && r.error === undefined; i++) {
    const kind = r.u8()
    const type = typeOfKind[kind]
    if (type === undefined) r.refuse("Payload", `entry ${i}: kind ${kind}`)
    const mode = r.u32()
    const uid = r.u32()
    const gid = r.u32()
    const size = r.u64("size", "entry", i)
    const sec = r.i64("mtime", "entry", i)
    const nsec = r.u32()
    if (nsec >= 1e9) r.refuse("Payload", `entry ${i}: ${nsec} nanoseconds`)
    const pathBytes = r.bytes(r.u16())
    const targetBytes = type === "symlink" ? r.bytes(r.u16()) : undefined
    const names = pathBytes.length + (targetBytes?.length ?? 0)
    if (names > MAX_ENTRY_NAMES) r.refuse("Length", `entry ${i}: names of ${names} bytes (at most ${MAX_ENTRY_NAMES})`)
    const e: MutableEntry = { path: r.text(pathBytes, `entry ${i}: path`), type: type ?? "file", size, mode, uid, gid, mtime: { sec, nsec } }
    if (targetBytes !== undefined) e.target = r.text(targetBytes, `entry ${i}: target`)
    if (kind === Kind.FILE_WITH_DIGEST) digested.push(e)
    entries.push(e)
  }
  // one copy for the batch: every digest is a view of it, and nothing pins the receive buffer
  const shared = r.bytes(DIGEST_BYTES * digested.length).slice()
  if (r.error === undefined) digested.forEach((e, k) => void (e.digest = shared.subarray(DIGEST_BYTES * k, DIGEST_BYTES * (k + 1))))
  const scope = (flags & SCOPE) !== 0 ? decodeScope(r) : undefined
  return r.end<ToMember>({
    _tag: "Manifest",
    txn,
    batch,
    first,
    entries,
    last: (flags & LAST) !== 0,
    delete: (flags & DELETE) !== 0,
    ...(scope === undefined ? {} : { scope }),
    ...((flags & DRY_RUN) !== 0 ? { purpose: "dryRun" as const } : (flags & CHECK) !== 0 ? { purpose: "check" as const } : {}),
    ...((flags & CHECKSUM) !== 0 ? { checksum: true as const } : {})
  })
}

/** A u16 count of names, each at most `MAX_ENTRY_NAMES` bytes. */
const names = (r: Reader, what: string): Array<string> => {
  const n = r.u16()
  const out: Array<string> = []
  for (let i = 0; i < n && r.error === undefined; i++) {
    const bytes = r.bytes(r.u16())
    if (bytes.length > MAX_ENTRY_NAMES) r.refuse("Length", `${what} ${i}: ${bytes.length} bytes (at most ${MAX_ENTRY_NAMES})`)
    out.push(r.text(bytes, `${what} ${i}`))
  }
  return out
}

const decodeScope = (r: Reader) => {
  const start = r.at
  const flags = r.u8()
  if ((flags & ~NAMED) !== 0) r.refuse("Payload", `scope flags ${flags}`)
  const roots = names(r, "root")
  const excludes = names(r, "exclude")
  if (r.at - start > MAX_SCOPE_BYTES) r.refuse("Length", `a scope of ${r.at - start} bytes (at most ${MAX_SCOPE_BYTES})`)
  return { roots, excludes, ...((flags & NAMED) !== 0 ? { named: true as const } : {}) }
}

const decodeRemovals = (r: Reader, txn: ToSender["txn"]) => {
  const total = r.u32()
  const first = r.u32()
  const paths = names(r, "path")
  if (first + paths.length > total) r.refuse("Payload", `paths ${first}+${paths.length} of ${total}`)
  return r.end<ToSender>({ _tag: "Removals", txn, total, first, paths })
}

const decodeData = (r: Reader, txn: ToMember["txn"]) => {
  const n = r.u16()
  const pieces: Array<Piece> = []
  for (let i = 0; i < n && r.error === undefined; i++) {
    const index = r.u32()
    const offset = r.u64("offset", "piece", i)
    const bytes = r.bytes(r.u32())
    if (offset + bytes.length > Number.MAX_SAFE_INTEGER) r.refuse("Payload", `piece ${i} ends at 2^53 or beyond`)
    pieces.push({ index, offset, bytes })
  }
  return r.end<ToMember>({ _tag: "Data", txn, pieces })
}

const decodeMissing = (r: Reader, txn: ToSender["txn"]) => {
  const n = r.u8()
  if (n > MAX_SPANS) r.refuse("Payload", `${n} spans (at most ${MAX_SPANS})`)
  const spans: Array<Span> = []
  for (let i = 0; i < n && r.error === undefined; i++) {
    const index = r.u32()
    const offset = r.u64("offset", "span", i)
    const length = r.u64("length", "span", i)
    if (offset + length > Number.MAX_SAFE_INTEGER) r.refuse("Payload", `span ${i} ends at 2^53 or beyond`)
    spans.push({ index, offset, length })
  }
  return r.end<ToSender>({ _tag: "Missing", txn, spans })
}

/** MISSING_DIGESTS: a Missing of no spans that asks for digests, at least one. */
const decodeMissingDigests = (r: Reader, txn: ToSender["txn"]) => {
  const d = r.u8()
  if (d === 0 || d > MAX_DIGEST_ASKS) r.refuse("Payload", `${d} digests asked (1 to ${MAX_DIGEST_ASKS})`)
  const digests: Array<number> = []
  for (let i = 0; i < d && r.error === undefined; i++) digests.push(r.u32())
  return r.end<ToSender>({ _tag: "Missing", txn, spans: [], digests })
}

const decodeDigests = (r: Reader, txn: ToMember["txn"]) => {
  const n = r.u8()
  const indices: Array<number> = []
  for (let i = 0; i < n && r.error === undefined; i++) indices.push(r.u32())
  // one copy for the datagram, as a Manifest's digests: a member keeps each until its file is staged
  const shared = r.bytes(DIGEST_BYTES * n).slice()
  const entries: Array<FileDigest> = indices.map((index, k) => ({ index, digest: shared.subarray(DIGEST_BYTES * k, DIGEST_BYTES * (k + 1)) }))
  return r.end<ToMember>({ _tag: "Digests", txn, entries })
}

const decodeFailed = (r: Reader, txn: ToSender["txn"]) => {
  const count = r.u32()
  const n = r.u8()
  if (n > MAX_FAILURES || n > count) r.refuse("Payload", `${n} failures listed of ${count} (at most ${MAX_FAILURES})`)
  const failures: Array<Failure> = []
  for (let i = 0; i < n && r.error === undefined; i++) {
    const index = r.u32()
    failures.push({ index: index === SCAN_INDEX ? -1 : index, errno: r.u32() })
  }
  return r.end<ToSender>({ _tag: "Failed", txn, failures, count })
}

/** The body of a frame whose message type is `type`, one of `TransferType`. */
export const decode = (type: number, body: Uint8Array): Either.Either<TransferMessage, MalformedDatagram> => {
  const r = reader.reset(body)
  if (body.length < TXN) r.refuse("TooShort", `${body.length} bytes, a transaction message needs at least ${TXN}`)
  const txn = r.u64("transaction id") as ToMember["txn"]
  switch (type) {
    case TransferType.MANIFEST:
      return decodeManifest(r, txn)
    case TransferType.DATA:
      return decodeData(r, txn)
    case TransferType.PREPARE:
      return r.end({ _tag: "Prepare", txn, batches: r.u32() })
    case TransferType.DIGESTS:
      return decodeDigests(r, txn)
    case TransferType.PROBE:
      return r.end({ _tag: "Probe", txn, seq: r.u32() })
    case TransferType.PROGRESS: {
      const seq = r.u32()
      return r.end({ _tag: "Progress", txn, seq, received: r.u64("received") })
    }
    case TransferType.NEEDS: {
      const batch = r.u32()
      // copies: the sender keeps a batch's bitmaps until every member has answered
      const bitmap = r.bytes(r.u16()).slice()
      return r.end({ _tag: "Needs", txn, batch, bitmap, changes: r.bytes(r.u16()).slice() })
    }
    case TransferType.MISSING:
      return decodeMissing(r, txn)
    case TransferType.MISSING_DIGESTS:
      return decodeMissingDigests(r, txn)
    case TransferType.FAILED:
      return decodeFailed(r, txn)
    case TransferType.COMMITTED:
      return r.end({ _tag: "Committed", txn, errno: r.u32() })
    case TransferType.REMOVALS:
      return decodeRemovals(r, txn)
    default: {
      const tag = txnOnlyByType.get(type)
      return tag === undefined ? Either.left(new MalformedDatagram({ reason: "Type", detail: `transaction message type ${type}` })) : r.end({ _tag: tag, txn })
    }
  }
}
