/**
 * `Transport` on `node:dgram`. With `--bind 0.0.0.0` (production, one daemon per host) one socket does it all,
 * like makuosan: bound to the port, joined to the group, multicast loopback off. With a specific `--bind`
 * address (several daemons on one host, e.g. 127.0.0.2–4) unicast and multicast need two sockets: a socket bound
 * to a unicast address never sees group traffic, so a second one is bound to the group address (shared with
 * SO_REUSEADDR) with loopback on, and our own echoes are dropped by source.
 */
import { Effect, Layer, Queue, Stream } from "effect"
import * as dgram from "node:dgram"
import { type Datagram, type Endpoint, Transport, TransportError } from "./Transport.js"

export interface UdpOptions {
  readonly bind: string
  readonly port: number
  readonly group: string
  /** Interface address for membership and outgoing multicast; undefined = the kernel's choice. */
  readonly interface: string | undefined
  readonly ttl: number
  readonly recvBufferSize: number | undefined
  readonly sendBufferSize: number | undefined
  /** Datagrams buffered between the socket and the consumer before new ones are dropped (and counted). */
  readonly queueCapacity: number
}

const ANY = "0.0.0.0"

const openSocket = (options: UdpOptions, address: string, reuseAddr: boolean) =>
  Effect.acquireRelease(
    Effect.async<dgram.Socket, TransportError>((resume) => {
      const socket = dgram.createSocket({
        type: "udp4",
        reuseAddr,
        ...(options.recvBufferSize === undefined ? {} : { recvBufferSize: options.recvBufferSize }),
        ...(options.sendBufferSize === undefined ? {} : { sendBufferSize: options.sendBufferSize })
      })
      const onError = (cause: Error) => {
        socket.close()
        resume(Effect.fail(new TransportError({ reason: "Bind", detail: `${address}:${options.port}: ${cause.message}`, cause })))
      }
      socket.once("error", onError)
      socket.bind(options.port, address, () => {
        socket.off("error", onError)
        // errors after bind (e.g. ICMP unreachable on some kernels) are per-send; the send callback reports them
        socket.on("error", () => {})
        resume(Effect.succeed(socket))
      })
    }),
    (socket) => Effect.sync(() => socket.close())
  )

const configure = (options: UdpOptions, socket: dgram.Socket, join: boolean, loopback: boolean) =>
  Effect.try({
    try: () => {
      if (options.interface !== undefined) socket.setMulticastInterface(options.interface)
      socket.setMulticastTTL(options.ttl)
      socket.setMulticastLoopback(loopback)
      if (join) socket.addMembership(options.group, options.interface)
    },
    catch: (cause) =>
      new TransportError({
        reason: "Membership",
        detail: `group ${options.group} on interface ${options.interface ?? "(kernel default)"}: ${String(cause)}`,
        cause
      })
  })

export const make = (options: UdpOptions) =>
  Effect.gen(function*() {
    const queue = yield* Effect.acquireRelease(Queue.dropping<Datagram>(options.queueCapacity), Queue.shutdown)
    let overflowed = 0
    let sendErrors = 0
    let lastSendError: Error | undefined
    // sends handed to the socket and not yet completed; the sockets close only once they are out (EXIT!)
    let inFlight = 0
    let drained: (() => void) | undefined
    const shared = options.bind !== ANY
    const unicast = yield* openSocket(options, options.bind, false)
    yield* configure(options, unicast, !shared, shared)
    const local: Endpoint = { address: shared ? options.bind : (options.interface ?? ANY), port: options.port }
    // datagrams of one event-loop turn reach the consumer together: one wake-up per batch, not per datagram
    let batch: Array<Datagram> = []
    const flush = () => {
      const ready = batch
      batch = []
      for (const d of ready) if (!queue.unsafeOffer(d)) overflowed++
    }
    const receive = (socket: dgram.Socket) =>
      socket.on("message", (msg, rinfo) => {
        if (shared && rinfo.address === local.address && rinfo.port === local.port) return
        const bytes = new Uint8Array(msg.buffer, msg.byteOffset, msg.byteLength)
        if (batch.push({ bytes, from: { address: rinfo.address, port: rinfo.port } }) === 1) setImmediate(flush)
      })
    receive(unicast)
    if (shared) {
      const groupSocket = yield* openSocket(options, options.group, true)
      yield* configure(options, groupSocket, true, true)
      receive(groupSocket)
    }
    // registered after the sockets, so it runs before they close
    yield* Effect.addFinalizer(() =>
      Effect.async<void>((resume) => {
        if (inFlight === 0) return resume(Effect.void)
        drained = () => resume(Effect.void)
      }).pipe(Effect.timeout("1 second"), Effect.ignore)
    )

    return Transport.of({
      local,
      group: { address: options.group, port: options.port },
      send: (to, bytes) =>
        Effect.try({
          try: () => {
            const address = to._tag === "Group" ? options.group : to.address
            const port = to._tag === "Group" ? options.port : to.port
            inFlight++
            unicast.send(bytes, port, address, (cause) => {
              if (cause) (sendErrors++, (lastSendError = cause))
              if (--inFlight === 0) drained?.()
            })
          },
          catch: (cause) => new TransportError({ reason: "Send", detail: String(cause), cause })
        }),
      incoming: Stream.fromQueue(queue),
      stats: Effect.suspend(() => {
        const e = lastSendError
        lastSendError = undefined
        return Effect.as(e === undefined ? Effect.void : Effect.logWarning(`send failed: ${e.message}`), { overflowed, sendErrors })
      })
    })
  })

export const layer = (options: UdpOptions) => Layer.scoped(Transport, make(options))
