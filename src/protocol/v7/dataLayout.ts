/**
 * The v7 DATA datagram in place, for the hot path on both ends: the sender lays out a burst of datagrams back to
 * back in one buffer (header, block, header, block, ...) without a `Message` per block; the receiver recognises
 * a DATA request and reads its request id and block number from the bytes without decoding a `Message`. Both
 * agree byte for byte with `codec.ts` (tested).
 */
import { BLOCK_SIZE, Flag, HEADER_SIZE, MAX_PAYLOAD, Opcode, PROTOCOL_VERSION, SendState } from "./constants.js"

/** One full DATA datagram: header and a whole block. A burst's datagrams are this long, but the last. */
export const DATA_SEGMENT = HEADER_SIZE + BLOCK_SIZE

/**
 * Writes at `at` the header of the DATA datagram of `block`, `length` bytes long: `template` (the transfer's DATA
 * header, as `v7.encode` writes it with an empty block) with this block's length and number.
 */
export const writeDataHeader = (out: Uint8Array, at: number, template: Uint8Array, block: number, length: number): void => {
  out.set(template, at)
  out[at + 4] = length >>> 8
  out[at + 5] = length & 0xff
  out[at + 12] = block >>> 24
  out[at + 13] = (block >>> 16) & 0xff
  out[at + 14] = (block >>> 8) & 0xff
  out[at + 15] = block & 0xff
}

const u32At = (b: Uint8Array, o: number) => ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0

/**
 * Whether `bytes` is a well-formed, unencrypted DATA request for the group whose `maddr` and `mport` header bytes
 * are `groupBytes` (6 bytes: the address, then the port, as on the wire). Anything else goes the general way.
 */
export const isDataRequest = (bytes: Uint8Array, groupBytes: Uint8Array): boolean => {
  if (bytes.length < HEADER_SIZE || bytes[0] !== PROTOCOL_VERSION || bytes[1] !== Opcode.SEND || bytes[2] !== SendState.DATA) return false
  const flags = (bytes[6]! << 8) | bytes[7]!
  if ((flags & (Flag.ACK | Flag.CRYPT)) !== 0) return false
  const szdata = (bytes[4]! << 8) | bytes[5]!
  if (szdata > MAX_PAYLOAD || bytes.length !== HEADER_SIZE + szdata) return false
  for (let i = 0; i < 6; i++) if (bytes[16 + i] !== groupBytes[i]) return false
  return true
}

export const dataReqId = (bytes: Uint8Array) => u32At(bytes, 8)
export const dataBlock = (bytes: Uint8Array) => u32At(bytes, 12)
export const dataFlags = (bytes: Uint8Array) => (bytes[6]! << 8) | bytes[7]!
