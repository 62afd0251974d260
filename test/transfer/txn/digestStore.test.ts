/**
 * A send's digests by entry index (`digestStore.ts`): a digest put is not known until it is said to be (its file's
 * last piece out), is a copy (the reader's buffer is reused), and entries far apart (other slabs) keep their own.
 */
import { describe, expect, it } from "@effect/vitest"
import { makeDigestStore } from "../../../src/transfer/txn/digestStore.js"

const digest = (seed: number) => Uint8Array.from({ length: 32 }, (_, i) => (seed * 7 + i) & 0xff)

describe("a send's digests", () => {
  it("are known once said, copies of what was put, each entry its own across slabs", () => {
    const store = makeDigestStore()
    const indices = [0, 1, 1023, 1024, 5000]
    const reused = new Uint8Array(64)
    for (const index of indices) {
      reused.set(digest(index), 16)
      store.put(index, reused.subarray(16, 48))
    }
    reused.fill(0)
    for (const index of indices) expect(store.known(index)).toBe(false)
    expect(store.known(99_999)).toBe(false)
    for (const index of indices) store.know(index)
    for (const index of indices) {
      expect(store.known(index)).toBe(true)
      expect(store.get(index)).toEqual(digest(index))
    }
    expect(store.known(2)).toBe(false)
    // put again (a file read again before its last piece went out): the later bytes
    store.put(1, digest(42))
    expect(store.get(1)).toEqual(digest(42))
  })
})
