/**
 * The kernel's receive-drop count (`SO_RXQ_OVFL`) in the transports' stats. A loopback socket with the smallest
 * receive buffer the kernel allows is flooded by a bounded burst sent from this process within one event-loop
 * turn (nothing reads the socket meanwhile): the native transport then reports what the kernel counts for that
 * socket in /proc/net/udp. `node:dgram` cannot read the count: it reports it unknown, never 0.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { readFileSync } from "node:fs"
import { endianness } from "node:os"
import * as DgramTransport from "../../src/net/DgramTransport.js"
import { loadNative } from "../../src/net/native.js"
import * as NativeTransport from "../../src/net/NativeTransport.js"
import { type Datagram, Peer, Transport, type TransportShape } from "../../src/net/Transport.js"
import type { UdpOptions } from "../../src/net/UdpOptions.js"
import { freePort } from "../../scripts/lib/loopbackCluster.js"

const native = loadNative()

const options = (bind: string, port: number, recvBufferSize: number): UdpOptions => ({
  bind,
  port,
  group: "224.0.0.108",
  interface: "127.0.0.1",
  ttl: 1,
  recvBufferSize,
  sendBufferSize: 1 << 20,
  queueCapacity: 65_536
})

const build = (layer: Layer.Layer<Transport, unknown>) => Effect.map(Layer.build(layer), (ctx) => ctx.unsafeMap.get(Transport.key) as TransportShape)

const until = (check: () => boolean) =>
  Effect.gen(function*() {
    for (let i = 0; i < 300 && !check(); i++) yield* Effect.sleep("10 millis")
    expect(check()).toBe(true)
  })

/** The `drops` column of /proc/net/udp for the socket bound to `address:port` (this network namespace's view). */
const procDrops = (address: string, port: number): number => {
  const octets = Buffer.from(address.split(".").map(Number))
  // the kernel prints the address as the integer its network-order bytes make on this machine
  const raw = endianness() === "LE" ? octets.readUInt32LE() : octets.readUInt32BE()
  const local = `${raw.toString(16).toUpperCase().padStart(8, "0")}:${port.toString(16).toUpperCase().padStart(4, "0")}`
  const line = readFileSync("/proc/net/udp", "utf8").split("\n").map((l) => l.trim().split(/\s+/)).find((f) => f[1] === local)
  expect(line, `no socket on ${address}:${port} in /proc/net/udp`).toBeDefined()
  return Number(line!.at(-1))
}

const FLOOD = 200
const SIZE = 1000

describe("the kernel's receive-drop count", () => {
  it.scopedLive.skipIf(typeof native === "string")("native: a flooded loopback socket reports the drops the kernel counts for it", () =>
    Effect.gen(function*() {
      if (typeof native === "string") return
      const port = yield* freePort(["127.0.0.31", "127.0.0.32"])
      // 1 byte asked for: the kernel's minimum, a few datagrams
      const receiver = yield* build(NativeTransport.layer(native, options("127.0.0.31", port, 1), "gso"))
      const sender = yield* build(NativeTransport.layer(native, options("127.0.0.32", port, 0), "sendmmsg"))
      expect((yield* receiver.stats).kernelDrops).toBe(0)
      const got: Array<Datagram> = []
      receiver.consume((batch) => void got.push(...batch))
      const to = Peer({ address: "127.0.0.31", port })
      // FLOOD datagrams of SIZE bytes, handed to the kernel by this call: the receiver is read only after this turn
      sender.send(to, new Uint8Array(FLOOD * SIZE).fill(1), SIZE)
      yield* until(() => got.length > 0)
      expect(got.length).toBeLessThan(FLOOD)
      // a datagram brings the count as of its arrival: one more, queued after the drops, brings them all
      sender.send(to, new Uint8Array([2]))
      yield* until(() => got.at(-1)?.bytes[0] === 2)
      const drops = (yield* receiver.stats).kernelDrops
      expect(drops).toBeGreaterThan(0)
      expect(drops).toBe(procDrops("127.0.0.31", port))
      // every datagram of the flood was either received or counted dropped
      expect(drops).toBe(FLOOD - (got.length - 1))
    }))

  it.scopedLive("node:dgram: unknown, not 0", () =>
    Effect.gen(function*() {
      const port = yield* freePort(["127.0.0.33"])
      const t = yield* build(DgramTransport.layer(options("127.0.0.33", port, 1)))
      expect((yield* t.stats).kernelDrops).toBeNull()
    }))
})
