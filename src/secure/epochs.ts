/**
 * Which authenticated datagrams are new: the receiver's table of admitted sender epochs, each with its replay
 * window and the floor it was admitted at.
 *
 * A receiver accepts datagrams only from epochs it has admitted. An epoch is admitted by challenge
 * (admission.ts): the receiver sends the epoch's owner a fresh random nonce, the owner echoes it in an ANSWER
 * sealed in that epoch, and the epoch enters the table with its window floored at the ANSWER's counter. The
 * ANSWER was sealed after the nonce was drawn, so every counter above it was sealed after the receiver asked;
 * every counter below it is refused ("tooOld"), whatever the receiver forgot before (a restart, an epoch
 * forgotten for being idle). So forgetting never reopens a replay, and a restarted daemon hears its peers one
 * round trip after it first hears them, not after a quiet period.
 *
 * An admitted epoch is pinned to the source address and port its ANSWER came from; its datagrams from any other
 * source are refused ("wrongSource"). The window is this receiver's alone: a datagram the owner sent to another
 * member was never seen here, so without the pin (and the frame's authenticated destination, receiver.ts) a
 * relay could replay it here under any source address and make the member layer see a phantom host.
 *
 * Every datagram also carries its send time (the sender's wall clock, ms) in its authenticated header; one more
 * than `maxSkewMs` in the past or future is refused ("stale", "future"). That bound is defence in depth and a
 * measure of the members' clock skew, not what stops replays: it is kept loose (10 min).
 *
 * Admitting an epoch forgets every other epoch pinned to the same source: the new one's owner answered a
 * challenge sent to that address and port, so it is the run there now, and the older epoch's is over (its owner
 * restarted or started a new epoch). Its datagrams held back and delivered late (an EXIT of the ended run, which
 * would take the live member out of the member table) are then refused as unadmitted, and challenged in vain.
 *
 * The table is bounded; when it is full of live epochs a new epoch is refused ("epochTableFull") rather than a
 * live one forgotten. Epochs are not bounded per source address: a key holder can answer from any address it
 * owns, and one key holder must not be able to evict another's epoch.
 */
import type { Endpoint } from "../net/Transport.js"
import type { KeyId } from "./keys.js"
import { ReplayWindow } from "./replayWindow.js"

/** 10 min: loose on purpose (replays are stopped by admission and windows); it only refuses a clock far off. */
export const DEFAULT_MAX_SKEW_MS = 600_000
/** An epoch idle this long is forgotten; if it speaks again it is challenged and admitted afresh. */
export const DEFAULT_IDLE_MS = 600_000
export const DEFAULT_MAX_EPOCHS = 4096

export type FreshnessRefusal = "stale" | "future" | "unadmitted" | "wrongSource" | "replayed" | "tooOld" | "epochTableFull"

export interface EpochTableOptions {
  readonly maxSkewMs?: number
  readonly idleMs?: number
  readonly maxEpochs?: number
}

/** What the table keeps of one sender epoch; `opener` is whatever the caller verifies that epoch's tags with. */
export interface Epoch<Opener> {
  readonly keyId: KeyId
  readonly opener: Opener
  readonly window: ReplayWindow
  /** counters below this were (or may have been) sealed before the epoch was admitted */
  readonly floor: number
  /** the source its ANSWER came from (a copy): the only one its datagrams are accepted from */
  readonly source: Endpoint
  /** the receiver's clock when a datagram of the epoch was last accepted */
  lastHeard: number
}

/** Compared field by field: a string spelled per datagram to compare would be garbage per datagram. */
const sameSource = (a: Endpoint, b: Endpoint) => a.port === b.port && a.address === b.address

export class EpochTable<Opener> {
  private readonly epochs = new Map<string, Epoch<Opener>>()
  readonly maxSkewMs: number
  readonly idleMs: number
  readonly maxEpochs: number

  constructor(options: EpochTableOptions = {}) {
    this.maxSkewMs = options.maxSkewMs ?? DEFAULT_MAX_SKEW_MS
    this.idleMs = options.idleMs ?? DEFAULT_IDLE_MS
    this.maxEpochs = options.maxEpochs ?? DEFAULT_MAX_EPOCHS
  }

  get size(): number {
    return this.epochs.size
  }

  /** The admitted epoch under `name` (key id and epoch id, as the caller spells them). */
  get(name: string): Epoch<Opener> | undefined {
    return this.epochs.get(name)
  }

  /** The loose clock bound, for every authenticated datagram, admitted or not. */
  freshness(sentAt: number, now: number): "stale" | "future" | undefined {
    if (sentAt < now - this.maxSkewMs) return "stale"
    if (sentAt > now + this.maxSkewMs) return "future"
    return undefined
  }

  /**
   * Judges an authenticated datagram and, when it is new, records it. Call only after the tag verified; an
   * epoch that is not admitted yet is "unadmitted" (the caller challenges it).
   */
  accept(name: string, counter: number, sentAt: number, from: Endpoint, now: number): FreshnessRefusal | undefined {
    const late = this.freshness(sentAt, now)
    if (late !== undefined) return late
    const epoch = this.epochs.get(name)
    if (epoch === undefined) return "unadmitted"
    if (!sameSource(epoch.source, from)) return "wrongSource"
    if (counter < epoch.floor) return "tooOld"
    const verdict = epoch.window.check(counter)
    if (verdict !== "fresh") return verdict
    epoch.window.accept(counter)
    epoch.lastHeard = now
    return undefined
  }

  /**
   * Admits an epoch on its owner's authenticated ANSWER to a fresh challenge, sealed with `counter`: that
   * counter is accepted, every one below is refused from now on, and only datagrams from `from` (the ANSWER's
   * source) are accepted, and the other epochs pinned to that source are forgotten. An epoch already admitted
   * keeps its window and source: a late duplicate ANSWER must not reopen anything.
   */
  admit(name: string, keyId: KeyId, opener: Opener, counter: number, from: Endpoint, now: number): "epochTableFull" | undefined {
    if (this.epochs.has(name)) return undefined
    const source: Endpoint = { address: from.address, port: from.port }
    for (const [other, epoch] of this.epochs) if (sameSource(epoch.source, source)) this.epochs.delete(other)
    if (this.epochs.size >= this.maxEpochs && this.forgetIdle(now) === 0) return "epochTableFull"
    const window = new ReplayWindow()
    window.accept(counter)
    this.epochs.set(name, { keyId, opener, window, floor: counter, source, lastHeard: now })
    return undefined
  }

  /** Forgets the epochs under the key ids `gone` says are gone (a key removed, or its secret replaced). */
  forgetKeys(gone: (keyId: KeyId) => boolean): void {
    for (const [name, epoch] of this.epochs) if (gone(epoch.keyId)) this.epochs.delete(name)
  }

  /** Forgets the epochs not heard for `idleMs` (safe: a forgotten epoch must be admitted again); returns how many. */
  forgetIdle(now: number): number {
    let n = 0
    for (const [name, epoch] of this.epochs) {
      if (epoch.lastHeard < now - this.idleMs) {
        this.epochs.delete(name)
        n++
      }
    }
    return n
  }
}
