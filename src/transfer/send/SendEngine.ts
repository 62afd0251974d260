/**
 * The SEND side of the engine: every SEND transfer of every job is a `sendMachine` state object driven as a
 * session of `Sessions` (which routes its ACKs, keeps its deadlines and sends its requests). One fiber, the DATA
 * pump, serves the transfers that have blocks to send in turn (a burst each), reading the file straight into the
 * burst and pacing the daemon's sending.
 *
 * A job hands the engine its files through `next` and keeps up to `window` transfers open; each completion pulls
 * the next file, so a tree of small files is bound by neither a round trip per file nor a fiber per file.
 */
import { Context, Duration, Effect, Either, Layer } from "effect"
import { Wire } from "../../net/Wire.js"
import { BLOCK_SIZE, HEADER_SIZE, Opcode, type RecvStateValue, SendState } from "../../protocol/v7/constants.js"
import { DATA_SEGMENT, writeDataHeader } from "../../protocol/v7/dataLayout.js"
import { encode } from "../../protocol/v7/codec.js"
import { type FileIdentity, FileStore, type FileVersion, type Reader, StoreError } from "../../store/FileStore.js"
import type { Deadline, Transmit } from "../engine/rounds.js"
import type { HostOutcome } from "../../domain/outcome.js"
import type { Progress } from "../progress.js"
import type { Mstat } from "./receiveMachine.js"
import * as Machine from "./sendMachine.js"
import { changedSince, differsFromAnnounced } from "./sourceVersion.js"
import { yieldToEventLoop } from "../../yieldToEventLoop.js"
import { type Driven, Sessions } from "../engine/Sessions.js"
import { type Target } from "../engine/rtt.js"

export interface FileToSend {
  readonly mstat: Mstat
  readonly flags: number
  readonly targets: ReadonlyArray<Target>
  /** The scanned file whose blocks are sent (absent when there is no data: a deletion, a directory). */
  readonly identity: FileIdentity | undefined
}

/** `next` has nothing more to give, ever. */
export const End: unique symbol = Symbol("End")

export interface EngineJob {
  readonly operation: Progress["operation"]
  /** Unicast to each target (`-t`) instead of multicast to the group. */
  readonly unicast: boolean
  /** Transfers open at once, at most. */
  readonly window: number
  readonly context: Omit<Machine.SendContext, "rtt">
  /** The next file; undefined when none may start now (asked again after each completion). */
  readonly next: () => FileToSend | undefined | typeof End
  /** `changed`: the file changed while it was sent and was broken off, so no member committed it. */
  readonly finished: (file: FileToSend, hosts: ReadonlyArray<HostOutcome>, changed: boolean) => void
  /** Every file has finished. */
  readonly ended: () => void
}

export interface EngineActivity {
  readonly active: ReadonlyArray<Progress>
  /** Since the daemon started: DATA blocks sent again after a NAK or MARK. */
  readonly retransmittedBlocks: number
}

/** A job the engine runs. */
export interface RunningJob {
  /** Cancels what is still open (BREAK) and ends the job. */
  readonly cancel: () => void
  /** This job's transfers in flight, as `status` shows them. */
  readonly inFlight: () => ReadonlyArray<Progress>
}

export interface SendEngineShape {
  readonly start: (job: EngineJob) => RunningJob
  readonly activity: () => EngineActivity
}

export class SendEngine extends Context.Tag("makuo/SendEngine")<SendEngine, SendEngineShape>() {}

/** DATA datagrams per burst: 60 full datagrams fit the 64 KiB one GSO call carries. */
export const BURST = 60
/** Bytes the pump sends before it lets the event loop run (ACKs, NAKs, timers) when the pacer does not wait. */
const TURN_BYTES = BURST * DATA_SEGMENT
/**
 * Bursts a handler sends itself when the pump is idle, before it hands the transfer to the pump: a small file's
 * one burst and the MARK round after it, without a wake-up of the pump's fiber.
 */
const INLINE_TURNS = 2

interface JobState {
  readonly job: EngineJob
  readonly context: Machine.SendContext
  readonly open: Set<Live>
  exhausted: boolean
  cancelled: boolean
  /** `fill` is running: a completion inside it (a transfer with no one to wait for) only asks it to go on. */
  filling: boolean
  refill: boolean
}

/** What the machine asks of the engine: its requests and deadlines are the driver's. */
type Asked = Exclude<Machine.Action, Transmit | Deadline>

interface Live {
  readonly t: Machine.SendTransfer
  driven: Driven<Machine.Event>
  /** The blocks the last `Room` picked, until the burst is laid out. */
  blocks: Extract<Machine.Action, { _tag: "Blocks" }> | undefined
  readonly file: FileToSend
  readonly job: JobState
  reader: Reader | undefined
  /** The source as it was opened: every block is read from this version, or the transfer is broken off. */
  version: FileVersion | undefined
  /** The DATA header of this transfer as the codec writes it: every datagram of a burst starts from it. */
  template: Uint8Array | undefined
  queued: boolean
  /** Asked for room again while its handler was sending a burst itself. */
  again: boolean
}

const progressOf = (live: Live): Progress => ({
  path: live.t.mstat.path,
  operation: live.job.job.operation,
  startedAt: live.t.startedAt,
  blocks: live.t.blocks,
  sent: live.t.sent,
  peers: live.t.peers
})

export const make = Effect.gen(function*() {
  const wire = yield* Wire
  const store = yield* FileStore
  const sessions = yield* Sessions
  const { now } = sessions
  const active = new Set<Live>()
  const lifetime = { retransmittedBlocks: 0 }
  const ready: Array<Live> = []
  let wake: (() => void) | undefined
  /** The transfer whose handler sends a burst itself, if any. */
  let inline: Live | undefined
  /** The pacer's last wait ends then: nothing is sent inline before. */
  let pausedUntil = 0

  const perform = (live: Live, action: Asked) => {
    switch (action._tag) {
      case "WantRoom":
        if (inline === live) return void (live.again = true)
        if (live.queued) return
        if (inline === undefined && wake !== undefined && ready.length === 0 && now() >= pausedUntil) return sendInline(live)
        return queue(live)
      case "Blocks":
        // whoever stepped `Room` (the pump, or a handler sending inline) sends the blocks itself
        return void (live.blocks = action)
      case "Verify":
        return live.driven.apply(verify(live))
      case "Finished":
        return close(live, action.hosts, action.changed)
      default:
        return action satisfies never
    }
  }

  /** Lets go of what the transfer holds; its session is closed already (finished, or cancelled). */
  const release = (live: Live) => {
    live.reader?.closeNow()
    live.reader = undefined
    active.delete(live)
    live.job.open.delete(live)
    lifetime.retransmittedBlocks += Math.max(0, live.t.sent - live.t.blocks)
  }

  const close = (live: Live, hosts: ReadonlyArray<HostOutcome>, changed: boolean) => {
    release(live)
    const state = live.job
    if (state.cancelled) return
    state.job.finished(live.file, hosts, changed)
    fill(state)
  }

  const open = (state: JobState, file: FileToSend) => {
    const reqid = wire.nextReqIdNow()
    const t = Machine.make(reqid, file.mstat, file.flags, file.targets, state.context, now())
    const live: Live = {
      t,
      // set by `drive` below, before any action but `Finished` (which needs it not) can come
      driven: undefined!,
      blocks: undefined,
      file,
      job: state,
      reader: undefined,
      version: undefined,
      template: undefined,
      queued: false,
      again: false
    }
    state.open.add(live)
    active.add(live)
    // its start sends STAT, or with no one to wait for finishes at once
    live.driven = sessions.drive<Machine.SendTransfer, Machine.Event, Asked>({
      reqid,
      opcode: Opcode.SEND,
      flags: file.flags,
      unicast: state.job.unicast,
      state: t,
      step: Machine.step,
      ack: ({ from, message: { header, payload } }) => ({
        _tag: "Ack",
        from: from.address,
        state: header.nstate as RecvStateValue,
        error: header.error,
        ranges: payload._tag === "Ranges" ? payload.ranges : undefined
      }),
      perform: (action) => perform(live, action)
    })
  }

  /** Opens transfers while the window has room and the job has files; ends the job after its last one. */
  const fill = (state: JobState) => {
    if (state.filling) return void (state.refill = true)
    state.filling = true
    do {
      state.refill = false
      while (!state.exhausted && !state.cancelled && state.open.size < state.job.window) {
        const file = state.job.next()
        if (file === undefined) break
        if (file === End) state.exhausted = true
        else open(state, file)
      }
    } while (state.refill)
    state.filling = false
    if (state.exhausted && state.open.size === 0 && !state.cancelled) {
      state.cancelled = true
      state.job.ended()
    }
  }

  /** Breaks the transfers off (BREAK) and lets go of what they hold. */
  const cancel = (lives: ReadonlySet<Live>) => {
    for (const live of [...lives]) {
      live.driven.apply({ _tag: "Cancel" })
      live.driven.close()
      release(live)
    }
  }

  const start = (job: EngineJob) => {
    const state: JobState = { job, context: { ...job.context, rtt: sessions.rtt }, open: new Set(), exhausted: false, cancelled: false, filling: false, refill: false }
    fill(state)
    return {
      cancel: () => {
        if (state.cancelled) return
        state.cancelled = true
        cancel(state.open)
      },
      inFlight: () => [...state.open].map(progressOf)
    }
  }

  // == the DATA pump

  const burst = new Uint8Array(BURST * DATA_SEGMENT)
  // where each datagram's block goes in the burst: read straight there, one preadv per run of blocks
  const slots = Array.from({ length: BURST }, (_, i) => burst.subarray(i * DATA_SEGMENT + HEADER_SIZE, (i + 1) * DATA_SEGMENT))

  const idle = Effect.async<void>((resume) => {
    wake = () => {
      wake = undefined
      resume(Effect.void)
    }
    return Effect.sync(() => void (wake = undefined))
  })

  type SourceFailure = Extract<Machine.Event, { _tag: "ReadFailed" | "Changed" }>

  /** Whether the source is still the version it was opened as, now that every block has reached the members. */
  const verify = (live: Live): Extract<Machine.Event, { _tag: "Verified" }> | SourceFailure => {
    if (live.reader === undefined || live.version === undefined) return { _tag: "Verified" }
    const now = live.reader.versionNow()
    if (now instanceof StoreError) return { _tag: "ReadFailed", detail: now.message }
    const changed = changedSince(live.version, now)
    return changed === undefined ? { _tag: "Verified" } : { _tag: "Changed", detail: changed }
  }

  /** Opens the scanned file and notes its version; the failure, or undefined. */
  const openSource = (live: Live): SourceFailure | undefined => {
    const identity = live.file.identity
    const opened = identity === undefined
      ? new StoreError({ op: "open", path: live.t.mstat.path, code: "EINVAL", errno: 22, detail: "no scanned file to read" })
      : store.openReaderNow(live.t.mstat.path, identity)
    if (opened instanceof StoreError) return { _tag: "ReadFailed", detail: opened.message }
    live.reader = opened
    const version = opened.versionNow()
    if (version instanceof StoreError) return { _tag: "ReadFailed", detail: version.message }
    const differs = differsFromAnnounced(live.t.mstat, version)
    if (differs !== undefined) return { _tag: "Changed", detail: differs }
    live.version = version
    live.template = Either.getOrThrow(encode({
      header: wire.request({ opcode: Opcode.SEND, nstate: SendState.DATA, reqid: live.t.reqid, flags: live.t.flags }),
      payload: { _tag: "DataBlock", bytes: new Uint8Array(0) }
    })).subarray(0, HEADER_SIZE)
    return undefined
  }

  /** Reads the chosen blocks into the burst; the failure, or undefined. */
  const read = (live: Live, count: number, lastLength: number): SourceFailure | undefined => {
    const { t } = live
    const reader = live.reader!
    for (let i = 0; i < count;) {
      let j = i + 1
      while (j < count && t.chosen[j] === t.chosen[j - 1]! + 1) j++
      const into = slots.slice(i, j)
      if (j === count && lastLength < BLOCK_SIZE) into[into.length - 1] = slots[j - 1]!.subarray(0, lastLength)
      const want = (j - i - 1) * BLOCK_SIZE + into[into.length - 1]!.length
      const n = reader.readvNow(t.chosen[i]! * BLOCK_SIZE, into)
      if (typeof n !== "number") return { _tag: "ReadFailed", detail: n.message }
      if (n !== want) return { _tag: "Changed", detail: `blocks ${t.chosen[i]}-${t.chosen[j - 1]} read ${n} bytes, expected ${want}` }
      i = j
    }
    return undefined
  }

  /** The transfer's next burst laid out in `burst` (its length), or undefined when there is none to send now. */
  const nextBurst = (live: Live): number | undefined => {
    live.driven.apply({ _tag: "Room" })
    const blocks = live.blocks
    if (blocks === undefined) return undefined
    live.blocks = undefined
    const failed = (live.reader === undefined ? openSource(live) : undefined) ?? read(live, blocks.count, blocks.lastLength)
    if (failed !== undefined) return void live.driven.apply(failed)
    const { count, lastLength } = blocks
    for (let i = 0; i < count; i++) {
      writeDataHeader(burst, i * DATA_SEGMENT, live.template!, live.t.chosen[i]!, i === count - 1 ? lastLength : BLOCK_SIZE)
    }
    return (count - 1) * DATA_SEGMENT + HEADER_SIZE + lastLength
  }

  /** What the pacer makes of `bytes` just sent: the wait before the next burst (ms). */
  const paced = (live: Live, bytes: number) => {
    const wait = live.job.context.pacer.take(bytes, now())
    if (wait > 0) pausedUntil = now() + wait
    return wait
  }

  const queue = (live: Live) => {
    live.queued = true
    ready.push(live)
    wake?.()
  }

  /**
   * The pump is idle: the handler that made room sends the burst itself (a copy the transport keeps), and goes
   * on for up to `INLINE_TURNS`; what is left goes to the pump.
   */
  const sendInline = (live: Live) => {
    inline = live
    let turns = 0
    do {
      live.again = false
      const bytes = nextBurst(live)
      if (bytes !== undefined) {
        for (const to of sessions.destinations(live.driven.session)) wire.sendSegmentsNow(to, burst.slice(0, bytes), DATA_SEGMENT)
        if (paced(live, bytes) > 0) break
      }
    } while (live.again && !live.t.done && ++turns < INLINE_TURNS)
    inline = undefined
    if (live.again && !live.t.done) queue(live)
  }

  const sendBurst = (live: Live, bytes: Uint8Array) =>
    Effect.forEach(sessions.destinations(live.driven.session), (to) => wire.sendSegments(to, bytes, DATA_SEGMENT), { discard: true })

  const pump = Effect.gen(function*() {
    let sinceTurn = 0
    while (true) {
      const live = ready.shift()
      if (live === undefined) {
        sinceTurn = 0
        yield* idle
        continue
      }
      live.queued = false
      if (live.t.done) continue
      const waitFirst = pausedUntil - now()
      if (waitFirst > 0) yield* Effect.sleep(Duration.millis(waitFirst))
      const bytes = nextBurst(live)
      if (bytes === undefined) continue
      yield* sendBurst(live, burst.subarray(0, bytes))
      const wait = paced(live, bytes)
      sinceTurn += bytes
      if (wait > 0) (sinceTurn = 0), yield* Effect.sleep(Duration.millis(wait))
      else if (sinceTurn >= TURN_BYTES) (sinceTurn = 0), yield* yieldToEventLoop
    }
  })

  yield* Effect.forkScoped(pump)
  yield* Effect.addFinalizer(() => Effect.sync(() => cancel(active)))

  return SendEngine.of({
    start,
    activity: () => ({
      active: [...active].map(progressOf),
      retransmittedBlocks: lifetime.retransmittedBlocks
    })
  })
})

export const layer = Layer.scoped(SendEngine, make)
