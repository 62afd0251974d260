import { describe, expect, it } from "@effect/vitest"
import { addonAead } from "../../src/secure/aead.js"
import { frameBytes, MAX_FRAME_BYTES } from "../../src/secure/frame.js"
import { headerKey, trafficKey } from "../../src/secure/trafficKeys.js"
import { generateKey } from "./support.js"

const addon = addonAead()

/** Per-frame keys (undefined: none) as `open` takes them: the distinct ones, and each frame's index plus one. */
const byIndex = <K>(given: ReadonlyArray<K | undefined>) => {
  const keys: Array<K> = []
  const which = Uint32Array.from(given, (k) => {
    if (k === undefined) return 0
    if (!keys.includes(k)) keys.push(k)
    return keys.indexOf(k) + 1
  })
  return { keys, which }
}

describe.skipIf(typeof addon === "string")("the addon's AEAD engine", () => {
  const engine = addon as Exclude<typeof addon, string>
  const group = generateKey()
  const secret = trafficKey(group, new Uint8Array(16))
  const key = engine.key(secret, "seal")
  const opener = engine.key(secret, "open")
  const header = engine.headerKey(headerKey(group))

  it("refuses a frame longer than a UDP payload, sealing or opening, with an error and no crash", () => {
    const slab = new Uint8Array(frameBytes(MAX_FRAME_BYTES) + 64)
    const tooLong = MAX_FRAME_BYTES + 1
    expect(() => engine.seal(key, slab, Uint32Array.of(0), Uint32Array.of(tooLong), 1, header)).toThrow(/at most 65535 bytes/)
    expect(() => engine.open([opener], Uint32Array.of(1), slab, Uint32Array.of(0), Uint32Array.of(tooLong), 1, new Uint8Array(1))).toThrow(/at most 65535 bytes/)
    // a length beyond INT_MAX: refused before anything is cast for OpenSSL
    expect(() => engine.open([opener], Uint32Array.of(1), slab, Uint32Array.of(0), Uint32Array.of(0xffff_fff0), 1, new Uint8Array(1))).toThrow(TypeError)
    // the largest frame still works
    const payload = MAX_FRAME_BYTES - frameBytes(0)
    engine.seal(key, slab, Uint32Array.of(0), Uint32Array.of(payload), 1, header)
    const ok = new Uint8Array(1)
    engine.open([opener], Uint32Array.of(1), slab, Uint32Array.of(0), Uint32Array.of(MAX_FRAME_BYTES), 1, ok)
    expect(ok[0]).toBe(1)
  })

  it("a receiver's key has no sealing context, and a sender's opens nothing", () => {
    const slab = new Uint8Array(frameBytes(10))
    expect(() => engine.seal(opener, slab, Uint32Array.of(0), Uint32Array.of(10), 1, header)).toThrow(TypeError)
    // nor is a header key taken for a traffic key, or the other way round
    expect(() => engine.seal(key, slab, Uint32Array.of(0), Uint32Array.of(10), 1, key)).toThrow(TypeError)
    expect(() => engine.headerOk(key, slab)).toThrow(TypeError)
    engine.seal(key, slab, Uint32Array.of(0), Uint32Array.of(10), 1, header)
    expect(engine.headerOk(header, slab)).toBe(true)
    const ok = Uint8Array.of(1)
    engine.open([key], Uint32Array.of(1), slab.slice(), Uint32Array.of(0), Uint32Array.of(slab.length), 1, ok)
    expect(ok[0]).toBe(0)
    engine.open([opener], Uint32Array.of(1), slab, Uint32Array.of(0), Uint32Array.of(slab.length), 1, ok)
    expect(ok[0]).toBe(1)
  })

  it("opens each frame of a batch with its own key, whatever the one before it: a repeated key, another epoch's, none, a header key", () => {
    const other = trafficKey(group, new Uint8Array(16).fill(1))
    const [sealA, sealB] = [key, engine.key(other, "seal")]
    const [openA, openB] = [opener, engine.key(other, "open")]
    const sealedBy = [sealA, sealA, sealB, sealB, sealA, sealA, sealA, sealB]
    const given = [openA, openA, openB, openA, undefined, header, openA, openB]
    const size = frameBytes(20)
    const slab = new Uint8Array(size * sealedBy.length)
    const starts = Uint32Array.from(sealedBy, (_, i) => i * size)
    sealedBy.forEach((k, i) => engine.seal(k, slab, starts.subarray(i, i + 1), Uint32Array.of(20), 1, header))
    const ok = new Uint8Array(sealedBy.length).fill(7)
    const { keys, which } = byIndex<object>(given)
    engine.open(keys, which, slab, starts, new Uint32Array(sealedBy.length).fill(size), sealedBy.length, ok)
    expect([...ok]).toEqual([1, 1, 1, 0, 0, 0, 1, 1])
  })

  it("opens a batch of more distinct keys than the addon keeps on its stack, and opens nothing for an index past the keys", () => {
    const secrets = Array.from({ length: 40 }, (_, i) => trafficKey(group, new Uint8Array(16).fill(i)))
    const size = frameBytes(20)
    const slab = new Uint8Array(size * (secrets.length + 1))
    const starts = Uint32Array.from({ length: secrets.length + 1 }, (_, i) => i * size)
    secrets.forEach((s, i) => engine.seal(engine.key(s, "seal"), slab, starts.subarray(i, i + 1), Uint32Array.of(20), 1, header))
    engine.seal(key, slab, starts.subarray(secrets.length), Uint32Array.of(20), 1, header)
    // every frame its own key, in reverse order; the last frame names an index one past the keys
    const keys = secrets.map((s) => engine.key(s, "open")).reverse()
    const which = Uint32Array.from({ length: secrets.length + 1 }, (_, i) => (i < secrets.length ? secrets.length - i : secrets.length + 1))
    const ok = new Uint8Array(secrets.length + 1).fill(7)
    engine.open(keys, which, slab, starts, new Uint32Array(secrets.length + 1).fill(size), secrets.length + 1, ok)
    expect([...ok]).toEqual([...new Array(secrets.length).fill(1), 0])
  })
})
