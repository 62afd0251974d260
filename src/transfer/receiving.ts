/**
 * The one driver of every receiving side (SEND, MD5, DSYNC, DEL): it finds the session of a request in the
 * daemon's table of received sessions (`ReceiveSessions`), opens one when the machine says the request opens one
 * and the table has room, steps the machine and carries out what every role shares — answers built on the
 * session's last request, and `End` (out of the table, what the session holds dropped, as when it is collected).
 * The role carries out the rest: its file I/O, hashing, walk. A request of no session that opens none is the
 * router's to answer as an unknown transfer.
 */
import { Peer } from "../net/Transport.js"
import type { Received, RequestHandler, WireShape } from "../net/Wire.js"
import { emptyPayload, type Header, type Payload } from "../protocol/v7/message.js"
import type { Machine } from "./engine/machine.js"
import type { ReceiveSessionsShape } from "./ReceiveSessions.js"
import type { Kind, KindPolicy, Slot } from "./sessionTable.js"

/** A received session: its slot in the table, its machine, the request its answers are built on. */
export interface ReceivedSession<M> extends Slot {
  readonly machine: M
  /** The request stepped last. */
  request: Header
}

/** The action that ends a session. */
export type End = { readonly _tag: "End" }

export interface Role<M, E, A extends { readonly _tag: string }, S extends ReceivedSession<M>> {
  readonly kind: Kind
  readonly opcode: number
  readonly step: Machine<M, E, A>
  readonly policy: KindPolicy<S>
  /** Whether a request in `nstate` opens a session (the machine's own rule). */
  readonly opens: (nstate: number) => boolean
  /**
   * The session an opening request starts, named `what` in a refusal; undefined when its payload opens none.
   * `make` builds it on its slot once the table has admitted it.
   */
  readonly open: (received: Received, now: number) => { readonly what: string; readonly make: (slot: Slot & { request: Header }) => S } | undefined
  /** The machine's event for a request of the session; undefined when the role takes none from it (the router answers). */
  readonly event: (received: Received, session: S) => E | undefined
  /** Carries out one of the machine's actions but `End`. */
  readonly perform: (session: S, action: Exclude<A, End>, now: number) => void
}

export interface Receiving<E, S> {
  readonly handle: RequestHandler
  /** Steps the session's machine with `event` and carries out its actions, in order. */
  readonly apply: (session: S, event: E, now: number) => void
  /** Answers `to` (the session's last request) in `state`: its header with `fields` over it, and `payload`. */
  readonly answer: (session: S, state: number, fields?: Partial<Header>, payload?: Payload, to?: Header) => void
  /** Ends the session: out of the table, what it holds dropped. */
  readonly end: (session: S) => void
}

export const receiving = <M, E, A extends { readonly _tag: string }, S extends ReceivedSession<M>>(
  wire: WireShape,
  receive: ReceiveSessionsShape,
  role: Role<M, E, A, S>
): Receiving<E, S> => {
  const { table } = receive

  const end = (s: S) => {
    table.remove(s.key)
    role.policy.release(s)
  }

  const apply = (s: S, event: E, now: number): void => {
    const out: Array<A> = []
    role.step(s.machine, event, out, now)
    for (const a of out) {
      if (a._tag === "End") end(s)
      else role.perform(s, a as Exclude<A, End>, now)
    }
  }

  const answer = (s: S, state: number, fields?: Partial<Header>, payload: Payload = emptyPayload, to: Header = s.request) => {
    const ack = wire.ack(to, state)
    wire.sendNow(Peer(s.from), { header: fields === undefined ? ack : { ...ack, ...fields }, payload })
  }

  const handle = (received: Received, now: number): boolean => {
    const { from, message: { header } } = received
    if (header.opcode !== role.opcode) return false
    let s = table.get<S>(role.kind, from, header.reqid)
    if (s === undefined) {
      const opening = role.opens(header.nstate) ? role.open(received, now) : undefined
      if (opening === undefined) return false
      s = receive.admit(role.kind, role.policy, from, header.reqid, now, opening.what, (slot) => opening.make({ ...slot, request: header }))
      if (s === undefined) return true
    }
    const event = role.event(received, s)
    if (event === undefined) return false
    s.lastSeen = now
    s.request = header
    apply(s, event, now)
    return true
  }

  return { handle, apply, answer, end }
}
