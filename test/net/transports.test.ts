/**
 * Both live transports on loopback (127.0.0.x, multicast on interface 127.0.0.1): DATA bursts leave as the plain
 * v7 datagrams a `node:dgram` socket and the codec see, whatever the I/O path; batches larger than one receive
 * batch or one GSO call arrive whole and in order; GRO-coalesced arrivals are split back into datagrams; socket
 * errors are typed.
 */
import { incoming } from "../support/incoming.js"
import { describe, expect, it } from "@effect/vitest"
import { Chunk, Effect, Either, Layer, Stream } from "effect"
import * as dgram from "node:dgram"
import * as DgramTransport from "../../src/net/DgramTransport.js"
import { constants } from "node:os"
import { loadNative, type NativeSocket, type NativeUdp, RECV_META } from "../../src/net/native.js"
import * as NativeTransport from "../../src/net/NativeTransport.js"
import { ipv4ToU32 } from "../../src/net/NativeTransport.js"
import { Group, Peer, Transport, type TransportShape } from "../../src/net/Transport.js"
import type { UdpOptions } from "../../src/net/UdpOptions.js"
import { BLOCK_SIZE, HEADER_SIZE, SendState } from "../../src/protocol/v7/constants.js"
import { DATA_SEGMENT, writeDataHeader } from "../../src/protocol/v7/dataLayout.js"
import type { Message } from "../../src/protocol/v7/message.js"
import { decode, encode } from "../../src/protocol/v7/codec.js"
import { freePort } from "../../scripts/lib/loopbackCluster.js"
import { type Ipv4, type ReqId } from "../../src/protocol/fields.js"

const native = loadNative()
const EMSGSIZE = constants.errno.EMSGSIZE
const forced = process.env["MAKUO_IO"] === "dgram"

describe("the native I/O addon", () => {
  it.skipIf(forced)("is built by npm ci and loads (MAKUO_IO=dgram runs this file on the fallback alone)", () => {
    expect(typeof native === "string" ? native : "loaded").toBe("loaded")
  })

  it.skipIf(forced)("hands the C heap's free pages back to the kernel when a daemon has settled (malloc_trim: 1 gave some, 0 none)", () => {
    expect(typeof native === "string" ? native : [0, 1]).toContain(typeof native !== "string" && native.trim?.())
  })

  it.skipIf(forced)("drops the pages of node's executable from the resident set, and the process runs on from the page cache", () => {
    if (typeof native === "string") return expect.fail(native)
    const before = process.memoryUsage().rss
    const dropped = native.dropCodePages?.() ?? 0
    const after = process.memoryUsage().rss
    expect(dropped).toBeGreaterThan(1 << 20)
    expect(after).toBeLessThan(before)
    // the code dropped is faulted in again as it runs: V8's builtins live in the executable
    expect(JSON.parse(JSON.stringify({ a: [1, 2, 3] }))).toEqual({ a: [1, 2, 3] })
  })
})

const GROUP = "224.0.0.108"

/** `count` datagrams of unequal lengths (1 to 1400 bytes, each filled with its own index) laid out back to back. */
const unequal = (count: number) => {
  const lengths = Uint32Array.from({ length: count }, (_, i) => 1 + ((i * 389) % 1400))
  const bytes = new Uint8Array(lengths.reduce((a, l) => a + l, 0))
  for (let i = 0, at = 0; i < count; at += lengths[i]!, i++) bytes.fill(i & 0xff, at, at + lengths[i]!)
  const datagrams = (from = 0) => [...lengths].map((l, i) => Buffer.alloc(l, i & 0xff)).slice(from)
  return { lengths, bytes, datagrams }
}

const options = (bind: string, port: number): UdpOptions => ({
  bind,
  port,
  group: GROUP,
  interface: "127.0.0.1",
  ttl: 1,
  recvBufferSize: 4 << 20,
  sendBufferSize: 2 << 20,
  queueCapacity: 65_536
})

type Make = (o: UdpOptions) => Layer.Layer<Transport, unknown>
const paths: ReadonlyArray<readonly [string, Make]> = [
  ["node:dgram", DgramTransport.layer],
  ...(typeof native === "string" ? [] : [
    ["native (GSO)", (o: UdpOptions) => NativeTransport.layer(native, o, "gso")] as const,
    ["native (sendmmsg, as on a kernel that refuses GSO)", (o: UdpOptions) => NativeTransport.layer(native, o, "sendmmsg")] as const
  ])
]

const build = (make: Make, o: UdpOptions) => Effect.map(Layer.build(make(o)), (ctx) => ctx.unsafeMap.get(Transport.key) as TransportShape)

/** A plain node:dgram socket on `address:port`, collecting what arrives, as a capture tool would. */
const capture = (address: string, port: number) =>
  Effect.acquireRelease(
    Effect.async<{ readonly got: Array<Buffer>; readonly socket: dgram.Socket }>((resume) => {
      const socket = dgram.createSocket({ type: "udp4", recvBufferSize: 8 << 20 })
      const got: Array<Buffer> = []
      socket.on("message", (m) => void got.push(m))
      socket.bind(port, address, () => resume(Effect.succeed({ got, socket })))
    }),
    ({ socket }) => Effect.sync(() => socket.close())
  )

const until = (check: () => boolean) =>
  Effect.gen(function*() {
    for (let i = 0; i < 200 && !check(); i++) yield* Effect.promise(() => new Promise((r) => setTimeout(r, 10)))
  })

const header = (reqid: number) => ({
  opcode: 2, nstate: SendState.DATA, ostate: 0, flags: 0, reqid: reqid as ReqId, seqno: 0,
  maddr: GROUP as Ipv4, mport: 5000, error: 0, hash: new Uint8Array(16)
})

/** `count` DATA datagrams of a file of `size` bytes from block `first`, laid out as the sender lays out a burst. */
const burst = (reqid: number, first: number, count: number, size: number) => {
  const template = Either.getOrThrow(encode({ header: header(reqid), payload: { _tag: "DataBlock", bytes: new Uint8Array(0) } }))
  const lengths = Array.from({ length: count }, (_, i) => Math.min(BLOCK_SIZE, size - (first + i) * BLOCK_SIZE))
  const out = new Uint8Array(lengths.reduce((a, l) => a + HEADER_SIZE + l, 0))
  const expected: Array<Message> = []
  lengths.forEach((length, i) => {
    const at = i * DATA_SEGMENT
    writeDataHeader(out, at, template, first + i, length)
    const bytes = out.subarray(at + HEADER_SIZE, at + HEADER_SIZE + length)
    for (let k = 0; k < length; k++) bytes[k] = (first + i + k * 7) & 0xff
    expected.push({ header: { ...header(reqid), seqno: first + i }, payload: { _tag: "DataBlock", bytes: bytes.slice() } })
  })
  return { out, expected }
}

describe.skipIf(typeof native === "string")("the addon's send of datagrams of unequal lengths (sendEach)", () => {
  const addon = native as NativeUdp
  const open = (address: string, port: number) =>
    Effect.acquireRelease(
      Effect.sync(() => addon.open(ipv4ToU32(address), port, 0, 0, 0, () => {}) as NativeSocket),
      (s) => Effect.sync(() => addon.close(s))
    )

  it.scopedLive("hands a burst of 150 datagrams of unequal lengths to the kernel in one call: they reach a plain socket whole and in order", () =>
    Effect.gen(function*() {
      const port = yield* freePort(["127.0.0.35", "127.0.0.36"])
      const s = yield* open("127.0.0.35", port)
      const { got } = yield* capture("127.0.0.36", port)
      const { lengths, bytes, datagrams } = unequal(150)
      // at an offset into a larger buffer, as a burst sealed into a reused one
      const buffer = new Uint8Array(bytes.length + 100)
      buffer.set(bytes, 60)
      expect(addon.sendEach(s, ipv4ToU32("127.0.0.36"), port, buffer, 60, lengths, 0)).toBe(bytes.length)
      yield* until(() => got.length >= 150)
      expect(got).toEqual(datagrams())
    }))

  it.scopedLive("sends the rest of a burst from its first datagram not sent; refuses a datagram over 65507 bytes and lengths past the buffer", () =>
    Effect.gen(function*() {
      const port = yield* freePort(["127.0.0.37", "127.0.0.38"])
      const s = yield* open("127.0.0.37", port)
      const { got } = yield* capture("127.0.0.38", port)
      const to = ipv4ToU32("127.0.0.38")
      const { lengths, bytes, datagrams } = unequal(20)
      const at = lengths.subarray(0, 12).reduce((a, l) => a + l, 0)
      expect(addon.sendEach(s, to, port, bytes, at, lengths, 12)).toBe(bytes.length - at)
      yield* until(() => got.length >= 8)
      expect(got).toEqual(datagrams(12))
      expect(addon.sendEach(s, to, port, new Uint8Array(70_000), 0, Uint32Array.of(100, 65_508), 0)).toBe(-EMSGSIZE)
      expect(() => addon.sendEach(s, to, port, bytes, 1, lengths, 0)).toThrow(RangeError)
      yield* Effect.sleep("100 millis")
      expect(got.length).toBe(8)
    }))

  it.scopedLive("groups each run of datagrams of one length (ended by a shorter one) into one GSO send: a GRO socket gets runs, the datagrams whole and in order; without GSO, one by one", () =>
    Effect.gen(function*() {
      const port = yield* freePort(["127.0.0.43", "127.0.0.44"])
      // a bundle stream's burst: full blocks, each file's last one shorter, and a run longer than one GSO send takes
      const lengths = Uint32Array.from([...Array(5).fill(1000), 300, ...Array(3).fill(1000), 1, 1000, 1000, 0, 7, ...Array(70).fill(900), 20])
      const bytes = new Uint8Array(lengths.reduce((a, l) => a + l, 0))
      for (let i = 0, at = 0; i < lengths.length; at += lengths[i]!, i++) bytes.fill(i & 0xff, at, at + lengths[i]!)
      const datagrams = [...lengths].map((l, i) => [...Buffer.alloc(l, i & 0xff)])
      const receiver = yield* open("127.0.0.44", port)
      expect(addon.setInt(receiver, addon.constants.SOL_UDP, addon.constants.UDP_GRO, 1)).toBe(0)
      const slots = new Uint8Array(64 * 65_536)
      const meta = new Uint32Array(64 * RECV_META)
      /** What arrives, as [segment, datagrams] per arrival, until `count` datagrams did. */
      const arrivals = (count: number) =>
        Effect.gen(function*() {
          const out: Array<readonly [number, Array<Array<number>>]> = []
          let n = 0
          yield* until(() => {
            const got = addon.recv(receiver, slots, 65_536, meta)
            for (let i = 0; i < got; i++) {
              const [length, , , segment] = meta.subarray(i * RECV_META, i * RECV_META + 4)
              const step = segment === 0 ? Math.max(length!, 1) : segment!
              const pieces: Array<Array<number>> = []
              for (let o = 0; o < Math.max(length!, 1); o += step) pieces.push([...slots.subarray(i * 65_536 + o, i * 65_536 + Math.min(o + step, length!))])
              out.push([segment!, pieces])
              n += pieces.length
            }
            return n >= count
          })
          return out
        })
      const s = yield* open("127.0.0.43", port)
      for (const gso of [true, false]) {
        if (!gso) addon.noGso(s)
        expect(addon.sendEach(s, ipv4ToU32("127.0.0.44"), port, bytes, 0, lengths, 0)).toBe(bytes.length)
        const got = yield* arrivals(lengths.length)
        expect(got.flatMap(([, pieces]) => pieces)).toEqual(datagrams)
        expect(addon.gso(s)).toBe(gso)
        if (gso) {
          // 5 + 300, 3 + 1, 2 (the empty one alone), 7 alone, 64 of the 900s, then 6 + 20
          expect(got.map(([segment, pieces]) => [segment, pieces.length])).toEqual([[1000, 6], [1000, 4], [1000, 2], [0, 1], [0, 1], [900, 64], [900, 7]])
        } else expect(got.every(([segment, pieces]) => segment === 0 && pieces.length === 1)).toBe(true)
      }
    }))

  it.scopedLive("a burst the kernel takes a few datagrams at a time (its socket buffer full) goes on, once writable, from the first datagram not taken", () =>
    Effect.gen(function*() {
      const port = yield* freePort(["127.0.0.41", "127.0.0.42"])
      const firsts: Array<number> = []
      // the real addon, whose sendmmsg takes at most 7 datagrams a call, as a socket whose buffer fills
      const sendEach: NativeUdp["sendEach"] = (s, address, port, buffer, offset, lengths, first) => {
        firsts.push(first)
        return addon.sendEach(s, address, port, buffer, offset, lengths.subarray(0, first + 7), first)
      }
      const full = Object.create(addon, { sendEach: { value: sendEach } }) as NativeUdp
      const t = yield* build((o) => NativeTransport.layer(full, o), options("127.0.0.41", port))
      const { got } = yield* capture("127.0.0.42", port)
      const { lengths, bytes, datagrams } = unequal(50)
      // queued, not taken at once: the bytes are the transport's until they are out
      expect(t.sendReusable!(Peer({ address: "127.0.0.42", port }), bytes, lengths)).toBe(false)
      yield* until(() => got.length >= 50)
      expect(got).toEqual(datagrams())
      expect(firsts).toEqual([0, 7, 14, 21, 28, 35, 42, 49])
      expect((yield* t.stats).sendErrors).toBe(0)
    }))

  it.scopedLive("holds its socket after a wake-up that read a little bulk (a slow stream's Data), never after ACK-sized datagrams or a big read; every datagram still arrives, in order", () =>
    Effect.gen(function*() {
      const port = yield* freePort(["127.0.0.45", "127.0.0.46"])
      const holds: Array<number> = []
      // the real addon, its holds recorded
      const hold = (s: NativeSocket, ms: number) => (holds.push(ms), addon.hold!(s, ms))
      const recorded = Object.create(addon, { hold: { value: hold } }) as NativeUdp
      const receiver = yield* build((o) => NativeTransport.layer(recorded, o), options("127.0.0.45", port))
      const sender = yield* build((o) => NativeTransport.layer(addon, o), options("127.0.0.46", port))
      const to = Peer({ address: "127.0.0.45", port })
      const got: Array<number> = []
      receiver.consume((batch) => void got.push(...batch.map((d) => d.bytes.length)))
      const arrive = (bytes: Uint8Array, layout = 0) =>
        Effect.gen(function*() {
          const before = got.length
          sender.send(to, bytes, layout)
          yield* until(() => got.length > before)
          // the hold's timer runs out and reads nothing more
          yield* Effect.sleep("20 millis")
        })
      yield* arrive(new Uint8Array(100))
      expect(holds).toEqual([])
      yield* arrive(new Uint8Array(1400))
      expect(holds.length).toBe(1)
      expect(holds[0]).toBeGreaterThan(0)
      // 40 Data of 1400 bytes (55 KiB: one GSO send, one GRO arrival) at once: a fast stream's read, not held
      yield* arrive(new Uint8Array(40 * 1400), 1400)
      yield* until(() => got.length >= 42)
      expect(holds.length).toBe(1)
      // a slow stream: one Data per millisecond, held between reads, none lost or reordered
      for (let i = 0; i < 50; i++) {
        sender.send(to, new Uint8Array(1000 + i))
        yield* Effect.sleep("1 millis")
      }
      yield* until(() => got.length >= 92)
      expect(got.slice(42)).toEqual(Array.from({ length: 50 }, (_, i) => 1000 + i))
      expect(holds.length).toBeGreaterThan(1)
    }))
})

for (const [name, make] of paths) {
  describe(`${name} transport`, () => {
    it.scopedLive("a burst of 150 datagrams of unequal lengths (send with their lengths) reaches a plain socket whole and in order", () =>
      Effect.gen(function*() {
        const port = yield* freePort(["127.0.0.39", "127.0.0.40"])
        const t = yield* build(make, options("127.0.0.39", port))
        const { got } = yield* capture("127.0.0.40", port)
        const { lengths, bytes, datagrams } = unequal(150)
        t.send(Peer({ address: "127.0.0.40", port }), bytes, lengths)
        yield* until(() => got.length >= 150)
        expect(got).toEqual(datagrams())
        expect((yield* t.stats).sendErrors).toBe(0)
      }))

    it.scopedLive("a DATA burst (a 150-datagram run ending in a short block) reaches a plain socket as v7 datagrams, in order", () =>
      Effect.gen(function*() {
        const port = yield* freePort(["127.0.0.21", "127.0.0.22"])
        const t = yield* build(make, options("127.0.0.21", port))
        const { got } = yield* capture("127.0.0.22", port)
        const size = 149 * BLOCK_SIZE + 300
        const { out, expected } = burst(41, 0, 150, size)
        yield* t.sendSegments(Peer({ address: "127.0.0.22", port }), out, DATA_SEGMENT)
        expect((yield* t.stats).io).toBe(name.startsWith("native (GSO") ? "gso" : name.startsWith("native") ? "sendmmsg" : "dgram")
        out.fill(0) // the buffer is the caller's again once sendSegments is done
        yield* until(() => got.length >= 150)
        expect(got.map((b) => b.length)).toEqual(expected.map((m) => HEADER_SIZE + (m.payload._tag === "DataBlock" ? m.payload.bytes.length : 0)))
        got.forEach((bytes, i) => {
          const decoded = Either.getOrThrow(decode(new Uint8Array(bytes)))
          expect(decoded).toEqual(expected[i])
          expect(Buffer.from(Either.getOrThrow(encode(decoded)))).toEqual(bytes)
        })
      }))

    it.scopedLive("receives a burst larger than one receive batch whole and in order, split into datagrams (GRO or not)", () =>
      Effect.gen(function*() {
        const port = yield* freePort(["127.0.0.23", "127.0.0.24"])
        const receiver = yield* build(make, options("127.0.0.23", port))
        const sender = yield* build(make, options("127.0.0.24", port))
        const { out, expected } = burst(42, 1000, 300, 2000 * BLOCK_SIZE)
        const received = yield* Effect.fork(Stream.runCollect(Stream.take(incoming(receiver), 300)))
        for (let i = 0; i < 5; i++) {
          yield* sender.sendSegments(Peer({ address: "127.0.0.23", port }), out.subarray(i * 60 * DATA_SEGMENT, (i + 1) * 60 * DATA_SEGMENT), DATA_SEGMENT)
        }
        const got = Chunk.toReadonlyArray(yield* received.await.pipe(Effect.flatten, Effect.timeout("5 seconds")))
        expect(got.map((d) => d.from)).toEqual(got.map(() => ({ address: "127.0.0.24", port })))
        expect(got.map((d) => Either.getOrThrow(decode(d.bytes)))).toEqual(expected)
      }))

    it.scopedLive("multicast reaches the other daemon on the group, never the sender itself", () =>
      Effect.gen(function*() {
        const port = yield* freePort(["127.0.0.25", "127.0.0.26"])
        const a = yield* build(make, options("127.0.0.25", port))
        const b = yield* build(make, options("127.0.0.26", port))
        const { out, expected } = burst(43, 0, 3, 3 * BLOCK_SIZE)
        const atB = yield* Effect.fork(Stream.runCollect(Stream.take(incoming(b), 3)))
        const atA = yield* Effect.fork(Stream.runCollect(Stream.take(incoming(a), 1)))
        yield* a.sendSegments(Group, out, DATA_SEGMENT)
        const got = Chunk.toReadonlyArray(yield* atB.await.pipe(Effect.flatten, Effect.timeout("5 seconds")))
        expect(got.map((d) => Either.getOrThrow(decode(d.bytes)))).toEqual(expected)
        yield* Effect.sleep("200 millis")
        expect(atA.unsafePoll()).toBeNull()
      }))

    it.scopedLive.skipIf(!name.startsWith("native"))("reads each batch into the same receive slots: the consumer gets views, no buffer of its own per batch", () =>
      Effect.gen(function*() {
        const port = yield* freePort(["127.0.0.29", "127.0.0.30"])
        const receiver = yield* build(make, options("127.0.0.29", port))
        const sender = yield* build(make, options("127.0.0.30", port))
        const seen: Array<{ readonly buffer: ArrayBufferLike; readonly offset: number; readonly first: number }> = []
        receiver.consume((batch) => void seen.push(...batch.map((d) => ({ buffer: d.bytes.buffer, offset: d.bytes.byteOffset, first: d.bytes[0]! }))))
        for (const mark of [1, 2, 3]) {
          sender.send(Peer({ address: "127.0.0.29", port }), new Uint8Array(100).fill(mark))
          yield* until(() => seen.length === mark)
        }
        expect(seen.map((s) => s.first)).toEqual([1, 2, 3])
        expect(seen.map((s) => s.offset)).toEqual([0, 0, 0])
        expect(new Set(seen.map((s) => s.buffer)).size).toBe(1)
      }))

    it.scopedLive.skipIf(!name.startsWith("native"))("grows its receive space under a burst without a buffer per size: the full space once, smaller ones its views", () =>
      Effect.gen(function*() {
        const port = yield* freePort(["127.0.0.33", "127.0.0.34"])
        const receiver = yield* build(make, options("127.0.0.33", port))
        const sender = yield* build(make, options("127.0.0.34", port))
        const buffers = new Set<ArrayBufferLike>()
        let count = 0
        receiver.consume((batch) => {
          count += batch.length
          for (const d of batch) buffers.add(d.bytes.buffer)
        })
        // 2000 datagrams queued at the receiver before it reads: batch after batch comes back full, and the slots
        // double from the quiet few to the most (some may be dropped: only the buffers they arrived in count)
        for (let i = 0; i < 10; i++) sender.send(Peer({ address: "127.0.0.33", port }), new Uint8Array(200 * 1400).fill(i), 1400)
        yield* until(() => count >= 1000)
        yield* Effect.sleep("100 millis")
        expect(count).toBeGreaterThanOrEqual(1000)
        // the quiet slots and the full space: no buffer of its own for each size in between
        expect(buffers.size).toBeLessThanOrEqual(2)
      }))

    it.scopedLive.skipIf(!name.startsWith("native"))("makes its full receive space once, not once per burst: a calm spell between bursts makes no second one", () =>
      Effect.gen(function*() {
        const port = yield* freePort(["127.0.0.35", "127.0.0.36"])
        const receiver = yield* build(make, options("127.0.0.35", port))
        const sender = yield* build(make, options("127.0.0.36", port))
        const to = Peer({ address: "127.0.0.35", port })
        const buffers = new Set<ArrayBufferLike>()
        let count = 0
        receiver.consume((batch) => {
          count += batch.length
          for (const d of batch) buffers.add(d.bytes.buffer)
        })
        const burst = (mark: number) =>
          Effect.gen(function*() {
            const before = count
            for (let i = 0; i < 10; i++) sender.send(to, new Uint8Array(200 * 1400).fill(mark), 1400)
            yield* until(() => count - before >= 1000)
            yield* Effect.sleep("100 millis")
          })
        yield* burst(1)
        // a calm spell: one datagram per wake-up, enough of them for the slots to halve back to the quiet few
        for (let i = 0; i < 300; i++) {
          const before = count
          sender.send(to, new Uint8Array([9]))
          for (let t = 0; t < 1000 && count === before; t++) yield* Effect.sleep("1 millis")
        }
        yield* burst(2)
        // the quiet slots and the one full space: a full space made again per burst was let go only at a full
        // collection, MiBs of a transfer's resident set per calm spell
        expect(buffers.size).toBeLessThanOrEqual(2)
      }))

    it.scopedLive("a bind conflict and an interface that is not this host's are typed errors naming what failed", () =>
      Effect.gen(function*() {
        const port = yield* freePort(["127.0.0.27"])
        yield* capture("127.0.0.27", port)
        const conflict = yield* Effect.flip(build(make, options("127.0.0.27", port)))
        expect(conflict).toMatchObject({ _tag: "TransportError", reason: "Bind" })
        expect((conflict as Error).message).toContain(`127.0.0.27:${port}`)
        expect((conflict as Error).message).toMatch(/EADDRINUSE/)
        // 192.0.2.1 (TEST-NET-1) is on no interface here: the kernel refuses it before anything is sent
        const badInterface = yield* Effect.flip(build(make, { ...options("127.0.0.28", port), interface: "192.0.2.1" }))
        expect(badInterface).toMatchObject({ _tag: "TransportError", reason: "Membership" })
        expect((badInterface as Error).message).toContain("192.0.2.1")
      }))
  })
}
