/**
 * The sending side of one SEND transfer (makuosan-v7.md §5.2.2) as a state machine without I/O: STAT → OPEN → DATA → MARK
 * (until no member reports a missing range) → CLOSE → LAST; BREAK when the source cannot be read, changed while
 * it was read (asked before CLOSE, which makes the members commit) or the job is cancelled. Each request but DATA (and the
 * MARKs sent during DATA as probes for the pacer, see `Probe`) is a round: sent, then sent again after a wait that starts at the round-trip
 * estimate and doubles up to `maxWait`, until every member it waits for has answered; a member silent for
 * `timeout` is lost for this transfer only (never evicted from the group: no eviction storm, makuosan-v7.md E12).
 *
 * The engine's `Machine`, `step(transfer, event, out, now)`: events are ACKs, the expiry of the round's deadline, room to send DATA (the
 * engine's pump, which reads and sends the blocks the machine picks), a failed read and a cancellation; actions
 * go into `out`. A transfer is mutated in place — thousands of them a second go through here — and owns its
 * bookkeeping (peers, missing blocks); nothing else writes to it. The RTT estimate and the pacer are shared,
 * deterministic state of the daemon, consulted and fed here.
 */
import { BLOCK_SIZE, Flag, RecvState, type RecvStateValue, SendState } from "../../protocol/v7/constants.js"
import { describeErrno } from "../../protocol/errno.js"
import { DATA_SEGMENT } from "../../protocol/v7/dataLayout.js"
import { type BlockRange, emptyPayload } from "../../protocol/v7/message.js"
import { MAX_RANGES, RangeSet } from "../../protocol/ranges.js"
import type { Machine } from "../engine/machine.js"
import * as Rounds from "../engine/rounds.js"
import type { Deadline, Peer, RoundContext, RoundEvent, Transmit } from "../engine/rounds.js"
import type { HostOutcome } from "../../domain/outcome.js"
import type { Pacer } from "../pacer.js"
import { blockCount, blockLength, isRegular, type Mstat } from "./receiveMachine.js"
import { type ReqId } from "../../protocol/fields.js"
import { type Target } from "../engine/rtt.js"

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
  /**
   * Where the new blocks went in the pacer's stream: per burst, its first new block, that block's position
   * (`Pacer.sent` when it was sent) and time. A NAK is sent when the block after its gap arrives, so it tells the
   * pacer how far the member has got (new blocks go out in order: a search by block finds the burst).
   */
  readonly sends: Array<{ readonly block: number; readonly position: number; readonly at: number }>
  /** The pacer's position when the current MARK round began: a member's answer says it has got that far. */
  markPosition: number
  /** The MARK sent during DATA whose answers are awaited, if any. */
  probe: Probe | undefined
  lastProbeAt: number
  /** How long a probe's answers are awaited before it is given up: twice the last one's, within bounds. */
  probeWait: number
  /** Every block is sent; the MARK round waits for the probe's last answers (or its timeout). */
  awaitingProbe: boolean
  source: SourceProblem | undefined
  /** Every block has reached every member; the engine is asked whether the source stayed one version. */
  verifying: boolean
  done: boolean
}

/**
 * Protocol v7 tells a sender nothing during DATA but NAKs, and those only once a member has lost blocks. So
 * while new blocks go out, a MARK goes with them now and then (at most every `PROBE_MS`, one at a time, never
 * with repairs pending): a member answers it once it has taken everything sent before it, naming what it has
 * lost so far. A member that answered a MARK no longer NAKs (makuosan's "lick" mode: it keeps every block it is
 * still missing, new ones included), so the probes carry its losses from then on, and its answer tells how far it
 * has got by itself: each new block that arrives leaves the last range, which runs from the first new block not
 * received yet to the end of the file (what was not sent yet); the ranges below it are lost. Each answer is a
 * point of that member's progress for the pacer: how fast it takes the stream, and how long it queued — before it
 * overflows. An answer that comes after its probe was given up still says how far the member had got then, but
 * only the awaited ones are repaired (the others' ranges may be repaired already).
 */
interface Probe {
  /** The pacer's position and the time when it was sent. */
  readonly position: number
  readonly at: number
  /** The first block not sent yet then. */
  readonly next: number
  /** The members whose answer is awaited. */
  readonly waiting: Set<Peer>
}

const PROBE_MS = 10
/** Bounds of the wait for a probe's answers, after which it is given up (a datagram lost) and the next one may go. */
const PROBE_WAIT_MIN_MS = 50
const PROBE_WAIT_MAX_MS = 1_000
/** Ranges in one MARK answer at most (makuosan's bound): a longer list is cut, its last range is not the tail. */
const RANGES_PER_REPLY = 128

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
    sends: [],
    markPosition: 0,
    probe: undefined,
    lastProbeAt: Number.NEGATIVE_INFINITY,
    probeWait: PROBE_WAIT_MAX_MS / 5,
    awaitingProbe: false,
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
  if (state === RecvState.MARK && t.phase === SendState.DATA) return probed(t, peer, ranges ?? [], now, out)
  // NAKs during DATA and MARK answers: the union of every member's missing blocks is repaired once
  let missed = 0
  if (ranges !== undefined) {
    t.pending.addAll(ranges, t.blocks)
    for (const [low, high] of ranges) missed += Math.max(0, Math.min(high, t.blocks) - low)
    peer.missed += missed
  }
  const first = t.waiting.has(peer) && answers(t.phase, state)
  if (state === RecvState.OPEN && t.phase === SendState.DATA && ranges !== undefined && ranges.length > 0) nak(t, e.from, ranges[0]!, now)
  else if (first && state === RecvState.MARK && t.phase === SendState.MARK) {
    // everything sent before the MARK has reached the member, but for what it names
    t.context.pacer.delivered(e.from, { position: t.markPosition, sentAt: t.roundStart, lost: missed * DATA_SEGMENT }, now)
  } else if (first) t.context.pacer.answered(e.from, t.roundStart, now)
  if (!answers(t.phase, state)) return
  if (t.phase === SendState.STAT || isError(state)) (peer.result = state), (peer.error = e.error)
  else if (state === RecvState.CLOSE && t.phase === SendState.CLOSE && peer.result === RecvState.UPDATE && !isDryRun(t)) {
    peer.result = state
  }
  if (Rounds.answered(t, now, peer, state)) completeRound(t, now, out)
}

/**
 * A NAK's first range is the gap the member has just found: its end is the new block that has just arrived
 * (makuosan members append older ranges after it).
 */
const nak = (t: SendTransfer, from: string, [low, high]: BlockRange, now: number) => reached(t, from, high, high - low, now)

/**
 * The member has received new block `block`, and reports `lost` blocks lost: a point for the pacer. `askedAt`:
 * when the request it answers was sent (a probe's MARK), if later than the block — see `probed`.
 */
const reached = (t: SendTransfer, from: string, block: number, lost: number, now: number, askedAt = Number.NEGATIVE_INFINITY) => {
  const { sends } = t
  if (block >= t.next || sends.length === 0 || block < sends[0]!.block) return
  let lo = 0
  let hi = sends.length - 1
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1
    if (sends[mid]!.block <= block) lo = mid
    else hi = mid - 1
  }
  const burst = sends[lo]!
  const position = burst.position + (block - burst.block + 1) * DATA_SEGMENT
  t.context.pacer.delivered(from, { position, sentAt: Math.max(burst.at, askedAt), lost: Math.max(0, lost) * DATA_SEGMENT }, now)
}

/** A member's answer to a probe: its losses are repaired, how far it has got goes to the pacer. */
const probed = (t: SendTransfer, peer: Peer, ranges: ReadonlyArray<BlockRange>, now: number, out: Array<Action>) => {
  const probe = t.probe
  // not awaited: a duplicate, or a late answer to a probe given up
  const awaited = probe !== undefined && probe.waiting.delete(peer)
  const last = ranges.at(-1)
  // the first new block not received yet: the last range's start; none when it is cut, every one sent when no
  // range runs to the end
  const first = last !== undefined && last[1] >= t.blocks ? last[0] : ranges.length < RANGES_PER_REPLY ? t.next : undefined
  const below = Math.min(first ?? probe?.next ?? 0, probe?.next ?? t.next, t.blocks)
  let missed = 0
  for (const [low, high] of ranges) {
    const end = Math.min(high, below)
    if (low >= end) continue
    missed += end - low
    if (awaited) t.pending.add(low, end, t.blocks)
  }
  if (awaited) peer.missed += missed
  // An awaited answer was sent when the probe arrived, not when the member's last block did: timed from the
  // block's send, a probe that went out a burst after it (at a low rate, one burst every ~60 ms) read as that
  // much queue at every answer — congestion that kept the rate at its floor until the least round trip aged out
  // (10 s: the v7 sends of ~15 s with nothing lost, docs/performance.md).
  if (first !== undefined && first > 0) reached(t, peer.target.address, first - 1, missed, now, awaited ? probe!.at : undefined)
  else if (awaited) t.context.pacer.delivered(peer.target.address, { position: probe!.position, sentAt: probe!.at, lost: missed * DATA_SEGMENT }, now)
  if (awaited && probe!.waiting.size === 0) {
    t.probeWait = Math.min(PROBE_WAIT_MAX_MS, Math.max(PROBE_WAIT_MIN_MS, 2 * (now - probe!.at)))
    probeDone(t, out)
  }
}

const probeDone = (t: SendTransfer, out: Array<Action>) => {
  t.probe = undefined
  if (!t.awaitingProbe) return
  t.awaitingProbe = false
  t.deadline = Infinity
  out.push({ _tag: "WantRoom" })
}

/** Sends a probe when one is due: new blocks are going out, no repair is pending, none is awaited. */
const probe = (t: SendTransfer, now: number, out: Array<Action>) => {
  if (t.lick || t.next === 0 || t.next >= t.blocks || !t.pending.isEmpty || now - t.lastProbeAt < PROBE_MS) return
  if (t.probe !== undefined && now - t.probe.at < t.probeWait) return
  const waiting = new Set([...t.peers.values()].filter((p) => !p.lost && p.state === RecvState.OPEN))
  if (waiting.size === 0) return
  t.probe = { position: t.context.pacer.sent(), at: now, next: t.next, waiting }
  t.lastProbeAt = now
  out.push({ _tag: "Transmit", nstate: SendState.MARK, ostate: t.ostate, seqno: 0, payload: emptyPayload })
}

/** Bursts of new blocks remembered: NAKs name recent blocks, a buffer's worth (tens of MiB) at most. */
const MAX_SENDS = 4096

const logSend = (t: SendTransfer, block: number, position: number, at: number) => {
  if (t.sends.length >= MAX_SENDS) t.sends.splice(0, MAX_SENDS / 2)
  t.sends.push({ block, position, at })
}

/** Picks the next burst: repairs first, then new blocks; a short block (the file's last) ends it. */
const onRoom = (t: SendTransfer, now: number, out: Array<Action>) => {
  if (t.phase !== SendState.DATA || t.awaitingProbe) return
  const { pacer } = t.context
  probe(t, now, out)
  let count = 0
  let logged = false
  while (count < t.context.burst) {
    let block = t.pending.shift()
    if (block === undefined && !t.lick && t.next < t.blocks) {
      block = t.next++
      // repairs go first: this new block's datagram starts after them
      if (!logged) (logged = true), logSend(t, block, pacer.sent() + count * DATA_SEGMENT, now)
    }
    if (block === undefined) break
    t.chosen[count++] = block
    if (blockLength(t.mstat.size, block) < BLOCK_SIZE) break
  }
  if (count === 0) {
    // an answer to the probe would pass for an answer to the round: it waits for them
    if (t.probe !== undefined && now - t.probe.at < t.probeWait) {
      t.awaitingProbe = true
      return Rounds.pause(t, t.probe.at + t.probeWait, out)
    }
    t.probe = undefined
    t.markRounds++
    t.markPosition = pacer.sent()
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
      if (t.awaitingProbe) return void (now >= t.deadline && probeDone(t, out))
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
