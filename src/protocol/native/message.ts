/**
 * The domain model of the native messages: the plaintext body of a sealed native frame, after its message-type
 * byte (docs/protocol.md, "Native messages"). This first set is membership; each message carries its sender's
 * wall-clock time so that a PING's answer measures the round trip and the clock offset between two members.
 * Schemas carry the wire limits, so `Arbitrary` generates only encodable messages.
 */
import { Schema } from "effect"
import { MAX_HOSTNAME, MAX_VERSION, ReqId, WireName } from "../fields.js"

/**
 * The message types of the native messages, the first byte of a frame's payload. 1–3 are the frame layer's own
 * (V7, CHALLENGE, ANSWER: `secure/messages`); membership is 0x10–0x1F; 0x20 onwards are left for the transfer
 * messages. A type no one knows is counted and dropped by the frame layer.
 */
export const NativeType = { PING: 0x10, PONG: 0x11, EXIT: 0x12 } as const
export type NativeType = (typeof NativeType)[keyof typeof NativeType]

const nativeTypes: ReadonlySet<number> = new Set(Object.values(NativeType))
export const isNativeType = (type: number): type is NativeType => nativeTypes.has(type)

/** Unsigned 64-bit (sizes, ids, times): the full range as a bigint. */
export const U64 = Schema.BigIntFromSelf.pipe(Schema.betweenBigInt(0n, 2n ** 64n - 1n))

/** Wall-clock time: nanoseconds since 1970-01-01 UTC by the sender's clock. */
export const WallNs = U64.pipe(Schema.brand("WallNs"))
export type WallNs = typeof WallNs.Type

const announcement = {
  reqid: ReqId,
  /** when the sender sent this message */
  time: WallNs,
  hostname: WireName(MAX_HOSTNAME),
  version: WireName(MAX_VERSION)
}

/**
 * "Here I am": a starting daemon, a probe or a re-announcement asks for PONGs (`answer`); the keep-alive does not
 * (an answer from every member to every keep-alive would cost the group members² datagrams a period).
 */
export const Ping = Schema.TaggedStruct("Ping", { ...announcement, answer: Schema.Boolean })
/** The answer to a PING: its reqid and time echoed, so that the pinger learns the round trip and the offset. */
export const Pong = Schema.TaggedStruct("Pong", { ...announcement, pingTime: WallNs })
/** "I am leaving": a stopping daemon, to the group. */
export const Exit = Schema.TaggedStruct("Exit", announcement)

export const NativeMessage = Schema.Union(Ping, Pong, Exit)
export type NativeMessage = typeof NativeMessage.Type

export const typeOf = (m: NativeMessage): NativeType => {
  switch (m._tag) {
    case "Ping":
      return NativeType.PING
    case "Pong":
      return NativeType.PONG
    case "Exit":
      return NativeType.EXIT
  }
}
