/**
 * The sending side of one SEND transfer (spec §5.2.2, §4): STAT → OPEN → DATA → MARK (until no member reports a
 * missing range) → CLOSE → LAST, with a state per member. Each phase is sent and re-sent every 500 ms until
 * every member it waits for has answered; a member silent for `timeout` is dropped from THIS transfer and
 * reported lost — never evicted from the group (no eviction storm, E12). Interrupted, the transfer sends
 * BREAK so members discard what they received.
 */
import { Clock, Duration, Effect, Queue } from "effect"
import { Group, Peer } from "../net/Transport.js"
import type { Received, WireShape } from "../net/Wire.js"
import { BLOCK_SIZE, Flag, Opcode, RecvState, type RecvStateValue, SendState } from "../protocol/constants.js"
import { emptyPayload, type Header, type Payload, type ReqId } from "../protocol/message.js"
import { RangeSet } from "../protocol/ranges.js"
import type { FileStoreShape } from "../store/FileStore.js"
import { blockCount, isRegular, type Mstat } from "./receiveMachine.js"

export interface Target {
  readonly host: string
  readonly address: string
  readonly port: number
}

export type Outcome =
  | "updated"
  | "skipped"
  | "would-update"
  | "readonly"
  | "deleted"
  | "would-delete"
  | "not-deleted"
  | "failed"
  | "lost"

export interface HostOutcome {
  readonly host: string
  readonly address: string
  readonly outcome: Outcome
  readonly detail?: string
}

export interface FileTransfer {
  readonly mstat: Mstat
  readonly flags: number
  readonly targets: ReadonlyArray<Target>
  /** Unicast to each target (`-t`) instead of multicast to the group. */
  readonly unicast: boolean
}

export interface SendSettings {
  readonly retransmit: Duration.Duration
  /** Silence after which a member is dropped from a transfer. */
  readonly timeout: Duration.Duration
  /** Datagrams per event-loop turn during DATA, so ACKs and NAKs are read during a burst. */
  readonly burst: number
  /** Bytes per millisecond, or undefined for unpaced. */
  readonly rate: number | undefined
}

interface Peer {
  readonly target: Target
  /** The answer in the current phase; undefined until the member answers (makuosan's NONE). */
  state: RecvStateValue | undefined
  /** What the transfer amounts to on this member so far (the answer to STAT, then success or an error). */
  result: RecvStateValue
  error: number
  lost: boolean
  /** Retransmissions of the current phase this member has not answered. */
  silent: number
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

export interface AckRouter {
  readonly register: (reqid: ReqId, onAck: (r: Received) => void) => Effect.Effect<void>
  readonly unregister: (reqid: ReqId) => Effect.Effect<void>
}

const errnoText: Record<number, string> = {
  1: "EPERM: operation not permitted",
  2: "ENOENT: no such file or directory",
  5: "EIO: incomplete or wrong size at commit",
  13: "EACCES: permission denied or path refused",
  17: "EEXIST: file exists",
  20: "ENOTDIR: a parent is not a directory",
  21: "EISDIR: is a directory",
  28: "ENOSPC: no space left on device",
  30: "EROFS: read-only file system",
  36: "ENAMETOOLONG: name too long",
  40: "ELOOP: a parent directory is a symlink (refused)",
  95: "ENOTSUP: not supported"
}

export const describeErrno = (errno: number) => errnoText[errno] ?? `errno ${errno}`

const failure = (state: RecvStateValue, errno: number): string => {
  const what = state === RecvState.OPENERROR ? "open" : state === RecvState.WRITEERROR ? "write" : "close"
  return `${what} failed: ${errno === 0 ? "incomplete data" : describeErrno(errno)}`
}

/** Lets the event loop poll the socket (Effect.yieldNow stays on the microtask queue), so NAKs are read mid-burst. */
const yieldToEventLoop = Effect.async<void>((resume) => {
  const handle = setImmediate(() => resume(Effect.void))
  return Effect.sync(() => clearImmediate(handle))
})

export const sendFile = (
  wire: WireShape,
  store: FileStoreShape,
  router: AckRouter,
  settings: SendSettings,
  t: FileTransfer
): Effect.Effect<ReadonlyArray<HostOutcome>> =>
  Effect.gen(function*() {
    const reqid = yield* wire.nextReqId
    const m = t.mstat
    const blocks = isRegular(m.mode) ? blockCount(m.size) : 0
    const peers = new Map<string, Peer>(
      t.targets.map((target) => [target.address, { target, state: undefined, result: RecvState.NONE, error: 0, lost: false, silent: 0 }])
    )
    const retries = Math.max(1, Math.ceil(Duration.toMillis(settings.timeout) / Duration.toMillis(settings.retransmit)))
    const pending = new RangeSet()
    const dryRun = (t.flags & Flag.DRYRUN) !== 0
    const wake = yield* Queue.sliding<void>(1)
    let phase: number = SendState.STAT
    let ostate = 0
    let waiting = new Set<Peer>()
    const stats = { sent: 0, rounds: 0, markRounds: 0 }

    const onAck = ({ from, message }: Received) => {
      const peer = peers.get(from.address)
      if (peer === undefined || peer.lost) return
      const { header, payload } = message
      const state = header.nstate as RecvStateValue
      // NAKs during DATA and MARK answers: the union of every member's missing blocks is repaired once
      if (payload._tag === "Ranges") pending.addAll(payload.ranges, blocks)
      if (!answers(phase, state)) return
      peer.silent = 0
      peer.state = state
      if (phase === SendState.STAT || isError(state)) (peer.result = state), (peer.error = header.error)
      else if (state === RecvState.CLOSE && phase === SendState.CLOSE && peer.result === RecvState.UPDATE && !dryRun) {
        peer.result = state
      }
      if (waiting.has(peer)) {
        waiting.delete(peer)
        if (waiting.size === 0) wake.unsafeOffer(undefined)
      }
    }

    const request = (nstate: number, seqno: number, payload: Payload): { header: Header; payload: Payload } => ({
      header: wire.request({ opcode: Opcode.SEND, nstate, reqid, flags: t.flags, seqno, ostate }),
      payload
    })

    const transmit = (message: { header: Header; payload: Payload }) =>
      t.unicast
        ? Effect.forEach([...peers.values()].filter((p) => !p.lost), (p) => wire.send(Peer(p.target), message), { discard: true })
        : wire.send(Group, message)

    /** One phase: reset `who` to unanswered, send, re-send every 500 ms until all answered or lost. */
    const round = (nstate: number, who: (p: Peer) => boolean, payload: Payload) =>
      Effect.gen(function*() {
        phase = nstate
        waiting = new Set([...peers.values()].filter((p) => !p.lost && who(p)))
        for (const p of waiting) (p.state = undefined), (p.silent = 0)
        const message = request(nstate, 0, payload)
        stats.rounds++
        if (nstate === SendState.MARK) stats.markRounds++
        while (waiting.size > 0) {
          yield* transmit(message)
          yield* Queue.take(wake).pipe(Effect.timeout(settings.retransmit), Effect.ignore)
          for (const p of [...waiting]) {
            if (++p.silent > retries) (p.lost = true), waiting.delete(p)
          }
        }
        yield* Queue.takeAll(wake)
        ostate = nstate
      })

    const stat: Payload = m
    const inState = (...states: ReadonlyArray<number>) => (p: Peer) => p.state !== undefined && states.includes(p.state)

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
          phase = SendState.DATA
          ostate = SendState.OPEN
          let block = pending.shift()
          if (block === undefined && !lick && next < blocks) block = next++
          if (block === undefined) {
            yield* round(SendState.MARK, inState(RecvState.OPEN, RecvState.MARK, RecvState.UPDATE), emptyPayload)
            lick = true
            if (pending.isEmpty) return
            continue
          }
          const n = yield* reader.read(block, buffer)
          const expected = Math.min(BLOCK_SIZE, m.size - block * BLOCK_SIZE)
          if (n !== expected) return yield* Effect.fail(`file changed while sending (block ${block} is ${n} bytes, expected ${expected})`)
          yield* transmit(request(SendState.DATA, block, { _tag: "DataBlock", bytes: buffer.slice(0, n) }))
          stats.sent++
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
      phase = SendState.BREAK
      const message = request(SendState.BREAK, 0, emptyPayload)
      yield* transmit(message)
      yield* transmit(message)
    })

    const run = Effect.gen(function*() {
      const dry = (t.flags & Flag.DRYRUN) !== 0
      yield* round(SendState.STAT, () => true, stat)
      let sourceError: string | undefined
      if ((t.flags & Flag.SYNC) === 0 && !dry && [...peers.values()].some((p) => !p.lost && p.result === RecvState.UPDATE)) {
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

    yield* router.register(reqid, onAck)
    const began = yield* Clock.currentTimeMillis
    const { sourceError } = yield* run.pipe(
      Effect.onInterrupt(() => breakOff),
      Effect.ensuring(router.unregister(reqid))
    )
    const elapsed = (yield* Clock.currentTimeMillis) - began
    yield* Effect.logDebug(
      `sent ${m.path}: ${blocks} blocks, ${stats.sent} DATA datagrams (${stats.sent - blocks} repairs), ` +
        `${stats.rounds} rounds (${stats.markRounds} MARK) in ${elapsed} ms`
    )
    return [...peers.values()].map((p) => outcomeOf(p, t.flags, sourceError))
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
        : { ...base, outcome: "failed", detail: `delete failed: ${describeErrno(p.error)}` }
    case RecvState.OPENERROR:
    case RecvState.WRITEERROR:
    case RecvState.CLOSEERROR:
      return { ...base, outcome: "failed", detail: failure(p.result, p.error) }
    case RecvState.UPDATE:
      return dry ? { ...base, outcome: "would-update" } : { ...base, outcome: "failed", detail: "did not complete" }
    case RecvState.CLOSE:
      return { ...base, outcome: "updated" }
    default:
      return { ...base, outcome: "failed", detail: `unexpected answer (state ${p.result})` }
  }
}
