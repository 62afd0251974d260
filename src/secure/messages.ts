/**
 * The message types of the native frame's payload (its first byte) that this version knows. The frame is the
 * same for all of them; a later message set is new types, not a new frame.
 *
 * - V7: a makuosan protocol-v7 message, whole, as the body: what every layer above the transport speaks today.
 * - CHALLENGE: "prove that epoch E is your current one": E's key id (4 bytes) and epoch id (16), then a fresh
 *   random 16-byte nonce. Sent to the source of a datagram of an epoch the receiver has not admitted.
 * - ANSWER: the nonce of a CHALLENGE, echoed, sealed in the epoch the challenge named.
 *
 * The native messages above the frame (membership from 0x10) are `protocol/native`'s; the channel delivers their
 * bodies up with their type.
 */
import { type KeyId, keyId } from "./keys.js"
import { EPOCH_ID_BYTES } from "./trafficKeys.js"

export const MessageType = { V7: 1, CHALLENGE: 2, ANSWER: 3 } as const

export const NONCE_BYTES = 16
export const CHALLENGE_BYTES = 4 + EPOCH_ID_BYTES + NONCE_BYTES

export interface Challenge {
  readonly keyId: KeyId
  readonly epochId: Uint8Array
  readonly nonce: Uint8Array
}

export const encodeChallenge = (c: Challenge): Uint8Array => {
  const out = new Uint8Array(CHALLENGE_BYTES)
  new DataView(out.buffer).setUint32(0, c.keyId)
  out.set(c.epochId, 4)
  out.set(c.nonce, 4 + EPOCH_ID_BYTES)
  return out
}

export const decodeChallenge = (body: Uint8Array): Challenge | undefined => {
  if (body.length !== CHALLENGE_BYTES) return undefined
  return {
    keyId: keyId(new DataView(body.buffer, body.byteOffset, body.byteLength).getUint32(0)),
    epochId: body.slice(4, 4 + EPOCH_ID_BYTES),
    nonce: body.slice(4 + EPOCH_ID_BYTES)
  }
}
