/**
 * `Transport` on `node:dgram`: one system call and one JavaScript callback per datagram. The fallback where the
 * native addon (`NativeTransport`) is not built, and what `MAKUO_IO=dgram` selects. Socket layout: `UdpOptions`.
 */
import { Effect, Layer } from "effect"
import * as dgram from "node:dgram"
import { makeArrivals } from "./arrivals.js"
import { type Datagram, type Destination, eachDatagram, type Layout, Transport, TransportError } from "./Transport.js"
import { membershipDetail, socketLayout, type UdpOptions } from "./UdpOptions.js"

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
    catch: (cause) => new TransportError({ reason: "Membership", detail: membershipDetail(options, cause), cause })
  })

export const make = (options: UdpOptions) =>
  Effect.gen(function*() {
    const received = makeArrivals(options.queueCapacity)
    let sendErrors = 0
    let lastSendError: Error | undefined
    // sends handed to the socket and not yet completed; the sockets close only once they are out (EXIT!)
    let inFlight = 0
    let drained: (() => void) | undefined
    const { local, shared } = socketLayout(options)
    const unicast = yield* openSocket(options, options.bind, false)
    yield* configure(options, unicast, !shared, shared)
    // datagrams of one event-loop turn reach the consumer together: one wake-up per batch, not per datagram
    let batch: Array<Datagram> = []
    const flush = () => {
      received.offer(batch)
      batch = []
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

    const destination = (to: Destination) =>
      to._tag === "Group" ? { address: options.group, port: options.port } : { address: to.address, port: to.port }
    const sent = (cause: Error | null) => {
      if (cause) (sendErrors++, (lastSendError = cause))
      if (--inFlight === 0) drained?.()
    }
    const sendNow = (bytes: Uint8Array, port: number, address: string) => {
      inFlight++
      unicast.send(bytes, port, address, sent)
    }
    /** Datagrams laid out back to back in `bytes` as `layout` says: one socket send each. */
    const sendRun = (to: Destination, bytes: Uint8Array, layout: Layout | undefined) => {
      const { address, port } = destination(to)
      eachDatagram(bytes, layout, (datagram) => sendNow(datagram, port, address))
    }
    const attempt = (f: () => void) =>
      Effect.try({ try: f, catch: (cause) => new TransportError({ reason: "Send", detail: String(cause), cause }) })

    return Transport.of({
      local,
      group: { address: options.group, port: options.port },
      send: (to, bytes, layout) => {
        try {
          sendRun(to, bytes, layout)
        } catch (cause) {
          // a closed socket throws instead of calling back: counted like a failure it reports
          sent(cause as Error)
        }
      },
      // libuv may queue a datagram until the socket is writable: one copy of the run outlives the caller's buffer
      sendSegments: (to, bytes, segment) => attempt(() => sendRun(to, Uint8Array.prototype.slice.call(bytes), segment)),
      consume: received.consume,
      stats: Effect.suspend(() => {
        const e = lastSendError
        lastSendError = undefined
        return Effect.as(e === undefined ? Effect.void : Effect.logWarning(`send failed: ${e.message}`), {
          io: "dgram" as const,
          overflowed: received.overflowed(),
          // node:dgram asks for no SO_RXQ_OVFL and hands over no control messages
          kernelDrops: null,
          sendErrors
        })
      })
    })
  })

export const layer = (options: UdpOptions) => Layer.scoped(Transport, make(options))
