/**
 * A member's side of `check` (MD5, makuosan-v7.md §5.3) for one session, as a state machine without I/O: the first OPEN
 * looks the file up (`Inspect`; OPENERROR if it is not a readable regular file) and starts hashing it (`Hash`);
 * OPEN is answered at once, and the result (MD5OK, MD5NG or READERROR) is sent unsolicited when the hash is done,
 * and again on every later OPEN. CLOSE stops the hash and ends the session. The driver carries out `Inspect`
 * and `Hash` and steps their results; a session is mutated in place.
 */
import { RecvState, type RecvStateValue, SendState } from "../../protocol/v7/constants.js"
import type { Machine } from "../engine/machine.js"
import { equalBytes } from "../../domain/bytes.js"

export interface CheckReceiveSession {
  state: RecvStateValue
  error: number
  /** The sender's digest, until the local one is compared with it. */
  readonly want: Uint8Array
  readonly path: string
  hashing: boolean
  ended: boolean
}

export type Event =
  | { readonly _tag: "Request"; readonly nstate: number }
  /** The result of `Inspect`: 0 when the path is a regular file here, else the errno to report. */
  | { readonly _tag: "Inspected"; readonly error: number }
  | { readonly _tag: "Hashed"; readonly digest: Uint8Array }
  | { readonly _tag: "HashFailed"; readonly error: number }

export type Action =
  /** Answer the last request (after a hash: unsolicited) with `state`. */
  | { readonly _tag: "Reply"; readonly state: RecvStateValue; readonly error: number }
  | { readonly _tag: "Inspect"; readonly path: string }
  | { readonly _tag: "Hash"; readonly path: string }
  | { readonly _tag: "StopHash" }
  /** The session is over: forget it. */
  | { readonly _tag: "End" }

/** A session opens on an MD5 OPEN only; anything else for an unknown session is the router's to answer. */
export const opens = (nstate: number) => nstate === SendState.OPEN

export const make = (path: string, want: Uint8Array): CheckReceiveSession => ({
  state: RecvState.OPEN,
  error: 0,
  want,
  path,
  hashing: false,
  ended: false
})


const reply = (s: CheckReceiveSession, out: Array<Action>): void => void out.push({ _tag: "Reply", state: s.state, error: s.error })

export const step = ((s, event, out) => {
  if (s.ended) return
  switch (event._tag) {
    case "Request":
      if (event.nstate === SendState.CLOSE) {
        if (s.hashing) (s.hashing = false), out.push({ _tag: "StopHash" })
        s.state = RecvState.CLOSE
        s.ended = true
        reply(s, out)
        return void out.push({ _tag: "End" })
      }
      if (event.nstate !== SendState.OPEN) return
      // the first OPEN looks the file up; its answer follows the lookup
      if (s.state === RecvState.OPEN && !s.hashing) return void out.push({ _tag: "Inspect", path: s.path })
      return reply(s, out)
    case "Inspected":
      if (s.state !== RecvState.OPEN || s.hashing) return
      if (event.error !== 0) (s.state = RecvState.OPENERROR), (s.error = event.error)
      else (s.hashing = true), out.push({ _tag: "Hash", path: s.path })
      return reply(s, out)
    case "Hashed":
    case "HashFailed":
      if (!s.hashing) return
      s.hashing = false
      if (event._tag === "Hashed") s.state = equalBytes(event.digest, s.want) ? RecvState.MD5OK : RecvState.MD5NG
      else (s.state = RecvState.READERROR), (s.error = event.error)
      return reply(s, out)
    default:
      return event satisfies never
  }
}) satisfies Machine<CheckReceiveSession, Event, Action>
