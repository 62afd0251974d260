/**
 * The opening side of native mode. A datagram is judged in this order, and nothing but its header is read
 * before its tag verified: the header's shape ("tooShort", "notNative", "oldVersion", "unknownVersion",
 * "outOfRange"), its key id ("unknownKey"); for an epoch this receiver holds no key for yet, its header MAC
 * ("badHeaderMac"), its send time ("stale", "future") and the derivation allowance ("derivationLimited"); then
 * the AEAD tag ("badTag": forged, corrupted, truncated, or sealed under another key), then its authenticated
 * destination ("misdirected": neither the group nor one of this daemon's unicast endpoints, i.e. sent to another
 * member and relayed here), then freshness, admission, source and replay (see epochs.ts). An authenticated
 * datagram of an epoch not admitted yet is handed back as `Unadmitted`, for the caller to challenge its epoch
 * (or, when it is itself a CHALLENGE or an ANSWER, to act on it). Every refusal is counted by reason; only
 * authenticated datagrams can touch the epoch table, so a forger can neither fill it nor move a window.
 *
 * Why the header MAC. A traffic key is derived per sender epoch (an HKDF and a key schedule, tens of µs), and a
 * datagram's tag cannot be checked before its epoch's key is: a forger without the key could make up a new
 * epoch id per datagram and spend the shared derivation allowance, starving the genuine new epochs of restarted
 * peers. So every header carries an 8-byte HMAC-SHA256, under a header key derived once per group key
 * (trafficKeys.ts), of all its bytes but the counter: the key id, the epoch id, the send time and the
 * destination. It is checked only when the epoch has no key here yet (neither admitted, nor challenged, nor
 * derived before), before anything is derived or admitted; a known epoch's datagrams skip it, its tag covers
 * the MAC anyway (the MAC is part of the associated data).
 * - What it protects: the derivation allowance, and the admission that follows it. A made-up epoch id fails it
 *   and costs one HMAC of 36 bytes (about a microsecond), never a derivation; only epoch ids a key holder
 *   sealed a header for can be derived.
 * - Why 8 bytes suffice: the forger is online. The header key never leaves the members and the MAC is a PRF
 *   of the header, so seeing genuine headers tells nothing about the MAC of another; each guess costs a
 *   datagram and succeeds with probability 2^-64 (a million forged datagrams a second for a year: 2^-19 in
 *   all), and a success buys one derivation, not a forgery (the GCM tag still has to verify). Truncation to 64
 *   bits is within NIST SP 800-107's bounds for a MAC whose verifications an attacker cannot run offline.
 * - Why a replayed genuine header buys nothing: its epoch is a genuine one. It is derived once and its key kept
 *   (with the last `VOUCHED_EPOCHS` such epochs), so every further datagram under that header, whatever counter
 *   or payload it was given, costs an AES-GCM check and no derivation. The MAC covers the send time, which is
 *   checked before deriving: a recorded header serves for at most the skew bound (10 min) after it was sent, so
 *   the genuine epochs a forger can present are the few that started within it.
 */
import { endpointCache } from "../net/endpoints.js"
import type { Endpoint } from "../net/Transport.js"
import type { Aead } from "./aead.js"
import { EpochTable, type EpochTableOptions, type FreshnessRefusal } from "./epochs.js"
import { type FrameHeader, HEADER_BYTES, headerRefusal, type HeaderRefusal, OFFSET, readHeader, sameBytes, TAG_BYTES, u32At, u64At } from "./frame.js"
import type { KeyRing } from "./keyFile.js"
import type { GroupKey, KeyId } from "./keys.js"
import { EPOCH_ID_BYTES, headerKey, trafficKey } from "./trafficKeys.js"
import { equalBytes } from "../domain/bytes.js"

export type Refusal =
  | HeaderRefusal
  | "unknownKey"
  | "badHeaderMac"
  | "derivationLimited"
  | "badTag"
  | "misdirected"
  | FreshnessRefusal
  | "ownEpoch"

export const REFUSALS: ReadonlyArray<Refusal> = [
  "tooShort",
  "v7",
  "notNative",
  "oldVersion",
  "unknownVersion",
  "outOfRange",
  "unknownKey",
  "badHeaderMac",
  "derivationLimited",
  "badTag",
  "misdirected",
  "stale",
  "future",
  "unadmitted",
  "wrongSource",
  "replayed",
  "tooOld",
  "epochTableFull",
  "ownEpoch"
]

export interface Opened {
  readonly _tag: "Opened"
  readonly type: number
  /** a view into the datagram: copy what outlives the receive buffer */
  readonly body: Uint8Array
  readonly keyId: KeyId
  /** the sender epoch, as key id and epoch id in hex: the authenticated identity of one sender's run */
  readonly epoch: string
  readonly counter: number
  readonly sentAt: number
  /** the datagram's source address */
  readonly from: Endpoint
}

export interface Refused {
  readonly _tag: "Refused"
  readonly reason: Refusal
}

/** Authenticated and fresh, but of an epoch not admitted: nothing of it may reach the message layer. */
export interface Unadmitted extends Omit<Opened, "_tag"> {
  readonly _tag: "Unadmitted"
  /** a copy */
  readonly epochId: Uint8Array
  readonly opener: unknown
}

export type OpenResult = Opened | Refused | Unadmitted

export const epochName = (keyId: KeyId, epochId: Uint8Array): string =>
  `${keyId.toString(16).padStart(8, "0")}:${Buffer.from(epochId.buffer, epochId.byteOffset, epochId.length).toString("hex")}`

export interface ReceiverOptions extends EpochTableOptions {
  /** traffic keys derived per second (and at once) for epochs neither admitted nor challenged */
  readonly derivationsPerSecond?: number
  /**
   * the key kept for an epoch while a challenge of it is outstanding (admission.ts), used without a token: its
   * ANSWER must not wait for one, and a replay of its datagrams must cost no derivation
   */
  readonly pendingOpener?: (epoch: string, now: number) => unknown
}

/**
 * Every epoch this receiver holds no key for costs an HKDF and a key schedule before its datagrams' tags can be
 * checked. The header MAC keeps made-up epochs out; what is left (key holders' epochs, genuine headers replayed
 * within the skew bound) is still drawn from a token bucket, and a datagram that finds it empty is refused
 * unopened ("derivationLimited"). A genuine new epoch then waits for its owner's next datagram (keep-alives repeat).
 */
class TokenBucket {
  private tokens: number
  private at = -Infinity

  constructor(private readonly perSecond: number) {
    this.tokens = perSecond
  }

  take(now: number): boolean {
    this.tokens = Math.min(this.perSecond, this.tokens + ((now - this.at) * this.perSecond) / 1000)
    this.at = now
    if (this.tokens < 1) return false
    this.tokens--
    return true
  }
}

/**
 * The names of the epochs whose datagrams came last (a handful of senders at a time), by key id and epoch id
 * bytes: a datagram's epoch is compared in place, and spelled (a hex string) only when it is none of them.
 */
class EpochNames {
  private static readonly KEPT = 8
  private readonly keyIds: Array<KeyId> = []
  private readonly ids: Array<Uint8Array> = []
  private readonly names: Array<string> = []
  private next = 0

  of(keyId: KeyId, slab: Uint8Array, at: number): string {
    for (let k = 0; k < this.names.length; k++) {
      if (this.keyIds[k] !== keyId) continue
      const id = this.ids[k]!
      let j = 0
      while (j < EPOCH_ID_BYTES && id[j] === slab[at + j]) j++
      if (j === EPOCH_ID_BYTES) return this.names[k]!
    }
    const id = slab.slice(at, at + EPOCH_ID_BYTES)
    const name = epochName(keyId, id)
    const k = this.next
    this.next = (k + 1) % EpochNames.KEPT
    this.keyIds[k] = keyId
    this.ids[k] = id
    this.names[k] = name
    return name
  }
}

/**
 * A batch's working arrays, kept from one batch to the next and grown to the largest: per frame its epoch's name
 * and its opener's index plus one in `openers` (0: none), the batch's distinct openers (mostly one: a batch is
 * mostly one epoch's frames, and the AEAD engine takes each once), and the verdicts.
 */
class Scratch {
  private nameList: Array<string | undefined> = []
  private indices = new Uint32Array(64)
  private verified = new Uint8Array(64)
  readonly openers: Array<unknown> = []
  private last: unknown = undefined
  private lastIndex = 0

  /** Begins a batch of `count` frames. */
  begin(count: number): void {
    while (this.nameList.length < count) this.nameList.push(undefined)
    if (this.indices.length < count) (this.indices = new Uint32Array(count * 2)), (this.verified = new Uint8Array(count * 2))
    this.openers.length = 0
    this.last = undefined
    this.lastIndex = 0
  }

  get names(): Array<string | undefined> {
    return this.nameList
  }

  get which(): Uint32Array {
    return this.indices
  }

  get ok(): Uint8Array {
    return this.verified
  }

  /** The index plus one of `opener` among the batch's openers, added when it is new. */
  indexOf(opener: unknown): number {
    if (opener === this.last) return this.lastIndex
    let j = this.openers.indexOf(opener)
    if (j < 0) j = this.openers.push(opener) - 1
    this.last = opener
    this.lastIndex = j + 1
    return j + 1
  }

  /** Ends a batch: the kept arrays must not hold an epoch's key past it. */
  end(): void {
    this.openers.length = 0
    this.last = undefined
  }
}

/**
 * Epochs whose header MAC verified and whose key was derived, kept (the oldest dropped first) so that a genuine
 * header replayed with other counters or payloads costs no further derivation.
 */
export const VOUCHED_EPOCHS = 256

export class Receiver {
  private readonly table: EpochTable<unknown>
  private readonly allowance: TokenBucket
  private readonly pendingOpener: (epoch: string, now: number) => unknown
  private headerKeys: ReadonlyMap<KeyId, unknown>
  private readonly vouched = new Map<string, unknown>()
  private derived = 0
  private readonly names = new EpochNames()
  /** the destinations authenticated frames name (only key holders' frames reach it, bounded all the same) */
  private readonly destinationOf = endpointCache(256)
  private readonly scratch = new Scratch()
  readonly refusals: Record<Refusal, number> = Object.fromEntries(REFUSALS.map((r) => [r, 0])) as Record<Refusal, number>

  /** `isOurs` says whether a destination is this receiver's: the group's endpoint or one of its unicast ones. */
  constructor(
    private readonly aead: Aead,
    private ring: KeyRing,
    private readonly isOurs: (to: Endpoint) => boolean,
    options: ReceiverOptions = {}
  ) {
    this.table = new EpochTable(options)
    this.allowance = new TokenBucket(options.derivationsPerSecond ?? 512)
    this.pendingOpener = options.pendingOpener ?? (() => undefined)
    this.headerKeys = this.headerKeysOf(ring)
  }

  private headerKeysOf(ring: KeyRing): ReadonlyMap<KeyId, unknown> {
    return new Map([...ring.accepted].map(([id, group]) => [id, this.aead.headerKey(headerKey(group))]))
  }

  /**
   * Accepts the keys of a reread key file from now on. The epochs admitted under a key id that is gone, or whose
   * secret changed, are forgotten (their openers hold the old secret): they must be admitted again under the new
   * one. Returns the predicate of those key ids, for the caller's own bookkeeping.
   */
  setKeys(ring: KeyRing): (keyId: KeyId) => boolean {
    const before = this.ring.accepted
    const gone = (id: KeyId) => {
      const now = ring.accepted.get(id)
      const then = before.get(id)
      return now === undefined || then === undefined || !equalBytes(now.secret, then.secret)
    }
    this.ring = ring
    this.headerKeys = this.headerKeysOf(ring)
    this.table.forgetKeys(gone)
    this.vouched.clear()
    return gone
  }

  /** Traffic keys derived for epochs this receiver had no key for. */
  get derivations(): number {
    return this.derived
  }

  get epochs(): number {
    return this.table.size
  }

  /** Forgets idle epochs (they are challenged again if they speak); the daemon calls it now and then. */
  forgetIdle(now: number): number {
    return this.table.forgetIdle(now)
  }

  /** Admits the epoch of an ANSWER to a fresh challenge, floored at the ANSWER's counter (epochs.ts). */
  admit(answer: Unadmitted, now: number): "epochTableFull" | undefined {
    const refusal = this.table.admit(answer.epoch, answer.keyId, answer.opener, answer.counter, answer.from, now)
    if (refusal !== undefined) this.count(refusal)
    return refusal
  }

  /**
   * Judges again a datagram handed back as `Unadmitted` once its epoch was admitted: the datagrams after an
   * ANSWER in the same batch.
   */
  judgeAdmitted(u: Unadmitted, now: number): Opened | Refused {
    const refusal = this.table.accept(u.epoch, u.counter, u.sentAt, u.from, now)
    if (refusal !== undefined) return this.refuse(refusal)
    const { epochId: _, opener: __, ...opened } = u
    return { ...opened, _tag: "Opened" }
  }

  /** Counts a refusal the caller made of what `openBatch` handed back (an unadmitted datagram dropped). */
  count(reason: Refusal): void {
    this.refusals[reason]++
  }

  open(datagram: Uint8Array, from: Endpoint, now: number, monotonic = now): OpenResult {
    return this.openBatch(datagram, Uint32Array.of(0), Uint32Array.of(datagram.length), [from], 1, now, monotonic)[0]!
  }

  /**
   * Opens `count` datagrams of `slab` (datagram i at `starts[i]`, `lengths[i]` bytes, from `sources[i]`),
   * payloads in place. `now` is the wall clock (ms), for the frames' send times and the epochs' idleness;
   * `monotonic` a clock that never steps back (ms), for the derivation allowance: a wall clock stepped back
   * would leave it empty until the clock caught up.
   */
  openBatch(
    slab: Uint8Array,
    starts: Uint32Array,
    lengths: Uint32Array,
    sources: ReadonlyArray<Endpoint>,
    count: number,
    now: number,
    monotonic: number
  ): Array<OpenResult> {
    const results = new Array<OpenResult | undefined>(count)
    const scratch = this.scratch
    scratch.begin(count)
    // the kept arrays must not hold an epoch's key past the batch, also when opening throws
    try {
      const { names, which, ok } = scratch
      // a batch is mostly one epoch's frames: a frame of the key id and epoch id of the last frame given an opener takes
      // its name and opener without a lookup (nothing a lookup reads changes within this loop but for new epochs)
      let keyed = -1
      for (let i = 0; i < count; i++) {
        const start = starts[i]!
        const refusal = headerRefusal(slab, start, lengths[i]!)
        which[i] = 0
        if (refusal !== undefined) {
          results[i] = this.refuse(refusal)
          continue
        }
        if (keyed >= 0 && sameBytes(slab, start, starts[keyed]!, OFFSET.keyId, OFFSET.counter)) {
          names[i] = names[keyed]
          which[i] = which[keyed]!
          continue
        }
        // any u32 is a key id; the ring holds only valid ones
        const keyId = u32At(slab, start + OFFSET.keyId) as KeyId
        const group = this.ring.accepted.get(keyId)
        if (group === undefined) {
          results[i] = this.refuse("unknownKey")
          continue
        }
        const name = this.names.of(keyId, slab, start + OFFSET.epochId)
        names[i] = name
        let key = this.table.get(name)?.opener ?? this.pendingOpener(name, monotonic) ?? this.vouched.get(name)
        if (key === undefined) {
          const frame = slab.subarray(start, start + lengths[i]!)
          const refusal = this.derive(group, readHeader(frame) as FrameHeader, name, frame, now, monotonic)
          if (refusal !== undefined) {
            results[i] = this.refuse(refusal)
            continue
          }
          key = this.vouched.get(name)
        }
        which[i] = scratch.indexOf(key)
        keyed = i
      }
      this.aead.open(scratch.openers, which, slab, starts, lengths, count, ok)
      // the last frame found addressed here: a frame naming the same destination is too
      let ours = -1
      for (let i = 0; i < count; i++) {
        if (results[i] !== undefined) continue
        if (ok[i] !== 1) {
          results[i] = this.refuse("badTag")
          continue
        }
        // the header is as it came (opening decrypts only the payload), and now authenticated
        const start = starts[i]!
        const here = (ours >= 0 && sameBytes(slab, start, starts[ours]!, OFFSET.destination, OFFSET.headerMac)) ||
          this.isOurs(this.destinationOf(u32At(slab, start + OFFSET.destination), (slab[start + OFFSET.port]! << 8) | slab[start + OFFSET.port + 1]!))
        if (!here) {
          results[i] = this.refuse("misdirected")
          continue
        }
        ours = i
        const name = names[i]!
        const from = sources[i]!
        const counter = u64At(slab, start + OFFSET.counter)
        const sentAt = u64At(slab, start + OFFSET.sentAt)
        const refusal = this.table.accept(name, counter, sentAt, from, now)
        if (refusal !== undefined && refusal !== "unadmitted") {
          results[i] = this.refuse(refusal)
          continue
        }
        const type = slab[start + HEADER_BYTES]!
        const body = slab.subarray(start + HEADER_BYTES + 1, start + lengths[i]! - TAG_BYTES)
        const keyId = u32At(slab, start + OFFSET.keyId) as KeyId
        results[i] = refusal === undefined
          ? { _tag: "Opened", type, body, keyId, epoch: name, counter, sentAt, from }
          : {
            _tag: "Unadmitted",
            type,
            body,
            keyId,
            epoch: name,
            counter,
            sentAt,
            from,
            epochId: slab.slice(start + OFFSET.epochId, start + OFFSET.epochId + EPOCH_ID_BYTES),
            opener: scratch.openers[which[i]! - 1]
          }
      }
    } finally {
      scratch.end()
    }
    return results as Array<OpenResult>
  }

  /**
   * Derives and keeps the key of an epoch this receiver holds none for, only if its header MAC verifies (see the
   * top of this file), its send time is within the skew bound and the allowance has a token; else the refusal.
   */
  private derive(group: GroupKey, header: FrameHeader, name: string, frame: Uint8Array, now: number, monotonic: number): Refusal | undefined {
    if (!this.aead.headerOk(this.headerKeys.get(group.id), frame)) return "badHeaderMac"
    const late = this.table.freshness(header.sentAt, now)
    if (late !== undefined) return late
    if (!this.allowance.take(monotonic)) return "derivationLimited"
    if (this.vouched.size >= VOUCHED_EPOCHS) this.vouched.delete(this.vouched.keys().next().value!)
    this.vouched.set(name, this.aead.key(trafficKey(group, header.epochId), "open"))
    this.derived++
    return undefined
  }

  private refuse(reason: Refusal): Refused {
    this.refusals[reason]++
    return { _tag: "Refused", reason }
  }
}
