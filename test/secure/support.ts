import { type Aead, addonAead, nodeCryptoAead } from "../../src/secure/aead.js"
import type { KeyRing } from "../../src/secure/keyFile.js"
import { generateKey, type GroupKey } from "../../src/secure/keys.js"

const addon = addonAead()

/** Both engines where the addon is built (and not refused by MAKUO_IO=dgram), else node:crypto alone. */
export const engines: ReadonlyArray<Aead> = typeof addon === "string"
  ? [nodeCryptoAead as Aead]
  : [nodeCryptoAead as Aead, addon as Aead]

/** Every pair (sealing engine, opening engine). */
export const enginePairs: ReadonlyArray<readonly [Aead, Aead]> = engines.flatMap((a) => engines.map((b) => [a, b] as const))

export const ringOf = (...keys: ReadonlyArray<GroupKey>): KeyRing => ({
  sending: keys[0]!,
  accepted: new Map(keys.map((k) => [k.id, k]))
})

export { generateKey }
