/**
 * The datagram service every protocol layer stands on: send bytes to the group or to one peer, and a stream of
 * the datagrams that arrive, with their source. Live layers: `NativeTransport` (batched system calls) and
 * `DgramTransport` (`node:dgram`), chosen by `UdpTransport`; tests use an in-memory network.
 */
import { Context, Data, type Effect } from "effect"
import type { BodyType } from "../protocol/native/codec.js"

export interface Endpoint {
  readonly address: string
  readonly port: number
}

export type Destination =
  | { readonly _tag: "Group" }
  | { readonly _tag: "Peer"; readonly address: string; readonly port: number }

export const Group: Destination = { _tag: "Group" }
export const Peer = (to: Endpoint): Destination => ({ _tag: "Peer", address: to.address, port: to.port })

export interface Datagram {
  readonly bytes: Uint8Array
  readonly from: Endpoint
  /**
   * Set only by the secure transport, on a body it opened from a sealed frame of an admitted epoch: the native
   * message type of `bytes`. Absent, `bytes` are a v7 datagram. The sockets never set it, so an unkeyed daemon
   * has no way to take a native message: none reaches the wire layer unauthenticated.
   */
  readonly native?: BodyType
}

export class TransportError extends Data.TaggedError("TransportError")<{
  readonly reason: "Bind" | "Membership" | "Send"
  readonly detail: string
  readonly cause?: unknown
}> {
  override get message() {
    return `${this.reason.toLowerCase()} failed: ${this.detail}`
  }
}

/**
 * How datagrams lie back to back in one buffer handed to `send`: each `segment` bytes long but the last, which may
 * be shorter (a number: a DATA burst; 0 or none: the whole buffer is one datagram), or `lengths[i]` bytes the i-th
 * (a Uint32Array adding up to the buffer's length: a burst of unequal datagrams, such as a bundle stream's frames).
 */
export type Layout = number | Uint32Array

/** Calls `f` with each datagram of `bytes` laid out as `layout` says (views, in order). */
export const eachDatagram = (bytes: Uint8Array, layout: Layout | undefined, f: (datagram: Uint8Array) => void): void => {
  if (typeof layout === "object") {
    for (let i = 0, at = 0; i < layout.length; at += layout[i]!, i++) f(bytes.subarray(at, at + layout[i]!))
    return
  }
  const step = layout === undefined || layout <= 0 ? Math.max(1, bytes.length) : layout
  for (let at = 0; at === 0 || at < bytes.length; at += step) f(bytes.subarray(at, at + step))
}

/**
 * How datagrams reach the kernel: `gso` one system call per burst of up to 64 runs of ~64 KiB of datagrams of one
 * length (UDP_SEGMENT; a burst of unequal ones: a run per stretch of one length), `sendmmsg` one per 64 datagrams
 * (the kernel refused GSO), `dgram` one per datagram (`node:dgram`), `memory` the test network.
 */
export type IoMode = "gso" | "sendmmsg" | "dgram" | "memory"

export interface TransportStats {
  readonly io: IoMode
  /** Datagrams dropped because they arrived before the daemon could take them (start-up). */
  readonly overflowed: number
  /**
   * Datagrams the kernel dropped on our sockets (mostly: their receive buffers were full), as of the last one
   * received; null where the transport cannot read it (`node:dgram`, or a kernel without `SO_RXQ_OVFL`).
   */
  readonly kernelDrops: number | null
  /** Sends the socket reported as failed after accepting them. */
  readonly sendErrors: number
}

export interface TransportShape {
  /** Our own unicast endpoint: the source of everything we send and the address peers answer to. */
  readonly local: Endpoint
  readonly group: Endpoint
  /**
   * Hands one datagram to the network without waiting for it to leave (a wait per datagram would cap a burst at
   * one datagram per event-loop turn), synchronously: the transfer engine sends from its event handlers. `bytes`
   * must not be reused afterwards. Failures are counted in `stats` (and the last one logged when it is read).
   * With a `layout`, `bytes` are datagrams laid out back to back (a DATA burst handed over by the engine's handler
   * itself, or a burst of unequal frames): the native transport hands a burst to the kernel in one system call
   * (`IoMode`).
   */
  readonly send: (to: Destination, bytes: Uint8Array, layout?: Layout) => void
  /**
   * `send`, saying whether the kernel took `bytes` at once: true, they are the caller's again (to reuse: a burst's
   * frames sealed into the same buffer each time); false, they wait in the transport's queue (the socket buffer
   * full) and are the transport's from now on. Only a transport that hands bytes over synchronously has it.
   */
  readonly sendReusable?: (to: Destination, bytes: Uint8Array, layout: Layout) => boolean
  /**
   * Sends the datagrams laid out back to back in `bytes`, each `segment` bytes long but the last, which may be
   * shorter (a DATA burst). Completes once the kernel (or the transport's own copy) holds them: the caller may
   * reuse `bytes` afterwards.
   */
  readonly sendSegments: (to: Destination, bytes: Uint8Array, segment: number) => Effect.Effect<void, TransportError>
  /**
   * Seals one native message (its type and body) in a frame and sends it as `send` does. Only the secure
   * transport of a keyed daemon has it: its presence is what makes a daemon speak the native format.
   */
  readonly sendNative?: (to: Destination, type: BodyType, body: Uint8Array) => void
  /**
   * Seals native messages of one `type` laid out back to back in `bodies`, each `segment` bytes long but the last
   * (a transaction's burst of Data), as one batch, and sends the frames as `send` sends a DATA burst. `bodies`
   * may be reused afterwards (the frames are sealed into a buffer of its own). With `sendNative` only.
   */
  readonly sendNativeSegments?: (to: Destination, type: BodyType, bodies: Uint8Array, segment: number) => void
  /**
   * Seals native messages of one `type` laid out back to back in `bodies`, `lengths[i]` bytes the i-th (a burst of
   * a transaction's bundle stream), as one batch, and sends the frames as one burst (`send` with their lengths:
   * one `sendmmsg` on the native transport). `bodies` may be reused afterwards. With `sendNative` only.
   */
  readonly sendNativeEach?: (to: Destination, type: BodyType, bodies: Uint8Array, lengths: Uint32Array) => void
  /**
   * Sets the one consumer of the datagrams from others (our own multicast echoes are filtered out): called
   * synchronously from the socket's callback with every batch that arrives (one call per wake-up, however many
   * datagrams it brings), never from inside a `send`. Until it is set, arrivals wait (bounded); undefined removes it.
   * The batch's bytes are valid until the consumer returns (the native transport reads the next batch into the
   * same buffers): what is kept longer is copied.
   */
  readonly consume: (consumer: ((batch: ReadonlyArray<Datagram>) => void) | undefined) => void
  readonly stats: Effect.Effect<TransportStats>
}

export class Transport extends Context.Tag("makuo/Transport")<Transport, TransportShape>() {}
