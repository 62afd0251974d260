import { describe, expect, it } from "@effect/vitest"
import * as crypto from "node:crypto"
import { sha256, sha256With } from "../src/sha256.js"

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex")
// FIPS 180-2, appendix B.1, and the empty message
const vectors = [
  ["abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"],
  ["", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"]
] as const

describe("sha256", () => {
  const oneShot = (crypto as { readonly hash?: Parameters<typeof sha256With>[0] }).hash
  const paths = [["createHash (Node 20 before 20.12)", sha256With(undefined)], ["this Node's", sha256]] as const
  for (const [name, hash] of [...paths, ...(oneShot === undefined ? [] : [["crypto.hash", sha256With(oneShot)] as const])]) {
    it(`${name}: the standard's vectors, as a plain Uint8Array of 32 bytes`, () => {
      for (const [message, digest] of vectors) {
        const d = hash(new TextEncoder().encode(message))
        expect(hex(d)).toBe(digest)
        expect(d.constructor).toBe(Uint8Array)
      }
    })
  }
  it("hashes exactly the view it is given (a subarray of a larger buffer)", () => {
    const whole = crypto.randomBytes(4096)
    expect(hex(sha256(whole.subarray(100, 2660)))).toBe(crypto.createHash("sha256").update(whole.subarray(100, 2660)).digest("hex"))
  })
})
