/**
 * The requester's side of one DEL session (makuosan-v7.md §5.4, phase 3), as a state machine without I/O: a member that
 * runs our DSYNC lists its paths in DEL OPEN; we answer with those we do not have (`Lookup`, carried out by the
 * driver, which steps `LookedUp`) — the same answer to every copy of the request; it deletes them and reports in
 * DEL DATA, passed on once (`Report`); CLOSE ends the session. An ended session is kept until it is collected:
 * a late copy of its OPEN or DATA must not open it again and report the deletions twice, and a late copy of its
 * CLOSE is answered again (the member may have missed our answer).
 */
import { RecvState, SendState } from "../../protocol/v7/constants.js"
import type { Machine } from "../engine/machine.js"
import type { DelRecord } from "../../protocol/v7/message.js"

export interface DelReceiveSession {
  /** What we lack of the member's list, once looked up. */
  answer: ReadonlyArray<DelRecord> | undefined
  reported: boolean
  ended: boolean
}

export type Event =
  | { readonly _tag: "Request"; readonly nstate: number; readonly records: ReadonlyArray<DelRecord> | undefined }
  /** The result of `Lookup`: the paths we do not have. */
  | { readonly _tag: "LookedUp"; readonly lacking: ReadonlyArray<DelRecord> }

export type Action =
  /** Answer the request just stepped; an OPEN answer carries records. */
  | { readonly _tag: "Ack"; readonly state: number; readonly records: ReadonlyArray<DelRecord> | undefined }
  | { readonly _tag: "Lookup"; readonly records: ReadonlyArray<DelRecord> }
  /** The member's deletions, to the DSYNC that asked. */
  | { readonly _tag: "Report"; readonly records: ReadonlyArray<DelRecord> }

/** A session opens on DEL OPEN only. */
export const opens = (nstate: number) => nstate === SendState.OPEN

export const make = (): DelReceiveSession => ({ answer: undefined, reported: false, ended: false })

export const step = ((s, event, out) => {
  if (s.ended) {
    if (event._tag === "Request" && event.nstate === SendState.CLOSE) out.push({ _tag: "Ack", state: RecvState.CLOSE, records: undefined })
    return
  }
  if (event._tag === "LookedUp") {
    if (s.answer !== undefined) return
    s.answer = event.lacking
    return void out.push({ _tag: "Ack", state: RecvState.OPEN, records: s.answer })
  }
  switch (event.nstate) {
    case SendState.OPEN:
      if (event.records === undefined) return
      if (s.answer === undefined) return void out.push({ _tag: "Lookup", records: event.records })
      return void out.push({ _tag: "Ack", state: RecvState.OPEN, records: s.answer })
    case SendState.DATA:
      if (event.records === undefined) return
      if (!s.reported) (s.reported = true), out.push({ _tag: "Report", records: event.records })
      return void out.push({ _tag: "Ack", state: RecvState.OPEN, records: [] })
    case SendState.CLOSE:
      s.ended = true
      return void out.push({ _tag: "Ack", state: RecvState.CLOSE, records: undefined })
  }
}) satisfies Machine<DelReceiveSession, Event, Action>
