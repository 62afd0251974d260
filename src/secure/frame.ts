/**
 * The native frame: a 52-byte header sent in clear and authenticated as AEAD associated data, then the
 * AES-256-GCM ciphertext of the payload (a 1-byte message type and the message's body), then the 16-byte tag.
 * docs/protocol.md gives the layout and the reasons for it.
 *
 *   0  1  magic 0x4D ('M'): never 7, so makuosan and v7 daemons drop native datagrams unread
 *   1  1  version 4 (this layout, AES-256-GCM, header MAC; this release's message set)
 *   2  4  key id, big-endian
 *   6 16  sender epoch id
 *  22  8  counter, big-endian: the nonce is 4 zero bytes then these 8
 *  30  8  send time, ms since 1970, big-endian
 *  38  4  destination IPv4 address (the group's for multicast): a frame relayed elsewhere is refused
 *  42  2  destination port, big-endian
 *  44  8  header MAC: HMAC-SHA256 under the group key's header key over bytes 0..21 and 30..43, truncated
 *         (receiver.ts checks it before deriving a new epoch's traffic key; the sealing engine writes it)
 */
import { dottedQuad } from "../net/endpoints.js"
import type { Endpoint } from "../net/Transport.js"
import type { KeyId } from "./keys.js"
import { keyId } from "./keys.js"
import { EPOCH_ID_BYTES } from "./trafficKeys.js"

export const MAGIC = 0x4d
export const VERSION = 4
/**
 * Versions earlier makuo releases spoke: refused as "oldVersion", so an operator knows to upgrade that member. 3 is
 * this layout with the message set before file digests went after the data (docs/protocol.md).
 */
const OLD_VERSIONS: ReadonlySet<number> = new Set([1, 2, 3])
export const HEADER_BYTES = 52
export const HEADER_MAC_BYTES = 8
export const TAG_BYTES = 16
export const NONCE_BYTES = 12
/** The smallest frame: a header, a message type and a tag. */
export const MIN_FRAME_BYTES = HEADER_BYTES + 1 + TAG_BYTES
/** The largest frame: a UDP payload can hold no more, and the addon refuses longer ones. */
export const MAX_FRAME_BYTES = 65_535

export const OFFSET = { magic: 0, version: 1, keyId: 2, epochId: 6, counter: 22, sentAt: 30, destination: 38, port: 42, headerMac: 44 } as const

/**
 * The header bytes the header MAC covers, as [from, to) spans: all but the counter (a batch's frames differ only
 * in it, so a batch needs one MAC) and the MAC itself.
 */
export const HEADER_MAC_SPANS: ReadonlyArray<readonly [number, number]> = [[0, OFFSET.counter], [OFFSET.sentAt, OFFSET.headerMac]]

export interface FrameHeader {
  readonly keyId: KeyId
  /** a view into the datagram */
  readonly epochId: Uint8Array
  readonly counter: number
  readonly sentAt: number
  /** where the sender sent it: the group, or one receiver's unicast endpoint */
  readonly to: Endpoint
}

/**
 * Why a datagram was not even given to the AEAD: its header is not one this daemon can open ("oldVersion": the
 * frame of an earlier makuo release; "outOfRange": a counter or send time of 2^53 or more, which no sender writes
 * and a number would not hold exactly).
 */
export type HeaderRefusal = "tooShort" | "v7" | "notNative" | "oldVersion" | "unknownVersion" | "outOfRange"

/** The first byte of every makuosan protocol-v7 datagram (its version). */
export const V7_VERSION_BYTE = 7

const putU64 = (view: DataView, at: number, n: number): void => {
  view.setUint32(at, Math.floor(n / 2 ** 32))
  view.setUint32(at + 4, n >>> 0)
}

/** A dotted-quad IPv4 address as a number; anything else is 0 (0.0.0.0, never a destination a receiver owns). */
const ipv4 = (address: string): number => {
  const parts = address.split(".")
  if (parts.length !== 4 || !parts.every((p) => /^[0-9]{1,3}$/.test(p) && Number(p) <= 255)) return 0
  return parts.reduce((n, p) => n * 256 + Number(p), 0)
}


const viewOf = (bytes: Uint8Array) => new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)

export const writeHeader = (into: Uint8Array, at: number, header: FrameHeader): void => {
  const view = viewOf(into)
  into[at + OFFSET.magic] = MAGIC
  into[at + OFFSET.version] = VERSION
  view.setUint32(at + OFFSET.keyId, header.keyId)
  into.set(header.epochId.subarray(0, EPOCH_ID_BYTES), at + OFFSET.epochId)
  putU64(view, at + OFFSET.counter, header.counter)
  putU64(view, at + OFFSET.sentAt, header.sentAt)
  view.setUint32(at + OFFSET.destination, ipv4(header.to.address))
  view.setUint16(at + OFFSET.port, header.to.port)
}

/** Sets the counter of the header at `at`. */
export const writeCounter = (into: Uint8Array, at: number, counter: number): void => putU64(viewOf(into), at + OFFSET.counter, counter)

/** Sets the send time of the header at `at`. */
export const writeSentAt = (into: Uint8Array, at: number, sentAt: number): void => putU64(viewOf(into), at + OFFSET.sentAt, sentAt)

/** The big-endian u32 at `at` of `bytes` (read by hand: a receiver reads every datagram's header, a view per datagram costs more). */
export const u32At = (bytes: Uint8Array, at: number): number =>
  bytes[at]! * 0x100_0000 + ((bytes[at + 1]! << 16) | (bytes[at + 2]! << 8) | bytes[at + 3]!)

/** The big-endian u64 at `at` of `bytes`, exact when `headerRefusal` found it below 2^53. */
export const u64At = (bytes: Uint8Array, at: number): number => u32At(bytes, at) * 2 ** 32 + u32At(bytes, at + 4)

/** Whether the headers at `a` and `b` of `slab` agree on the bytes [from, to) of a header. */
export const sameBytes = (slab: Uint8Array, a: number, b: number, from: number, to: number): boolean => {
  for (let k = from; k < to; k++) if (slab[a + k] !== slab[b + k]) return false
  return true
}

/**
 * Why the frame of `length` bytes at `at` of `slab` cannot be opened (its header's shape), or undefined: what
 * `readHeader` refuses, judged without allocating anything, so a receiver reads the fields it needs in place.
 */
export const headerRefusal = (slab: Uint8Array, at: number, length: number): HeaderRefusal | undefined => {
  if (length > 0 && slab[at + OFFSET.magic] !== MAGIC) return slab[at] === V7_VERSION_BYTE ? "v7" : "notNative"
  // the version first: an earlier release's smallest frames are shorter than this one's
  const version = length > OFFSET.version ? slab[at + OFFSET.version]! : undefined
  if (version !== undefined && version !== VERSION) return OLD_VERSIONS.has(version) ? "oldVersion" : "unknownVersion"
  if (length < MIN_FRAME_BYTES) return "tooShort"
  // a high word of 2^21 or more: 2^53 or more
  if (u32At(slab, at + OFFSET.counter) >= 2 ** 21 || u32At(slab, at + OFFSET.sentAt) >= 2 ** 21) return "outOfRange"
  return undefined
}

export const readHeader = (datagram: Uint8Array): FrameHeader | HeaderRefusal => {
  const refusal = headerRefusal(datagram, 0, datagram.length)
  if (refusal !== undefined) return refusal
  const view = viewOf(datagram)
  return {
    keyId: keyId(view.getUint32(OFFSET.keyId)),
    epochId: datagram.subarray(OFFSET.epochId, OFFSET.epochId + EPOCH_ID_BYTES),
    counter: u64At(datagram, OFFSET.counter),
    sentAt: u64At(datagram, OFFSET.sentAt),
    to: { address: dottedQuad(view.getUint32(OFFSET.destination)), port: view.getUint16(OFFSET.port) }
  }
}

/** The AEAD nonce of a frame: 4 zero bytes, then the header's counter bytes (RFC 5116 §3.2). */
export const nonceOf = (frame: Uint8Array, at: number): Uint8Array => {
  const nonce = new Uint8Array(NONCE_BYTES)
  nonce.set(frame.subarray(at + OFFSET.counter, at + OFFSET.counter + 8), 4)
  return nonce
}

/** The size of the frame carrying a payload (message type included) of `payloadBytes`. */
export const frameBytes = (payloadBytes: number): number => HEADER_BYTES + payloadBytes + TAG_BYTES
