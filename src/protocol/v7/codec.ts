/**
 * The makuosan protocol v7 datagram codec (makuosan-v7.md §2): a `Schema` transform between the bytes of one UDP
 * datagram and a `Message`. `decode`/`encode` are the same codec without Schema's generic machinery, for the
 * DATA hot path; both never throw and never read outside the datagram.
 */
import { Either, ParseResult, Schema } from "effect"
import { Flag, HEADER_SIZE, MAX_PAYLOAD, PROTOCOL_VERSION } from "./constants.js"
import { md5, paddedLength, swapHalves } from "./crypt.js"
import { MalformedDatagram, UnencodableMessage } from "../errors.js"
import { type Header, Message } from "./message.js"
import { isReason, parsePayload, serializePayload } from "./payloadCodec.js"
import { payloadKind } from "./payloadKind.js"
import { type Ipv4, parseIpv4, type ReqId } from "../fields.js"

const ZERO_HASH = new Uint8Array(16)

const malformed = (reason: MalformedDatagram["reason"], detail: string) =>
  Either.left(new MalformedDatagram({ reason, detail }))

const ipv4At = (b: Uint8Array, o: number): Ipv4 => `${b[o]}.${b[o + 1]}.${b[o + 2]}.${b[o + 3]}` as Ipv4

export const decode = (bytes: Uint8Array): Either.Either<Message, MalformedDatagram> => {
  if (bytes.length < HEADER_SIZE) return malformed("TooShort", `${bytes.length} bytes, header needs ${HEADER_SIZE}`)
  if (bytes[0] !== PROTOCOL_VERSION) return malformed("Version", `protocol version ${bytes[0]}, expected ${PROTOCOL_VERSION}`)
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const szdata = v.getUint16(4)
  const flags = v.getUint16(6)
  if (szdata > MAX_PAYLOAD) return malformed("Length", `szdata ${szdata} > ${MAX_PAYLOAD}`)
  const crypt = (flags & Flag.CRYPT) !== 0 && szdata > 0
  const wireLength = crypt ? paddedLength(szdata) : szdata
  if (bytes.length !== HEADER_SIZE + wireLength) {
    return malformed("Length", `datagram of ${bytes.length} bytes announces ${szdata} payload bytes`)
  }
  // a copy: headers outlive the datagram (a session keeps its last request), and a view would keep the receive
  // slab it points into alive — 4 MiB per session
  const hash = bytes.slice(26, 42)
  let payload = bytes.subarray(HEADER_SIZE)
  if (crypt) {
    const plain = new Uint8Array(wireLength)
    swapHalves(payload, plain)
    payload = plain.subarray(0, szdata)
    if (!md5(payload).every((x, i) => x === hash[i])) return malformed("Crypt", "payload checksum does not match hash")
  }
  const opcode = bytes[1]!
  const nstate = bytes[2]!
  const parsed = parsePayload(payloadKind(opcode, flags, nstate), payload)
  if (isReason(parsed)) return malformed("Payload", parsed)
  const header: Header = {
    opcode,
    nstate,
    ostate: bytes[3]!,
    flags,
    reqid: v.getUint32(8) as ReqId,
    seqno: v.getUint32(12),
    maddr: ipv4At(bytes, 16),
    mport: v.getUint16(20),
    error: v.getUint32(22),
    hash
  }
  return Either.right({ header, payload: parsed })
}

export const encode = (message: Message): Either.Either<Uint8Array, UnencodableMessage> => {
  const { header, payload } = message
  const kind = payloadKind(header.opcode, header.flags, header.nstate)
  if (payload._tag !== kind) {
    return Either.left(new UnencodableMessage({ detail: `${payload._tag} payload where the header implies ${kind}` }))
  }
  const maddr = parseIpv4(header.maddr)
  if (maddr === undefined) return Either.left(new UnencodableMessage({ detail: `maddr ${header.maddr}` }))
  const body = serializePayload(payload)
  if (body === undefined) return Either.left(new UnencodableMessage({ detail: `${kind} payload exceeds ${MAX_PAYLOAD} bytes` }))
  const crypt = (header.flags & Flag.CRYPT) !== 0 && body.length > 0
  const wireLength = crypt ? paddedLength(body.length) : body.length
  const out = new Uint8Array(HEADER_SIZE + wireLength)
  const v = new DataView(out.buffer)
  out[0] = PROTOCOL_VERSION
  out[1] = header.opcode
  out[2] = header.nstate
  out[3] = header.ostate
  v.setUint16(4, body.length)
  v.setUint16(6, header.flags)
  v.setUint32(8, header.reqid)
  v.setUint32(12, header.seqno)
  out.set(maddr, 16)
  v.setUint16(20, header.mport)
  v.setUint32(22, header.error)
  if (crypt) {
    out.set(md5(body), 26)
    const padded = out.subarray(HEADER_SIZE)
    padded.set(body)
    swapHalves(padded, padded)
  } else {
    out.set((header.flags & Flag.CRYPT) !== 0 ? ZERO_HASH : header.hash, 26)
    out.set(body, HEADER_SIZE)
  }
  return Either.right(out)
}

/** `Uint8Array` ⇄ `Message`, for use wherever a Schema is expected (validation, Arbitrary, typed failures). */
export const DatagramV7 = Schema.transformOrFail(Schema.Uint8ArrayFromSelf, Schema.typeSchema(Message), {
  strict: true,
  decode: (bytes, _, ast) =>
    Either.mapLeft(decode(bytes), (e) => new ParseResult.Type(ast, bytes, e.message)),
  encode: (message, _, ast) =>
    Either.mapLeft(encode(message), (e) => new ParseResult.Type(ast, message, e.message))
})
