/**
 * The sending side of one SEND transfer (spec §5.2.2): STAT → OPEN → DATA → MARK (until no member reports a
 * missing range) → CLOSE → LAST, on the shared `exchange` engine. Interrupted, the transfer sends BREAK so
 * members discard what they received.
 */
import { Clock, Duration, Effect } from "effect"
import type { WireShape } from "../net/Wire.js"
import { BLOCK_SIZE, Flag, Opcode, RecvState, type RecvStateValue, SendState } from "../protocol/constants.js"
import { emptyPayload, type Payload } from "../protocol/message.js"
import { RangeSet } from "../protocol/ranges.js"
import type { FileStoreShape } from "../store/FileStore.js"
import { describeErrno } from "../protocol/errno.js"
import { type AckRouter, withExchange, type Peer, type RoundSettings, type Target } from "./exchange.js"
import type { HostOutcome } from "./outcome.js"
import type { Progress } from "./progress.js"
import { blockCount, isRegular, type Mstat } from "./receiveMachine.js"
import { yieldToEventLoop } from "../yieldToEventLoop.js"

export interface FileTransfer {
  readonly mstat: Mstat
  readonly flags: number
  readonly targets: ReadonlyArray<Target>
  /** Unicast to each target (`-t`) instead of multicast to the group. */
  readonly unicast: boolean
}

export interface SendSettings extends RoundSettings {
  /** Datagrams per event-loop turn during DATA, so ACKs and NAKs are read during a burst. */
  readonly burst: number
  /** Bytes per millisecond, or undefined for unpaced. */
  readonly rate: number | undefined
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
          for (const [low, high] of payload.ranges) peer.missed += Math.max(0, Math.min(high, blocks) - low)
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
        const { round, inState, transmit, request } = x
        progress.peers = x.peers

        const stat: Payload = m

        const dataPhase = Effect.gen(function*() {
          const reader = yield* store.openReader(m.path)
          const buffer = new Uint8Array(BLOCK_SIZE)
          let next = 0
          let lick = false
          let sentInTurn = 0
          let tokens = 0
          let last = yield* Clock.currentTimeMillis
          const pace = (bytes: number) =>
            Effect.gen(function*() {
              if (settings.rate === undefined) return
              const now = yield* Clock.currentTimeMillis
              tokens = Math.min(tokens + (now - last) * settings.rate, settings.rate * 20)
              last = now
              tokens -= bytes
              if (tokens < -settings.rate * 2) yield* Effect.sleep(Duration.millis(-tokens / settings.rate))
            })
          try {
            while (true) {
              x.enter(SendState.DATA)
              let block = pending.shift()
              if (block === undefined && !lick && next < blocks) block = next++
              if (block === undefined) {
                stats.markRounds++
                yield* round(SendState.MARK, inState(RecvState.OPEN, RecvState.MARK, RecvState.UPDATE), emptyPayload)
                lick = true
                if (pending.isEmpty) return
                continue
              }
              const n = yield* reader.read(block * BLOCK_SIZE, buffer)
              const expected = Math.min(BLOCK_SIZE, m.size - block * BLOCK_SIZE)
              if (n !== expected) return yield* Effect.fail(`file changed while sending (block ${block} is ${n} bytes, expected ${expected})`)
              yield* transmit(request(SendState.DATA, block, { _tag: "DataBlock", bytes: buffer.slice(0, n) }))
              progress.sent++
              yield* pace(n + 42)
              if (++sentInTurn >= settings.burst) {
                sentInTurn = 0
                yield* yieldToEventLoop
              }
            }
          } finally {
            yield* reader.close
          }
        })

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
                sourceError = typeof data.left === "string" ? data.left : data.left.message
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
            `${x.rounds()} rounds (${stats.markRounds} MARK) in ${elapsed} ms`
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
