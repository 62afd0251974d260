/**
 * The messages of a native tree transaction (docs/transactions.md), as values: the codec in
 * `src/protocol/native/` turns them into bytes. Entries are numbered by their position in the manifest.
 */
import type { Brand } from "effect"

/** 64-bit on the wire, unique per sender epoch; below 2^53 here. */
export type TxnId = number & Brand.Brand<"TxnId">

export type EntryType = "file" | "directory" | "symlink"

/**
 * A modification time to the nanosecond as two numbers rather than a bigint: both are exact in a double
 * (seconds below 2^53, nanoseconds below 10^9), comparing costs no allocation on the per-file path, and the
 * codec writes them as i64 + u32.
 */
export interface Mtime {
  readonly sec: number
  readonly nsec: number
}

export interface Entry {
  /** Relative to the base. */
  readonly path: string
  readonly type: EntryType
  /** Bytes, exact up to 2^53 − 1 (no file is larger). */
  readonly size: number
  readonly mode: number
  readonly uid: number
  readonly gid: number
  readonly mtime: Mtime
  /** A symlink's target. */
  readonly target?: string
  /**
   * SHA-256 of a file's contents, only where a member needs it to decide what to take (`--checksum`) or to compare
   * (`check`). A send's staged temp is checked against it, or, without it, against the digest `Digests` brings
   * after the file's data.
   */
  readonly digest?: Uint8Array
}

/** A range of an entry's contents: whole blocks, only an entry's last block is short. */
export interface Span {
  readonly index: number
  readonly offset: number
  readonly length: number
}

export interface Piece {
  readonly index: number
  readonly offset: number
  readonly bytes: Uint8Array
}

/** A file's SHA-256, by its entry's index. */
export interface FileDigest {
  readonly index: number
  readonly digest: Uint8Array
}

export interface Failure {
  /** The entry; -1 for the member's scan for removals. */
  readonly index: number
  readonly errno: number
}

/**
 * What a member scans for removals under `--delete` (carried by the manifest's first batch): the paths the job
 * sends (relative to the base; none: the whole base) and its exclude patterns (`store/exclude.ts`), which the
 * scan spares as the sender's walk skipped them.
 */
export interface Scope {
  readonly roots: ReadonlyArray<string>
  readonly excludes: ReadonlyArray<string>
  /** `sync`: the roots are paths gone at the sender; each is removed itself (whole), nothing is scanned below one. */
  readonly named?: true
}

/**
 * What a transaction is for, besides a send (absent): `dryRun` (`send -n`): members say what they would change
 * and stage nothing; `check`: members compare each file's size and SHA-256 with the manifest's and stage nothing.
 * Neither ever commits: the sender ends it with `Abort` once everyone has voted.
 */
export type Purpose = "dryRun" | "check"

/** Sender → group. */
export type ToMember =
  | {
    readonly _tag: "Manifest"
    readonly txn: TxnId
    readonly batch: number
    readonly first: number
    readonly entries: ReadonlyArray<Entry>
    readonly last: boolean
    /** `--delete`: what the member has under the job and the manifest lacks goes in the same switch. */
    readonly delete: boolean
    /** Batch 0 under `--delete`: what the member scans. */
    readonly scope?: Scope
    /** Absent: a send. */
    readonly purpose?: Purpose
    /** `--checksum`: a file's contents are needed when its SHA-256 differs from `digest`, whatever its mtime. */
    readonly checksum?: true
  }
  | { readonly _tag: "Data"; readonly txn: TxnId; readonly pieces: ReadonlyArray<Piece> }
  /**
   * After a file's last Data of its first sending: the SHA-256 of the very bytes that went out, hashed as they were
   * read (a manifest entry without a digest); a member stages the file only once it holds it, and checks against it.
   */
  | { readonly _tag: "Digests"; readonly txn: TxnId; readonly entries: ReadonlyArray<FileDigest> }
  | { readonly _tag: "Prepare"; readonly txn: TxnId; readonly batches: number }
  | { readonly _tag: "Commit"; readonly txn: TxnId }
  | { readonly _tag: "Abort"; readonly txn: TxnId }
  /**
   * During the data, every `PROBE_MS` of sending: a member answers `Progress` once it has taken everything sent
   * before it (datagrams of one sender arrive in order), the pacer's news of how far it has got.
   */
  | { readonly _tag: "Probe"; readonly txn: TxnId; readonly seq: number }

/** Member → sender. */
export type ToSender =
  /**
   * Bit i (LSB first of byte i>>3) of `bitmap`: send the contents of entry `first + i` of batch `batch`; of
   * `changes`: the entry changes here (its contents, or only its metadata: a new directory or symlink, a mode,
   * owner or mtime), every bit of `bitmap` included. In a check: `bitmap` the file differs, `changes` it is not
   * the same (differs, missing, or unreadable).
   */
  | { readonly _tag: "Needs"; readonly txn: TxnId; readonly batch: number; readonly bitmap: Uint8Array; readonly changes: Uint8Array }
  /**
   * The blocks still lacking (`spans`), or, once none is, the entries whose contents are all in but whose digest
   * (`Digests`) never came (`digests`, their indices): one or the other, never both.
   */
  | { readonly _tag: "Missing"; readonly txn: TxnId; readonly spans: ReadonlyArray<Span>; readonly digests?: ReadonlyArray<number> }
  | { readonly _tag: "Busy"; readonly txn: TxnId }
  | { readonly _tag: "Prepared"; readonly txn: TxnId }
  | { readonly _tag: "Failed"; readonly txn: TxnId; readonly failures: ReadonlyArray<Failure>; readonly count: number }
  | { readonly _tag: "Committed"; readonly txn: TxnId; readonly errno: number }
  | { readonly _tag: "Aborted"; readonly txn: TxnId }
  /** The daemon's answer to anything but a Manifest of a transaction it does not hold (it restarted). */
  | { readonly _tag: "Unknown"; readonly txn: TxnId }
  /**
   * Under `--delete`, sent before each `Prepared`: paths `first…first+n−1` of the `total` the member removes if it
   * commits (one datagram each; `total` 0: it removes nothing).
   */
  | { readonly _tag: "Removals"; readonly txn: TxnId; readonly total: number; readonly first: number; readonly paths: ReadonlyArray<string> }
  /** The answer to `Probe` `seq`: the bytes of Data contents the member has received in the transaction so far. */
  | { readonly _tag: "Progress"; readonly txn: TxnId; readonly seq: number; readonly received: number }

const toSenderTags: ReadonlySet<string> = new Set<ToSender["_tag"]>(["Needs", "Missing", "Busy", "Prepared", "Failed", "Committed", "Aborted", "Unknown", "Removals", "Progress"])
/** A member's answer to a transaction's sender; the rest goes to members. */
export const isToSender = (m: ToMember | ToSender): m is ToSender => toSenderTags.has(m._tag)

/** Spans a `Missing` names at most: the rest are asked for in answer to the next `Prepare`. */
export const MAX_SPANS = 64
/** Digests a `Missing` asks for at most: the rest are asked for in answer to the next `Prepare`. */
export const MAX_DIGEST_ASKS = 64
/** Failures a `Failed` vote lists at most (`count` has them all). */
export const MAX_FAILURES = 32

export const hasBit = (bitmap: Uint8Array, i: number): boolean => ((bitmap[i >> 3] ?? 0) & (1 << (i & 7))) !== 0
export const setBit = (bitmap: Uint8Array, i: number): void => void (bitmap[i >> 3] = bitmap[i >> 3]! | (1 << (i & 7)))
export const bitmapFor = (n: number): Uint8Array => new Uint8Array((n + 7) >> 3)

/** How many blocks of `block` bytes an entry's contents take. */
export const blocksOf = (size: number, block: number): number => Math.ceil(size / block)
