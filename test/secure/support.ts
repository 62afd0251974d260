import type { Endpoint } from "../../src/net/Transport.js"
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

/** The receiver's unicast endpoint in these tests, and a sender's. */
export const HERE: Endpoint = { address: "127.0.0.2", port: 8000 }
export const A: Endpoint = { address: "127.0.0.3", port: 8000 }
export const isHere = (to: Endpoint) => to.address === HERE.address && to.port === HERE.port
