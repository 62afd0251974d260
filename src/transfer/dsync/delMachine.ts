/**
 * A member's DEL session during someone's DSYNC (makuosan-v7.md §5.4, phase 3) as a state machine without I/O: one batch
 * of our paths goes to the requester in DEL OPEN (every DEL request carries the DSYNC request id as its seqno);
 * its answer names those it lacks; we delete exactly those of them we listed (`Remove`, carried out by the
 * driver, which steps `Removed` with the results), report them in DEL DATA, and release the requester with
 * DEL CLOSE. The requester is the only member of the session (unicast); if it falls silent the session ends
 * without deleting anything more.
 */
import { RecvState, type RecvStateValue, SendState } from "../../protocol/v7/constants.js"
import type { DelRecord } from "../../protocol/v7/message.js"
import type { Machine } from "../engine/machine.js"
import * as Rounds from "../engine/rounds.js"
import type { Deadline, RoundContext, RoundEvent, Transmit } from "../engine/rounds.js"
import { type ReqId } from "../../protocol/fields.js"
import { type Target } from "../engine/rtt.js"

export interface DelSession extends Rounds.Rounds {
  readonly reqid: ReqId
  /** The DSYNC request id of the requester. */
  readonly dsync: number
  readonly records: ReadonlyArray<DelRecord>
  /** The paths the requester lacks, as it answered OPEN. */
  lacks: ReadonlyArray<DelRecord>
  /** `Remove` is out, `Removed` awaited. */
  removing: boolean
  done: boolean
}

export type Event =
  | RoundEvent
  | {
    readonly _tag: "Ack"
    readonly from: string
    readonly state: RecvStateValue
    /** The records an OPEN answer carries. */
    readonly records: ReadonlyArray<DelRecord> | undefined
  }
  /** The outcome of `Remove`: an errno per path, 0 = deleted. */
  | { readonly _tag: "Removed"; readonly results: ReadonlyArray<DelRecord> }

export type Action =
  | Transmit
  | Deadline
  /** Delete these paths (ours, listed in this batch) and step `Removed`. */
  | { readonly _tag: "Remove"; readonly paths: ReadonlyArray<string> }
  /** `complete`: the requester went through the whole session (false: it fell silent). */
  | { readonly _tag: "Finished"; readonly complete: boolean }

export const make = (reqid: ReqId, dsync: number, records: ReadonlyArray<DelRecord>, requester: Target, context: RoundContext, now: number): DelSession =>
  Rounds.withRounds([requester], context, now, SendState.OPEN, {
    reqid,
    dsync,
    records,
    lacks: [],
    removing: false,
    done: false
  })

const everyone = () => true

/**
 * Whether an ACK answers the current round. DATA is only sent after an OPEN answer that named paths, and its
 * own answer names none: a late copy of the OPEN answer must not complete DATA (makuosan-v7.md E24, where the
 * deletion report may then never reach the requester).
 */
const answers = (s: DelSession, e: Extract<Event, { _tag: "Ack" }>) => {
  switch (s.phase) {
    case SendState.CLOSE:
      return e.state === RecvState.CLOSE
    case SendState.DATA:
      return e.state === RecvState.OPEN && (e.records === undefined || e.records.length === 0)
    default:
      return e.state === RecvState.OPEN
  }
}

const round = (s: DelSession, now: number, nstate: number, records: ReadonlyArray<DelRecord>, out: Array<Action>) => {
  if (!Rounds.begin(s, now, nstate, everyone, { _tag: "DelRecords", records }, s.dsync, out)) complete(s, now, out)
}

const complete = (s: DelSession, now: number, out: Array<Action>): void => {
  Rounds.complete(s)
  const lost = [...s.peers.values()].some((p) => p.lost)
  if (lost || s.phase === SendState.CLOSE) return finish(s, !lost, out)
  if (s.phase === SendState.DATA) return round(s, now, SendState.CLOSE, [], out)
  // only paths we listed ourselves: the requester cannot name anything else for deletion
  const listed = new Set(s.records.map((r) => r.path))
  s.removing = true
  out.push({ _tag: "Remove", paths: s.lacks.filter((r) => listed.has(r.path)).map((r) => r.path) })
}

const finish = (s: DelSession, complete: boolean, out: Array<Action>) => {
  s.done = true
  s.deadline = Infinity
  out.push({ _tag: "Finished", complete })
}

export const step = ((s, event, out, now) => {
  if (s.done) return
  switch (event._tag) {
    case "Start":
      return round(s, now, SendState.OPEN, s.records, out)
    case "Ack": {
      const peer = s.peers.get(event.from)
      if (peer === undefined || peer.lost) return
      if (!answers(s, event) || !s.waiting.has(peer)) return
      if (s.phase === SendState.OPEN && event.records !== undefined) s.lacks = event.records
      if (Rounds.answered(s, now, peer, event.state)) complete(s, now, out)
      return
    }
    case "Expired":
      return void (Rounds.expired(s, now, out) && complete(s, now, out))
    case "Removed":
      if (!s.removing) return
      s.removing = false
      if (event.results.length === 0) return round(s, now, SendState.CLOSE, [], out)
      return round(s, now, SendState.DATA, event.results, out)
    default:
      return event satisfies never
  }
}) satisfies Machine<DelSession, Event, Action>
