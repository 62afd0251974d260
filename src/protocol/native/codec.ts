/**
 * The native message codec: a message to the body that follows the message-type byte in a sealed frame, and
 * back (docs/protocol.md, "Native messages", has the byte layout). All integers are big-endian. `decode` never
 * throws and never reads outside the body; names are copied out of it, so nothing decoded pins the receive slab.
 *
 *   every message:  reqid u32 | time u64 | (the type's fixed fields) | host length u8 | host | version length u8 | version
 *   PING:           flags u8 (bit 0: answer with a PONG; the other bits are sent 0 and ignored)
 *   PONG:           ping time u64 (the PING's time, echoed)
 *   EXIT:           nothing
 */
import { Either } from "effect"
import { MalformedDatagram, UnencodableMessage } from "../errors.js"
import { decodeName, utf8Bytes } from "../text.js"
import { isNativeType, type NativeMessage, NativeType, typeOf, type WallNs } from "./message.js"
import * as Transfer from "./transfer.js"
import { isTransferType, type TransferType } from "./transferMessage.js"
import { MAX_HOSTNAME, MAX_VERSION, type ReqId } from "../fields.js"

const COMMON = 12
const PING_ANSWER = 0x01

/** Bytes between the common prefix and the names, by type. */
const fixedOf: Record<NativeType, number> = { [NativeType.PING]: 1, [NativeType.PONG]: 8, [NativeType.EXIT]: 0 }

const malformed = (reason: MalformedDatagram["reason"], detail: string) => Either.left(new MalformedDatagram({ reason, detail }))

export const encode = (m: NativeMessage): Either.Either<Uint8Array, UnencodableMessage> => {
  const type = typeOf(m)
  const host = utf8Bytes(m.hostname)
  const version = utf8Bytes(m.version)
  if (host.length > MAX_HOSTNAME || version.length > MAX_VERSION) {
    return Either.left(new UnencodableMessage({ detail: `hostname of ${host.length} or version of ${version.length} bytes (at most ${MAX_HOSTNAME}, ${MAX_VERSION})` }))
  }
  const names = COMMON + fixedOf[type]
  const out = new Uint8Array(names + 2 + host.length + version.length)
  const v = new DataView(out.buffer)
  v.setUint32(0, m.reqid)
  v.setBigUint64(4, m.time)
  switch (m._tag) {
    case "Ping":
      out[COMMON] = m.answer ? PING_ANSWER : 0
      break
    case "Pong":
      v.setBigUint64(COMMON, m.pingTime)
      break
    case "Exit":
      break
  }
  out[names] = host.length
  out.set(host, names + 1)
  out[names + 1 + host.length] = version.length
  out.set(version, names + 2 + host.length)
  return Either.right(out)
}

/** The body of a frame whose message type is `type`. */
export const decode = (type: number, body: Uint8Array): Either.Either<NativeMessage, MalformedDatagram> => {
  if (type !== NativeType.PING && type !== NativeType.PONG && type !== NativeType.EXIT) return malformed("Type", `native message type ${type}`)
  const names = COMMON + fixedOf[type]
  if (body.length < names + 2) return malformed("TooShort", `${body.length} bytes, type ${type} needs at least ${names + 2}`)
  const v = new DataView(body.buffer, body.byteOffset, body.byteLength)
  const hl = body[names]!
  if (names + 1 + hl + 1 > body.length) return malformed("Length", `hostname of ${hl} bytes overruns a body of ${body.length}`)
  const vl = body[names + 1 + hl]!
  if (vl > MAX_VERSION) return malformed("Length", `version length ${vl} > ${MAX_VERSION}`)
  if (names + 2 + hl + vl !== body.length) return malformed("Length", `names of ${hl}+${vl} bytes do not fill a body of ${body.length}`)
  const hostname = decodeName(body.subarray(names + 1, names + 1 + hl))
  const version = decodeName(body.subarray(names + 2 + hl))
  if (hostname === undefined || version === undefined) return malformed("Payload", "a name holds NUL")
  const common = { reqid: v.getUint32(0) as ReqId, time: v.getBigUint64(4) as WallNs, hostname, version }
  switch (type) {
    case NativeType.PING:
      return Either.right({ _tag: "Ping", ...common, answer: (body[COMMON]! & PING_ANSWER) !== 0 })
    case NativeType.PONG:
      return Either.right({ _tag: "Pong", ...common, pingTime: v.getBigUint64(COMMON) as WallNs })
    case NativeType.EXIT:
      return Either.right({ _tag: "Exit", ...common })
  }
}

/** The message type of every native body: membership (`message.ts`) or a transaction's (`transferMessage.ts`). */
export type BodyType = NativeType | TransferType

/** A native message of either set. */
export type AnyMessage = NativeMessage | Transfer.TransferMessage

/** Whether a frame's message type is a native message's (the frame layer's own types are not). */
export const isBodyType = (type: number): type is BodyType => isNativeType(type) || isTransferType(type)

/** Any native body by its type: membership here, a transaction's message in `transfer.ts`. */
export const decodeAny = (type: number, body: Uint8Array): Either.Either<AnyMessage, MalformedDatagram> =>
  isTransferType(type) ? Transfer.decode(type, body) : decode(type, body)

export const isMembership = (m: AnyMessage): m is NativeMessage => m._tag === "Ping" || m._tag === "Pong" || m._tag === "Exit"

/** Any native message to its type and body. */
export const encodeAny = (m: AnyMessage): Either.Either<{ readonly type: BodyType; readonly body: Uint8Array }, UnencodableMessage> =>
  isMembership(m)
    ? Either.map(encode(m), (body) => ({ type: typeOf(m), body }))
    : Either.map(Transfer.encode(m), (body) => ({ type: Transfer.typeOf(m), body }))
