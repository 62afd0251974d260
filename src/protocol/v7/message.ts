/**
 * The domain model of a makuosan v7 datagram: a header and a payload whose kind follows from the header
 * (see `payloadKind`). Schemas carry the wire limits, so `Arbitrary` generates only encodable messages.
 */
import { Schema } from "effect"
import { Ipv4, MAX_HOSTNAME, MAX_VERSION, ReqId, U16, U32, U8, WireName } from "../fields.js"
import { utf8Length } from "../text.js"
import { MAX_PAYLOAD, MSTAT_FIXED } from "./constants.js"

const Bytes = (maxLength: number) =>
  Schema.Uint8ArrayFromSelf.pipe(
    Schema.filter((b) => b.length <= maxLength, { message: () => `expected at most ${maxLength} bytes` }),
    Schema.annotations({ arbitrary: () => (fc) => fc.uint8Array({ maxLength: Math.min(maxLength, 64) }) })
  )

export const Md5Digest = Schema.Uint8ArrayFromSelf.pipe(
  Schema.filter((b) => b.length === 16, { message: () => "expected 16 bytes" }),
  Schema.annotations({ arbitrary: () => (fc) => fc.uint8Array({ minLength: 16, maxLength: 16 }) })
)

export const Header = Schema.Struct({
  opcode: U8,
  /** A send state in requests, a receive state in ACKs. */
  nstate: U8,
  ostate: U8,
  flags: U16,
  reqid: ReqId,
  seqno: U32,
  maddr: Ipv4,
  mport: U16,
  error: U32,
  /** MD5 of the plaintext payload with CRYPT, 16 zero bytes otherwise. */
  hash: Md5Digest
})
export type Header = typeof Header.Type

// == payloads (makuosan-v7.md §2.7)

/** PING, PONG, keep-alive, EXIT. */
export const Mping = Schema.TaggedStruct("Mping", {
  hostname: WireName(MAX_HOSTNAME),
  version: WireName(MAX_VERSION)
})

/** SEND STAT/OPEN: the entry's metadata (uid/gid are 16 bits on the wire). */
export const Mstat = Schema.TaggedStruct("Mstat", {
  mode: U32,
  uid: U16,
  gid: U16,
  size: Schema.Int.pipe(Schema.between(0, Number.MAX_SAFE_INTEGER)),
  mtime: U32,
  ctime: U32,
  path: WireName(MAX_PAYLOAD - MSTAT_FIXED),
  linkTarget: WireName(MAX_PAYLOAD - MSTAT_FIXED),
  rdevHigh: U32,
  rdevLow: U32
}).pipe(
  Schema.filter((m) => MSTAT_FIXED + utf8Length(m.path) + utf8Length(m.linkTarget) <= MAX_PAYLOAD, {
    message: () => "path and link target exceed one payload"
  })
)

/** SEND DATA: block `seqno` of the file. */
export const DataBlock = Schema.TaggedStruct("DataBlock", { bytes: Bytes(MAX_PAYLOAD) })

/** Half-open block range `[low, high)`. */
export const BlockRange = Schema.Tuple(U32, U32)
export type BlockRange = typeof BlockRange.Type

/** NAK (SEND OPEN ACK during DATA) and MARK ACK: missing block ranges. */
export const Ranges = Schema.TaggedStruct("Ranges", {
  ranges: Schema.Array(BlockRange).pipe(Schema.maxItems(MAX_PAYLOAD / 8))
})

/** MD5 OPEN/CLOSE: the sender's digest of the file. */
export const Mhash = Schema.TaggedStruct("Mhash", {
  digest: Md5Digest,
  path: WireName(MAX_PAYLOAD - 18)
})

/** DSYNC OPEN: `.` or `./<path>`. */
export const DsyncPath = Schema.TaggedStruct("DsyncPath", { path: WireName(MAX_PAYLOAD) })

/**
 * DSYNC DATA: exclude patterns; an empty list is the terminator. As many as fit the payload: makuosan packs them
 * by bytes (341 one-byte patterns in one datagram are well-formed), so the receiver bounds them per session.
 */
export const ExcludePatterns = Schema.TaggedStruct("ExcludePatterns", {
  patterns: Schema.Array(WireName(MAX_PAYLOAD - 2))
}).pipe(
  Schema.filter((p) => p.patterns.reduce((n, s) => n + 2 + utf8Length(s), 0) <= MAX_PAYLOAD, {
    message: () => "patterns exceed one payload"
  })
)

/** One DEL record: `value` is st_mode (DEL OPEN), 0 (OPEN ACK) or errno (DEL DATA). */
export const DelRecord = Schema.Struct({ value: U32, path: WireName(MAX_PAYLOAD - 6) })
export type DelRecord = typeof DelRecord.Type

/** DEL OPEN/DATA: as many records as fit the payload (makuosan's batches are cut by bytes only). */
export const DelRecords = Schema.TaggedStruct("DelRecords", {
  records: Schema.Array(DelRecord)
}).pipe(
  Schema.filter((p) => p.records.reduce((n, r) => n + 6 + utf8Length(r.path), 0) <= MAX_PAYLOAD, {
    message: () => "records exceed one payload"
  })
)

/** Bytes nobody interprets: makuosan's stale payloads (test/vectors/README.md C2), empty ACK payloads, unknown opcodes. */
export const Opaque = Schema.TaggedStruct("Opaque", { bytes: Bytes(MAX_PAYLOAD) })

export const Payload = Schema.Union(Mping, Mstat, DataBlock, Ranges, Mhash, DsyncPath, ExcludePatterns, DelRecords, Opaque)
export type Payload = typeof Payload.Type
export type PayloadTag = Payload["_tag"]
export type PayloadOf<T extends PayloadTag> = Extract<Payload, { readonly _tag: T }>

export const Message = Schema.Struct({ header: Header, payload: Payload })
export type Message = typeof Message.Type

export const emptyPayload: PayloadOf<"Opaque"> = Opaque.make({ bytes: new Uint8Array(0) })
