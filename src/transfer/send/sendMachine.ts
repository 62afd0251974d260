/**
 * The sending side of one SEND transfer (makuosan-v7.md §5.2.2) as a state machine without I/O: STAT → OPEN → DATA → MARK
 * (until no member reports a missing range) → CLOSE → LAST; BREAK when the source cannot be read, changed while
 * it was read (asked before CLOSE, which makes the members commit) or the job is cancelled. Each request but DATA is a round: sent, then sent again after a wait that starts at the round-trip
 * estimate and doubles up to `maxWait`, until every member it waits for has answered; a member silent for
 * `timeout` is lost for this transfer only (never evicted from the group: no eviction storm, makuosan-v7.md E12).
 *
 * The engine's `Machine`, `step(transfer, event, out, now)`: events are ACKs, the expiry of the round's deadline, room to send DATA (the
 * engine's pump, which reads and sends the blocks the machine picks), a failed read and a cancellation; actions
 * go into `out`. A transfer is mutated in place — thousands of them a second go through here — and owns its
 * bookkeeping (peers, missing blocks); nothing else writes to it. The RTT estimate and the pacer are shared,
 * deterministic state of the daemon, consulted and fed here.
 */
import { BLOCK_SIZE, Flag, RecvState, type RecvStateValue, SendState } from "../../protocol/constants.js"
import { describeErrno } from "../../protocol/errno.js"
import { type BlockRange, emptyPayload, type ReqId } from "../../protocol/message.js"
import { MAX_RANGES, RangeSet } from "../../protocol/ranges.js"
import type { Machine } from "../engine/machine.js"
import * as Rounds from "../engine/rounds.js"
import type { Deadline, Peer, RoundContext, RoundEvent, Target, Transmit } from "../engine/rounds.js"
import type { HostOutcome } from "../../domain/outcome.js"
import type { Pacer } from "../pacer.js"
import { blockCount, blockLength, isRegular, type Mstat } from "./receiveMachine.js"

export interface SendContext extends RoundContext {
  readonly pacer: Pacer
  /** DATA datagrams per burst at most. */
  readonly burst: number
}

/** The rounds' `phase` is also DATA between rounds, and BREAK. */
export interface SendTransfer extends Rounds.Rounds<SendContext> {
  readonly reqid: ReqId
  readonly mstat: Mstat
  readonly flags: number
  readonly blocks: number
  readonly startedAt: number
  markRounds: number
  /** Blocks to send again: the union of what every member reported missing. */
  readonly pending: RangeSet
  /** The next new block. */
  next: number
  /** After the first MARK only repairs are sent. */
  lick: boolean
  /** The blocks of the burst `Room` picked (the first `count` of them). */
  readonly chosen: Array<number>
  /** DATA datagrams sent, repairs included. */
  sent: number
  /** The pacer's epoch this transfer last sent in, its first new block in it, whether repairs went out in it. */
  readonly rateEpoch: { seen: number; start: number; repairing: boolean }
  /** Blocks each member lost in the pacer's current epoch: congestion is one member losing more than chance. */
  readonly lostInEpoch: Map<Peer, { epoch: number; blocks: number }>
  source: SourceProblem | undefined
  /** Every block has reached every member; the engine is asked whether the source stayed one version. */
  verifying: boolean
  done: boolean
}

/** Why the source's blocks were not all sent: it could not be read, or changed while it was read. */
export type SourceProblem = { readonly _tag: "Unreadable" | "Changed"; readonly detail: string }

export type Event =
  | RoundEvent
  | {
    readonly _tag: "Ack"
    readonly from: string
    readonly state: RecvStateValue
    readonly error: number
    /** The missing blocks an OPEN (NAK) or MARK answer reports. */
    readonly ranges: ReadonlyArray<BlockRange> | undefined
  }
  /** The pump may send a burst now. */
  | { readonly _tag: "Room" }
  | { readonly _tag: "ReadFailed"; readonly detail: string }
  /** The source changed while it was read (or since the scan): what the members received may mix two versions. */
  | { readonly _tag: "Changed"; readonly detail: string }
  /** The answer to `Verify`: what was read is one version of the source. */
  | { readonly _tag: "Verified" }
  | { readonly _tag: "Cancel" }

export type Action =
  | Transmit
  | Deadline
  /** The transfer has DATA to send: queue it for the pump's `Room`. */
  | { readonly _tag: "WantRoom" }
  /** Send the blocks `chosen[0..count)`; the last is `lastLength` bytes long, the others full. */
  | { readonly _tag: "Blocks"; readonly count: number; readonly lastLength: number }
  /** Every block has reached every member: answer `Verified` when the source did not change since it was opened, else `Changed`. */
  | { readonly _tag: "Verify" }
  /** `changed`: broken off because the source changed (the file may be sent again). */
  | { readonly _tag: "Finished"; readonly hosts: ReadonlyArray<HostOutcome>; readonly changed: boolean }

export const make = (reqid: ReqId, mstat: Mstat, flags: number, targets: ReadonlyArray<Target>, context: SendContext, now: number): SendTransfer =>
  Rounds.withRounds(targets, context, now, SendState.STAT, {
    reqid,
    mstat,
    flags,
    blocks: isRegular(mstat.mode) ? blockCount(mstat.size) : 0,
    startedAt: now,
    markRounds: 0,
    pending: new RangeSet(MAX_RANGES),
    next: 0,
    lick: false,
    chosen: [],
    sent: 0,
    rateEpoch: { seen: -1, start: Number.POSITIVE_INFINITY, repairing: false },
    lostInEpoch: new Map(),
    source: undefined,
    verifying: false,
    done: false
  })

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

const isDryRun = (t: SendTransfer) => (t.flags & Flag.DRYRUN) !== 0

const all = (_: Peer) => true
const updating = (p: Peer) => p.state === RecvState.UPDATE
const receiving = (p: Peer) => p.state === RecvState.UPDATE || p.state === RecvState.OPEN || p.state === RecvState.MARK
const marking = (p: Peer) => p.state === RecvState.OPEN || p.state === RecvState.MARK || p.state === RecvState.UPDATE

/** Starts a round: the members `who` selects wait for an answer to `nstate`; an empty round completes at once. */
const round = (t: SendTransfer, now: number, nstate: number, who: (p: Peer) => boolean, out: Array<Action>) => {
  const payload = nstate === SendState.STAT || nstate === SendState.OPEN ? t.mstat : emptyPayload
  if (!Rounds.begin(t, now, nstate, who, payload, 0, out)) completeRound(t, now, out)
}

/** What follows a completed round. */
const completeRound = (t: SendTransfer, now: number, out: Array<Action>): void => {
  Rounds.complete(t)
  switch (t.phase) {
    case SendState.STAT: {
      const dry = isDryRun(t)
      if ((t.flags & Flag.SYNC) === 0 && !dry && [...t.peers.values()].some((p) => !p.lost && p.result === RecvState.UPDATE)) {
        return round(t, now, SendState.OPEN, updating, out)
      }
      return dry ? round(t, now, SendState.CLOSE, all, out) : round(t, now, SendState.LAST, all, out)
    }
    case SendState.OPEN:
      // blocks only for members that opened the file: when every one refused (no room, no permission), none
      if (t.blocks > 0 && [...t.peers.values()].some((p) => !p.lost && p.state === RecvState.OPEN)) return enterData(t, out)
      return round(t, now, SendState.CLOSE, receiving, out)
    case SendState.MARK:
      t.lick = true
      t.rateEpoch.repairing = t.rateEpoch.seen === t.context.pacer.epoch()
      if (!t.pending.isEmpty) return enterData(t, out)
      t.verifying = true
      return void out.push({ _tag: "Verify" })
    case SendState.CLOSE:
      return round(t, now, SendState.LAST, all, out)
    case SendState.LAST:
      return finish(t, out)
  }
}

const enterData = (t: SendTransfer, out: Array<Action>) => {
  t.phase = SendState.DATA
  out.push({ _tag: "WantRoom" })
}

const finish = (t: SendTransfer, out: Array<Action>) => {
  t.done = true
  t.deadline = Infinity
  out.push({
    _tag: "Finished",
    hosts: [...t.peers.values()].map((p) => outcomeOf(p, t.flags, t.source)),
    changed: t.source?._tag === "Changed"
  })
}

/** The source's blocks cannot all be sent as one version: the members discard what they have, none commits. */
const abandon = (t: SendTransfer, problem: SourceProblem, out: Array<Action>) => {
  t.source = problem
  breakOff(t, out)
  finish(t, out)
}

/** BREAK, sent twice: members discard what they received. */
const breakOff = (t: SendTransfer, out: Array<Action>) => {
  t.phase = SendState.BREAK
  const request: Transmit = { _tag: "Transmit", nstate: SendState.BREAK, ostate: t.ostate, seqno: 0, payload: emptyPayload }
  out.push(request, request)
}

const onAck = (t: SendTransfer, now: number, e: Extract<Event, { _tag: "Ack" }>, out: Array<Action>) => {
  const peer = t.peers.get(e.from)
  if (peer === undefined || peer.lost) return
  const { state, ranges } = e
  // NAKs during DATA and MARK answers: the union of every member's missing blocks is repaired once
  if (ranges !== undefined) {
    t.pending.addAll(ranges, t.blocks)
    for (const [low, high] of ranges) {
      const missed = Math.max(0, Math.min(high, t.blocks) - low)
      peer.missed += missed
      // blocks lost at the current rate: a NAK during DATA of blocks sent in this epoch, or a MARK answer after a
      // pass of repairs (what went missing again)
      const lostNow = (state === RecvState.OPEN && t.phase === SendState.DATA && low >= t.rateEpoch.start) ||
        (state === RecvState.MARK && t.phase === SendState.MARK && t.rateEpoch.repairing)
      if (lostNow) t.context.pacer.loss(t.rateEpoch.seen, lossOf(t, peer, missed))
    }
  }
  if (!answers(t.phase, state)) return
  if (t.phase === SendState.STAT || isError(state)) (peer.result = state), (peer.error = e.error)
  else if (state === RecvState.CLOSE && t.phase === SendState.CLOSE && peer.result === RecvState.UPDATE && !isDryRun(t)) {
    peer.result = state
  }
  if (Rounds.answered(t, now, peer, state)) completeRound(t, now, out)
}

const lossOf = (t: SendTransfer, peer: Peer, blocks: number) => {
  let l = t.lostInEpoch.get(peer)
  if (l === undefined || l.epoch !== t.rateEpoch.seen) t.lostInEpoch.set(peer, (l = { epoch: t.rateEpoch.seen, blocks: 0 }))
  return (l.blocks += blocks)
}

/** Picks the next burst: repairs first, then new blocks; a short block (the file's last) ends it. */
const onRoom = (t: SendTransfer, now: number, out: Array<Action>) => {
  if (t.phase !== SendState.DATA) return
  // the blocks sent from here on are the current rate's: only their loss may lower it
  if (t.context.pacer.epoch() !== t.rateEpoch.seen) (t.rateEpoch.seen = t.context.pacer.epoch()), (t.rateEpoch.start = t.next)
  let count = 0
  while (count < t.context.burst) {
    let block = t.pending.shift()
    if (block === undefined && !t.lick && t.next < t.blocks) block = t.next++
    if (block === undefined) break
    t.chosen[count++] = block
    if (blockLength(t.mstat.size, block) < BLOCK_SIZE) break
  }
  if (count === 0) {
    t.markRounds++
    return round(t, now, SendState.MARK, marking, out)
  }
  t.sent += count
  out.push({ _tag: "Blocks", count, lastLength: blockLength(t.mstat.size, t.chosen[count - 1]!) }, { _tag: "WantRoom" })
}

export const step = ((t, event, out, now) => {
  if (t.done) return
  switch (event._tag) {
    case "Start":
      return round(t, now, SendState.STAT, all, out)
    case "Ack":
      return onAck(t, now, event, out)
    case "Expired":
      return void (Rounds.expired(t, now, out) && completeRound(t, now, out))
    case "Room":
      return onRoom(t, now, out)
    case "ReadFailed":
      return abandon(t, { _tag: "Unreadable", detail: event.detail }, out)
    case "Changed":
      return abandon(t, { _tag: "Changed", detail: event.detail }, out)
    case "Verified":
      if (!t.verifying) return
      t.verifying = false
      return round(t, now, SendState.CLOSE, receiving, out)
    case "Cancel":
      breakOff(t, out)
      t.done = true
      t.deadline = Infinity
      return
    default:
      return event satisfies never
  }
}) satisfies Machine<SendTransfer, Event, Action>

const failure = (state: RecvStateValue, errno: number): string => {
  const what = state === RecvState.OPENERROR ? "open" : state === RecvState.WRITEERROR ? "write" : "close"
  return `${what} failed: ${errno === 0 ? "incomplete data" : describeErrno(errno)}`
}

/** What happened on one member, from the last state it reported. */
const outcomeOf = (p: Peer, flags: number, source: SourceProblem | undefined): HostOutcome => {
  const base = { host: p.target.host, address: p.target.address }
  if (p.lost) return { ...base, outcome: "lost", detail: "no answer; dropped from this transfer" }
  if (source?._tag === "Unreadable") return { ...base, outcome: "failed", detail: `not sent: ${source.detail}` }
  if (source?._tag === "Changed") return { ...base, outcome: "failed", detail: `changed while it was sent (${source.detail})` }
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
