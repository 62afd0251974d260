/**
 * The sending side of one SEND transfer (spec §5.2.2): STAT → OPEN → DATA → MARK (until no member reports a
 * missing range) → CLOSE → LAST, on the shared `exchange` engine. Interrupted, the transfer sends BREAK so
 * members discard what they received.
 */
import { Clock, Data, Duration, Effect } from "effect"
import type { WireShape } from "../net/Wire.js"
import { BLOCK_SIZE, Flag, HEADER_SIZE, Opcode, RecvState, type RecvStateValue, SendState } from "../protocol/constants.js"
import { DATA_SEGMENT, writeDataHeader } from "../protocol/dataLayout.js"
import { emptyPayload, type Message, type Payload } from "../protocol/message.js"
import { encode } from "../protocol/v7.js"
import { RangeSet } from "../protocol/ranges.js"
import type { FileStoreShape } from "../store/FileStore.js"
import { describeErrno } from "../protocol/errno.js"
import { type AckRouter, withExchange, type Peer, type RoundSettings, type Target } from "./exchange.js"
import type { HostOutcome } from "./outcome.js"
import type { Progress } from "./progress.js"
import { blockCount, blockLength, isRegular, type Mstat } from "./receiveMachine.js"
import { yieldToEventLoop } from "../yieldToEventLoop.js"
import type { Pacer } from "./pacer.js"

export interface FileTransfer {
  readonly mstat: Mstat
  readonly flags: number
  readonly targets: ReadonlyArray<Target>
  /** Unicast to each target (`-t`) instead of multicast to the group. */
  readonly unicast: boolean
}

/** The source file no longer has the size it was announced with. */
export class SourceChanged extends Data.TaggedError("SourceChanged")<{ readonly path: string; readonly detail: string }> {
  override get message() {
    return `file changed while sending (${this.detail})`
  }
}

/** A request's header bytes as the codec writes them (its payload empty), the template of every DATA datagram. */
const encodedHeader = (message: Message) => Effect.map(Effect.orDie(encode(message)), (b) => b.subarray(0, HEADER_SIZE))

export interface SendSettings extends RoundSettings {
  /**
   * DATA datagrams per burst: one `sendSegments` call (one system call with UDP GSO), then a turn of the event
   * loop, so ACKs and NAKs are read during a transfer. 60 full datagrams fit the 64 KiB one GSO call carries.
   */
  readonly burst: number
  /** The DATA rate (shared by the daemon's transfers, or this job's own under `--rate`). */
  readonly pacer: Pacer
}

/** Whether an ACK in `state` answers a request of `phase`; a late answer to an earlier phase does not. */
const answers = (phase: number, state: number): boolean => {
  switch (phase) {
    case SendState.OPEN:
      return state !== RecvState.UPDATE
    case SendState.MARK:
      return state !== RecvState.UPDATE && state !== RecvState.OPEN
    case SendState.CLOSE:
      return state !== RecvState.UPDATE && state !== RecvState.OPEN && state !== RecvState.MARK
    default:
      return true
  }
}

const isError = (state: number) =>
  state === RecvState.OPENERROR || state === RecvState.WRITEERROR || state === RecvState.CLOSEERROR

const failure = (state: RecvStateValue, errno: number): string => {
  const what = state === RecvState.OPENERROR ? "open" : state === RecvState.WRITEERROR ? "write" : "close"
  return `${what} failed: ${errno === 0 ? "incomplete data" : describeErrno(errno)}`
}


export const sendFile = (
  wire: WireShape,
  store: FileStoreShape,
  router: AckRouter,
  settings: SendSettings,
  t: FileTransfer,
  progress: Progress
): Effect.Effect<ReadonlyArray<HostOutcome>> =>
  Effect.gen(function*() {
    const m = t.mstat
    const blocks = isRegular(m.mode) ? blockCount(m.size) : 0
    const pending = new RangeSet()
    const dryRun = (t.flags & Flag.DRYRUN) !== 0
    const stats = { markRounds: 0 }
    /**
     * The pacer's epoch this transfer last sent in, its first new block in it, and whether the last pass of repairs
     * went out in it.
     */
    const rateEpoch = { seen: -1, start: Number.POSITIVE_INFINITY, repairing: false }
    /** Blocks each member lost in the pacer's current epoch: congestion is one member losing more than chance. */
    const lostInEpoch = new Map<Peer, { epoch: number; blocks: number }>()
    const lossOf = (peer: Peer, blocks: number) => {
      let l = lostInEpoch.get(peer)
      if (l === undefined || l.epoch !== rateEpoch.seen) lostInEpoch.set(peer, (l = { epoch: rateEpoch.seen, blocks: 0 }))
      return (l.blocks += blocks)
    }
    progress.blocks = blocks

    return yield* withExchange(wire, router, settings, {
      opcode: Opcode.SEND,
      flags: t.flags,
      targets: t.targets,
      unicast: t.unicast,
      onAck: (peer, { message: { header, payload } }, phase) => {
        const state = header.nstate as RecvStateValue
        // NAKs during DATA and MARK answers: the union of every member's missing blocks is repaired once
        if (payload._tag === "Ranges") {
          pending.addAll(payload.ranges, blocks)
          for (const [low, high] of payload.ranges) {
            peer.missed += Math.max(0, Math.min(high, blocks) - low)
            // blocks lost at the current rate: a NAK during DATA of blocks sent in this epoch, or a MARK answer
            // after a pass of repairs (what went missing again)
            const lostNow = (state === RecvState.OPEN && phase === SendState.DATA && low >= rateEpoch.start) ||
              (state === RecvState.MARK && phase === SendState.MARK && rateEpoch.repairing)
            if (lostNow) settings.pacer.loss(rateEpoch.seen, lossOf(peer, Math.max(0, Math.min(high, blocks) - low)))
          }
        }
        if (!answers(phase, state)) return false
        if (phase === SendState.STAT || isError(state)) (peer.result = state), (peer.error = header.error)
        else if (state === RecvState.CLOSE && phase === SendState.CLOSE && peer.result === RecvState.UPDATE && !dryRun) {
          peer.result = state
        }
        return true
      }
    }, (x) =>
      Effect.gen(function*() {
        const { round, inState, transmit, transmitSegments, request } = x
        progress.peers = x.peers

        const stat: Payload = m

        const dataPhase = Effect.acquireUseRelease(store.openReader(m.path), (reader) =>
          Effect.gen(function*() {
            const template = yield* encodedHeader(request(SendState.DATA, 0, { _tag: "DataBlock", bytes: new Uint8Array(0) }))
            const burst = new Uint8Array(settings.burst * DATA_SEGMENT)
            // where each datagram's block goes in the burst: read straight there, one preadv per run of blocks
            const slots = Array.from({ length: settings.burst }, (_, i) => burst.subarray(i * DATA_SEGMENT + HEADER_SIZE, (i + 1) * DATA_SEGMENT))
            const chosen = new Array<number>(settings.burst)
            let next = 0
            let lick = false
            const pace = (bytes: number) =>
              Effect.flatMap(Clock.currentTimeMillis, (now) => {
                const wait = settings.pacer.take(bytes, now)
                return wait === 0 ? yieldToEventLoop : Effect.sleep(Duration.millis(wait))
              })
            while (true) {
              x.enter(SendState.DATA)
              // the blocks sent from here on are the current rate's: only their loss may lower it
              if (settings.pacer.epoch() !== rateEpoch.seen) (rateEpoch.seen = settings.pacer.epoch()), (rateEpoch.start = next)
              // repairs first, then new blocks; a short block (the file's last) ends the burst: only a burst's
              // last datagram may be shorter than the others
              let count = 0
              while (count < settings.burst) {
                let block = pending.shift()
                if (block === undefined && !lick && next < blocks) block = next++
                if (block === undefined) break
                chosen[count++] = block
                if (blockLength(m.size, block) < BLOCK_SIZE) break
              }
              if (count === 0) {
                stats.markRounds++
                yield* round(SendState.MARK, inState(RecvState.OPEN, RecvState.MARK, RecvState.UPDATE), emptyPayload)
                lick = true
                rateEpoch.repairing = rateEpoch.seen === settings.pacer.epoch()
                if (pending.isEmpty) return
                continue
              }
              const lastLength = blockLength(m.size, chosen[count - 1]!)
              for (let i = 0; i < count;) {
                let j = i + 1
                while (j < count && chosen[j] === chosen[j - 1]! + 1) j++
                const into = slots.slice(i, j)
                if (j === count && lastLength < BLOCK_SIZE) into[into.length - 1] = slots[j - 1]!.subarray(0, lastLength)
                const want = (j - i - 1) * BLOCK_SIZE + into[into.length - 1]!.length
                const n = yield* reader.readv(chosen[i]! * BLOCK_SIZE, into)
                if (n !== want) {
                  return yield* new SourceChanged({ path: m.path, detail: `blocks ${chosen[i]}-${chosen[j - 1]} read ${n} bytes, expected ${want}` })
                }
                i = j
              }
              for (let i = 0; i < count; i++) {
                writeDataHeader(burst, i * DATA_SEGMENT, template, chosen[i]!, i === count - 1 ? lastLength : BLOCK_SIZE)
              }
              const bytes = (count - 1) * DATA_SEGMENT + HEADER_SIZE + lastLength
              yield* transmitSegments(burst.subarray(0, bytes), DATA_SEGMENT)
              progress.sent += count
              yield* pace(bytes)
            }
          }), (reader) => reader.close)

        const breakOff = Effect.gen(function*() {
          x.enter(SendState.BREAK)
          const message = request(SendState.BREAK, 0, emptyPayload)
          yield* transmit(message)
          yield* transmit(message)
        })

        const run = Effect.gen(function*() {
          const dry = (t.flags & Flag.DRYRUN) !== 0
          yield* round(SendState.STAT, () => true, stat)
          let sourceError: string | undefined
          if ((t.flags & Flag.SYNC) === 0 && !dry && [...x.peers.values()].some((p) => !p.lost && p.result === RecvState.UPDATE)) {
            yield* round(SendState.OPEN, inState(RecvState.UPDATE), stat)
            if (blocks > 0) {
              const data = yield* Effect.either(dataPhase)
              if (data._tag === "Left") {
                sourceError = data.left.message
                yield* breakOff
                return { sourceError }
              }
            }
            yield* round(SendState.CLOSE, inState(RecvState.UPDATE, RecvState.OPEN, RecvState.MARK), emptyPayload)
          } else if (dry) {
            yield* round(SendState.CLOSE, (p) => !p.lost, emptyPayload)
          }
          yield* round(SendState.LAST, () => true, emptyPayload)
          return { sourceError }
        })

        const began = yield* Clock.currentTimeMillis
        const { sourceError } = yield* run.pipe(Effect.onInterrupt(() => breakOff))
        const elapsed = (yield* Clock.currentTimeMillis) - began
        yield* Effect.logDebug(
          `sent ${m.path}: ${blocks} blocks, ${progress.sent} DATA datagrams (${progress.sent - blocks} repairs), ` +
            `${x.rounds()} rounds (${stats.markRounds} MARK) in ${elapsed} ms; rate now ${(settings.pacer.rate() / 1000).toFixed(1)} MB/s`
        )
        return [...x.peers.values()].map((p) => outcomeOf(p, t.flags, sourceError))
      })
    )
  })

/** What happened on one member, from the last state it reported. */
const outcomeOf = (p: Peer, flags: number, sourceError: string | undefined): HostOutcome => {
  const base = { host: p.target.host, address: p.target.address }
  if (p.lost) return { ...base, outcome: "lost", detail: "no answer; dropped from this transfer" }
  if (sourceError !== undefined) return { ...base, outcome: "failed", detail: `not sent: ${sourceError}` }
  const dry = (flags & Flag.DRYRUN) !== 0
  switch (p.result) {
    case RecvState.SKIP:
      return { ...base, outcome: "skipped" }
    case RecvState.READONLY:
      return { ...base, outcome: "readonly" }
    case RecvState.DELETEOK:
      return { ...base, outcome: dry ? "would-delete" : "deleted" }
    case RecvState.DELETENG:
      return p.error === 0
        ? { ...base, outcome: "not-deleted", detail: "nothing there" }
        : { ...base, outcome: "failed", detail: `delete failed: ${describeErrno(p.error)}`, errno: p.error }
    case RecvState.OPENERROR:
    case RecvState.WRITEERROR:
    case RecvState.CLOSEERROR:
      return { ...base, outcome: "failed", detail: failure(p.result, p.error), ...(p.error === 0 ? {} : { errno: p.error }) }
    case RecvState.UPDATE:
      return dry ? { ...base, outcome: "would-update" } : { ...base, outcome: "failed", detail: "did not complete" }
    case RecvState.CLOSE:
      return p.missed > 0 ? { ...base, outcome: "updated", missed: p.missed } : { ...base, outcome: "updated" }
    default:
      return { ...base, outcome: "failed", detail: `unexpected answer (state ${p.result})` }
  }
}
