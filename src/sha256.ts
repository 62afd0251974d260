/**
 * The SHA-256 of a whole buffer in one call. Node's one-shot `crypto.hash` (Node >= 20.12) makes no Hash object,
 * which for a small file is most of the cost; package.json allows older Node 20 releases, which lack it and take
 * `createHash`.
 */
import * as crypto from "node:crypto"

/** The bytes of a SHA-256. */
export const SHA256_BYTES = 32

type OneShot = (algorithm: string, data: Uint8Array, outputEncoding: "buffer") => Uint8Array

/** `oneShot` is `crypto.hash` where this Node has it (a parameter so both paths can be tested anywhere). */
export const sha256With = (oneShot: OneShot | undefined): (data: Uint8Array) => Uint8Array =>
  oneShot === undefined
    ? (data) => new Uint8Array(crypto.createHash("sha256").update(data).digest())
    : (data) => new Uint8Array(oneShot("sha256", data, "buffer"))

export const sha256 = sha256With((crypto as { readonly hash?: OneShot }).hash)
