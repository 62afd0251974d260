import { describe, expect, it } from "@effect/vitest"
import { Either, FastCheck as fc, Schema } from "effect"
import { HEADER_SIZE } from "../../../src/protocol/v7/constants.js"
import { decode, DatagramV7, encode } from "../../../src/protocol/v7/codec.js"
import { message } from "../../support/messages.js"

const runs = { fastCheck: { numRuns: Number(process.env.MAKUO_PROP_RUNS ?? 500) } }

/** Every value reachable from a decoded message is inside the datagram's own bytes (no out-of-bounds view). */
const viewsInside = (value: unknown, bytes: Uint8Array): boolean => {
  if (value instanceof Uint8Array) {
    return value.buffer !== bytes.buffer ||
      (value.byteOffset >= bytes.byteOffset && value.byteOffset + value.length <= bytes.byteOffset + bytes.length)
  }
  if (typeof value === "object" && value !== null) return Object.values(value).every((v) => viewsInside(v, bytes))
  return true
}

describe("v7 codec properties", () => {
  it.prop("encode then decode is the identity", [message], ([m]) => {
    const bytes = Either.getOrThrow(encode(m))
    expect(Either.getOrThrow(decode(bytes))).toEqual(m)
  }, runs)

  it.prop("the Schema transform agrees with the raw codec", [message], ([m]) => {
    const bytes = Schema.encodeSync(DatagramV7)(m)
    expect(bytes).toEqual(Either.getOrThrow(encode(m)))
    expect(Schema.decodeSync(DatagramV7)(bytes)).toEqual(m)
  }, runs)

  it.prop("arbitrary bytes never throw and never view outside the datagram", [fc.uint8Array({ maxLength: 1200 })], ([raw]) => {
    const bytes = new Uint8Array(raw.length + 8).subarray(4, 4 + raw.length)
    bytes.set(raw)
    const r = decode(bytes)
    if (Either.isRight(r)) expect(viewsInside(r.right, bytes)).toBe(true)
  }, runs)

  it.prop("a decoded header shares no memory with the datagram: sessions keep headers, and a view would pin the receive slab", [message], ([m]) => {
    const bytes = Either.getOrThrow(encode(m))
    const { header } = Either.getOrThrow(decode(bytes))
    const views = Object.values(header).filter((v): v is Uint8Array => v instanceof Uint8Array)
    expect(views.length).toBeGreaterThan(0)
    for (const v of views) expect(v.buffer).not.toBe(bytes.buffer)
  }, runs)

  it.prop(
    "truncated and mutated valid datagrams are refused with a typed error or decode in bounds",
    [message, fc.nat(), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 4 })],
    ([m, cut, flips]) => {
      const good = Either.getOrThrow(encode(m))
      const bytes = good.slice(0, cut % (good.length + 1))
      for (const [at, value] of flips) if (bytes.length > 0) bytes[at % bytes.length] = value
      const r = decode(bytes)
      if (Either.isLeft(r)) {
        expect(r.left._tag).toBe("MalformedDatagram")
        if (bytes.length < HEADER_SIZE) expect(r.left.reason).toBe("TooShort")
      } else {
        expect(viewsInside(r.right, bytes)).toBe(true)
        expect(bytes.length).toBeGreaterThanOrEqual(HEADER_SIZE)
      }
    },
    runs
  )

  it("a too-large szdata and a length mismatch are refused, not truncated", () => {
    const good = Either.getOrThrow(encode(fc.sample(message, { seed: 1, numRuns: 1 })[0]!))
    const big = good.slice()
    new DataView(big.buffer).setUint16(4, 1025)
    expect(Either.getLeft(decode(big)).pipe((e) => e._tag === "Some" && e.value.reason)).toBe("Length")
    const longer = new Uint8Array(good.length + 1)
    longer.set(good)
    expect(Either.getLeft(decode(longer)).pipe((e) => e._tag === "Some" && e.value.reason)).toBe("Length")
  })
})
