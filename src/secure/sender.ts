/**
 * The sealing side of native mode: one sender epoch at a time (a random epoch id, the traffic key derived from
 * it, a counter from 0), so no nonce repeats under a traffic key across restarts, senders or key rotation. An
 * epoch also ends after `DATAGRAMS_PER_EPOCH` frames: AES-GCM keeps its confidentiality and forgery bounds with
 * a wide margin up to about 2^32 messages under one key (NIST SP 800-38D), far below the counter's range.
 */
import type { Endpoint, Layout } from "../net/Transport.js"
import type { Aead } from "./aead.js"
import { frameBytes, HEADER_BYTES, writeHeader, writeSentAt } from "./frame.js"
import type { GroupKey, KeyId } from "./keys.js"
import { headerKey, newEpochId, trafficKey } from "./trafficKeys.js"

/** Frames sealed under one traffic key before the sender starts a new epoch. */
export const DATAGRAMS_PER_EPOCH = 2 ** 32

interface SendEpoch {
  readonly keyId: KeyId
  readonly epochId: Uint8Array
  readonly key: unknown
  counter: number
}

export class Sender {
  private epoch: SendEpoch
  /** the group key's header key: one per group key, not per epoch */
  private headerKey: unknown
  /**
   * The header the last run's frames shared but for their counters, and its epoch and destination: the next run of
   * the epoch to the same endpoint rewrites only its send time, not the destination's address from its text.
   */
  private readonly template = new Uint8Array(HEADER_BYTES)
  private templateOf: { readonly epoch: SendEpoch; readonly to: Endpoint } | undefined

  constructor(private readonly aead: Aead, private group: GroupKey, private readonly datagramsPerEpoch = DATAGRAMS_PER_EPOCH) {
    this.headerKey = aead.headerKey(headerKey(group))
    this.epoch = this.begin()
  }

  private begin(): SendEpoch {
    const epochId = newEpochId()
    return { keyId: this.group.id, epochId, key: this.aead.key(trafficKey(this.group, epochId), "seal"), counter: 0 }
  }

  /** Starts a new epoch under `group`: after the key file put another key first. */
  rekey(group: GroupKey): void {
    this.group = group
    this.headerKey = this.aead.headerKey(headerKey(group))
    this.epoch = this.begin()
  }

  get keyId(): KeyId {
    return this.epoch.keyId
  }

  get epochId(): Uint8Array {
    return this.epoch.epochId
  }

  /** The counter the next frame gets. */
  get counter(): number {
    return this.epoch.counter
  }

  /**
   * Seals `count` frames laid out in `slab`: frame i starts at `starts[i]` with `HEADER_BYTES` left for the
   * header, then its payload of `lengths[i]` bytes (message type first), then `TAG_BYTES` left for the tag.
   * The frames get consecutive counters, the destination `to` (the group's endpoint for multicast) and the send
   * time `now`. A batch that would cross the epoch's limit starts a new epoch (a batch is far below the limit).
   */
  sealBatch(slab: Uint8Array, starts: Uint32Array, lengths: Uint32Array, count: number, to: Endpoint, now: number): void {
    if (this.epoch.counter + count > this.datagramsPerEpoch) this.epoch = this.begin()
    const { keyId, epochId } = this.epoch
    for (let i = 0; i < count; i++) {
      writeHeader(slab, starts[i]!, { keyId, epochId, counter: this.epoch.counter++, sentAt: now, to })
    }
    this.aead.seal(this.epoch.key, slab, starts, lengths, count, this.headerKey)
  }

  /**
   * Seals the message bodies of `type` laid out in `bodies` as `layout` says (a segment size: at least one frame;
   * or lengths) as frames laid out back to back from the start of `into`, with consecutive counters, for `to`,
   * sent at `now`: the bytes of frames written. A run that would cross the epoch's limit starts a new epoch.
   */
  sealRun(type: number, bodies: Uint8Array, layout: Layout, into: Uint8Array, to: Endpoint, now: number): number {
    const count = typeof layout === "number" ? Math.max(1, Math.ceil(bodies.length / layout)) : layout.length
    if (this.epoch.counter + count > this.datagramsPerEpoch) this.epoch = this.begin()
    const epoch = this.epoch
    const last = this.templateOf
    if (last !== undefined && last.epoch === epoch && last.to.address === to.address && last.to.port === to.port) writeSentAt(this.template, 0, now)
    else {
      writeHeader(this.template, 0, { keyId: epoch.keyId, epochId: epoch.epochId, counter: 0, sentAt: now, to })
      this.templateOf = { epoch, to }
    }
    // taken before sealing: a run that fails half sealed never gives its counters to another
    const counter = epoch.counter
    epoch.counter += count
    return this.aead.sealRun(epoch.key, this.headerKey, this.template, counter, type, bodies, layout, into)
  }

  /** One frame carrying a message of `type` with `body`, for `to`. */
  seal(type: number, body: Uint8Array, to: Endpoint, now: number): Uint8Array {
    const frame = new Uint8Array(frameBytes(1 + body.length))
    frame[HEADER_BYTES] = type
    frame.set(body, HEADER_BYTES + 1)
    this.sealBatch(frame, Uint32Array.of(0), Uint32Array.of(1 + body.length), 1, to, now)
    return frame
  }
}
