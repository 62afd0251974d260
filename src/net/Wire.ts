/**
 * Messages over the `Transport`: encodes what we send, decodes what arrives, drops what is not for us (other
 * group or port, `-k` traffic) or malformed, and counts all of it. Also the header conventions of makuosan:
 * request ids, and ACKs built like `common.c:mkack`.
 */
import { Context, Effect, Either, Layer, Random, Runtime } from "effect"
import { Flag } from "../protocol/v7/constants.js"
import { isDataRequest } from "../protocol/v7/dataLayout.js"
import { type Header, type Message } from "../protocol/v7/message.js"
import * as Native from "../protocol/native/codec.js"
import type { NativeMessage } from "../protocol/native/message.js"
import type { TransferMessage } from "../protocol/native/transfer.js"
import { decode, encode } from "../protocol/v7/codec.js"
import { type Datagram, type Destination, type Endpoint, type IoMode, Transport } from "./Transport.js"
import { type Ipv4, parseIpv4, type ReqId } from "../protocol/fields.js"

export interface Received {
  readonly _tag: "Message"
  readonly message: Message
  readonly from: Endpoint
}

/**
 * A member's handler of the requests of one kind of transfer, called synchronously as they arrive: false when
 * the request is for no session it has (the router then answers as makuosan answers an unknown transfer).
 */
export type RequestHandler = (received: Received, now: number) => boolean

/**
 * A DATA request, left undecoded: the hot path reads its request id and block from the bytes (`dataLayout`). The
 * bytes stay valid until the receiver has written them (each batch of datagrams has buffers of its own).
 */
export interface DataDatagram {
  readonly _tag: "Data"
  readonly bytes: Uint8Array
  readonly from: Endpoint
}

/** A native membership message: only ever one that came sealed through the secure transport (`Datagram.native`). */
export interface NativeReceived {
  readonly _tag: "Native"
  readonly message: NativeMessage
  readonly from: Endpoint
}

/**
 * A native tree transaction's message, sealed like every native message. A `Data` message's pieces are views of
 * the received bytes: valid until the consumer returns.
 */
export interface TransferReceived {
  readonly _tag: "Transfer"
  readonly message: TransferMessage
  readonly from: Endpoint
}

export type Inbound = Received | DataDatagram | NativeReceived | TransferReceived

export interface WireCounters {
  readonly io: IoMode
  readonly datagramsIn: number
  readonly datagramsOut: number
  /** Refused by the codec: bad lengths, bad version, bad names. */
  readonly malformed: number
  /** Well-formed but not ours: another group or port, or `-k` traffic. */
  readonly foreign: number
  readonly sendErrors: number
  /** Arrived before the daemon could take them (start-up). */
  readonly overflowed: number
  /** Dropped by the kernel, its receive buffer full (`TransportStats.kernelDrops`); null: unknown. */
  readonly kernelDrops: number | null
  /** Sessions (SEND STAT, MD5/DSYNC/DEL OPEN) ignored: the receive table, or the sending peer's share of it, was full. */
  readonly refusedSessions: number
  /** Temp files or MD5 hashes refused (EMFILE to the sender): the descriptors of received sessions were in use. */
  readonly refusedDescriptors: number
  /** DSYNC exclude lists refused: more patterns than one session may bring (nothing is deleted for it). */
  readonly refusedPatterns: number
  /** Requests for a transfer this daemon does not have (late copies, or forged), answered as makuosan does. */
  readonly unknownTransfers: number
  /** Received paths refused (absolute, `..`, NUL, a symlink parent): answered with an error. */
  readonly refusedPaths: number
  /** Received regular files whose setuid/setgid bits were dropped (no `--keep-setid`). */
  readonly setidDropped: number
  /** Files refused or broken off because the disk or quota under the base was full (ENOSPC, EDQUOT). */
  readonly diskFull: number
}

/** Why a well-formed datagram was turned away above the wire: counted for `status`. */
export type Refusal = "refusedSessions" | "refusedDescriptors" | "refusedPatterns" | "unknownTransfers" | "refusedPaths" | "setidDropped" | "diskFull"

export interface RequestFields {
  readonly opcode: number
  readonly nstate: number
  readonly reqid: ReqId
  readonly flags?: number
  readonly seqno?: number
  readonly ostate?: number
  readonly error?: number
}

export interface WireShape {
  readonly local: Endpoint
  readonly send: (to: Destination, message: Message) => Effect.Effect<void>
  /** `send` without an Effect, for the transfer engine's handlers: what the codec refused, or undefined. */
  readonly sendNow: (to: Destination, message: Message) => string | undefined
  /** Sends a native message sealed: a keyed daemon's (the secure transport's `sendNative`), undefined otherwise. */
  readonly sendNative: ((to: Destination, message: Native.AnyMessage) => Effect.Effect<void>) | undefined
  /** `sendNative` without an Effect, for the engine's handlers: what the codec refused, or undefined. */
  readonly sendNativeNow: ((to: Destination, message: Native.AnyMessage) => string | undefined) | undefined
  /**
   * Bodies of native messages of one `type` already encoded back to back, `segment` bytes each but the last,
   * sealed as one batch (`Transport.sendNativeSegments`): a keyed daemon's, undefined otherwise. `bodies` may be
   * reused afterwards.
   */
  readonly sendNativeSegmentsNow: ((to: Destination, type: Native.BodyType, bodies: Uint8Array, segment: number) => void) | undefined
  /** Bodies of native messages of one `type`, `lengths[i]` bytes the i-th, sealed as one batch (`Transport.sendNativeEach`). */
  readonly sendNativeEachNow: ((to: Destination, type: Native.BodyType, bodies: Uint8Array, lengths: Uint32Array) => void) | undefined
  /** Datagrams already encoded back to back (`Transport.sendSegments`): a DATA burst. */
  readonly sendSegments: (to: Destination, bytes: Uint8Array, segment: number) => Effect.Effect<void>
  /** `sendSegments` without an Effect, for the engine's handlers: `bytes` are the transport's from now on. */
  readonly sendSegmentsNow: (to: Destination, bytes: Uint8Array, segment: number) => void
  /**
   * Sets the one consumer of what arrives: every batch the transport hands over, decoded (DATA left as it is), in
   * order, synchronously (`Transport.consume`); what is malformed or not ours is counted and logged instead.
   */
  readonly consume: (consumer: ((inbound: ReadonlyArray<Inbound>) => void) | undefined) => void
  readonly nextReqId: Effect.Effect<ReqId>
  readonly nextReqIdNow: () => ReqId
  readonly request: (fields: RequestFields) => Header
  /** The reply to `request`: opcode, reqid, seqno, ostate and error copied, flag ACK, state `nstate`. */
  readonly ack: (request: Header, nstate: number) => Header
  readonly counters: Effect.Effect<WireCounters>
  readonly refused: (reason: Refusal) => void
}

export class Wire extends Context.Tag("makuo/Wire")<Wire, WireShape>() {}

const ZERO_HASH = new Uint8Array(16)

export const make = Effect.gen(function*() {
  const transport = yield* Transport
  const maddr = transport.group.address as Ipv4
  const mport = transport.group.port
  // random start instead of makuosan's 0: a restarted sender must not reuse the reqids of its previous run (makuosan-v7.md E16)
  let reqid = yield* Random.nextIntBetween(0, 0x7fff_ffff)
  const c = { datagramsIn: 0, datagramsOut: 0, malformed: 0, foreign: 0, sendErrors: 0, refusedSessions: 0, refusedDescriptors: 0, refusedPatterns: 0, unknownTransfers: 0, refusedPaths: 0, setidDropped: 0, diskFull: 0 }

  const groupBytes = new Uint8Array(6)
  groupBytes.set(parseIpv4(maddr)!, 0)
  groupBytes[4] = mport >>> 8
  groupBytes[5] = mport & 0xff

  const acceptNative = (d: Datagram, type: Native.BodyType): Inbound | Effect.Effect<void> => {
    const r = Native.decodeAny(type, d.bytes)
    if (Either.isRight(r)) {
      const message = r.right
      return Native.isMembership(message)
        ? { _tag: "Native", message, from: d.from }
        : { _tag: "Transfer", message, from: d.from }
    }
    c.malformed++
    return Effect.logDebug(`dropped native message from ${d.from.address}:${d.from.port}: ${r.left.message}`)
  }

  const accept = (d: Datagram) => {
    c.datagramsIn++
    if (d.native !== undefined) return acceptNative(d, d.native)
    if (isDataRequest(d.bytes, groupBytes)) return { _tag: "Data", bytes: d.bytes, from: d.from } satisfies DataDatagram
    const r = decode(d.bytes)
    if (Either.isLeft(r)) {
      c.malformed++
      return Effect.logDebug(`dropped datagram from ${d.from.address}:${d.from.port}: ${r.left.message}`)
    }
    const h = r.right.header
    if (h.maddr !== maddr || h.mport !== mport || (h.flags & Flag.CRYPT) !== 0) {
      c.foreign++
      return Effect.logDebug(
        `ignored datagram from ${d.from.address}:${d.from.port} for group ${h.maddr}:${h.mport}` +
          ((h.flags & Flag.CRYPT) !== 0 ? " (encrypted with makuosan -k)" : "")
      )
    }
    return { _tag: "Message", message: r.right, from: d.from } satisfies Received
  }

  const runFork = Runtime.runFork(yield* Effect.runtime<never>())
  const consume = (consumer: ((inbound: ReadonlyArray<Inbound>) => void) | undefined) =>
    transport.consume(consumer === undefined ? undefined : (datagrams) => {
      const out: Array<Inbound> = []
      for (const d of datagrams) {
        const r = accept(d)
        if (Effect.isEffect(r)) runFork(r)
        else out.push(r)
      }
      if (out.length > 0) consumer(out)
    })

  const nextReqIdNow = () => {
    reqid = (reqid + 1) >>> 0
    return reqid as ReqId
  }

  /** Encodes and hands over; what the codec refuses (a bug: callers validate first) is counted and returned. */
  const sendNow = (to: Destination, message: Message): string | undefined => {
    const bytes = encode(message)
    if (Either.isLeft(bytes)) {
      c.sendErrors++
      return bytes.left.message
    }
    c.datagramsOut++
    transport.send(to, bytes.right)
    return undefined
  }

  const sendFailed = (e: { readonly message: string }) => {
    c.sendErrors++
    return Effect.logWarning(e.message)
  }

  const seal = transport.sendNative
  const sendNativeNow = seal === undefined ? undefined : (to: Destination, message: Native.AnyMessage): string | undefined => {
    const encoded = Native.encodeAny(message)
    if (Either.isLeft(encoded)) {
      c.sendErrors++
      return encoded.left.message
    }
    c.datagramsOut++
    seal(to, encoded.right.type, encoded.right.body)
    return undefined
  }
  const sealSegments = transport.sendNativeSegments
  const sendNativeSegmentsNow = sealSegments === undefined ? undefined : (to: Destination, type: Native.BodyType, bodies: Uint8Array, segment: number) => {
    c.datagramsOut += Math.ceil(bodies.length / segment)
    sealSegments(to, type, bodies, segment)
  }
  const sealEach = transport.sendNativeEach
  const sendNativeEachNow = sealEach === undefined ? undefined : (to: Destination, type: Native.BodyType, bodies: Uint8Array, lengths: Uint32Array) => {
    c.datagramsOut += lengths.length
    sealEach(to, type, bodies, lengths)
  }
  const sendNative = sendNativeNow === undefined ? undefined : (to: Destination, message: Native.AnyMessage) =>
    Effect.suspend(() => {
      const e = sendNativeNow(to, message)
      return e === undefined ? Effect.void : Effect.logWarning(e)
    })

  return Wire.of({
    local: transport.local,
    consume,
    nextReqId: Effect.sync(nextReqIdNow),
    nextReqIdNow,
    request: (f) => ({
      opcode: f.opcode,
      nstate: f.nstate,
      ostate: f.ostate ?? 0,
      flags: f.flags ?? 0,
      reqid: f.reqid,
      seqno: f.seqno ?? 0,
      maddr,
      mport,
      error: f.error ?? 0,
      hash: ZERO_HASH
    }),
    ack: (request, nstate) => ({
      ...request,
      nstate,
      flags: Flag.ACK,
      maddr,
      mport,
      hash: ZERO_HASH
    }),
    send: (to, message) => {
      const e = sendNow(to, message)
      return e === undefined ? Effect.void : Effect.logError(`not sent: ${e}`)
    },
    sendNow,
    sendNative,
    sendNativeNow,
    sendNativeSegmentsNow,
    sendNativeEachNow,
    sendSegments: (to, bytes, segment) =>
      transport.sendSegments(to, bytes, segment).pipe(
        Effect.tap(() => void (c.datagramsOut += Math.ceil(bytes.length / segment))),
        Effect.catchAll(sendFailed)
      ),
    sendSegmentsNow: (to, bytes, segment) => {
      c.datagramsOut += Math.ceil(bytes.length / segment)
      transport.send(to, bytes, segment)
    },
    refused: (reason) => void c[reason]++,
    counters: Effect.map(transport.stats, (t) => ({ ...c, io: t.io, overflowed: t.overflowed, kernelDrops: t.kernelDrops, sendErrors: c.sendErrors + t.sendErrors }))
  })
})

export const layer = Layer.effect(Wire, make)
