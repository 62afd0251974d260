/**
 * The bookkeeping of challenge admission (epochs.ts says why it stops replays), in memory, time passed in (a
 * monotonic clock, ms: a wall clock stepped back would hold every timer and allowance until it caught up):
 * - the challenges this receiver has out, one per epoch and source, bounded: at most `maxPending` epochs and
 *   `sourcesPerEpoch` sources per epoch, and a live one is never dropped for a newcomer (a newcomer is ignored
 *   until the oldest expires: a relay replaying a genuine datagram under forged sources cannot push the owner's
 *   own challenge out before its ANSWER arrives), and at most `challengesPerSecond` CHALLENGEs sent in all, so
 *   replays under forged sources are not each reflected as a CHALLENGE. A datagram of an unknown epoch gets its
 *   source a CHALLENGE at most once per `challengeIntervalMs` per epoch and source, re-sending the same nonce
 *   until it expires, so an ANSWER to any copy admits the epoch. The nonce is the source's own and only an ANSWER from that source echoing it admits
 *   the epoch (pinned to that source, epochs.ts): the CHALLENGE is sealed for the source's address, so its owner
 *   receives it only if the source is the owner's, and a relay cannot admit an epoch under a forged source.
 *   A challenged epoch keeps the key its datagrams open with, derived once: a replay of an ended epoch's
 *   datagram costs no derivation while its challenge is out, and the challenge (with that key) is forgotten
 *   `challengeTtlMs` after it was first sent, checked at every call, so the next replay after that must take a
 *   derivation token again;
 * - which CHALLENGEs of epochs this daemon has not admitted it answered (they have no replay window here): each
 *   such datagram (challenger epoch and counter) is answered once, so a recorded CHALLENGE replayed is not; a
 *   challenger re-sending its nonce after a lost ANSWER seals a new datagram, which is answered;
 * - how many ANSWERs this daemon sends per second, per challenger epoch and in all (each costs a seal and a
 *   datagram, and a key holder could ask for them): one challenger cannot spend the others' answers;
 * - when a peer is worth (re-)announcing to the member layer: at most once per `announceIntervalMs` per address.
 */
import type { Endpoint } from "../net/Transport.js"
import type { KeyId } from "./keys.js"
import { type Challenge, NONCE_BYTES } from "./messages.js"
import { equalBytes } from "../domain/bytes.js"

export interface AdmissionOptions {
  readonly challengeIntervalMs?: number
  readonly challengeTtlMs?: number
  readonly maxPending?: number
  readonly sourcesPerEpoch?: number
  readonly challengesPerSecond?: number
  readonly answersPerSecond?: number
  readonly answersPerChallengerPerSecond?: number
  readonly announceIntervalMs?: number
}

/** How many challengers' answer counts, and unadmitted CHALLENGEs answered, are remembered (the oldest go). */
const REMEMBERED = 4096

/** At most `limit` a second (of the clock passed in). */
class PerSecond {
  private second = -1
  private used = 0

  constructor(private readonly limit: number) {}

  take(now: number): boolean {
    const second = Math.floor(now / 1000)
    if (second !== this.second) (this.second = second), (this.used = 0)
    if (this.used >= this.limit) return false
    this.used++
    return true
  }
}

/** The challenges out for one epoch, and the key its datagrams open with (derived once, for its whole lifetime). */
interface Pending {
  readonly opener: unknown
  readonly firstAt: number
  /** per source ("address:port") */
  readonly sources: Map<string, Sent>
}

interface Sent {
  readonly challenge: Challenge
  lastSentAt: number
}

/** Adds `item` to a bounded set, the oldest going first. */
const remember = (set: Set<string>, item: string) => {
  if (set.size >= REMEMBERED) set.delete(set.values().next().value!)
  set.add(item)
}

const endpointKey = (e: Endpoint) => `${e.address}:${e.port}`

export class Admission {
  /** per epoch, in the order they were first challenged: the oldest first, so the expired are at the front */
  private readonly pending = new Map<string, Pending>()
  private readonly announced = new Map<string, number>()
  private readonly challenges: PerSecond
  private readonly answers: PerSecond
  private readonly answersPerChallenger = new Map<string, PerSecond>()
  private readonly answeredUnadmitted = new Set<string>()
  private readonly perChallenger: number
  private readonly challengeIntervalMs: number
  private readonly challengeTtlMs: number
  private readonly maxPending: number
  private readonly sourcesPerEpoch: number
  private readonly announceIntervalMs: number

  constructor(private readonly random: (n: number) => Uint8Array, options: AdmissionOptions = {}) {
    this.challengeIntervalMs = options.challengeIntervalMs ?? 200
    this.challengeTtlMs = options.challengeTtlMs ?? 5000
    this.maxPending = options.maxPending ?? 1024
    this.sourcesPerEpoch = options.sourcesPerEpoch ?? 4
    this.challenges = new PerSecond(options.challengesPerSecond ?? 256)
    this.answers = new PerSecond(options.answersPerSecond ?? 256)
    // a challenger re-sends every `challengeIntervalMs`: 5 a second
    this.perChallenger = options.answersPerChallengerPerSecond ?? 5
    this.announceIntervalMs = options.announceIntervalMs ?? 1000
  }

  get pendingCount(): number {
    return this.pending.size
  }

  /**
   * The challenge to send to `from` for a datagram of the unadmitted `epoch` (`opener` opens its datagrams), or
   * undefined when none may go now: one went out to it just now, the epoch has its share of live sources, the
   * table is full of live epochs, or the second's CHALLENGEs are spent.
   */
  challenge(epoch: string, from: Endpoint, keyId: KeyId, epochId: Uint8Array, opener: unknown, now: number): Challenge | undefined {
    this.expire(now)
    const source = endpointKey(from)
    let p = this.pending.get(epoch)
    const sent = p?.sources.get(source)
    if (sent !== undefined) {
      if (now - sent.lastSentAt < this.challengeIntervalMs || !this.challenges.take(now)) return undefined
      sent.lastSentAt = now
      return sent.challenge
    }
    // every entry is live (expire): a newcomer waits for the oldest to expire rather than push a live one out
    if (p === undefined ? this.pending.size >= this.maxPending : p.sources.size >= this.sourcesPerEpoch) return undefined
    if (!this.challenges.take(now)) return undefined
    if (p === undefined) {
      p = { opener, firstAt: now, sources: new Map() }
      this.pending.set(epoch, p)
    }
    const challenge: Challenge = { keyId, epochId: epochId.slice(), nonce: this.random(NONCE_BYTES) }
    p.sources.set(source, { challenge, lastSentAt: now })
    return challenge
  }

  /**
   * Forgets the epochs challenged `challengeTtlMs` ago or more, whatever datagram comes next: a pending epoch
   * opens without a derivation token (`opener`), so it must not outlive its challenges.
   */
  private expire(now: number): void {
    for (const [epoch, p] of this.pending) {
      if (now - p.firstAt < this.challengeTtlMs) return
      this.pending.delete(epoch)
    }
  }

  /**
   * Whether an authenticated ANSWER of `epoch` from `from` echoing `nonce` answers the challenge sent to `from`;
   * the epoch's challenges are then used up.
   */
  answered(epoch: string, from: Endpoint, nonce: Uint8Array, now: number): boolean {
    this.expire(now)
    const sent = this.pending.get(epoch)?.sources.get(endpointKey(from))
    if (sent === undefined || !equalBytes(sent.challenge.nonce, nonce)) return false
    this.pending.delete(epoch)
    return true
  }

  /**
   * The key the datagrams of `epoch` open with while a challenge of it is out (its ANSWER must not wait for a
   * derivation token, and a replay of its datagrams must not cost one derivation each), else undefined.
   */
  opener(epoch: string, now: number): unknown {
    this.expire(now)
    return this.pending.get(epoch)?.opener
  }

  /** Drops the challenges of epochs under the key ids `gone` says are gone: they are asked again under the new key. */
  forgetKeys(gone: (keyId: KeyId) => boolean): void {
    for (const [epoch, p] of this.pending) {
      const first = p.sources.values().next().value
      if (first !== undefined && gone(first.challenge.keyId)) this.pending.delete(epoch)
    }
  }

  /**
   * Whether this daemon may answer now the CHALLENGE sealed by `challenger` with `counter`; `admitted` says
   * whether that epoch is admitted here (its replay window then refused a replay already).
   */
  mayAnswer(challenger: string, counter: number, admitted: boolean, now: number): boolean {
    if (!admitted) {
      const datagram = `${challenger}/${counter}`
      if (this.answeredUnadmitted.has(datagram)) return false
      remember(this.answeredUnadmitted, datagram)
    }
    let limit = this.answersPerChallenger.get(challenger)
    if (limit === undefined) {
      if (this.answersPerChallenger.size >= REMEMBERED) this.answersPerChallenger.delete(this.answersPerChallenger.keys().next().value!)
      limit = new PerSecond(this.perChallenger)
      this.answersPerChallenger.set(challenger, limit)
    }
    return limit.take(now) && this.answers.take(now)
  }

  /** Whether the peer at `at` should be announced to the member layer now. */
  announce(at: Endpoint, now: number): boolean {
    const key = endpointKey(at)
    const last = this.announced.get(key)
    if (last !== undefined && now - last < this.announceIntervalMs) return false
    if (this.announced.size >= 4096) this.announced.clear()
    this.announced.set(key, now)
    return true
  }
}
