/**
 * Which authenticated datagrams are new: the receiver's table of sender epochs, each with its replay window,
 * and the freshness rule that makes recordings useless once they are older than the clock-skew bound.
 *
 * Every datagram carries its send time (the sender's wall clock, ms) in its authenticated header. With clocks
 * that agree within `maxSkewMs`:
 * - a datagram stamped more than `maxSkewMs` in the past or future is refused ("stale", "future"): a recording
 *   replayed later than that is refused whatever the receiver remembers;
 * - a datagram younger than that is refused if its epoch's window has seen its counter ("replayed", "tooOld");
 * - a receiver has no windows from before its own start, so it refuses every datagram that may have been sent
 *   before it started, i.e. stamped earlier than its start plus `maxSkewMs` ("beforeStart"). This is the rule
 *   of RFC 4120 §3.2.3 for a server that lost its replay cache: after a restart a daemon hears nothing for
 *   `maxSkewMs`, then hears everything sent after its start, and nothing recorded before.
 * An epoch is forgotten only once every datagram it ever had accepted is stale, so forgetting never reopens a
 * replay. The table is bounded; when it is full of live epochs a new epoch is refused ("epochTableFull")
 * rather than a live one forgotten. Epochs are not bounded per source address: addresses are not
 * authenticated, and one key holder must not be able to evict another's epoch.
 */
import type { KeyId } from "./keys.js"
import { ReplayWindow } from "./replayWindow.js"

/**
 * 30 s: the skew bound is also how long a restarted daemon stays deaf, so it is kept short. Servers in a
 * cluster run NTP and agree within a second; 30 s also covers an unsynchronised clock drifting at a typical
 * 20 ppm for two weeks. A member whose clock is further off is refused as "stale" or "future", which `status`
 * counts and `makuo doctor` explains.
 */
export const DEFAULT_MAX_SKEW_MS = 30_000
export const DEFAULT_MAX_EPOCHS = 4096

export type FreshnessRefusal = "stale" | "future" | "beforeStart" | "replayed" | "tooOld" | "epochTableFull"

export interface EpochTableOptions {
  /** the receiver's wall clock when it started: it holds no window from before */
  readonly startedAt: number
  readonly maxSkewMs?: number
  readonly maxEpochs?: number
}

/** What the table keeps of one sender epoch; `opener` is whatever the caller verifies that epoch's tags with. */
export interface Epoch<Opener> {
  readonly keyId: KeyId
  readonly opener: Opener
  readonly window: ReplayWindow
  /** the latest send time accepted: once it is stale, so is every datagram this epoch had accepted */
  newestSentAt: number
}

export class EpochTable<Opener> {
  private readonly epochs = new Map<string, Epoch<Opener>>()
  readonly startedAt: number
  readonly maxSkewMs: number
  readonly maxEpochs: number

  constructor(options: EpochTableOptions) {
    this.startedAt = options.startedAt
    this.maxSkewMs = options.maxSkewMs ?? DEFAULT_MAX_SKEW_MS
    this.maxEpochs = options.maxEpochs ?? DEFAULT_MAX_EPOCHS
  }

  get size(): number {
    return this.epochs.size
  }

  /** The epoch under `name` (key id and epoch id, as the caller spells them), if it has accepted a datagram. */
  get(name: string): Epoch<Opener> | undefined {
    return this.epochs.get(name)
  }

  /**
   * Judges an authenticated datagram and, when it is new, records it: `known` is what `get(name)` returned,
   * `opener` what verified its tag. Call only after the tag verified.
   */
  admit(
    name: string,
    known: Epoch<Opener> | undefined,
    keyId: KeyId,
    opener: Opener,
    counter: number,
    sentAt: number,
    now: number
  ): FreshnessRefusal | undefined {
    if (sentAt < now - this.maxSkewMs) return "stale"
    if (sentAt > now + this.maxSkewMs) return "future"
    if (sentAt < this.startedAt + this.maxSkewMs) return "beforeStart"
    let epoch = known
    if (epoch === undefined) {
      if (this.epochs.size >= this.maxEpochs && this.forgetStale(now) === 0) return "epochTableFull"
      epoch = { keyId, opener, window: new ReplayWindow(), newestSentAt: sentAt }
      this.epochs.set(name, epoch)
    }
    const verdict = epoch.window.check(counter)
    if (verdict !== "fresh") return verdict
    epoch.window.accept(counter)
    if (sentAt > epoch.newestSentAt) epoch.newestSentAt = sentAt
    return undefined
  }

  /** Forgets the epochs every accepted datagram of which is now stale; returns how many. */
  forgetStale(now: number): number {
    let n = 0
    for (const [name, epoch] of this.epochs) {
      if (epoch.newestSentAt < now - this.maxSkewMs) {
        this.epochs.delete(name)
        n++
      }
    }
    return n
  }
}
