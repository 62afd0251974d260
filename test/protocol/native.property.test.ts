import { describe, expect, it } from "@effect/vitest"
import { Arbitrary, Either, FastCheck as fc } from "effect"
import { codecLaws, runs } from "./native/codecLaws.js"
import { decode, encode } from "../../src/protocol/native/codec.js"
import { NativeMessage, NativeType, typeOf } from "../../src/protocol/native/message.js"

const message = Arbitrary.make(NativeMessage)
const bytesOf = (m: NativeMessage) => Either.getOrThrow(encode(m))
const reasonOf = (type: number, body: Uint8Array) => Either.flip(decode(type, body)).pipe(Either.map((e) => e.reason), Either.getOrUndefined)

const ping: NativeMessage = { _tag: "Ping", reqid: 7 as never, time: 0x0102030405060708n as never, hostname: "web1", version: "0.1.0", answer: true }

describe("native membership codec", () => {
  codecLaws({ message, typeOf, encode, decode })

  it("the documented layout: big-endian reqid, time, flags, then length-prefixed names", () => {
    expect([...bytesOf(ping)]).toEqual([
      0, 0, 0, 7,
      1, 2, 3, 4, 5, 6, 7, 8,
      0x01,
      4, ...Buffer.from("web1"),
      5, ...Buffer.from("0.1.0")
    ])
  })

  it.prop("full 64-bit times survive", [fc.bigInt({ min: 0n, max: 2n ** 64n - 1n })], ([t]) => {
    const m = { ...ping, time: t as never }
    expect(Either.getOrThrow(decode(NativeType.PING, bytesOf(m)))).toEqual(m)
  }, runs)

  it.prop("arbitrary bytes under any type never throw, and what decodes encodes back to the same bytes", [fc.integer({ min: 0, max: 255 }), fc.uint8Array({ maxLength: 300 })], ([type, raw]) => {
    const r = decode(type, raw)
    // a PING's reserved flag bits are ignored, so only its answer bit round-trips
    if (Either.isRight(r) && r.right._tag !== "Ping") expect(bytesOf(r.right)).toEqual(raw)
  }, runs)

  it("malformed bodies are refused with a reason: bad type, oversize or overrunning names, NUL in a name", () => {
    const bytes = bytesOf(ping)
    expect(reasonOf(NativeType.PING - 1, bytes)).toBe("Type")
    expect(reasonOf(0x20, bytes)).toBe("Type")
    const longVersion = Uint8Array.from([...bytes.subarray(0, 13), 0, 33, ...new Uint8Array(33).fill(0x61)])
    expect(reasonOf(NativeType.PING, longVersion)).toBe("Length")
    const overrun = Uint8Array.from(bytes)
    overrun[13] = 200
    expect(reasonOf(NativeType.PING, overrun)).toBe("Length")
    const nul = Uint8Array.from(bytes)
    nul[15] = 0
    expect(reasonOf(NativeType.PING, nul)).toBe("Payload")
    expect(Either.isLeft(encode({ ...ping, version: "v".repeat(33) }))).toBe(true)
  })
})
