/**
 * The sending side of `check` for one regular file (makuosan-v7.md §5.3) as a state machine without I/O: the local MD5
 * goes out in MD5 OPEN; members answer OPEN while they hash and MD5OK/MD5NG (or an error) when done, unsolicited
 * or to a later OPEN; members still hashing are polled every `maxWait`; then a CLOSE round releases them.
 * makuosan never reports READERROR; makuo does. Like every machine of the engine, a session is mutated in place.
 */
import { RecvState, type RecvStateValue, SendState } from "../../protocol/v7/constants.js"
import { describeErrno } from "../../protocol/errno.js"
import type { Payload } from "../../protocol/v7/message.js"
import type { HostOutcome } from "../../domain/outcome.js"
import type { Machine } from "../engine/machine.js"
import * as Rounds from "../engine/rounds.js"
import type { Deadline, Peer, RoundContext, RoundEvent, Transmit } from "../engine/rounds.js"
import { type ReqId } from "../../protocol/fields.js"
import { type Target } from "../engine/rtt.js"

export interface CheckSession extends Rounds.Rounds {
  readonly reqid: ReqId
  readonly path: string
  readonly mhash: Payload
  /** Between polls: no round open, the deadline ends the pause. */
  pausing: boolean
  done: boolean
}

export type Event = RoundEvent | { readonly _tag: "Ack"; readonly from: string; readonly state: RecvStateValue; readonly error: number }

export type Action = Transmit | Deadline | { readonly _tag: "Finished"; readonly hosts: ReadonlyArray<HostOutcome> }

export const make = (reqid: ReqId, path: string, digest: Uint8Array, targets: ReadonlyArray<Target>, context: RoundContext, now: number): CheckSession =>
  Rounds.withRounds(targets, context, now, SendState.OPEN, {
    reqid,
    path,
    mhash: { _tag: "Mhash", digest, path },
    pausing: false,
    done: false
  })

const isFinal = (state: number) =>
  state === RecvState.MD5OK || state === RecvState.MD5NG || state === RecvState.OPENERROR || state === RecvState.READERROR

const everyone = (_: Peer) => true
const hashing = (p: Peer) => !p.lost && !isFinal(p.result)

const complete = (s: CheckSession, now: number, out: Array<Action>): void => {
  Rounds.complete(s)
  if (s.phase === SendState.CLOSE) return finish(s, out)
  if ([...s.peers.values()].some(hashing)) {
    s.pausing = true
    return Rounds.pause(s, now + s.context.maxWait, out)
  }
  closeRound(s, now, out)
}

const closeRound = (s: CheckSession, now: number, out: Array<Action>) => {
  if (!Rounds.begin(s, now, SendState.CLOSE, everyone, s.mhash, 0, out)) complete(s, now, out)
}

const finish = (s: CheckSession, out: Array<Action>) => {
  s.done = true
  s.deadline = Infinity
  out.push({ _tag: "Finished", hosts: [...s.peers.values()].map(outcomeOf) })
}

const onAck = (s: CheckSession, now: number, e: Extract<Event, { _tag: "Ack" }>, out: Array<Action>) => {
  const peer = s.peers.get(e.from)
  if (peer === undefined || peer.lost) return
  const news = isFinal(e.state) && !isFinal(peer.result)
  if (news) (peer.result = e.state), (peer.error = e.error)
  if (s.pausing) {
    // the last result in: no need to wait out the poll interval
    if (news && ![...s.peers.values()].some(hashing)) (s.pausing = false), closeRound(s, now, out)
    return
  }
  const answers = s.phase === SendState.CLOSE ? e.state === RecvState.CLOSE : e.state !== RecvState.CLOSE
  if (answers && Rounds.answered(s, now, peer, e.state)) complete(s, now, out)
}

const onExpired = (s: CheckSession, now: number, out: Array<Action>) => {
  if (!s.pausing) return void (Rounds.expired(s, now, out) && complete(s, now, out))
  if (now < s.deadline) return
  s.pausing = false
  if (!Rounds.begin(s, now, SendState.OPEN, hashing, s.mhash, 0, out)) complete(s, now, out)
}

export const step = ((s, event, out, now) => {
  if (s.done) return
  switch (event._tag) {
    case "Start":
      if (!Rounds.begin(s, now, SendState.OPEN, everyone, s.mhash, 0, out)) complete(s, now, out)
      return
    case "Ack":
      return onAck(s, now, event, out)
    case "Expired":
      return onExpired(s, now, out)
    default:
      return event satisfies never
  }
}) satisfies Machine<CheckSession, Event, Action>

/** What the check found on one member. */
const outcomeOf = (p: Peer): HostOutcome => {
  const base = { host: p.target.host, address: p.target.address }
  if (p.lost) return { ...base, outcome: "lost", detail: "no answer; dropped from this check" }
  switch (p.result) {
    case RecvState.MD5OK:
      return { ...base, outcome: "same" }
    case RecvState.MD5NG:
      return { ...base, outcome: "different" }
    case RecvState.OPENERROR:
      return p.error === 2
        ? { ...base, outcome: "missing" }
        : { ...base, outcome: "failed", detail: `unreadable: ${describeErrno(p.error)}`, errno: p.error }
    case RecvState.READERROR:
      return { ...base, outcome: "failed", detail: `read error: ${describeErrno(p.error)}`, errno: p.error }
    default:
      return { ...base, outcome: "failed", detail: `unexpected answer (state ${p.result})` }
  }
}
