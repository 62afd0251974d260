/**
 * A membership message as the member table handles it, whichever wire format it came in: one handler for
 * both. Protocol v7 (makuosan's Mping) carries no time; the native messages carry the sender's clock.
 * - Ping: a member announcing itself; `answer` when it wants PONGs (v7: a PING without ACK).
 * - Pong: an answer, or a v7 keep-alive (v7 sends both as a PING with ACK); `clock` when native.
 * - Exit: a member leaving.
 */
import { Flag, Opcode } from "../protocol/v7/constants.js"
import type { Header } from "../protocol/v7/message.js"
import type { NativeMessage, WallNs } from "../protocol/native/message.js"
import type { NativeReceived, Received } from "../net/Wire.js"
import { type ReqId } from "../protocol/fields.js"

/** How to answer a PING: in the format it came in (a v7 PONG echoes the request's header, a native one its time). */
export type Via = { readonly _tag: "V7"; readonly header: Header } | { readonly _tag: "Native"; readonly time: WallNs }

interface Common {
  readonly reqid: ReqId
  readonly hostname: string
  readonly version: string
}

export type Announcement =
  | Common & { readonly _tag: "Ping"; readonly answer: boolean; readonly via: Via }
  | Common & { readonly _tag: "Pong"; readonly clock: { readonly pingTime: WallNs; readonly time: WallNs } | undefined }
  | Common & { readonly _tag: "Exit" }

const fromNative = (m: NativeMessage): Announcement => {
  const common = { reqid: m.reqid, hostname: m.hostname, version: m.version }
  switch (m._tag) {
    case "Ping":
      return { _tag: "Ping", ...common, answer: m.answer, via: { _tag: "Native", time: m.time } }
    case "Pong":
      return { _tag: "Pong", ...common, clock: { pingTime: m.pingTime, time: m.time } }
    case "Exit":
      return { _tag: "Exit", ...common }
  }
}

const fromV7 = ({ header, payload }: Received["message"]): Announcement | undefined => {
  if (payload._tag !== "Mping") return undefined
  const common = { reqid: header.reqid, hostname: payload.hostname, version: payload.version }
  if (header.opcode === Opcode.EXIT) return { _tag: "Exit", ...common }
  if (header.opcode !== Opcode.PING) return undefined
  return (header.flags & Flag.ACK) !== 0
    ? { _tag: "Pong", ...common, clock: undefined }
    : { _tag: "Ping", ...common, answer: true, via: { _tag: "V7", header } }
}

/** What a membership datagram announces; undefined for a v7 message that is no membership message. */
export const announcement = (r: Received | NativeReceived): Announcement | undefined =>
  r._tag === "Native" ? fromNative(r.message) : fromV7(r.message)
