/**
 * The SHA-256 of each entry a send hashed, by entry index, held until the transaction ends (a member may ask for
 * one again in its `Missing`). Kept in slabs of `SLAB` digests, 32 bytes each and a byte saying it is known: a
 * digest of its own (a `Uint8Array` with its own buffer, ~200 bytes with the buffer's bookkeeping, one more object
 * for every collection to copy) per file of a tree of small files was a large part of what a send held per entry
 * and of its collections' work.
 */
import { SHA256_BYTES } from "../../sha256.js"

const SLAB = 1024

export interface DigestStore {
  /**
   * Keeps the digest of entry `index`, the 32 bytes of `from` at `at` (a copy), not yet known (`know`): a file read
   * whole before its last piece is out.
   */
  readonly put: (index: number, from: Uint8Array, at?: number) => void
  /** The digest put for entry `index` is known: its bytes have all gone out. */
  readonly know: (index: number) => void
  readonly known: (index: number) => boolean
  /** The digest of entry `index`, known: a view of the slab, valid as long as the store. */
  readonly get: (index: number) => Uint8Array
}

export const makeDigestStore = (): DigestStore => {
  const slabs: Array<{ readonly bytes: Uint8Array; readonly known: Uint8Array }> = []
  const slab = (index: number) => {
    const at = Math.floor(index / SLAB)
    while (slabs.length <= at) slabs.push({ bytes: new Uint8Array(SLAB * SHA256_BYTES), known: new Uint8Array(SLAB) })
    return slabs[at]!
  }
  return {
    put: (index, from, at = 0) => {
      // byte by byte: a view of `from` to copy would be an object per digest
      const { bytes } = slab(index)
      const to = (index % SLAB) * SHA256_BYTES
      for (let i = 0; i < SHA256_BYTES; i++) bytes[to + i] = from[at + i]!
    },
    know: (index) => void (slab(index).known[index % SLAB] = 1),
    known: (index) => slabs[Math.floor(index / SLAB)]?.known[index % SLAB] === 1,
    get: (index) => {
      const at = (index % SLAB) * SHA256_BYTES
      return slab(index).bytes.subarray(at, at + SHA256_BYTES)
    }
  }
}
