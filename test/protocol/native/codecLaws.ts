/**
 * The laws every native message codec keeps (docs/protocol.md, "Native messages"): decode∘encode is the
 * identity, every truncation is refused, trailing bytes are refused as `Length`.
 */
import { expect, it } from "@effect/vitest"
import { Either, FastCheck as fc } from "effect"
import type { MalformedDatagram, UnencodableMessage } from "../../../src/protocol/errors.js"

export interface Codec<M> {
  readonly message: fc.Arbitrary<M>
  readonly typeOf: (m: M) => number
  readonly encode: (m: M) => Either.Either<Uint8Array, UnencodableMessage>
  readonly decode: (type: number, body: Uint8Array) => Either.Either<M, MalformedDatagram>
}

export const runs = { fastCheck: { numRuns: Number(process.env.MAKUO_PROP_RUNS ?? 500) } }

export const codecLaws = <M>({ decode, encode, message, typeOf }: Codec<M>): void => {
  const bytesOf = (m: M) => Either.getOrThrow(encode(m))

  it.prop("encode then decode is the identity", [message], ([m]) => {
    expect(Either.getOrThrow(decode(typeOf(m), bytesOf(m)))).toEqual(m)
  }, runs)

  it.prop("every truncation is refused", [message], ([m]) => {
    const bytes = bytesOf(m)
    for (let n = 0; n < bytes.length; n++) expect(Either.isLeft(decode(typeOf(m), bytes.subarray(0, n)))).toBe(true)
  }, runs)

  it.prop("trailing bytes are refused", [message, fc.uint8Array({ minLength: 1, maxLength: 8 })], ([m, extra]) => {
    expect(Either.flip(decode(typeOf(m), Buffer.concat([bytesOf(m), extra]))).pipe(Either.map((e) => e.reason), Either.getOrUndefined)).toBe("Length")
  }, runs)
}
