import { describe, expect, it } from "@effect/vitest"
import { FastCheck as fc } from "effect"
import { frameBytes, HEADER_BYTES, headerRefusal, MAGIC, nonceOf, readHeader, writeHeader } from "../../src/secure/frame.js"
import { keyId } from "../../src/secure/keys.js"
import { Receiver } from "../../src/secure/receiver.js"
import { Sender } from "../../src/secure/sender.js"
import { headerKey, trafficKey } from "../../src/secure/trafficKeys.js"
import { A, enginePairs, engines, generateKey, HERE, isHere, ringOf } from "./support.js"

const runs = { fastCheck: { numRuns: Number(process.env.MAKUO_PROP_RUNS ?? 200) } }
const T0 = 1_800_000_000_000
const SKEW = 30_000
const receiverAt = (ring: ReturnType<typeof ringOf>, engine = engines[0]!) => new Receiver(engine, ring, isHere, { maxSkewMs: SKEW })

const header = fc.record({
  keyId: fc.nat({ max: 0xffff_ffff }).map((n) => keyId(n)),
  epochId: fc.uint8Array({ minLength: 16, maxLength: 16 }),
  counter: fc.nat({ max: Number.MAX_SAFE_INTEGER }),
  sentAt: fc.nat({ max: Number.MAX_SAFE_INTEGER }),
  to: fc.record({ address: fc.ipV4(), port: fc.nat({ max: 65535 }) })
})

const payloads = fc.array(fc.uint8Array({ minLength: 1, maxLength: 1400 }), { minLength: 1, maxLength: 12 })

/** Lays payloads out in one slab with room for header and tag, as a sender's burst would. */
const layout = (payloads: ReadonlyArray<Uint8Array>) => {
  const starts = new Uint32Array(payloads.length)
  const lengths = new Uint32Array(payloads.length)
  let size = 3
  payloads.forEach((p, i) => {
    starts[i] = size
    lengths[i] = p.length
    size += frameBytes(p.length) + 5
  })
  const slab = new Uint8Array(size)
  payloads.forEach((p, i) => slab.set(p, starts[i]! + HEADER_BYTES))
  return { slab, starts, lengths, frames: () => payloads.map((p, i) => slab.slice(starts[i]!, starts[i]! + frameBytes(p.length))) }
}

describe("native frame", () => {
  it.prop("the header codec round-trips, and its first byte is never v7's 7", [header], ([h]) => {
    const bytes = new Uint8Array(frameBytes(1))
    writeHeader(bytes, 0, h)
    expect(bytes[0]).toBe(MAGIC)
    expect(bytes[0]).not.toBe(7)
    expect(readHeader(bytes)).toEqual(h)
  }, runs)

  it.prop(
    "a header judged in place within a slab is refused for what readHeader refuses it for",
    [fc.uint8Array({ maxLength: 120 }), fc.boolean(), fc.nat({ max: 7 }), fc.nat({ max: 7 })],
    ([raw, native, before, after]) => {
      if (native && raw.length > 0) raw[0] = MAGIC
      if (native && raw.length > 1 && raw[1]! % 2 === 0) raw[1] = 3
      const slab = new Uint8Array(before + raw.length + after).fill(0xff)
      slab.set(raw, before)
      const read = readHeader(raw)
      expect(headerRefusal(slab, before, raw.length)).toBe(typeof read === "string" ? read : undefined)
    }
  )

  it.prop("arbitrary bytes never throw and are refused", [fc.uint8Array({ maxLength: 200 }), fc.boolean()], ([raw, native]) => {
    if (native && raw.length > 0) raw[0] = MAGIC
    const r = receiverAt(ringOf(generateKey())).open(raw, A, T0)
    expect(r._tag).toBe("Refused")
  }, runs)

  it.prop(
    "a batch sealed by either engine opens with either engine to the same payloads, and both engines seal the same bytes",
    [payloads, fc.uint8Array({ minLength: 16, maxLength: 16 })],
    ([ps, epochId]) => {
      const group = generateKey()
      const sealed = engines.map((engine) => {
        const out = layout(ps)
        // headers that differ in more than their counters (a send time, here) each get their own header MAC
        ps.forEach((_, i) => writeHeader(out.slab, out.starts[i]!, { keyId: group.id, epochId, counter: i, sentAt: T0 + (i >> 2), to: HERE }))
        engine.seal(engine.key(trafficKey(group, epochId), "seal"), out.slab, out.starts, out.lengths, ps.length, engine.headerKey(headerKey(group)))
        return out.frames()
      })
      for (const frames of sealed) expect(frames).toEqual(sealed[0])
      for (const engine of engines) {
        const key = engine.headerKey(headerKey(group))
        for (const frame of sealed[0]!) expect(engine.headerOk(key, frame)).toBe(true)
      }
      for (const [sealer, opener] of enginePairs) {
        const out = layout(ps)
        new Sender(sealer, group).sealBatch(out.slab, out.starts, out.lengths, ps.length, HERE, T0)
        const results = receiverAt(ringOf(group), opener).openBatch(out.slab, out.starts, out.lengths.map((n) => frameBytes(n)), Array(ps.length).fill(A), ps.length, T0 + 5, 0)
        // authenticated and decrypted; a fresh receiver has admitted no epoch yet, so it hands them back as such
        results.forEach((r, i) => {
          expect(r._tag).toBe("Unadmitted")
          if (r._tag !== "Unadmitted") return
          expect(r.counter).toBe(i)
          expect(r.type).toBe(ps[i]![0])
          expect(Buffer.from(r.body)).toEqual(Buffer.from(ps[i]!.subarray(1)))
        })
      }
    },
    { fastCheck: { numRuns: 50 } }
  )

  it.prop(
    "no two datagrams share a nonce under one traffic key, across restarts and key rotation",
    [fc.array(fc.record({ burst: fc.integer({ min: 1, max: 20 }), restart: fc.boolean(), rotate: fc.boolean() }), { maxLength: 60 })],
    ([steps]) => {
      const keys = [generateKey(), generateKey()]
      const engine = engines[engines.length - 1]!
      let sender = new Sender(engine, keys[0]!)
      let k = 0
      const seen = new Set<string>()
      for (const step of steps) {
        if (step.restart) sender = new Sender(engine, keys[k]!)
        if (step.rotate) sender.rekey(keys[(k = 1 - k)]!)
        const out = layout(Array.from({ length: step.burst }, () => Uint8Array.of(1, 2, 3)))
        sender.sealBatch(out.slab, out.starts, out.lengths, step.burst, HERE, T0)
        for (const frame of out.frames()) {
          const h = readHeader(frame)
          if (typeof h === "string") throw new Error(h)
          const group = keys.find((g) => g.id === h.keyId)!
          const pair = Buffer.from(trafficKey(group, h.epochId)).toString("hex") + "/" + Buffer.from(nonceOf(frame, 0)).toString("hex")
          expect(seen.has(pair)).toBe(false)
          seen.add(pair)
        }
      }
    },
    runs
  )

  it.prop(
    "any single flipped bit or truncation is refused",
    [fc.uint8Array({ minLength: 1, maxLength: 300 }), fc.nat(), fc.integer({ min: 0, max: 7 }), fc.boolean()],
    ([payload, at, bit, truncate]) => {
      for (const [sealer, opener] of enginePairs) {
        const group = generateKey()
        const frame = new Sender(sealer, group).seal(payload[0]!, payload.subarray(1), HERE, T0)
        const bad = truncate ? frame.slice(0, at % frame.length) : frame.slice()
        if (!truncate) bad[at % bad.length]! ^= 1 << bit
        const r = receiverAt(ringOf(group), opener).open(bad, A, T0)
        expect(r._tag).toBe("Refused")
      }
    },
    runs
  )
})
