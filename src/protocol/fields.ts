/**
 * Wire fields both formats share (v7 in `v7/`, native in `native/`): fixed-width integers, request ids, IPv4
 * addresses, names as bytes without NUL, and the limits of a member's hostname and version — makuosan's buffer
 * sizes, so that a member announced in either format fits the other and the one member table.
 */
import { type Brand, Schema } from "effect"
import { decodeName, isWireName, utf8Length } from "./text.js"

/** makuosan's hostname and version buffers; longer fields are refused. */
export const MAX_HOSTNAME = 255
export const MAX_VERSION = 32

const uint = (bits: 8 | 16 | 32) => Schema.Int.pipe(Schema.between(0, 2 ** bits - 1))
export const U8 = uint(8)
export const U16 = uint(16)
export const U32 = uint(32)

/** Request id: a per-originator counter; receivers key transfers on (source, reqid). */
export const ReqId = U32.pipe(Schema.brand("ReqId"))
export type ReqId = typeof ReqId.Type

/** Dotted IPv4 address. */
export const Ipv4 = Schema.String.pipe(
  Schema.filter((s) => parseIpv4(s) !== undefined, { message: () => "expected a dotted IPv4 address" }),
  Schema.brand("Ipv4"),
  Schema.annotations({ arbitrary: () => (fc) => fc.ipV4().map((s) => s as string & Brand.Brand<"Ipv4">) })
)
export type Ipv4 = typeof Ipv4.Type

export const parseIpv4 = (text: string): readonly [number, number, number, number] | undefined => {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text)
  if (m === null) return undefined
  const octets = [Number(m[1]), Number(m[2]), Number(m[3]), Number(m[4])] as const
  return octets.every((o) => o <= 255) ? octets : undefined
}

/**
 * A name as it travels on the wire: bytes without NUL, at most `maxBytes` of them, as text — valid UTF-8 decoded,
 * any other byte escaped (protocol/text), so that it encodes back to the same bytes.
 */
export const WireName = (maxBytes: number) =>
  Schema.String.pipe(
    Schema.filter((s) => isWireName(s) && utf8Length(s) <= maxBytes, {
      message: () => `expected a name without NUL of at most ${maxBytes} bytes`
    }),
    Schema.annotations({
      arbitrary: () => (fc) =>
        fc.oneof(
          fc.string({ unit: "binary", maxLength: 24 }),
          // names that are not UTF-8 (EUC-JP, Shift_JIS, Latin-1 on the sender's disk)
          fc.uint8Array({ maxLength: 24 }).map((b) => decodeName(b.map((x) => x === 0 ? 0xe9 : x)) ?? "")
        ).filter((s) => isWireName(s) && utf8Length(s) <= maxBytes)
    })
  )

