/**
 * Native mode between the transport and everything above it, without I/O (time and randomness passed in):
 * every datagram sent is a message (V7, or a native message: protocol/native) sealed in a native frame, every
 * datagram received must open, be fresh and
 * come from an admitted epoch; CHALLENGE and ANSWER admit epochs (epochs.ts, admission.ts). The caller sends
 * what `receive` asks to, delivers what it opened, and tells the member layer about peers worth announcing.
 *
 * Every frame names its destination (the group, or the peer it is sent to) in its authenticated header, and a
 * receiver refuses frames for anyone else; every admitted epoch is pinned to the source of its ANSWER. Together
 * they tie a frame to where it was sent and who sent it, so a relay can neither deliver a member's unicast to a
 * third member nor make a member's datagrams appear to come from another address.
 */
import type { Datagram, Destination, Endpoint, Layout } from "../net/Transport.js"
import { isBodyType } from "../protocol/native/codec.js"
import { Admission, type AdmissionOptions } from "./admission.js"
import type { Aead } from "./aead.js"
import { HEADER_BYTES, TAG_BYTES } from "./frame.js"
import type { KeyRing } from "./keyFile.js"
import { decodeChallenge, encodeChallenge, MessageType } from "./messages.js"
import { epochName, type Opened, Receiver, type ReceiverOptions, type Refusal, type Unadmitted } from "./receiver.js"
import { Sender } from "./sender.js"
import { equalBytes } from "../domain/bytes.js"

/** What a frame adds to the message it carries: header, message type, tag. */
export const FRAME_OVERHEAD = HEADER_BYTES + 1 + TAG_BYTES

export interface Outgoing {
  readonly to: Endpoint
  readonly frame: Uint8Array
}

export interface Received {
  /** the v7 datagrams that opened: views into the batch's buffers */
  readonly delivered: Array<Datagram>
  /** CHALLENGEs and ANSWERs to send, in order, before anything else */
  readonly send: Array<Outgoing>
  /** peers admitted, or admitted ones whose challenge this daemon answered: worth a (re-)announcement */
  readonly peers: Array<Endpoint>
  /** refusals, each with its source, for a rate-limited log */
  readonly refused: Array<{ readonly reason: Refusal | "unknownType"; readonly from: Endpoint }>
}

/** Where this daemon receives: the group's endpoint, and a test of its own unicast endpoints. */
export interface Whereabouts {
  readonly group: Endpoint
  readonly isLocal: (to: Endpoint) => boolean
}

export interface ChannelCounters {
  readonly refused: Record<Refusal | "unknownType", number>
  readonly epochs: number
  /** traffic keys derived for epochs that had none here: only epochs whose header MAC verified */
  readonly derivations: number
  readonly challengesSent: number
  readonly answersSent: number
  readonly admitted: number
}

const keyHex = (id: number) => id.toString(16).padStart(8, "0")

export class SecureChannel {
  private readonly sender: Sender
  private readonly receiver: Receiver
  private readonly admission: Admission
  private unknownType = 0
  private challengesSent = 0
  private answersSent = 0
  private admitted = 0
  private own: { readonly keyId: number; readonly epochId: Uint8Array; readonly name: string } | undefined
  private readonly batchLayout = new BatchLayout()

  constructor(
    private readonly aead: Aead,
    private ring: KeyRing,
    random: (n: number) => Uint8Array,
    private readonly at: Whereabouts,
    options: ReceiverOptions & AdmissionOptions & { readonly datagramsPerEpoch?: number } = {}
  ) {
    this.sender = new Sender(aead, ring.sending, options.datagramsPerEpoch)
    const isOurs = (to: Endpoint) => (to.address === at.group.address && to.port === at.group.port) || at.isLocal(to)
    this.admission = new Admission(random, options)
    this.receiver = new Receiver(aead, ring, isOurs, { ...options, pendingOpener: (epoch, now) => this.admission.opener(epoch, now) })
  }

  /** Our sending epoch's name, spelled again only when the epoch changes (not per batch received). */
  private ownEpoch(): string {
    const { keyId, epochId } = this.sender
    if (this.own?.epochId !== epochId || this.own.keyId !== keyId) this.own = { keyId, epochId, name: epochName(keyId, epochId) }
    return this.own.name
  }

  private endpoint(to: Destination): Endpoint {
    return to._tag === "Group" ? this.at.group : to
  }

  /** The id of the key this daemon seals under, in hex. */
  get keyId(): string {
    return keyHex(this.ring.sending.id)
  }

  get engine(): Aead["name"] {
    return this.aead.name
  }

  /** Takes a reread key file: a new first key starts a new sender epoch; true when it did. */
  setKeys(ring: KeyRing): boolean {
    const previous = this.ring.sending
    this.ring = ring
    this.admission.forgetKeys(this.receiver.setKeys(ring))
    if (previous.id === ring.sending.id && equalBytes(previous.secret, ring.sending.secret)) return false
    this.sender.rekey(ring.sending)
    return true
  }

  /** One message in a frame for `to`: a v7 datagram, or the body of a native message of `type`. */
  seal(message: Uint8Array, to: Destination, now: number, type: number = MessageType.V7): Uint8Array {
    return this.sender.seal(type, message, this.endpoint(to), now)
  }

  /**
   * Messages laid out back to back as `layout` says (v7 datagrams of a DATA burst, or the bodies of native messages
   * of `type`): `segment` bytes each but the last, or `lengths[i]` bytes the i-th (a burst of a bundle stream's Data,
   * each as long as its pieces make it). Sealed as one run into frames laid out the same way, each `FRAME_OVERHEAD`
   * longer: in `into` when it is large enough (a view of it), else in a new buffer.
   */
  sealRun(messages: Uint8Array, layout: Layout, to: Destination, now: number, type: number = MessageType.V7, into?: Uint8Array): Uint8Array {
    const count = typeof layout === "number" ? Math.max(1, Math.ceil(messages.length / layout)) : layout.length
    const size = messages.length + count * FRAME_OVERHEAD
    const slab = into !== undefined && into.length >= size ? into : new Uint8Array(size)
    return slab.subarray(0, this.sender.sealRun(type, messages, layout, slab, this.endpoint(to), now))
  }

  /**
   * Opens a batch as one AEAD call, then admits, answers and delivers in arrival order. `now` is the wall clock
   * (ms), for send times (sealed and checked) and idleness; `monotonic` a clock that never steps back (ms), for
   * every allowance and challenge timer: a wall clock stepped back must not stop derivations, challenges or
   * answers until it caught up.
   */
  receive(batch: ReadonlyArray<Datagram>, now: number, monotonic: number): Received {
    const { lengths, slab, starts, sources } = this.batchLayout.of(batch)
    const results = this.receiver.openBatch(slab, starts, lengths, sources, batch.length, now, monotonic)
    const out: Received = { delivered: [], send: [], peers: [], refused: [] }
    // our own epoch, heard back (relayed, or a multicast echo): never challenged, never admitted
    const own = this.ownEpoch()
    // epochs admitted by an ANSWER in this batch: their later datagrams here are judged again
    const admittedNow = new Set<string>()
    for (let i = 0; i < batch.length; i++) {
      const from = batch[i]!.from
      let r = results[i]!
      if (r._tag !== "Refused" && r.epoch === own) {
        this.receiver.count("ownEpoch")
        out.refused.push({ reason: "ownEpoch", from })
        continue
      }
      if (r._tag === "Unadmitted" && admittedNow.has(r.epoch)) r = this.receiver.judgeAdmitted(r, now)
      switch (r._tag) {
        case "Refused":
          out.refused.push({ reason: r.reason, from })
          break
        case "Opened":
          this.opened(r, from, now, monotonic, out)
          break
        case "Unadmitted":
          if (r.type === MessageType.ANSWER && this.admission.answered(r.epoch, from, r.body, monotonic)) {
            if (this.receiver.admit(r, now) === undefined) {
              admittedNow.add(r.epoch)
              this.admitted++
              this.announce(from, monotonic, out)
            } else out.refused.push({ reason: "epochTableFull", from })
            break
          }
          if (r.type === MessageType.CHALLENGE) this.answer(r, from, now, monotonic, out)
          else {
            this.receiver.count("unadmitted")
            out.refused.push({ reason: "unadmitted", from })
          }
          this.challenge(r, from, now, monotonic, out)
          break
        default:
          r satisfies never
      }
    }
    return out
  }

  private opened(r: Opened, from: Endpoint, now: number, monotonic: number, out: Received): void {
    switch (r.type) {
      case MessageType.V7:
        out.delivered.push({ bytes: r.body, from })
        return
      case MessageType.CHALLENGE:
        return this.answer(r, from, now, monotonic, out)
      case MessageType.ANSWER:
        // a duplicate: the epoch is admitted already
        return
      default:
        if (isBodyType(r.type)) return void out.delivered.push({ bytes: r.body, from, native: r.type })
        this.unknownType++
        out.refused.push({ reason: "unknownType", from })
    }
  }

  /**
   * Answers a CHALLENGE naming this daemon's current sending epoch; any other epoch is never admitted. The
   * challenger is announced only when its own epoch is admitted here: a CHALLENGE of an unadmitted epoch may be
   * a replay, and its sender is announced when its own ANSWER admits it.
   */
  private answer(r: Opened | Unadmitted, from: Endpoint, now: number, monotonic: number, out: Received): void {
    const c = decodeChallenge(r.body)
    if (c === undefined || c.keyId !== this.sender.keyId || !equalBytes(c.epochId, this.sender.epochId)) return
    if (!this.admission.mayAnswer(r.epoch, r.counter, r._tag === "Opened", monotonic)) return
    out.send.push({ to: from, frame: this.sender.seal(MessageType.ANSWER, c.nonce, from, now) })
    this.answersSent++
    if (r._tag === "Opened") this.announce(from, monotonic, out)
  }

  private challenge(r: Unadmitted, from: Endpoint, now: number, monotonic: number, out: Received): void {
    const c = this.admission.challenge(r.epoch, from, r.keyId, r.epochId, r.opener, monotonic)
    if (c === undefined) return
    out.send.push({ to: from, frame: this.sender.seal(MessageType.CHALLENGE, encodeChallenge(c), from, now) })
    this.challengesSent++
  }

  private announce(peer: Endpoint, now: number, out: Received): void {
    if (this.admission.announce(peer, now)) out.peers.push(peer)
  }

  /** Forgets idle epochs; the daemon calls it now and then. */
  forgetIdle(now: number): number {
    return this.receiver.forgetIdle(now)
  }

  get counters(): ChannelCounters {
    return {
      refused: { ...this.receiver.refusals, unknownType: this.unknownType },
      epochs: this.receiver.epochs,
      derivations: this.receiver.derivations,
      challengesSent: this.challengesSent,
      answersSent: this.answersSent,
      admitted: this.admitted
    }
  }
}

/**
 * A batch as one slab, offsets and sources, for one AEAD call: the transport's own slab when every datagram is a
 * view into it (the slab's view and the arrays kept from one batch to the next, grown to the largest), else a copy.
 */
class BatchLayout {
  private starts = new Uint32Array(64)
  private lengths = new Uint32Array(64)
  private readonly sources: Array<Endpoint> = []
  private slab: Uint8Array | undefined

  of(batch: ReadonlyArray<Datagram>) {
    const count = batch.length
    if (this.starts.length < count) (this.starts = new Uint32Array(count * 2)), (this.lengths = new Uint32Array(count * 2))
    const { starts, lengths, sources } = this
    sources.length = 0
    const buffer = batch[0]?.bytes.buffer
    let shared = true
    for (let i = 0; i < count; i++) {
      const d = batch[i]!
      sources.push(d.from)
      shared &&= d.bytes.buffer === buffer
    }
    if (shared) {
      let slab = this.slab
      if (slab === undefined || slab.buffer !== buffer) this.slab = slab = buffer === undefined ? new Uint8Array(0) : new Uint8Array(buffer as ArrayBuffer)
      for (let i = 0; i < count; i++) (starts[i] = batch[i]!.bytes.byteOffset), (lengths[i] = batch[i]!.bytes.length)
      return { slab, starts, lengths, sources }
    }
    let total = 0
    for (const d of batch) total += d.bytes.length
    const slab = new Uint8Array(total)
    let at = 0
    for (let i = 0; i < count; i++) {
      const bytes = batch[i]!.bytes
      slab.set(bytes, at)
      starts[i] = at
      lengths[i] = bytes.length
      at += bytes.length
    }
    return { slab, starts, lengths, sources }
  }
}
