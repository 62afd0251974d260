/**
 * The bookkeeping of challenge admission (epochs.ts says why it stops replays), in memory, time passed in:
 * - the challenges this receiver has out, one per epoch, bounded: a datagram of an unknown epoch gets its
 *   source a CHALLENGE at most once per `challengeIntervalMs` per epoch, re-sending the same nonce until it
 *   expires, so an ANSWER to any copy admits the epoch;
 * - how many ANSWERs this daemon sends per second, in all (each costs a seal and a datagram, and a key holder
 *   could ask for them);
 * - when a peer is worth (re-)announcing to the member layer: at most once per `announceIntervalMs` per address.
 */
import type { Endpoint } from "../net/Transport.js"
import type { KeyId } from "./keys.js"
import { type Challenge, NONCE_BYTES } from "./messages.js"

export interface AdmissionOptions {
  readonly challengeIntervalMs?: number
  readonly challengeTtlMs?: number
  readonly maxPending?: number
  readonly answersPerSecond?: number
  readonly announceIntervalMs?: number
}

interface Pending {
  readonly challenge: Challenge
  readonly firstAt: number
  lastSentAt: number
}

const sameBytes = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((x, i) => x === b[i])

export class Admission {
  private readonly pending = new Map<string, Pending>()
  private readonly announced = new Map<string, number>()
  private answerSecond = -1
  private answersThisSecond = 0
  private readonly challengeIntervalMs: number
  private readonly challengeTtlMs: number
  private readonly maxPending: number
  private readonly answersPerSecond: number
  private readonly announceIntervalMs: number

  constructor(private readonly random: (n: number) => Uint8Array, options: AdmissionOptions = {}) {
    this.challengeIntervalMs = options.challengeIntervalMs ?? 200
    this.challengeTtlMs = options.challengeTtlMs ?? 5000
    this.maxPending = options.maxPending ?? 1024
    this.answersPerSecond = options.answersPerSecond ?? 256
    this.announceIntervalMs = options.announceIntervalMs ?? 1000
  }

  get pendingCount(): number {
    return this.pending.size
  }

  /** The challenge to send for a datagram of the unadmitted `epoch`, or undefined when one went out just now. */
  challenge(epoch: string, keyId: KeyId, epochId: Uint8Array, now: number): Challenge | undefined {
    let p = this.pending.get(epoch)
    if (p !== undefined && now - p.firstAt >= this.challengeTtlMs) (this.pending.delete(epoch), (p = undefined))
    if (p !== undefined) {
      if (now - p.lastSentAt < this.challengeIntervalMs) return undefined
      p.lastSentAt = now
      return p.challenge
    }
    if (this.pending.size >= this.maxPending) {
      // the oldest goes: a dropped challenge is only asked again, never admits anything
      this.pending.delete(this.pending.keys().next().value!)
    }
    const challenge: Challenge = { keyId, epochId: epochId.slice(), nonce: this.random(NONCE_BYTES) }
    this.pending.set(epoch, { challenge, firstAt: now, lastSentAt: now })
    return challenge
  }

  /** Whether an authenticated ANSWER from `epoch` echoing `nonce` answers our challenge; it is then used up. */
  answered(epoch: string, nonce: Uint8Array, now: number): boolean {
    const p = this.pending.get(epoch)
    if (p === undefined || now - p.firstAt >= this.challengeTtlMs || !sameBytes(p.challenge.nonce, nonce)) return false
    this.pending.delete(epoch)
    return true
  }

  /** Whether this daemon may send one more ANSWER now. */
  mayAnswer(now: number): boolean {
    const second = Math.floor(now / 1000)
    if (second !== this.answerSecond) (this.answerSecond = second), (this.answersThisSecond = 0)
    return this.answersThisSecond++ < this.answersPerSecond
  }

  /** Whether the peer at `at` should be announced to the member layer now. */
  announce(at: Endpoint, now: number): boolean {
    const key = `${at.address}:${at.port}`
    const last = this.announced.get(key)
    if (last !== undefined && now - last < this.announceIntervalMs) return false
    if (this.announced.size >= 4096) this.announced.clear()
    this.announced.set(key, now)
    return true
  }
}
