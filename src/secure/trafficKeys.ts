/**
 * The key schedule. Every sender epoch (one daemon run, or until a rotation) seals under a traffic key of its
 * own, derived with HKDF-SHA256 (RFC 5869) from the group key, with the epoch's random 16-byte id as the salt
 * and a label plus the key id as the info. A fresh random epoch id per start makes each traffic key new, so a
 * counter that restarts at 0 never repeats a (key, nonce) pair: the nonce only has to be unique within one
 * epoch, which the sender's 64-bit counter makes it.
 */
import { hkdfSync, randomBytes } from "node:crypto"
import type { GroupKey } from "./keys.js"

export const EPOCH_ID_BYTES = 16
export const TRAFFIC_KEY_BYTES = 32
export const TRAFFIC_KEY_LABEL = "makuo native v1 traffic key"

export const newEpochId = (): Uint8Array => new Uint8Array(randomBytes(EPOCH_ID_BYTES))

export const trafficKey = (group: GroupKey, epochId: Uint8Array): Uint8Array => {
  const info = Buffer.alloc(TRAFFIC_KEY_LABEL.length + 4)
  info.write(TRAFFIC_KEY_LABEL, 0, "latin1")
  info.writeUInt32BE(group.id, TRAFFIC_KEY_LABEL.length)
  return new Uint8Array(hkdfSync("sha256", group.secret, epochId, info, TRAFFIC_KEY_BYTES))
}
