/**
 * A burst sealed as one run (`Sender.sealRun`, the engines' `sealRun`): the frames laid out, headed, counted and
 * sealed by the engine in one call, byte for byte what a batch laid out by hand and sealed (`sealBatch`) gives.
 */
import { describe, expect, it } from "@effect/vitest"
import { FastCheck as fc } from "effect"
import type { Endpoint } from "../../src/net/Transport.js"
import { addonAead, nodeCryptoAead } from "../../src/secure/aead.js"
import { type FrameHeader, frameBytes, HEADER_BYTES, readHeader, writeHeader } from "../../src/secure/frame.js"
import type { GroupKey } from "../../src/secure/keys.js"
import { Receiver } from "../../src/secure/receiver.js"
import { Sender } from "../../src/secure/sender.js"
import { headerKey, trafficKey } from "../../src/secure/trafficKeys.js"
import { A, engines, generateKey, HERE, isHere, ringOf } from "./support.js"

const T0 = 1_800_000_000_000
const OVERHEAD = frameBytes(1)
const OTHER: Endpoint = { address: "127.0.0.9", port: 8001 }

/** The bodies' lengths as `layout` lays them out (a segment layout: at least one, the last maybe shorter). */
const bodyLengths = (bytes: number, layout: number | Uint32Array): Array<number> => {
  if (typeof layout === "object") return [...layout]
  const out: Array<number> = []
  for (let at = 0; at === 0 || at < bytes; at += layout) out.push(Math.min(layout, bytes - at))
  return out
}

/**
 * The same run laid out by hand, a frame at a time (`writeHeader`), and sealed as a batch by node:crypto: what
 * either engine's `sealRun` must equal.
 */
const byHand = (secret: Uint8Array, group: GroupKey, h: FrameHeader, type: number, bodies: Uint8Array, lengths: ReadonlyArray<number>) => {
  const slab = new Uint8Array(lengths.reduce((n, l) => n + l + OVERHEAD, 0))
  const starts = new Uint32Array(lengths.length)
  const payloads = new Uint32Array(lengths.length)
  for (let i = 0, at = 0, from = 0; i < lengths.length; i++) {
    writeHeader(slab, at, { ...h, counter: h.counter + i })
    starts[i] = at
    payloads[i] = 1 + lengths[i]!
    slab[at + HEADER_BYTES] = type
    slab.set(bodies.subarray(from, from + lengths[i]!), at + HEADER_BYTES + 1)
    from += lengths[i]!
    at += lengths[i]! + OVERHEAD
  }
  nodeCryptoAead.seal(nodeCryptoAead.key(secret, "seal"), slab, starts, payloads, lengths.length, nodeCryptoAead.headerKey(headerKey(group)))
  return slab
}

const run = fc.oneof(
  fc.record({ bytes: fc.integer({ min: 0, max: 4000 }), segment: fc.integer({ min: 40, max: 1500 }) }).map(({ bytes, segment }) => ({ bytes, layout: segment as number | Uint32Array })),
  fc.array(fc.integer({ min: 0, max: 1400 }), { minLength: 1, maxLength: 40 }).map((ls) => ({ bytes: ls.reduce((a, b) => a + b, 0), layout: Uint32Array.from(ls) as number | Uint32Array }))
)

describe.each(engines.map((e) => [e.name, e] as const))("a run sealed in one call, %s", (_, engine) => {
  it.prop(
    "is byte for byte the batch laid out by hand and sealed by node:crypto",
    [run, fc.integer({ min: 0, max: 255 }), fc.nat({ max: 2 ** 40 }), fc.uint8Array({ minLength: 16, maxLength: 16 })],
    ([{ bytes, layout }, type, counter, epochId]) => {
      const group = generateKey()
      const secret = trafficKey(group, epochId)
      const h: FrameHeader = { keyId: group.id, epochId, counter, sentAt: T0, to: HERE }
      const template = new Uint8Array(HEADER_BYTES)
      writeHeader(template, 0, { ...h, counter: 0 })
      const bodies = new Uint8Array(bytes).map((_, i) => (i * 31 + 7) % 256)
      const lengths = bodyLengths(bytes, layout)
      const into = new Uint8Array(bytes + lengths.length * OVERHEAD + 17)
      const written = engine.sealRun(engine.key(secret, "seal"), engine.headerKey(headerKey(group)), template, counter, type, bodies, layout, into)
      expect(written).toBe(bytes + lengths.length * OVERHEAD)
      expect(Buffer.from(into.subarray(0, written))).toEqual(Buffer.from(byHand(secret, group, h, type, bodies, lengths)))
    },
    { fastCheck: { numRuns: 30 } }
  )

  it.prop("a sender's run opens to its bodies, with the counters after its earlier frames", [run, fc.integer({ min: 0, max: 255 })], ([{ bytes, layout }, type]) => {
    const group = generateKey()
    const sender = new Sender(engine, group)
    const bodies = new Uint8Array(bytes).map((_, i) => (i * 13 + 1) % 256)
    const lengths = bodyLengths(bytes, layout)
    sender.seal(3, Uint8Array.of(1), HERE, T0)
    const into = new Uint8Array(bytes + lengths.length * OVERHEAD)
    expect(sender.sealRun(type, bodies, layout, into, HERE, T0 + 1)).toBe(into.length)
    expect(sender.counter).toBe(1 + lengths.length)
    const receiver = new Receiver(engine, ringOf(group), isHere)
    for (let i = 0, at = 0, from = 0; i < lengths.length; from += lengths[i]!, at += lengths[i]! + OVERHEAD, i++) {
      const r = receiver.open(into.slice(at, at + lengths[i]! + OVERHEAD), A, T0 + 1)
      expect(r._tag).toBe("Unadmitted")
      if (r._tag !== "Unadmitted") return
      expect([r.counter, r.type]).toEqual([1 + i, type])
      expect(Buffer.from(r.body)).toEqual(Buffer.from(bodies.subarray(from, from + lengths[i]!)))
    }
  }, { fastCheck: { numRuns: 30 } })

  it("names each run's own destination and epoch, though the header is kept from run to run", () => {
    const [first, second] = [generateKey(), generateKey()]
    const sender = new Sender(engine, first)
    const bodies = new Uint8Array(300)
    const headerOf = (into: Uint8Array) => {
      const h = readHeader(into)
      if (typeof h === "string") throw new Error(h)
      return h
    }
    const seal = (to: Endpoint, now: number) => {
      const into = new Uint8Array(300 + 3 * OVERHEAD)
      sender.sealRun(9, bodies, 100, into, to, now)
      return headerOf(into)
    }
    expect(seal(HERE, T0)).toMatchObject({ to: HERE, sentAt: T0, counter: 0, keyId: first.id })
    expect(seal(HERE, T0 + 5)).toMatchObject({ to: HERE, sentAt: T0 + 5, counter: 3 })
    expect(seal(OTHER, T0 + 6)).toMatchObject({ to: OTHER, sentAt: T0 + 6, counter: 6 })
    const before = sender.epochId.slice()
    sender.rekey(second)
    const h = seal(OTHER, T0 + 7)
    expect(h).toMatchObject({ to: OTHER, counter: 0, keyId: second.id })
    expect(Buffer.from(h.epochId)).not.toEqual(Buffer.from(before))
  })

  it("starts a new epoch for a run that would cross the epoch's limit", () => {
    const sender = new Sender(engine, generateKey(), 5)
    const into = new Uint8Array(4 * (10 + OVERHEAD))
    sender.sealRun(9, new Uint8Array(30), 10, into, HERE, T0)
    const epoch = sender.epochId.slice()
    sender.sealRun(9, new Uint8Array(30), 10, into, HERE, T0)
    expect(Buffer.from(sender.epochId)).not.toEqual(Buffer.from(epoch))
    expect(sender.counter).toBe(3)
  })
})

const addon = addonAead()

describe.skipIf(typeof addon === "string")("the addon's run seal", () => {
  it("refuses, with an error and no crash, a run whose frames would not fit, overlap its bodies or exceed a UDP payload", () => {
    const engine = addon as Exclude<typeof addon, string>
    const group = generateKey()
    const key = engine.key(trafficKey(group, new Uint8Array(16)), "seal")
    const header = engine.headerKey(headerKey(group))
    const template = new Uint8Array(HEADER_BYTES)
    const bodies = new Uint8Array(1000)
    const room = new Uint8Array(1000 + 10 * OVERHEAD)
    const seal = (layout: number | Uint32Array, into = room, from = bodies, counter = 0, type = 1) =>
      engine.sealRun(key, header, template, counter, type, from, layout, into)
    expect(seal(100)).toBe(1000 + 10 * OVERHEAD)
    expect(() => seal(100, room.subarray(0, room.length - 1))).toThrow(TypeError)
    expect(() => seal(0)).toThrow(TypeError)
    expect(() => seal(Uint32Array.of(600, 401))).toThrow(TypeError)
    expect(() => seal(100, room, room.subarray(room.length - 1000))).toThrow(TypeError)
    expect(() => seal(100, room, bodies, 2 ** 53 - 5)).toThrow(TypeError)
    expect(() => seal(100, room, bodies, 2 ** 64)).toThrow(TypeError)
    expect(() => seal(100, room, bodies, 0, 256)).toThrow(TypeError)
    expect(() => seal(100, room, bodies, 1.5)).toThrow(TypeError)
    const big = new Uint8Array(70_000)
    expect(() => seal(65_535, new Uint8Array(70_000 + 2 * OVERHEAD), big)).toThrow(TypeError)
    expect(() => seal(Uint32Array.of(0xffff_ffff, 0xffff_ffff), new Uint8Array(2 * OVERHEAD), new Uint8Array(0))).toThrow(TypeError)
    expect(() => engine.sealRun(key, header, template.subarray(1), 0, 1, bodies, 100, room)).toThrow(TypeError)
    // the largest frame still seals
    const largest = 65_535 - OVERHEAD
    expect(seal(largest, new Uint8Array(65_535), new Uint8Array(largest))).toBe(65_535)
  })
})
