/**
 * The keyed transport's send side over a transport that says whether the kernel took a send at once
 * (`sendReusable`): a burst of native messages is sealed into the buffer of the last burst the kernel took, and
 * never into one still queued in the transport.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { type Destination, Group, type Layout, Transport, type TransportShape } from "../../src/net/Transport.js"
import { FRAME_OVERHEAD } from "../../src/secure/channel.js"
import * as SecureTransport from "../../src/secure/SecureTransport.js"
import { TransferType } from "../../src/protocol/native/transferMessage.js"
import { generateKey, ringOf } from "./support.js"

/** A transport that records what it is handed; `taken` says whether the next reusable send goes out at once. */
const recording = () => {
  const handed: Array<{ readonly bytes: Uint8Array; readonly layout?: Layout; readonly reusable: boolean }> = []
  const state = { taken: true }
  const shape: TransportShape = {
    local: { address: "127.0.0.2", port: 8000 },
    group: { address: "224.0.0.108", port: 8000 },
    send: (_: Destination, bytes: Uint8Array) => void handed.push({ bytes, reusable: false }),
    sendReusable: (_: Destination, bytes: Uint8Array, layout: Layout) => (handed.push({ bytes, layout, reusable: true }), state.taken),
    sendSegments: () => Effect.void,
    consume: () => {},
    stats: Effect.succeed({ io: "memory", overflowed: 0, kernelDrops: null, sendErrors: 0 })
  }
  return { handed, state, layer: Layer.succeed(Transport, shape) }
}

describe("keyed transport, bursts of native messages", () => {
  it.scoped("seals each burst into the last burst's buffer when the kernel took it, into a new one while it is queued", () =>
    Effect.gen(function*() {
      const inner = recording()
      const secure = yield* Effect.provide(
        Transport,
        SecureTransport.layer({ path: "(in memory)", ring: ringOf(generateKey()), runAsUid: undefined }).pipe(Layer.provide(inner.layer))
      )
      const segment = 100
      const burst = (n: number) => secure.sendNativeSegments!(Group, TransferType.DATA, new Uint8Array(n * segment).fill(n), segment)
      burst(10)
      burst(10)
      // the last burst of a run is shorter: the same buffer still
      burst(3)
      inner.state.taken = false
      burst(10)
      burst(10)
      const buffers = inner.handed.map((h) => (expect(h.reusable).toBe(true), h.bytes.buffer))
      expect(buffers[1]).toBe(buffers[0])
      expect(buffers[2]).toBe(buffers[0])
      expect(buffers[3]).toBe(buffers[0])
      // the fourth stayed queued: the fifth may not touch it
      expect(buffers[4]).not.toBe(buffers[3])
    }))

  it.scoped("a burst of messages of unequal lengths goes as one send of its frames with their lengths, sealed into one buffer, reused once the kernel took it", () =>
    Effect.gen(function*() {
      const inner = recording()
      const secure = yield* Effect.provide(
        Transport,
        SecureTransport.layer({ path: "(in memory)", ring: ringOf(generateKey()), runAsUid: undefined }).pipe(Layer.provide(inner.layer))
      )
      const lengths = Uint32Array.of(100, 40, 70)
      const burst = () => secure.sendNativeEach!(Group, TransferType.DATA, new Uint8Array(210).fill(1), lengths)
      burst()
      burst()
      inner.state.taken = false
      burst()
      burst()
      expect(inner.handed.map((h) => h.reusable)).toEqual(Array(4).fill(true))
      for (const h of inner.handed) {
        expect(h.layout).toEqual(lengths.map((l) => l + FRAME_OVERHEAD))
        expect(h.bytes.length).toBe(210 + 3 * FRAME_OVERHEAD)
      }
      // the second burst reuses the first's buffer (taken), the third too; the fourth not the third's (queued)
      const buffers = inner.handed.map((h) => h.bytes.buffer)
      expect(buffers[1]).toBe(buffers[0])
      expect(buffers[2]).toBe(buffers[0])
      expect(buffers[3]).not.toBe(buffers[2])
      // and so do the frames' lengths
      const layouts = inner.handed.map((h) => (h.layout as Uint32Array).buffer)
      expect(layouts[1]).toBe(layouts[0])
      expect(layouts[2]).toBe(layouts[0])
      expect(layouts[3]).not.toBe(layouts[2])
    }))

  it.scoped("a burst left in the transport's queue keeps its frames and their lengths as handed, whatever is sent after it", () =>
    Effect.gen(function*() {
      const inner = recording()
      const secure = yield* Effect.provide(
        Transport,
        SecureTransport.layer({ path: "(in memory)", ring: ringOf(generateKey()), runAsUid: undefined }).pipe(Layer.provide(inner.layer))
      )
      const each = (lengths: Uint32Array) => secure.sendNativeEach!(Group, TransferType.DATA, new Uint8Array(lengths.reduce((a, b) => a + b, 0)).fill(lengths[0]!), lengths)
      const segments = (n: number) => secure.sendNativeSegments!(Group, TransferType.DATA, new Uint8Array(n * 50).fill(n), 50)
      const snapshots: Array<readonly [Uint8Array, Array<number> | number]> = []
      const snap = () => {
        const h = inner.handed[inner.handed.length - 1]!
        snapshots.push([h.bytes.slice(), typeof h.layout === "object" ? [...h.layout] : h.layout!])
      }
      // taken: the buffers become spare
      each(Uint32Array.of(30, 60, 90)), snap()
      segments(4), snap()
      inner.state.taken = false
      // queued: each keeps what it was handed
      each(Uint32Array.of(10, 20)), snap()
      each(Uint32Array.of(200, 5, 5, 5)), snap()
      inner.state.taken = true
      segments(6), snap()
      each(Uint32Array.of(7, 8, 9)), snap()
      for (const i of [2, 3]) {
        const h = inner.handed[i]!
        expect([h.bytes.slice(), [...(h.layout as Uint32Array)]]).toEqual(snapshots[i])
      }
    }))
})
