/**
 * makuosan's `-k` "encryption" (makuosan-v7.md §7, test/vectors/README.md C12): Blowfish with a never-set, all-zero key, which reduces
 * to swapping the 4-byte halves of every 8-byte block, plus an unkeyed MD5 of the plaintext in the header.
 * It is wire compatibility only — it protects nothing.
 */
import { createHash } from "node:crypto"

export const paddedLength = (size: number): number => (size + 7) & ~7

/** Swaps the halves of each 8-byte block of `input` into `output` (both of a length that is a multiple of 8). */
export const swapHalves = (input: Uint8Array, output: Uint8Array): void => {
  for (let i = 0; i + 8 <= input.length; i += 8) {
    for (let k = 0; k < 4; k++) {
      const a = input[i + k]!
      output[i + k] = input[i + 4 + k]!
      output[i + 4 + k] = a
    }
  }
}

export const md5 = (bytes: Uint8Array): Uint8Array => new Uint8Array(createHash("md5").update(bytes).digest())
