import { describe, expect, it } from "@effect/vitest"
import { randomBytes } from "node:crypto"
import { FRAME_OVERHEAD, type Received, SecureChannel } from "../../src/secure/channel.js"
import { OFFSET } from "../../src/secure/frame.js"
import { type Datagram, type Endpoint, Group, Peer } from "../../src/net/Transport.js"
import { NativeType } from "../../src/protocol/native/message.js"
import { TransferType } from "../../src/protocol/native/transferMessage.js"
import { engines, generateKey, ringOf } from "./support.js"

const T0 = 1_800_000_000_000
const A: Endpoint = { address: "127.0.0.2", port: 5000 }
const B: Endpoint = { address: "127.0.0.3", port: 5000 }
const C: Endpoint = { address: "127.0.0.4", port: 5000 }
const G: Endpoint = { address: "224.0.0.108", port: 5000 }
const at = (local: Endpoint) => ({ group: G, isLocal: (to: Endpoint) => to.address === local.address && to.port === local.port })
const random = (n: number) => new Uint8Array(randomBytes(n))
const v7 = (text: string) => new Uint8Array(Buffer.from(`\x07${text}`))
const texts = (r: Received) => r.delivered.map((d) => Buffer.from(d.bytes).toString().slice(1))

describe.each(engines.map((e) => [e.name, e] as const))("secure channel (challenge admission), %s", (_, aead) => {
  const key = generateKey()
  const channel = (local: Endpoint, options: ConstructorParameters<typeof SecureChannel>[4] = {}) =>
    new SecureChannel(aead, ringOf(key), random, at(local), options)
  /** Delivers `frames` from `from` to `to`, a fresh copy each (a receiver decrypts in place). */
  const deliver = (to: SecureChannel, from: Endpoint, frames: ReadonlyArray<Uint8Array>, now: number, monotonic = now) =>
    to.receive(frames.map((f): Datagram => ({ bytes: f.slice(), from })), now, monotonic)
  /** Runs the exchange both ways until nothing more is sent: returns what each side delivered. */
  const converse = (a: SecureChannel, b: SecureChannel, first: ReadonlyArray<Uint8Array>, now: number, [atA, atB] = [A, B]) => {
    const got = { a: [] as Array<string>, b: [] as Array<string>, peersOfA: [] as Array<Endpoint>, peersOfB: [] as Array<Endpoint> }
    let toB = first
    let toA: ReadonlyArray<Uint8Array> = []
    for (let round = 0; round < 6 && (toA.length > 0 || toB.length > 0); round++) {
      const byB = deliver(b, atA, toB, now)
      const byA = deliver(a, atB, toA, now)
      got.b.push(...texts(byB)), got.a.push(...texts(byA))
      got.peersOfB.push(...byB.peers), got.peersOfA.push(...byA.peers)
      toA = byB.send.map((s) => s.frame)
      toB = byA.send.map((s) => s.frame)
    }
    return got
  }

  it("drops a datagram of an unknown epoch, challenges its source, and admits the epoch on the ANSWER within one round trip", () => {
    const [a, b] = [channel(A), channel(B)]
    const first = deliver(b, A, [a.seal(v7("hello"), Group, T0)], T0)
    expect(first.delivered).toEqual([])
    expect(first.send).toHaveLength(1)
    expect(first.send[0]!.to).toEqual(A)
    expect(b.counters.refused.unadmitted).toBe(1)
    const atA = deliver(a, B, first.send.map((s) => s.frame), T0 + 1)
    // A answers B's challenge and challenges B's epoch back; B is announced to A's member layer once admitted
    expect(atA.send).toHaveLength(2)
    expect(atA.peers).toEqual([])
    const atB = deliver(b, A, [...atA.send.map((s) => s.frame), a.seal(v7("after"), Group, T0 + 2)], T0 + 2)
    expect(texts(atB)).toEqual(["after"])
    expect(atB.peers).toEqual([A])
    expect(b.counters.admitted).toBe(1)
  })

  it("delivers a native message's body with its type (v7 bodies without one); a type no one knows is counted and dropped", () => {
    const [a, b] = [channel(A), channel(B)]
    converse(a, b, [a.seal(v7("hello"), Group, T0)], T0)
    const body = Uint8Array.of(1, 2, 3)
    const r = deliver(b, A, [a.seal(body, Group, T0 + 1, NativeType.PING), a.seal(v7("v7"), Group, T0 + 1), a.seal(body, Group, T0 + 1, 0x20), a.seal(body, Group, T0 + 1, 0x2f)], T0 + 1)
    expect(r.delivered.map((d) => [d.native, [...d.bytes]])).toEqual([[NativeType.PING, [1, 2, 3]], [undefined, [...v7("v7")]], [0x20, [1, 2, 3]]])
    expect(r.refused).toEqual([{ reason: "unknownType", from: A }])
  })

  it("never admits a recording: what was sealed before the ANSWER stays refused, after the receiver restarted too", () => {
    const a = channel(A)
    let b = channel(B)
    const recorded = a.seal(v7("old"), Group, T0)
    converse(a, b, [a.seal(v7("hello"), Group, T0)], T0)
    expect(texts(deliver(b, A, [a.seal(v7("live"), Group, T0 + 5)], T0 + 5))).toEqual(["live"])
    expect(texts(deliver(b, A, [recorded], T0 + 6))).toEqual([])
    // the receiver restarts: it has no window, the recording is still refused, first as unadmitted
    b = channel(B)
    const replay = converse(a, b, [recorded], T0 + 10)
    expect(replay.b).toEqual([])
    expect(texts(deliver(b, A, [recorded], T0 + 11))).toEqual([])
    expect(b.counters.refused.unadmitted + b.counters.refused.tooOld).toBeGreaterThanOrEqual(2)
    expect(b.counters.refused.tooOld).toBeGreaterThanOrEqual(1)
    expect(texts(deliver(b, A, [a.seal(v7("new"), Group, T0 + 12)], T0 + 12))).toEqual(["new"])
  })

  it("a challenge naming an epoch that is not the owner's current one is not answered, so an old epoch is never admitted", () => {
    const a = channel(A)
    const b = channel(B)
    const recorded = a.seal(v7("old"), Group, T0)
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
    const [a, b] = [channel(A), channel(B)]
    const burst = [a.seal(v7("1"), Group, T0), a.seal(v7("2"), Group, T0), a.seal(v7("3"), Group, T0)]
    expect(deliver(b, A, burst, T0).send).toHaveLength(1)
    expect(deliver(b, A, [a.seal(v7("4"), Group, T0 + 50)], T0 + 50).send).toHaveLength(0)
    const again = deliver(b, A, [a.seal(v7("5"), Group, T0 + 300)], T0 + 300)
    expect(again.send).toHaveLength(1)
    expect(b.counters.challengesSent).toBe(2)
    expect(b.counters.refused.unadmitted).toBe(5)
  })

  it("an ANSWER that echoes no outstanding nonce admits nothing", () => {
    const [a, b, c] = [channel(A), channel(B), channel(C)]
    // A answers C's challenge; that ANSWER replayed at B (which challenged A with another nonce) is refused
    const challengeFromC = deliver(c, A, [a.seal(v7("x"), Group, T0)], T0).send.map((s) => s.frame)
    const answers = deliver(a, C, challengeFromC, T0).send
    deliver(b, A, [a.seal(v7("y"), Group, T0)], T0)
    const atB = deliver(b, A, answers.map((s) => s.frame), T0 + 1)
    expect(b.counters.admitted).toBe(0)
    expect(atB.delivered).toEqual([])
  })

  it("a unicast frame relayed to a member it was not sent to is refused (misdirected), though that member admitted its epoch", () => {
    const [a, b, c] = [channel(A), channel(B), channel(C)]
    converse(a, b, [a.seal(v7("hello b"), Group, T0)], T0)
    converse(a, c, [a.seal(v7("hello c"), Group, T0)], T0, [A, C])
    expect(texts(deliver(c, A, [a.seal(v7("to all"), Group, T0 + 1)], T0 + 1))).toEqual(["to all"])
    // A's unicast to B, relayed to C with A's address as its source: C never saw it, so its window calls it new
    const toB = a.seal(v7("for b only"), Peer(B), T0 + 2)
    const atC = deliver(c, A, [toB], T0 + 2)
    expect(atC.delivered).toEqual([])
    expect(atC.send).toEqual([])
    expect(c.counters.refused.misdirected).toBe(1)
    expect(texts(deliver(b, A, [toB], T0 + 2))).toEqual(["for b only"])
  })

  it("a relay that forges the source of an epoch's datagrams gets nothing delivered and admits nothing under that source", () => {
    const [a, b] = [channel(A), channel(B)]
    const phantom: Endpoint = { address: "127.0.0.66", port: 5000 }
    // not admitted yet: B challenges the phantom source, whose CHALLENGE A refuses (it is sealed for the phantom)
    const atB = deliver(b, phantom, [a.seal(v7("ping"), Group, T0)], T0)
    expect(atB.send.map((s) => s.to)).toEqual([phantom])
    const atA = deliver(a, B, atB.send.map((s) => s.frame), T0 + 1)
    expect(atA.send).toEqual([])
    expect(a.counters.refused.misdirected).toBe(1)
    // B challenges A too (a datagram from A's own address); A's ANSWER relayed under the phantom source admits nothing
    const fromA = deliver(b, A, [a.seal(v7("ping"), Group, T0 + 2)], T0 + 2).send
    const answers = deliver(a, B, fromA.map((s) => s.frame), T0 + 3).send.filter((s) => s.to === B)
    deliver(b, phantom, answers.map((s) => s.frame.slice()), T0 + 4)
    expect(b.counters.admitted).toBe(0)
    // the genuine ANSWER from A admits A's epoch, pinned to A: the phantom's copies are refused
    expect(deliver(b, A, answers.map((s) => s.frame), T0 + 5).peers).toEqual([A])
    expect(texts(deliver(b, phantom, [a.seal(v7("ping"), Group, T0 + 6)], T0 + 6))).toEqual([])
    expect(b.counters.refused.wrongSource).toBe(1)
    expect(texts(deliver(b, A, [a.seal(v7("pong"), Group, T0 + 7)], T0 + 7))).toEqual(["pong"])
  })

  it("refuses its own epoch heard back, and never challenges or admits it", () => {
    const a = channel(A)
    const r = deliver(a, B, [a.seal(v7("echo"), Group, T0)], T0)
    expect(r.delivered).toEqual([])
    expect(r.send).toEqual([])
    expect(a.counters.refused.ownEpoch).toBe(1)
  })

  it("a key file reread that replaces a key's secret drops the challenges outstanding under it", () => {
    const [a, b] = [channel(A), channel(B)]
    const challenges = deliver(b, A, [a.seal(v7("x"), Group, T0)], T0).send
    const answers = deliver(a, B, challenges.map((s) => s.frame), T0 + 1).send.filter((s) => s.to === B)
    b.setKeys(ringOf(key, generateKey()))
    // the same key: the challenge stands
    expect(deliver(b, A, answers.map((s) => s.frame.slice()), T0 + 2).peers).toEqual([A])
    const [c, d] = [channel(C), channel(B)]
    const toD = deliver(d, C, [c.seal(v7("x"), Group, T0)], T0).send
    const fromC = deliver(c, B, toD.map((s) => s.frame), T0 + 1).send.filter((s) => s.to === B)
    const replaced = { id: key.id, secret: generateKey().secret }
    d.setKeys(ringOf(replaced))
    deliver(d, C, fromC.map((s) => s.frame), T0 + 2)
    expect(d.counters.admitted).toBe(0)
  })

  it("a challenged epoch's ANSWER is opened even when the derivation bucket is empty", () => {
    const [a, b, c] = [channel(A), channel(B, { derivationsPerSecond: 1 }), channel(C)]
    const challenges = deliver(b, A, [a.seal(v7("x"), Group, T0)], T0).send
    const answers = deliver(a, B, challenges.map((s) => s.frame), T0).send.filter((s) => s.to === B)
    // the bucket is empty now: another made-up or new epoch is refused unopened, and not challenged
    expect(deliver(b, C, [c.seal(v7("y"), Group, T0)], T0).send).toEqual([])
    expect(b.counters.refused.derivationLimited).toBe(1)
    expect(deliver(b, A, answers.map((s) => s.frame), T0).peers).toEqual([A])
    expect(texts(deliver(b, A, [a.seal(v7("z"), Group, T0)], T0))).toEqual(["z"])
  })

  it("a replayed datagram of an epoch that never answers costs one key derivation, not one per batch", () => {
    let derivations = 0
    const spy = { ...aead, key: (secret: Uint8Array, use: "seal" | "open") => (use === "open" && derivations++, aead.key(secret, use)) }
    const b = new SecureChannel(spy, ringOf(key), random, at(B))
    // an ended run of A's (A restarted, or never answers): its recording is replayed, one datagram a batch
    const recorded = channel(A).seal(v7("old"), Group, T0)
    for (let i = 0; i < 1000; i++) deliver(b, A, [recorded], T0 + i)
    expect(derivations).toBe(1)
    expect(b.counters.refused.unadmitted).toBe(1000)
  })

  it("a wall clock stepped back an hour stops neither the derivations of a new epoch nor a challenge's re-sends", () => {
    const [a, b, c] = [channel(A), channel(B), channel(C)]
    const HOUR = 3_600_000
    expect(deliver(b, A, [a.seal(v7("1"), Group, T0)], T0, 0).send).toHaveLength(1)
    const back = T0 - HOUR
    // A's challenge is due again 200 ms later, and C's new epoch is derived and challenged
    expect(deliver(b, A, [a.seal(v7("2"), Group, back + 300)], back + 300, 300).send.map((s) => s.to)).toEqual([A])
    expect(deliver(b, C, [c.seal(v7("3"), Group, back + 400)], back + 400, 400).send.map((s) => s.to)).toEqual([C])
    expect(b.counters.refused.derivationLimited).toBe(0)
  })

  it("replays of a genuine datagram under forged sources push no live challenge out, and are not each reflected", () => {
    const [a, b] = [channel(A), channel(B)]
    const recorded = a.seal(v7("x"), Group, T0)
    const forged = (i: number): Endpoint => ({ address: `127.0.1.${i}`, port: 1 })
    const batch = [{ bytes: recorded.slice(), from: A }, ...[0, 1, 2, 3].map((i) => ({ bytes: recorded.slice(), from: forged(i) }))]
    const toA = b.receive(batch, T0, T0).send.filter((s) => s.to === A)
    expect(toA).toHaveLength(1)
    const answers = deliver(a, B, toA.map((s) => s.frame), T0 + 1).send.filter((s) => s.to === B)
    deliver(b, A, answers.map((s) => s.frame), T0 + 2)
    expect(b.counters.admitted).toBe(1)
    // another epoch's recording under 200 forged sources within a second: a CHALLENGE for a few of them only
    const sentBefore = b.counters.challengesSent
    const other = channel(C).seal(v7("y"), Group, T0 + 10)
    for (let i = 0; i < 200; i++) deliver(b, forged(i), [other], T0 + 10 + i * 4)
    expect(b.counters.challengesSent - sentBefore).toBe(4)
  })

  it("sends at most its CHALLENGEs a second in all, whatever the epochs", () => {
    const b = channel(B, { challengesPerSecond: 20 })
    for (let i = 0; i < 30; i++) deliver(b, A, [channel(A).seal(v7("x"), Group, T0)], T0 + i)
    expect(b.counters.challengesSent).toBe(20)
    expect(b.counters.refused.unadmitted).toBe(30)
  })

  it("answers a replayed CHALLENGE of an unadmitted epoch once, so replays cannot spend the answers of restarted peers", () => {
    const [a, b, c] = [channel(A), channel(B), channel(C)]
    const seen = a.seal(v7("x"), Group, T0)
    const challenge = deliver(b, A, [seen], T0).send.map((s) => s.frame)
    const first = deliver(a, B, challenge, T0 + 1)
    expect(first.send.filter((s) => s.to === B)).toHaveLength(2)
    for (let i = 0; i < 300; i++) deliver(a, B, challenge, T0 + 2)
    expect(a.counters.answersSent).toBe(1)
    // another peer, restarted too, challenges A in the same second: it is answered
    const fromC = deliver(c, A, [seen], T0 + 3).send.map((s) => s.frame)
    const atA = deliver(a, C, fromC, T0 + 3)
    expect(atA.send.filter((s) => s.to === C)).toHaveLength(2)
    expect(a.counters.answersSent).toBe(2)
    // C's epoch is not admitted at A: its CHALLENGE alone (a replay, maybe) does not make it a peer to announce
    expect([first.peers, atA.peers]).toEqual([[], []])
  })

  it("a flood of forged frames of made-up epochs is refused by header MAC, unopened: a restarted peer is admitted within it", () => {
    const [before, b] = [channel(A), channel(B)]
    converse(before, b, [before.seal(v7("hello"), Group, T0)], T0)
    const derivedBefore = b.counters.derivations
    // a forger without the key: frames of the group's key id, each with a new random epoch id, 20 a millisecond
    // (20 kpps), arriving ahead of the genuine datagrams in every batch, as a flood paced to beat them would
    const template = channel(C).seal(v7("forged"), Group, T0)
    const F: Endpoint = { address: "127.0.0.66", port: 5000 }
    const forged = () =>
      Array.from({ length: 20 }, (): Datagram => {
        const bytes = template.slice()
        bytes.set(random(16), OFFSET.epochId)
        return { bytes, from: F }
      })
    // A restarts 50 ms into the flood, the derivation allowance long spent by then; it says something every 10 ms
    const a = channel(A)
    let toB: Array<Uint8Array> = []
    const heard: Array<string> = []
    for (let ms = 0; ms < 1000; ms++) {
      const now = T0 + 1 + ms
      if (ms >= 50 && ms % 10 === 0) toB.push(a.seal(v7(`alive ${ms}`), Group, now))
      const r = b.receive([...forged(), ...toB.map((bytes): Datagram => ({ bytes, from: A }))], now, now)
      heard.push(...texts(r))
      toB = deliver(a, B, r.send.filter((s) => s.to === A).map((s) => s.frame), now).send.filter((s) => s.to === B).map((s) => s.frame)
    }
    // A's new epoch was admitted within the flood, and what A says is heard
    expect(b.counters.admitted).toBe(2)
    expect(heard.length).toBeGreaterThan(90)
    // the forged frames cost no derivation: the one spent is A's new epoch's
    expect(b.counters.refused.badHeaderMac).toBe(20_000)
    expect(b.counters.refused.badTag + b.counters.refused.derivationLimited).toBe(0)
    expect(b.counters.derivations - derivedBefore).toBe(1)
  })

  it("seals a DATA burst as frames laid out like the segments, each opening to its segment", () => {
    const [a, b] = [channel(A), channel(B)]
    converse(a, b, [a.seal(v7("hello"), Group, T0)], T0)
    const segment = 100
    const burst = new Uint8Array(segment * 3 + 40).map((_, i) => i % 251)
    const slab = a.sealRun(burst, segment, Group, T0 + 1)
    const frame = segment + FRAME_OVERHEAD
    const frames = [0, 1, 2, 3].map((i) => slab.subarray(i * frame, Math.min((i + 1) * frame, slab.length)))
    expect(frames.map((f) => f.length)).toEqual([frame, frame, frame, 40 + FRAME_OVERHEAD])
    const got = deliver(b, A, frames, T0 + 1).delivered.map((d) => [...d.bytes])
    expect(got).toEqual([0, 1, 2, 3].map((i) => [...burst.subarray(i * segment, (i + 1) * segment)]))
  })

  it("seals a burst of native messages of one type as one batch, each opening as that type (a transaction's Data)", () => {
    const [a, b] = [channel(A), channel(B)]
    converse(a, b, [a.seal(v7("hello"), Group, T0)], T0)
    const segment = 100
    const bodies = new Uint8Array(segment * 3).map((_, i) => (i * 7) % 251)
    const slab = a.sealRun(bodies, segment, Group, T0 + 1, TransferType.DATA)
    const frame = segment + FRAME_OVERHEAD
    const frames = [0, 1, 2].map((i) => slab.subarray(i * frame, (i + 1) * frame))
    const got = deliver(b, A, frames, T0 + 1).delivered
    expect(got.map((d) => d.native)).toEqual([TransferType.DATA, TransferType.DATA, TransferType.DATA])
    expect(got.map((d) => [...d.bytes])).toEqual([0, 1, 2].map((i) => [...bodies.subarray(i * segment, (i + 1) * segment)]))
  })

  it("seals native messages of unequal lengths as one batch, each frame as long as its message (a bundle's Data)", () => {
    const [a, b] = [channel(A), channel(B)]
    converse(a, b, [a.seal(v7("hello"), Group, T0)], T0)
    const lengths = Uint32Array.of(100, 7, 300, 1)
    const bodies = new Uint8Array(408).map((_, i) => (i * 13) % 251)
    const slab = a.sealRun(bodies, lengths, Group, T0 + 1, TransferType.DATA)
    const starts = [0, 100, 107, 407]
    const frames: Array<Uint8Array> = []
    for (let i = 0, at = 0; i < lengths.length; at += lengths[i]! + FRAME_OVERHEAD, i++) frames.push(slab.subarray(at, at + lengths[i]! + FRAME_OVERHEAD))
    expect(frames.reduce((n, f) => n + f.length, 0)).toBe(slab.length)
    const got = deliver(b, A, frames, T0 + 1).delivered
    expect(got.map((d) => d.native)).toEqual(Array(4).fill(TransferType.DATA))
    expect(got.map((d) => [...d.bytes])).toEqual(starts.map((s, i) => [...bodies.subarray(s, s + lengths[i]!)]))
  })
})
