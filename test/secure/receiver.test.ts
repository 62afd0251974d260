import { describe, expect, it } from "@effect/vitest"
import { DEFAULT_MAX_SKEW_MS } from "../../src/secure/epochs.js"
import { MIN_FRAME_BYTES } from "../../src/secure/frame.js"
import { type OpenResult, Receiver, REFUSALS } from "../../src/secure/receiver.js"
import { Sender } from "../../src/secure/sender.js"
import { WINDOW } from "../../src/secure/replayWindow.js"
import { enginePairs, generateKey, ringOf } from "./support.js"

const SKEW = DEFAULT_MAX_SKEW_MS
const T0 = 1_800_000_000_000
const DAY = 86_400_000

const reason = (r: OpenResult) => (r._tag === "Refused" ? r.reason : "opened")

describe.each(enginePairs.map(([s, o]) => [`${s.name} → ${o.name}`, s, o] as const))("native receiver, %s", (_, sealer, opener) => {
  const setup = (options: { startedAt?: number; maxEpochs?: number } = {}) => {
    const group = generateKey()
    const receiver = new Receiver(opener, ringOf(group), { startedAt: options.startedAt ?? T0 - DAY, maxEpochs: options.maxEpochs ?? 64 })
    return { group, receiver, sender: new Sender(sealer, group) }
  }

  it("opens what a holder of the key sealed, and says which epoch and counter it was", () => {
    const { receiver, sender } = setup()
    const r = receiver.open(sender.seal(9, Uint8Array.of(1, 2, 3), T0), T0 + 10)
    expect(r).toMatchObject({ _tag: "Opened", type: 9, counter: 0, sentAt: T0, keyId: sender.keyId })
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
    expect(reason(receiver.open(v7, T0))).toBe("notNative")
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

  it("refuses an old epoch's datagram replayed after its sender restarted: by its window while fresh, as stale later", () => {
    const { group, receiver, sender } = setup()
    const old = sender.seal(1, new Uint8Array(4), T0)
    expect(reason(receiver.open(old.slice(), T0))).toBe("opened")
    const restarted = new Sender(sealer, group)
    expect(reason(receiver.open(restarted.seal(1, new Uint8Array(4), T0 + 2000), T0 + 2000))).toBe("opened")
    expect(reason(receiver.open(old.slice(), T0 + 3000))).toBe("replayed")
    expect(reason(receiver.open(old.slice(), T0 + DAY))).toBe("stale")
    expect(reason(receiver.open(restarted.seal(1, new Uint8Array(4), T0 + DAY + 2 * SKEW), T0 + DAY))).toBe("future")
  })

  it("after the receiver restarted, refuses what may have been sent before, and opens what was sent after", () => {
    const { group, sender } = setup()
    const beforeRestart = sender.seal(1, new Uint8Array(4), T0 - 5000)
    const dayOld = sender.seal(1, new Uint8Array(4), T0 - DAY)
    const fresh = new Receiver(opener, ringOf(group), { startedAt: T0 })
    expect(reason(fresh.open(beforeRestart, T0 + 1000))).toBe("beforeStart")
    expect(reason(fresh.open(dayOld, T0 + 1000))).toBe("stale")
    // the quarantine lasts the skew bound, then a long-running sender's epoch is heard again
    expect(reason(fresh.open(sender.seal(1, new Uint8Array(4), T0 + SKEW - 1), T0 + SKEW))).toBe("beforeStart")
    expect(reason(fresh.open(sender.seal(1, new Uint8Array(4), T0 + SKEW), T0 + SKEW))).toBe("opened")
  })

  it("accepts every listed key and seals under the first, so keys rotate without downtime", () => {
    const [oldKey, newKey] = [generateKey(), generateKey()]
    const receiver = new Receiver(opener, ringOf(newKey, oldKey), { startedAt: T0 - DAY })
    expect(reason(receiver.open(new Sender(sealer, oldKey).seal(1, new Uint8Array(1), T0), T0))).toBe("opened")
    const sender = new Sender(sealer, oldKey)
    sender.rekey(newKey)
    expect(reason(receiver.open(sender.seal(1, new Uint8Array(1), T0), T0))).toBe("opened")
    receiver.setKeys(ringOf(newKey))
    expect(reason(receiver.open(new Sender(sealer, oldKey).seal(1, new Uint8Array(1), T0), T0))).toBe("unknownKey")
  })

  it("a full epoch table refuses a new epoch until an old one is stale", () => {
    const { group, receiver } = setup({ maxEpochs: 2 })
    for (const t of [T0, T0 + 1]) expect(reason(receiver.open(new Sender(sealer, group).seal(1, new Uint8Array(1), t), t))).toBe("opened")
    const third = new Sender(sealer, group)
    expect(reason(receiver.open(third.seal(1, new Uint8Array(1), T0 + 2), T0 + 2))).toBe("epochTableFull")
    const later = T0 + SKEW + 10
    expect(reason(receiver.open(third.seal(1, new Uint8Array(1), later), later))).toBe("opened")
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
