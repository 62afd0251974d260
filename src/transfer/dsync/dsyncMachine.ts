/**
 * The requesting side of `send --delete` (makuosan's DSYNC, makuosan-v7.md §5.4) as a state machine without I/O: members
 * are told the path (OPEN) and our exclude patterns (DATA batches numbered by the patterns sent so far, then an
 * empty terminator numbered one more); then each scans its own tree and asks us, in DEL sessions of its own,
 * which of its paths we lack (`DelReceiver`). CLOSE is answered OPEN while a member works, CLOSE (also
 * unsolicited) when it is done, BREAK when its scan was broken off; busy members are polled every `maxWait`.
 *
 * Unlike makuosan, every exclude batch and the terminator are acknowledged and sent again until every member has
 * them (makuosan-v7.md E13): a lost datagram can never make a member scan without the excludes.
 */
import { Flag, MAX_PAYLOAD, RecvState, type RecvStateValue, SendState } from "../../protocol/v7/constants.js"
import type { Payload } from "../../protocol/v7/message.js"
import { utf8Length } from "../../protocol/text.js"
import type { Machine } from "../engine/machine.js"
import * as Rounds from "../engine/rounds.js"
import type { Deadline, Peer, RoundContext, RoundEvent, Transmit } from "../engine/rounds.js"
import { type ReqId } from "../../protocol/fields.js"
import { type Target } from "../engine/rtt.js"

export interface DsyncSession extends Rounds.Rounds {
  readonly reqid: ReqId
  readonly flags: number
  readonly path: Payload
  readonly batches: ReadonlyArray<ReadonlyArray<string>>
  /** Exclude batches sent so far. */
  batch: number
  /** Patterns sent so far: the seqno of the last batch. */
  sent: number
  /** The seqno the DATA round in progress is answered with. */
  expect: number
  pausing: boolean
  done: boolean
}

export type Event = RoundEvent | { readonly _tag: "Ack"; readonly from: string; readonly state: RecvStateValue; readonly seqno: number }

/** `lost`: members silent to the end; `broken`: members whose scan was broken off (answered CLOSE with BREAK). */
export type Action =
  | Transmit
  | Deadline
  | { readonly _tag: "Finished"; readonly lost: ReadonlyArray<Target>; readonly broken: ReadonlyArray<Target> }

/** Exclude patterns cut into payload-sized batches (u16 length + bytes each). */
const patternBatches = (patterns: ReadonlyArray<string>): ReadonlyArray<ReadonlyArray<string>> => {
  const batches: Array<Array<string>> = [[]]
  let size = 0
  for (const p of patterns) {
    const n = 2 + utf8Length(p)
    if (size + n > MAX_PAYLOAD || batches.at(-1)!.length >= 16) batches.push([]), (size = 0)
    batches.at(-1)!.push(p)
    size += n
  }
  return batches[0]!.length === 0 ? [] : batches
}

export interface DsyncRequest {
  readonly path: string
  readonly recursive: boolean
  readonly dryRun: boolean
  readonly excludes: ReadonlyArray<string>
}

const flagsOf = (r: DsyncRequest) => (r.dryRun ? Flag.DRYRUN : 0) | (r.recursive ? Flag.RECURS : 0)

export const make = (reqid: ReqId, r: DsyncRequest, targets: ReadonlyArray<Target>, context: RoundContext, now: number): DsyncSession =>
  Rounds.withRounds(targets, context, now, SendState.OPEN, {
    reqid,
    flags: flagsOf(r),
    path: { _tag: "DsyncPath", path: r.path === "." ? "." : `./${r.path}` },
    batches: patternBatches(r.excludes),
    batch: 0,
    sent: 0,
    expect: 0,
    pausing: false,
    done: false
  })

const everyone = (_: Peer) => true
const nothing: Payload = { _tag: "Opaque", bytes: new Uint8Array(0) }
/** Answered CLOSE's round with OPEN and has not said it is over since. */
const busy = (p: Peer) => !p.lost && p.state === RecvState.OPEN && p.result === RecvState.NONE

const round = (s: DsyncSession, now: number, nstate: number, who: (p: Peer) => boolean, payload: Payload, seqno: number, out: Array<Action>) => {
  if (!Rounds.begin(s, now, nstate, who, payload, seqno, out)) complete(s, now, out)
}

/** The next exclude batch, or the terminator once they are all sent. */
const patterns = (s: DsyncSession, now: number, out: Array<Action>) => {
  const batch = s.batches[s.batch]
  if (batch === undefined) {
    s.expect = s.sent + 1
    return round(s, now, SendState.DATA, everyone, { _tag: "ExcludePatterns", patterns: [] }, s.expect, out)
  }
  s.batch++
  s.sent += batch.length
  s.expect = s.sent
  round(s, now, SendState.DATA, everyone, { _tag: "ExcludePatterns", patterns: batch }, s.sent, out)
}

const complete = (s: DsyncSession, now: number, out: Array<Action>): void => {
  Rounds.complete(s)
  switch (s.phase) {
    case SendState.OPEN:
      return patterns(s, now, out)
    case SendState.DATA:
      if (s.expect === s.sent + 1) return round(s, now, SendState.CLOSE, everyone, nothing, 0, out)
      return patterns(s, now, out)
    case SendState.CLOSE:
      if (![...s.peers.values()].some(busy)) return finish(s, out)
      s.pausing = true
      return Rounds.pause(s, now + s.context.maxWait, out)
  }
}

const finish = (s: DsyncSession, out: Array<Action>) => {
  s.done = true
  s.deadline = Infinity
  const peers = [...s.peers.values()]
  out.push({
    _tag: "Finished",
    lost: peers.filter((p) => p.lost).map((p) => p.target),
    broken: peers.filter((p) => !p.lost && p.result === RecvState.BREAK).map((p) => p.target)
  })
}

/** A member's answer that its scan is over: done, or broken off. */
const over = (state: RecvStateValue) => state === RecvState.CLOSE || state === RecvState.BREAK

const answers = (s: DsyncSession, e: Extract<Event, { _tag: "Ack" }>) => {
  switch (s.phase) {
    case SendState.DATA:
      return e.state === RecvState.OPEN && e.seqno === s.expect
    case SendState.CLOSE:
      return e.state === RecvState.OPEN || over(e.state)
    default:
      return e.state === RecvState.OPEN
  }
}

const onAck = (s: DsyncSession, now: number, e: Extract<Event, { _tag: "Ack" }>, out: Array<Action>) => {
  const peer = s.peers.get(e.from)
  if (peer === undefined || peer.lost) return
  // the first word that a member's scan is over stands: done (CLOSE) or broken off (BREAK)
  const news = over(e.state) && peer.result === RecvState.NONE
  if (news) peer.result = e.state
  if (s.pausing) {
    // the last member done: no need to wait out the poll interval
    if (news && ![...s.peers.values()].some(busy)) (s.pausing = false), finish(s, out)
    return
  }
  if (answers(s, e) && Rounds.answered(s, now, peer, e.state)) complete(s, now, out)
}

const onExpired = (s: DsyncSession, now: number, out: Array<Action>) => {
  if (!s.pausing) return void (Rounds.expired(s, now, out) && complete(s, now, out))
  if (now < s.deadline) return
  s.pausing = false
  round(s, now, SendState.CLOSE, busy, nothing, 0, out)
}

export const step = ((s, event, out, now) => {
  if (s.done) return
  switch (event._tag) {
    case "Start":
      return round(s, now, SendState.OPEN, everyone, s.path, 0, out)
    case "Ack":
      return onAck(s, now, event, out)
    case "Expired":
      return onExpired(s, now, out)
    default:
      return event satisfies never
  }
}) satisfies Machine<DsyncSession, Event, Action>
