/**
 * The key schedule. Each group key has one header key, derived once, under which every frame's header carries a
 * short MAC (frame.ts): a receiver checks it before it spends a derivation on an epoch it does not know.
 *
 * Every sender epoch (one daemon run, or until a rotation) seals under a traffic key of its
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
export const HEADER_KEY_LABEL = "makuo native v3 header key"

export const newEpochId = (): Uint8Array => new Uint8Array(randomBytes(EPOCH_ID_BYTES))

/** The label, then the key id: keys of different ids or purposes never coincide. */
const infoOf = (label: string, group: GroupKey): Buffer => {
  const info = Buffer.alloc(label.length + 4)
  info.write(label, 0, "latin1")
  info.writeUInt32BE(group.id, label.length)
  return info
}

export const trafficKey = (group: GroupKey, epochId: Uint8Array): Uint8Array =>
  new Uint8Array(hkdfSync("sha256", group.secret, epochId, infoOf(TRAFFIC_KEY_LABEL, group), TRAFFIC_KEY_BYTES))

/** The group key's header key: HKDF-SHA256 with an empty salt and its own label, so no traffic key equals it. */
export const headerKey = (group: GroupKey): Uint8Array =>
  new Uint8Array(hkdfSync("sha256", group.secret, new Uint8Array(0), infoOf(HEADER_KEY_LABEL, group), TRAFFIC_KEY_BYTES))
