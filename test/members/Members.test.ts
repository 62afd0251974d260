import { describe, expect, it } from "@effect/vitest"
import { Context, Duration, Effect, Either, FastCheck as fc, Fiber, Layer } from "effect"
import { Group, Transport } from "../../src/net/Transport.js"
import { encode } from "../../src/protocol/native/codec.js"
import { NativeType, type WallNs } from "../../src/protocol/native/message.js"
import { advance, hostsSeenBy, settle, startNode, type TestNode } from "../support/cluster.js"
import * as MemoryNetwork from "../support/MemoryNetwork.js"
import { clockReading } from "../../src/domain/member.js"
import { generateKey, ringOf } from "../secure/support.js"
import { type ReqId } from "../../src/protocol/fields.js"

/** `makuo doctor`'s PING of the group, the test clock moved past its wait. */
const probe = (node: TestNode) =>
  Effect.flatMap(Effect.fork(node.members.probe(Duration.millis(500))), (f) => Effect.zipRight(advance("1 second"), Fiber.join(f)))

const addresses = (n: number) => Array.from({ length: n }, (_, i) => `10.0.0.${i + 1}`)

describe("Members on the in-memory network", () => {
  it.scoped("three daemons list each other: the late ones learn the early ones from PONGs", () =>
    Effect.gen(function*() {
      const net = yield* MemoryNetwork.make({ seed: 1 })
      const [a, b, c] = yield* Effect.forEach(addresses(3), (addr) => startNode(net, addr))
      expect(yield* hostsSeenBy(a!)).toEqual(["h2", "h3"])
      expect(yield* hostsSeenBy(b!)).toEqual(["h1", "h3"])
      expect(yield* hostsSeenBy(c!)).toEqual(["h1", "h2"])
      const seen = (yield* a!.members.list).find((m) => m.host === "h2")!
      expect(seen).toMatchObject({ address: "10.0.0.2", port: 5000, version: "test" })
    }))

  it.scoped("a lost start-up PING is healed by the first keep-alive at 45 s", () =>
    Effect.gen(function*() {
      const net = yield* MemoryNetwork.make({ seed: 2 })
      const a = yield* startNode(net, "10.0.0.1")
      yield* net.partition(["10.0.0.1"], ["10.0.0.2"])
      const b = yield* startNode(net, "10.0.0.2")
      yield* net.heal
      expect(yield* hostsSeenBy(a)).toEqual([])
      yield* advance("44 seconds")
      expect(yield* hostsSeenBy(a)).toEqual([])
      yield* advance("2 seconds")
      expect(yield* hostsSeenBy(a)).toEqual(["h2"])
      expect(yield* hostsSeenBy(b)).toEqual(["h1"])
    }))

  it.scoped("a silent member is evicted at the timeout and not before; a live one is kept by keep-alives", () =>
    Effect.gen(function*() {
      const net = yield* MemoryNetwork.make({ seed: 3 })
      const [a, , c] = yield* Effect.forEach(addresses(3), (addr) => startNode(net, addr, { members: { memberTimeout: Duration.seconds(300) } }))
      yield* net.partition(["10.0.0.2"], ["10.0.0.1", "10.0.0.3"])
      yield* advance("299 seconds")
      expect(yield* hostsSeenBy(a!)).toEqual(["h2", "h3"])
      yield* advance("2 seconds")
      expect(yield* hostsSeenBy(a!)).toEqual(["h3"])
      expect(yield* hostsSeenBy(c!)).toEqual(["h1"])
      yield* advance("600 seconds")
      expect(yield* hostsSeenBy(a!)).toEqual(["h3"])
    }))

  it.scoped("a short --member-timeout shortens the keep-alive: live members stay, a silent one goes", () =>
    Effect.gen(function*() {
      const net = yield* MemoryNetwork.make({ seed: 6 })
      const [a, b] = yield* Effect.forEach(addresses(3), (addr) => startNode(net, addr, { members: { memberTimeout: Duration.seconds(2) } }))
      yield* advance("60 seconds")
      expect(yield* hostsSeenBy(a!)).toEqual(["h2", "h3"])
      yield* net.partition(["10.0.0.3"], ["10.0.0.1", "10.0.0.2"])
      yield* advance("1500 millis")
      expect(yield* hostsSeenBy(a!)).toEqual(["h2", "h3"])
      yield* advance("2 seconds")
      expect([yield* hostsSeenBy(a!), yield* hostsSeenBy(b!)]).toEqual([["h2"], ["h1"]])
    }))

  it.scoped("EXIT removes the member at once and is announced on the change stream", () =>
    Effect.gen(function*() {
      const net = yield* MemoryNetwork.make({ seed: 4 })
      const [a, b] = yield* Effect.forEach(addresses(2), (addr) => startNode(net, addr))
      yield* b!.stop
      yield* settle
      expect(yield* hostsSeenBy(a!)).toEqual([])
      expect(a!.changes.map((c) => c._tag)).toEqual(["Joined", "Left"])
      expect(a!.changes[1]).toMatchObject({ _tag: "Left", reason: "exit", member: { host: "h2" } })
    }))

  it.scoped("a partition longer than the timeout evicts both ways; after healing, keep-alives re-add", () =>
    Effect.gen(function*() {
      const net = yield* MemoryNetwork.make({ seed: 5 })
      const [a, b] = yield* Effect.forEach(addresses(2), (addr) => startNode(net, addr, { members: { memberTimeout: Duration.seconds(120) } }))
      yield* net.partition(["10.0.0.1"], ["10.0.0.2"])
      yield* advance("121 seconds")
      expect([yield* hostsSeenBy(a!), yield* hostsSeenBy(b!)]).toEqual([[], []])
      yield* net.heal
      yield* advance("61 seconds")
      expect([yield* hostsSeenBy(a!), yield* hostsSeenBy(b!)]).toEqual([["h2"], ["h1"]])
    }))

  it.effect.prop(
    "duplicated, delayed and reordered membership traffic leaves each node listing every other exactly once",
    [fc.integer({ min: 2, max: 5 }), fc.integer(), fc.double({ min: 0, max: 0.9, noNaN: true })],
    ([n, seed, duplicate]) =>
      Effect.scoped(Effect.gen(function*() {
        const net = yield* MemoryNetwork.make({ seed, impairments: { loss: 0, duplicate, maxDelayMs: 300 } })
        const nodes = yield* Effect.forEach(addresses(n), (addr) => startNode(net, addr))
        yield* advance("100 seconds")
        for (const node of nodes) {
          const others = nodes.filter((o) => o !== node).map((o) => `h${o.address.split(".")[3]}`)
          expect(yield* hostsSeenBy(node)).toEqual(others)
          // duplicates and stale copies refresh; they never re-announce a join or evict anyone
          expect(node.changes.map((c) => `${c._tag} ${c.member.host}`).sort()).toEqual(others.map((h) => `Joined ${h}`))
        }
      })),
    { fastCheck: { numRuns: Number(process.env.MAKUO_PROP_RUNS ?? 12) } }
  )

  it.scoped("keyed daemons speak native membership: each PONG measures the member's clock, kept in the table and in probe answers", () =>
    Effect.gen(function*() {
      const net = yield* MemoryNetwork.make({ seed: 7 })
      const keys = ringOf(generateKey())
      const [a, b] = yield* Effect.forEach(addresses(2), (addr) => startNode(net, addr, { keys }))
      yield* advance("1 second")
      expect([yield* hostsSeenBy(a!), yield* hostsSeenBy(b!)]).toEqual([["h2"], ["h1"]])
      // only a native PONG carries time: a clock reading proves the members spoke native membership
      // (the test clock is the same for both: no offset, no round trip)
      expect((yield* a!.members.list)[0]?.clock).toEqual({ offsetMs: 0, rttMs: 0, at: expect.any(Number) })
      const answers = yield* probe(a!)
      expect(answers).toEqual([{ host: "h2", address: "10.0.0.2", rttMs: 0, offsetMs: 0 }])
      yield* b!.stop
      yield* settle
      expect(a!.changes.map((c) => c._tag)).toEqual(["Joined", "Left"])
      expect(a!.changes[1]).toMatchObject({ reason: "exit" })
    }))

  it.scoped("an unkeyed daemon's members carry no clock reading: protocol v7 has no time", () =>
    Effect.gen(function*() {
      const net = yield* MemoryNetwork.make({ seed: 8 })
      const [a] = yield* Effect.forEach(addresses(2), (addr) => startNode(net, addr))
      expect((yield* a!.members.list)[0]?.clock).toBeUndefined()
      expect(yield* probe(a!)).toEqual([{ host: "h2", address: "10.0.0.2", rttMs: 0 }])
    }))

  it.scoped("an unkeyed daemon never takes a native message: only the secure transport hands a body up with its type", () =>
    Effect.gen(function*() {
      const net = yield* MemoryNetwork.make({ seed: 9 })
      const a = yield* startNode(net, "10.0.0.1")
      const intruder = yield* Layer.build(net.transport("10.0.0.9")).pipe(Effect.map(Context.get(Transport)))
      const body = Either.getOrThrow(encode({ _tag: "Ping", reqid: 1 as ReqId, time: 0n as WallNs, hostname: "intruder", version: "x", answer: true }))
      intruder.send(Group, body)
      intruder.send(Group, Uint8Array.of(NativeType.PING, ...body))
      yield* settle
      expect(yield* hostsSeenBy(a)).toEqual([])
      expect((yield* a.wire.counters).malformed).toBe(2)
      expect(a.wire.sendNative).toBeUndefined()
    }))

  it("the clock reading: NTP's offset with the member's receive and send times one instant", () => {
    const ms = (n: number) => BigInt(n) * 1_000_000n
    // pinged at 1000 ms (ours); the member, 5 s ahead, answered 10 ms later by our clock; the PONG arrived at 1020
    expect(clockReading(ms(1000), ms(1010 + 5000), ms(1020))).toEqual({ offsetMs: 5000, rttMs: 20, at: 1020 })
    expect(clockReading(ms(1000), ms(1010 - 3000), ms(1020))?.offsetMs).toBe(-3000)
    // our clock stepped back between the PING and its PONG: no reading
    expect(clockReading(ms(1000), ms(990), ms(980))).toBeUndefined()
  })
})
