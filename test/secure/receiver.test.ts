import { describe, expect, it } from "@effect/vitest"
import { DEFAULT_MAX_SKEW_MS } from "../../src/secure/epochs.js"
import { frameBytes, HEADER_BYTES, MIN_FRAME_BYTES, OFFSET, VERSION } from "../../src/secure/frame.js"
import { type OpenResult, Receiver, REFUSALS, type Unadmitted } from "../../src/secure/receiver.js"
import { Sender } from "../../src/secure/sender.js"
import { WINDOW } from "../../src/secure/replayWindow.js"
import { A, enginePairs, generateKey, HERE, isHere, ringOf } from "./support.js"

const SKEW = DEFAULT_MAX_SKEW_MS
const T0 = 1_800_000_000_000
const DAY = 86_400_000
/** other senders' sources: one source holds one admitted epoch */
const [A2, A3] = [{ address: "127.0.0.4", port: 8000 }, { address: "127.0.0.5", port: 8000 }]

const reason = (r: OpenResult) => (r._tag === "Refused" ? r.reason : r._tag === "Unadmitted" ? "unadmitted" : "opened")

describe.each(enginePairs.map(([s, o]) => [`${s.name} → ${o.name}`, s, o] as const))("native receiver, %s", (_, sealer, opener) => {
  /** Admits `sender`'s epoch as an ANSWER would: at the counter of the frame sealed now. */
  const admitted = (receiver: Receiver, sender: Sender, now = T0, from = A) => {
    const answer = receiver.open(sender.seal(3, new Uint8Array(16), HERE, now), from, now)
    expect(answer._tag).toBe("Unadmitted")
    expect(receiver.admit(answer as Unadmitted, now)).toBeUndefined()
    return sender
  }
  const setup = (options: { maxEpochs?: number } = {}) => {
    const group = generateKey()
    const receiver = new Receiver(opener, ringOf(group), isHere, { maxEpochs: options.maxEpochs ?? 64 })
    return { group, receiver, sender: admitted(receiver, new Sender(sealer, group)) }
  }

  it("opens what a holder of the key sealed, and says which epoch and counter it was", () => {
    const { receiver, sender } = setup()
    const r = receiver.open(sender.seal(9, Uint8Array.of(1, 2, 3), HERE, T0), A, T0 + 10)
    expect(r).toMatchObject({ _tag: "Opened", type: 9, counter: 1, sentAt: T0, keyId: sender.keyId })
    if (r._tag === "Opened") expect([...r.body]).toEqual([1, 2, 3])
  })

  it("refuses a forged datagram, one under another key with the same id, and one under an unknown key id", () => {
    const { group, receiver, sender } = setup()
    const forged = sender.seal(1, new Uint8Array(40), HERE, T0)
    forged.fill(0xaa, HEADER_BYTES)
    expect(reason(receiver.open(forged, A, T0))).toBe("badTag")
    // a new epoch under another secret: its header MAC is not the group's, and nothing is derived for it
    const sameId = new Sender(sealer, { id: group.id, secret: generateKey().secret }).seal(1, new Uint8Array(8), HERE, T0)
    const derived = receiver.derivations
    expect(reason(receiver.open(sameId, A, T0))).toBe("badHeaderMac")
    expect(receiver.derivations).toBe(derived)
    expect(reason(receiver.open(new Sender(sealer, generateKey()).seal(1, new Uint8Array(8), HERE, T0), A, T0))).toBe("unknownKey")
  })

  it("refuses a truncated datagram, a v7 datagram, an unknown version and a counter or send time out of range", () => {
    const { receiver, sender } = setup()
    const frame = sender.seal(1, new Uint8Array(100), HERE, T0)
    expect(reason(receiver.open(frame.subarray(0, MIN_FRAME_BYTES - 1), A, T0))).toBe("tooShort")
    expect(reason(receiver.open(frame.subarray(0, frame.length - 1), A, T0))).toBe("badTag")
    const v7 = frame.slice()
    v7[0] = 7
    expect(reason(receiver.open(v7, A, T0))).toBe("v7")
    const other = frame.slice()
    other[0] = 0x42
    expect(reason(receiver.open(other, A, T0))).toBe("notNative")
    const v2 = frame.slice()
    v2[1] = VERSION + 1
    expect(reason(receiver.open(v2, A, T0))).toBe("unknownVersion")
    // a counter or send time of 2^53 or more: refused before the AEAD, as no number holds it exactly
    for (const at of [OFFSET.counter, OFFSET.sentAt]) {
      const huge = frame.slice()
      huge[at + 1] = 0x20
      expect(reason(receiver.open(huge, A, T0))).toBe("outOfRange")
      huge[at + 1] = 0x1f
      expect(reason(receiver.open(huge, A, T0))).toBe("badTag")
    }
  })

  it("refuses a replay in the same epoch, within a batch, and one too far behind the window", () => {
    const { receiver, sender } = setup()
    const first = sender.seal(1, new Uint8Array(4), HERE, T0)
    expect(reason(receiver.open(first.slice(), A, T0))).toBe("opened")
    expect(reason(receiver.open(first.slice(), A, T0 + 1000))).toBe("replayed")
    const twice = new Uint8Array(first.length * 2)
    const next = sender.seal(1, new Uint8Array(4), HERE, T0)
    twice.set(next, 0)
    twice.set(next, next.length)
    const lengths = Uint32Array.of(next.length, next.length)
    expect(receiver.openBatch(twice, Uint32Array.of(0, next.length), lengths, Array(2).fill(A), 2, T0, 0).map(reason)).toEqual(["opened", "replayed"])
    for (let i = 0; i <= WINDOW; i++) receiver.open(sender.seal(1, new Uint8Array(1), HERE, T0), A, T0)
    expect(reason(receiver.open(first.slice(), A, T0))).toBe("tooOld")
  })

  it("hands back an authenticated datagram of an epoch not admitted, and refuses what an admitted epoch sealed before its admission", () => {
    const { group } = setup()
    const receiver = new Receiver(opener, ringOf(group), isHere)
    const sender = new Sender(sealer, group)
    const before = sender.seal(1, new Uint8Array(4), HERE, T0)
    expect(reason(receiver.open(before.slice(), A, T0))).toBe("unadmitted")
    admitted(receiver, sender, T0 + 10)
    // sealed before the ANSWER: it may be a recording made before this receiver (re)started
    expect(reason(receiver.open(before.slice(), A, T0 + 20))).toBe("tooOld")
    expect(reason(receiver.open(sender.seal(1, new Uint8Array(4), HERE, T0 + 30), A, T0 + 30))).toBe("opened")
  })

  it("a restarted receiver admits nothing by itself: a recording of a live epoch stays unadmitted, then below the floor", () => {
    const { group, receiver, sender } = setup()
    const recorded = sender.seal(1, new Uint8Array(4), HERE, T0)
    expect(reason(receiver.open(recorded.slice(), A, T0))).toBe("opened")
    const restarted = new Receiver(opener, ringOf(group), isHere)
    expect(reason(restarted.open(recorded.slice(), A, T0 + 1000))).toBe("unadmitted")
    admitted(restarted, sender, T0 + 1000)
    expect(reason(restarted.open(recorded.slice(), A, T0 + 1001))).toBe("tooOld")
  })

  it("refuses a datagram stamped beyond the loose clock bound, admitted or not", () => {
    const { receiver, sender } = setup()
    expect(reason(receiver.open(sender.seal(1, new Uint8Array(4), HERE, T0 - DAY), A, T0))).toBe("stale")
    expect(reason(receiver.open(sender.seal(1, new Uint8Array(4), HERE, T0 + SKEW + 1), A, T0))).toBe("future")
    expect(reason(receiver.open(new Sender(sealer, generateKey()).seal(1, new Uint8Array(4), HERE, T0), A, T0))).toBe("unknownKey")
  })

  it("accepts every listed key and seals under the first, so keys rotate without downtime", () => {
    const [oldKey, newKey] = [generateKey(), generateKey()]
    const receiver = new Receiver(opener, ringOf(newKey, oldKey), isHere)
    const old = admitted(receiver, new Sender(sealer, oldKey))
    expect(reason(receiver.open(old.seal(1, new Uint8Array(1), HERE, T0), A, T0))).toBe("opened")
    const sender = new Sender(sealer, oldKey)
    sender.rekey(newKey)
    admitted(receiver, sender)
    expect(reason(receiver.open(sender.seal(1, new Uint8Array(1), HERE, T0), A, T0))).toBe("opened")
    receiver.setKeys(ringOf(newKey))
    expect(reason(receiver.open(old.seal(1, new Uint8Array(1), HERE, T0), A, T0))).toBe("unknownKey")
  })

  it("a key file reread that replaces a key's secret under the same id forgets the epochs admitted under the old secret", () => {
    const [kept, replaced] = [generateKey(), generateKey()]
    const receiver = new Receiver(opener, ringOf(kept, replaced), isHere)
    const keptSender = admitted(receiver, new Sender(sealer, kept))
    const oldSender = admitted(receiver, new Sender(sealer, replaced), T0, A2)
    expect(receiver.epochs).toBe(2)
    receiver.setKeys(ringOf(kept, { id: replaced.id, secret: generateKey().secret }))
    expect(receiver.epochs).toBe(1)
    // sealed under the secret the file no longer holds: its epoch is forgotten, and its header MAC is not the new key's
    expect(reason(receiver.open(oldSender.seal(1, new Uint8Array(1), HERE, T0), A2, T0))).toBe("badHeaderMac")
    expect(reason(receiver.open(keptSender.seal(1, new Uint8Array(1), HERE, T0), A, T0))).toBe("opened")
  })

  it("refuses a genuine frame sealed for another destination, before it touches a window", () => {
    const { receiver, sender } = setup()
    const elsewhere = sender.seal(1, new Uint8Array(4), { address: HERE.address, port: HERE.port + 1 }, T0)
    expect(reason(receiver.open(elsewhere, A, T0))).toBe("misdirected")
    expect(reason(receiver.open(sender.seal(1, new Uint8Array(4), { address: "127.0.0.9", port: HERE.port }, T0), A, T0))).toBe("misdirected")
    expect(receiver.refusals.misdirected).toBe(2)
  })

  it("accepts an admitted epoch's datagrams only from the source its ANSWER came from", () => {
    const { receiver, sender } = setup()
    const frame = sender.seal(1, new Uint8Array(4), HERE, T0)
    expect(reason(receiver.open(frame.slice(), { address: "127.0.0.66", port: A.port }, T0))).toBe("wrongSource")
    expect(reason(receiver.open(frame.slice(), { address: A.address, port: A.port + 1 }, T0))).toBe("wrongSource")
    // the refused copies moved no window: the genuine one is still new
    expect(reason(receiver.open(frame.slice(), A, T0))).toBe("opened")
    expect(receiver.refusals.wrongSource).toBe(2)
  })

  it("starts a new epoch after its datagram limit, so no traffic key seals more than the limit", () => {
    const group = generateKey()
    const sender = new Sender(sealer, group, 3)
    const receiver = new Receiver(opener, ringOf(group), isHere)
    const first = sender.epochId.slice()
    for (let i = 0; i < 3; i++) sender.seal(1, new Uint8Array(1), HERE, T0)
    expect(sender.epochId).toEqual(first)
    const next = sender.seal(1, new Uint8Array(1), HERE, T0)
    expect(sender.epochId).not.toEqual(first)
    expect(sender.counter).toBe(1)
    expect(receiver.open(next, A, T0)).toMatchObject({ _tag: "Unadmitted", counter: 0 })
    // a batch that would cross the limit starts the new epoch for the whole batch
    const two = new Sender(sealer, group, 3)
    two.seal(1, new Uint8Array(1), HERE, T0), two.seal(1, new Uint8Array(1), HERE, T0)
    const before = two.epochId.slice()
    const slab = new Uint8Array(2 * frameBytes(1))
    two.sealBatch(slab, Uint32Array.of(0, frameBytes(1)), Uint32Array.of(1, 1), 2, HERE, T0)
    expect(two.epochId).not.toEqual(before)
    expect(two.counter).toBe(2)
  })

  it("derives keys for epochs it has not admitted from a token bucket: a flood of made-up epochs is refused unopened", () => {
    const group = generateKey()
    const receiver = new Receiver(opener, ringOf(group), isHere, { derivationsPerSecond: 2 })
    const fresh = (now: number) => receiver.open(new Sender(sealer, group).seal(1, new Uint8Array(4), HERE, now), A, now)
    expect([fresh(T0), fresh(T0), fresh(T0)].map(reason)).toEqual(["unadmitted", "unadmitted", "derivationLimited"])
    expect(reason(fresh(T0 + 500))).toBe("unadmitted")
    expect(reason(fresh(T0 + 500))).toBe("derivationLimited")
    expect(receiver.refusals.derivationLimited).toBe(2)
  })

  it("checks the header MAC of an epoch it holds no key for before deriving one: a made-up epoch or a flipped bit costs no derivation", () => {
    const group = generateKey()
    const receiver = new Receiver(opener, ringOf(group), isHere)
    const genuine = new Sender(sealer, group).seal(1, new Uint8Array(4), HERE, T0)
    // every bit the MAC covers but the key id's (another key id is unknownKey) and the version's, and the MAC's own
    const covered = [...Array(HEADER_BYTES).keys()].filter((at) => at >= OFFSET.epochId && (at < OFFSET.counter || at >= OFFSET.sentAt))
    for (const at of covered) {
      for (let bit = 0; bit < 8; bit++) {
        const flipped = genuine.slice()
        flipped[at]! ^= 1 << bit
        // a send time of 2^53 or more is refused before the MAC, as unreadable
        const outOfRange = at === OFFSET.sentAt || (at === OFFSET.sentAt + 1 && bit >= 5)
        expect([at, bit, reason(receiver.open(flipped, A, T0))]).toEqual([at, bit, outOfRange ? "outOfRange" : "badHeaderMac"])
      }
    }
    expect(receiver.refusals.badHeaderMac).toBe(covered.length * 8 - 11)
    // a header recorded more than the skew bound ago is refused by its send time, which its MAC vouches for
    expect(reason(receiver.open(new Sender(sealer, group).seal(1, new Uint8Array(4), HERE, T0 - DAY), A, T0))).toBe("stale")
    expect(receiver.derivations).toBe(0)
    // the counter is not covered: a genuine header with another counter is a genuine epoch, derived once, its
    // key kept; the frames still fail their tag, and neither they nor the genuine one cost another derivation
    for (const counter of [1, 2, 3]) {
      const other = genuine.slice()
      other[OFFSET.counter + 7] = counter
      expect(reason(receiver.open(other, A, T0))).toBe("badTag")
    }
    expect(reason(receiver.open(genuine.slice(), A, T0))).toBe("unadmitted")
    expect(receiver.derivations).toBe(1)
  })

  it("refuses an earlier release's frames as oldVersion, short ones included", () => {
    const { receiver, sender } = setup()
    const frame = sender.seal(1, new Uint8Array(1), HERE, T0)
    for (const version of [1, 2, 3]) {
      const old = frame.slice()
      old[OFFSET.version] = version
      expect(reason(receiver.open(old, A, T0))).toBe("oldVersion")
      // the smallest frame of version 2 (61 bytes) is shorter than this version's smallest: the version is read first
      expect(reason(receiver.open(old.subarray(0, 61), A, T0))).toBe("oldVersion")
    }
    expect(receiver.refusals.oldVersion).toBe(6)
  })

  it("datagrams of more senders than it keeps epoch names for, interleaved batch after batch, each open as their own epoch", () => {
    const { group, receiver } = setup()
    const sources = Array.from({ length: 11 }, (_, i) => ({ address: `127.0.1.${i + 1}`, port: 8000 }))
    const senders = sources.map((from) => admitted(receiver, new Sender(sealer, group), T0, from))
    const epochs = sources.map((from) => (receiver.open(senders[sources.indexOf(from)]!.seal(1, Uint8Array.of(0), HERE, T0), from, T0) as { epoch: string }).epoch)
    expect(new Set(epochs).size).toBe(senders.length)
    for (let round = 0; round < 3; round++) {
      // each batch in another order, the way several senders' datagrams come in
      const order = senders.map((_, i) => (i * (round + 3)) % senders.length)
      const frames = order.map((k) => senders[k]!.seal(1, Uint8Array.of(k), HERE, T0))
      const starts = new Uint32Array(frames.length)
      const lengths = Uint32Array.from(frames, (f) => f.length)
      const slab = new Uint8Array(frames.reduce((n, f) => n + f.length, 0))
      frames.forEach((f, i) => (starts[i] = i === 0 ? 0 : starts[i - 1]! + lengths[i - 1]!, slab.set(f, starts[i]!)))
      const results = receiver.openBatch(slab, starts, lengths, order.map((k) => sources[k]!), frames.length, T0, T0)
      expect(results.map((r) => (r._tag === "Opened" ? [r.epoch, r.body[0]] : r._tag))).toEqual(order.map((k) => [epochs[k], k]))
    }
  })

  it("a batch's runs of one epoch's frames: each frame judged on its own, its destination and tag included", () => {
    const { group, receiver, sender } = setup()
    const other = admitted(receiver, new Sender(sealer, group), T0, A2)
    const unknown = new Sender(sealer, group)
    const forged = sender.seal(1, Uint8Array.of(5), HERE, T0)
    forged[forged.length - 1]! ^= 1
    const elsewhere = { address: HERE.address, port: HERE.port + 1 }
    const batch: ReadonlyArray<readonly [Uint8Array, typeof A]> = [
      [sender.seal(1, Uint8Array.of(0), HERE, T0), A],
      [sender.seal(1, Uint8Array.of(1), elsewhere, T0), A],
      [sender.seal(1, Uint8Array.of(2), HERE, T0), A],
      [other.seal(1, Uint8Array.of(3), HERE, T0), A2],
      [sender.seal(1, Uint8Array.of(4), HERE, T0), A],
      [forged, A],
      [sender.seal(1, Uint8Array.of(6), HERE, T0), A],
      [unknown.seal(1, Uint8Array.of(7), HERE, T0), A3],
      [unknown.seal(1, Uint8Array.of(8), elsewhere, T0), A3],
      [unknown.seal(1, Uint8Array.of(9), HERE, T0), A3]
    ]
    const lengths = Uint32Array.from(batch, ([f]) => f.length)
    const starts = Uint32Array.from(batch, (_, i) => lengths.subarray(0, i).reduce((n, l) => n + l, 0))
    const slab = new Uint8Array(lengths.reduce((n, l) => n + l, 0))
    batch.forEach(([f], i) => slab.set(f, starts[i]!))
    const derived = receiver.derivations
    const results = receiver.openBatch(slab, starts, lengths, batch.map(([, from]) => from), batch.length, T0, T0)
    expect(results.map(reason)).toEqual(["opened", "misdirected", "opened", "opened", "opened", "badTag", "opened", "unadmitted", "misdirected", "unadmitted"])
    expect(results.map((r) => (r._tag === "Refused" ? undefined : r.body[0]))).toEqual([0, undefined, 2, 3, 4, undefined, 6, 7, undefined, 9])
    // the unadmitted epoch's key derived once for its three frames
    expect(receiver.derivations).toBe(derived + 1)
  })

  it("admitting a new epoch from a source forgets the older epoch pinned there: its late datagrams are refused", () => {
    const { group, receiver, sender: ended } = setup()
    const heldBack = ended.seal(1, new Uint8Array(4), HERE, T0 + 1)
    // the owner restarts at the same address and port, and its new epoch is admitted from there
    const restarted = admitted(receiver, new Sender(sealer, group), T0 + 2)
    expect(reason(receiver.open(heldBack, A, T0 + 3))).toBe("unadmitted")
    expect(reason(receiver.open(restarted.seal(1, new Uint8Array(4), HERE, T0 + 3), A, T0 + 3))).toBe("opened")
    expect(receiver.epochs).toBe(1)
  })

  it("a full epoch table refuses to admit a new epoch until an old one is idle", () => {
    const { group, receiver } = setup({ maxEpochs: 2 })
    admitted(receiver, new Sender(sealer, group), T0 + 1, A2)
    const third = new Sender(sealer, group)
    const answer = receiver.open(third.seal(3, new Uint8Array(16), HERE, T0 + 2), A3, T0 + 2) as Unadmitted
    expect(receiver.admit(answer, T0 + 2)).toBe("epochTableFull")
    const later = T0 + 600_001 + 10
    const again = receiver.open(third.seal(3, new Uint8Array(16), HERE, later), A3, later) as Unadmitted
    expect(receiver.admit(again, later)).toBeUndefined()
    expect(receiver.epochs).toBe(1)
  })

  it("counts every refusal by reason, and a forgery touches no window", () => {
    const { receiver, sender } = setup()
    const genuine = sender.seal(1, new Uint8Array(4), HERE, T0)
    const forged = genuine.slice()
    forged[forged.length - 1]! ^= 1
    receiver.open(forged, A, T0)
    receiver.open(forged, A, T0)
    expect(reason(receiver.open(genuine.slice(), A, T0))).toBe("opened")
    receiver.open(genuine.slice(), A, T0)
    receiver.open(new Uint8Array(3), A, T0)
    expect(receiver.refusals).toEqual({ ...Object.fromEntries(REFUSALS.map((r) => [r, 0])), badTag: 2, replayed: 1, notNative: 1 })
  })
})
