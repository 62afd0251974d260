import { describe, expect, it } from "@effect/vitest"
import { randomBytes } from "node:crypto"
import { type Received, SecureChannel } from "../../src/secure/channel.js"
import type { Datagram, Endpoint } from "../../src/net/Transport.js"
import { engines, generateKey, ringOf } from "./support.js"

const T0 = 1_800_000_000_000
const A: Endpoint = { address: "127.0.0.2", port: 5000 }
const B: Endpoint = { address: "127.0.0.3", port: 5000 }
const random = (n: number) => new Uint8Array(randomBytes(n))
const v7 = (text: string) => new Uint8Array(Buffer.from(`\x07${text}`))
const texts = (r: Received) => r.delivered.map((d) => Buffer.from(d.bytes).toString().slice(1))

describe.each(engines.map((e) => [e.name, e] as const))("secure channel (challenge admission), %s", (_, aead) => {
  const key = generateKey()
  const channel = () => new SecureChannel(aead, ringOf(key), random)
  /** Delivers `frames` from `from` to `to`, a fresh copy each (a receiver decrypts in place). */
  const deliver = (to: SecureChannel, from: Endpoint, frames: ReadonlyArray<Uint8Array>, now: number) =>
    to.receive(frames.map((f): Datagram => ({ bytes: f.slice(), from })), now)
  /** Runs the exchange both ways until nothing more is sent: returns what each side delivered. */
  const converse = (a: SecureChannel, b: SecureChannel, first: ReadonlyArray<Uint8Array>, now: number) => {
    const got = { a: [] as Array<string>, b: [] as Array<string>, peersOfA: [] as Array<Endpoint>, peersOfB: [] as Array<Endpoint> }
    let toB = first
    let toA: ReadonlyArray<Uint8Array> = []
    for (let round = 0; round < 6 && (toA.length > 0 || toB.length > 0); round++) {
      const atB = deliver(b, A, toB, now)
      const atA = deliver(a, B, toA, now)
      got.b.push(...texts(atB)), got.a.push(...texts(atA))
      got.peersOfB.push(...atB.peers), got.peersOfA.push(...atA.peers)
      toA = atB.send.map((s) => s.frame)
      toB = atA.send.map((s) => s.frame)
    }
    return got
  }

  it("drops a datagram of an unknown epoch, challenges its source, and admits the epoch on the ANSWER within one round trip", () => {
    const [a, b] = [channel(), channel()]
    const first = deliver(b, A, [a.seal(v7("hello"), T0)], T0)
    expect(first.delivered).toEqual([])
    expect(first.send).toHaveLength(1)
    expect(first.send[0]!.to).toEqual(A)
    expect(b.counters.refused.unadmitted).toBe(1)
    const atA = deliver(a, B, first.send.map((s) => s.frame), T0 + 1)
    // A answers B's challenge (and challenges B's epoch back); B's side is announced to A's member layer
    expect(atA.send).toHaveLength(2)
    expect(atA.peers).toEqual([B])
    const atB = deliver(b, A, [...atA.send.map((s) => s.frame), a.seal(v7("after"), T0 + 2)], T0 + 2)
    expect(texts(atB)).toEqual(["after"])
    expect(atB.peers).toEqual([A])
    expect(b.counters.admitted).toBe(1)
  })

  it("never admits a recording: what was sealed before the ANSWER stays refused, after the receiver restarted too", () => {
    const a = channel()
    let b = channel()
    const recorded = a.seal(v7("old"), T0)
    converse(a, b, [a.seal(v7("hello"), T0)], T0)
    expect(texts(deliver(b, A, [a.seal(v7("live"), T0 + 5)], T0 + 5))).toEqual(["live"])
    expect(texts(deliver(b, A, [recorded], T0 + 6))).toEqual([])
    // the receiver restarts: it has no window, the recording is still refused, first as unadmitted
    b = channel()
    const replay = converse(a, b, [recorded], T0 + 10)
    expect(replay.b).toEqual([])
    expect(texts(deliver(b, A, [recorded], T0 + 11))).toEqual([])
    expect(b.counters.refused.unadmitted + b.counters.refused.tooOld).toBeGreaterThanOrEqual(2)
    expect(b.counters.refused.tooOld).toBeGreaterThanOrEqual(1)
    expect(texts(deliver(b, A, [a.seal(v7("new"), T0 + 12)], T0 + 12))).toEqual(["new"])
  })

  it("a challenge naming an epoch that is not the owner's current one is not answered, so an old epoch is never admitted", () => {
    const a = channel()
    const b = channel()
    const recorded = a.seal(v7("old"), T0)
    // the same first key: the epoch stays
    expect(a.setKeys(ringOf(key))).toBe(false)
    const other = generateKey()
    expect(a.setKeys(ringOf(other, key))).toBe(true)
    const challenged = deliver(b, A, [recorded], T0 + 1)
    expect(challenged.send).toHaveLength(1)
    const atA = deliver(a, B, challenged.send.map((s) => s.frame), T0 + 2)
    // A challenges B's unknown epoch, but answers nothing about the epoch it left
    expect(atA.send).toHaveLength(1)
    expect(b.counters.admitted).toBe(0)
    expect(texts(deliver(b, A, [recorded], T0 + 3))).toEqual([])
  })

  it("rate-limits challenges per epoch and answers a copy of the same challenge with the same nonce", () => {
    const [a, b] = [channel(), channel()]
    const burst = [a.seal(v7("1"), T0), a.seal(v7("2"), T0), a.seal(v7("3"), T0)]
    expect(deliver(b, A, burst, T0).send).toHaveLength(1)
    expect(deliver(b, A, [a.seal(v7("4"), T0 + 50)], T0 + 50).send).toHaveLength(0)
    const again = deliver(b, A, [a.seal(v7("5"), T0 + 300)], T0 + 300)
    expect(again.send).toHaveLength(1)
    expect(b.counters.challengesSent).toBe(2)
    expect(b.counters.refused.unadmitted).toBe(5)
  })

  it("an ANSWER that echoes no outstanding nonce admits nothing", () => {
    const [a, b, c] = [channel(), channel(), channel()]
    // A answers C's challenge; that ANSWER replayed at B (which challenged A with another nonce) is refused
    const challengeFromC = deliver(c, A, [a.seal(v7("x"), T0)], T0).send.map((s) => s.frame)
    const answers = deliver(a, { address: "127.0.0.4", port: 5000 }, challengeFromC, T0).send
    deliver(b, A, [a.seal(v7("y"), T0)], T0)
    const atB = deliver(b, A, answers.map((s) => s.frame), T0 + 1)
    expect(b.counters.admitted).toBe(0)
    expect(atB.delivered).toEqual([])
  })

  it("seals a DATA burst as frames laid out like the segments, each opening to its segment", () => {
    const [a, b] = [channel(), channel()]
    converse(a, b, [a.seal(v7("hello"), T0)], T0)
    const segment = 100
    const burst = new Uint8Array(segment * 3 + 40).map((_, i) => i % 251)
    const slab = a.sealSegments(burst, segment, T0 + 1)
    const frame = segment + 55
    const frames = [0, 1, 2, 3].map((i) => slab.subarray(i * frame, Math.min((i + 1) * frame, slab.length)))
    expect(frames.map((f) => f.length)).toEqual([frame, frame, frame, 40 + 55])
    const got = deliver(b, A, frames, T0 + 1).delivered.map((d) => [...d.bytes])
    expect(got).toEqual([0, 1, 2, 3].map((i) => [...burst.subarray(i * segment, (i + 1) * segment)]))
  })
})
