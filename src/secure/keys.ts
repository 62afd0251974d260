/** The group keys of native mode: 32 random bytes each, named by a 32-bit id that every datagram carries. */
import { Brand } from "effect"
import { randomBytes } from "node:crypto"

export type KeyId = number & Brand.Brand<"KeyId">
export const keyId = Brand.refined<KeyId>(
  (n) => Number.isInteger(n) && n >= 0 && n <= 0xffff_ffff,
  (n) => Brand.error(`a key id is a 32-bit unsigned integer, not ${n}`)
)

export const KEY_BYTES = 32

export interface GroupKey {
  readonly id: KeyId
  readonly secret: Uint8Array
}

/** A fresh key: a random id (so two operators' keys never need coordinating) and a random secret. */
export const generateKey = (): GroupKey => ({
  id: keyId(randomBytes(4).readUInt32BE(0)),
  secret: new Uint8Array(randomBytes(KEY_BYTES))
})
