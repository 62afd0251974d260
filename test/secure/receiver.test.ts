import { describe, expect, it } from "@effect/vitest"
import { DEFAULT_MAX_SKEW_MS } from "../../src/secure/epochs.js"
import { MIN_FRAME_BYTES } from "../../src/secure/frame.js"
import { type OpenResult, Receiver, REFUSALS, type Unadmitted } from "../../src/secure/receiver.js"
import { Sender } from "../../src/secure/sender.js"
import { WINDOW } from "../../src/secure/replayWindow.js"
import { enginePairs, generateKey, ringOf } from "./support.js"

const SKEW = DEFAULT_MAX_SKEW_MS
const T0 = 1_800_000_000_000
const DAY = 86_400_000

const reason = (r: OpenResult) => (r._tag === "Refused" ? r.reason : r._tag === "Unadmitted" ? "unadmitted" : "opened")

describe.each(enginePairs.map(([s, o]) => [`${s.name} → ${o.name}`, s, o] as const))("native receiver, %s", (_, sealer, opener) => {
  /** Admits `sender`'s epoch as an ANSWER would: at the counter of the frame sealed now. */
  const admitted = (receiver: Receiver, sender: Sender, now = T0) => {
    const answer = receiver.open(sender.seal(3, new Uint8Array(16), now), now)
    expect(answer._tag).toBe("Unadmitted")
    expect(receiver.admit(answer as Unadmitted, now)).toBeUndefined()
    return sender
  }
  const setup = (options: { maxEpochs?: number } = {}) => {
    const group = generateKey()
    const receiver = new Receiver(opener, ringOf(group), { maxEpochs: options.maxEpochs ?? 64 })
    return { group, receiver, sender: admitted(receiver, new Sender(sealer, group)) }
  }

  it("opens what a holder of the key sealed, and says which epoch and counter it was", () => {
    const { receiver, sender } = setup()
    const r = receiver.open(sender.seal(9, Uint8Array.of(1, 2, 3), T0), T0 + 10)
    expect(r).toMatchObject({ _tag: "Opened", type: 9, counter: 1, sentAt: T0, keyId: sender.keyId })
    if (r._tag === "Opened") expect([...r.body]).toEqual([1, 2, 3])
  })

  it("refuses a forged datagram, one under another key with the same id, and one under an unknown key id", () => {
    const { group, receiver, sender } = setup()
    const forged = sender.seal(1, new Uint8Array(40), T0)
    forged.fill(0xaa, 38)
    expect(reason(receiver.open(forged, T0))).toBe("badTag")
    const sameId = new Sender(sealer, { id: group.id, secret: generateKey().secret }).seal(1, new Uint8Array(8), T0)
    expect(reason(receiver.open(sameId, T0))).toBe("badTag")
    expect(reason(receiver.open(new Sender(sealer, generateKey()).seal(1, new Uint8Array(8), T0), T0))).toBe("unknownKey")
  })

  it("refuses a truncated datagram, a v7 datagram and an unknown version", () => {
    const { receiver, sender } = setup()
    const frame = sender.seal(1, new Uint8Array(100), T0)
    expect(reason(receiver.open(frame.subarray(0, MIN_FRAME_BYTES - 1), T0))).toBe("tooShort")
    expect(reason(receiver.open(frame.subarray(0, frame.length - 1), T0))).toBe("badTag")
    const v7 = frame.slice()
    v7[0] = 7
    expect(reason(receiver.open(v7, T0))).toBe("v7")
    const other = frame.slice()
    other[0] = 0x42
    expect(reason(receiver.open(other, T0))).toBe("notNative")
    const v2 = frame.slice()
    v2[1] = 2
    expect(reason(receiver.open(v2, T0))).toBe("unknownVersion")
  })

  it("refuses a replay in the same epoch, within a batch, and one too far behind the window", () => {
    const { receiver, sender } = setup()
    const first = sender.seal(1, new Uint8Array(4), T0)
    expect(reason(receiver.open(first.slice(), T0))).toBe("opened")
    expect(reason(receiver.open(first.slice(), T0 + 1000))).toBe("replayed")
    const twice = new Uint8Array(first.length * 2)
    const next = sender.seal(1, new Uint8Array(4), T0)
    twice.set(next, 0)
    twice.set(next, next.length)
    const lengths = Uint32Array.of(next.length, next.length)
    expect(receiver.openBatch(twice, Uint32Array.of(0, next.length), lengths, 2, T0).map(reason)).toEqual(["opened", "replayed"])
    for (let i = 0; i <= WINDOW; i++) receiver.open(sender.seal(1, new Uint8Array(1), T0), T0)
    expect(reason(receiver.open(first.slice(), T0))).toBe("tooOld")
  })

  it("hands back an authenticated datagram of an epoch not admitted, and refuses what an admitted epoch sealed before its admission", () => {
    const { group } = setup()
    const receiver = new Receiver(opener, ringOf(group))
    const sender = new Sender(sealer, group)
    const before = sender.seal(1, new Uint8Array(4), T0)
    expect(reason(receiver.open(before.slice(), T0))).toBe("unadmitted")
    admitted(receiver, sender, T0 + 10)
    // sealed before the ANSWER: it may be a recording made before this receiver (re)started
    expect(reason(receiver.open(before.slice(), T0 + 20))).toBe("tooOld")
    expect(reason(receiver.open(sender.seal(1, new Uint8Array(4), T0 + 30), T0 + 30))).toBe("opened")
  })

  it("a restarted receiver admits nothing by itself: a recording of a live epoch stays unadmitted, then below the floor", () => {
    const { group, receiver, sender } = setup()
    const recorded = sender.seal(1, new Uint8Array(4), T0)
    expect(reason(receiver.open(recorded.slice(), T0))).toBe("opened")
    const restarted = new Receiver(opener, ringOf(group))
    expect(reason(restarted.open(recorded.slice(), T0 + 1000))).toBe("unadmitted")
    admitted(restarted, sender, T0 + 1000)
    expect(reason(restarted.open(recorded.slice(), T0 + 1001))).toBe("tooOld")
  })

  it("refuses a datagram stamped beyond the loose clock bound, admitted or not", () => {
    const { receiver, sender } = setup()
    expect(reason(receiver.open(sender.seal(1, new Uint8Array(4), T0 - DAY), T0))).toBe("stale")
    expect(reason(receiver.open(sender.seal(1, new Uint8Array(4), T0 + SKEW + 1), T0))).toBe("future")
    expect(reason(receiver.open(new Sender(sealer, generateKey()).seal(1, new Uint8Array(4), T0), T0))).toBe("unknownKey")
  })

  it("accepts every listed key and seals under the first, so keys rotate without downtime", () => {
    const [oldKey, newKey] = [generateKey(), generateKey()]
    const receiver = new Receiver(opener, ringOf(newKey, oldKey))
    const old = admitted(receiver, new Sender(sealer, oldKey))
    expect(reason(receiver.open(old.seal(1, new Uint8Array(1), T0), T0))).toBe("opened")
    const sender = new Sender(sealer, oldKey)
    sender.rekey(newKey)
    admitted(receiver, sender)
    expect(reason(receiver.open(sender.seal(1, new Uint8Array(1), T0), T0))).toBe("opened")
    receiver.setKeys(ringOf(newKey))
    expect(reason(receiver.open(old.seal(1, new Uint8Array(1), T0), T0))).toBe("unknownKey")
  })

  it("a full epoch table refuses to admit a new epoch until an old one is idle", () => {
    const { group, receiver } = setup({ maxEpochs: 2 })
    admitted(receiver, new Sender(sealer, group), T0 + 1)
    const third = new Sender(sealer, group)
    const answer = receiver.open(third.seal(3, new Uint8Array(16), T0 + 2), T0 + 2) as Unadmitted
    expect(receiver.admit(answer, T0 + 2)).toBe("epochTableFull")
    const later = T0 + 600_001 + 10
    const again = receiver.open(third.seal(3, new Uint8Array(16), later), later) as Unadmitted
    expect(receiver.admit(again, later)).toBeUndefined()
    expect(receiver.epochs).toBe(1)
  })

  it("counts every refusal by reason, and a forgery touches no window", () => {
    const { receiver, sender } = setup()
    const genuine = sender.seal(1, new Uint8Array(4), T0)
    const forged = genuine.slice()
    forged[forged.length - 1]! ^= 1
    receiver.open(forged, T0)
    receiver.open(forged, T0)
    expect(reason(receiver.open(genuine.slice(), T0))).toBe("opened")
    receiver.open(genuine.slice(), T0)
    receiver.open(new Uint8Array(3), T0)
    expect(receiver.refusals).toEqual({ ...Object.fromEntries(REFUSALS.map((r) => [r, 0])), badTag: 2, replayed: 1, notNative: 1 })
  })
})
