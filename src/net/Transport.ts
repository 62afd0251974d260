/**
 * The datagram service every protocol layer stands on: send bytes to the group or to one peer, and a stream of
 * the datagrams that arrive, with their source. Live layers: `NativeTransport` (batched system calls) and
 * `DgramTransport` (`node:dgram`), chosen by `UdpTransport`; tests use an in-memory network.
 */
import { Context, Data, type Effect } from "effect"

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
 * How datagrams reach the kernel: `gso` one system call per ~60 DATA datagrams (UDP_SEGMENT), `sendmmsg` one per
 * 64 datagrams (the kernel refused GSO), `dgram` one per datagram (`node:dgram`), `memory` the test network.
 */
export type IoMode = "gso" | "sendmmsg" | "dgram" | "memory"

export interface TransportStats {
  readonly io: IoMode
  /** Datagrams dropped because the consumer fell behind the receive queue. */
  readonly overflowed: number
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
   */
  readonly send: (to: Destination, bytes: Uint8Array) => void
  /**
   * Sends the datagrams laid out back to back in `bytes`, each `segment` bytes long but the last, which may be
   * shorter (a DATA burst). Completes once the kernel (or the transport's own copy) holds them: the caller may
   * reuse `bytes` afterwards.
   */
  readonly sendSegments: (to: Destination, bytes: Uint8Array, segment: number) => Effect.Effect<void, TransportError>
  /**
   * Waits for datagrams from others (our own multicast echoes are filtered out), then returns every one that has
   * arrived: one Effect per wake-up of the daemon, however many datagrams it brings. One consumer.
   */
  readonly receive: Effect.Effect<ReadonlyArray<Datagram>>
  readonly stats: Effect.Effect<TransportStats>
}

export class Transport extends Context.Tag("makuo/Transport")<Transport, TransportShape>() {}
