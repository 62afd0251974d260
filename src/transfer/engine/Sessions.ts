/**
 * The engine's core, one per daemon: every session this daemon sends requests for — SEND transfers, check (MD5),
 * DSYNC, and the DEL batches a member sends back during someone's DSYNC — as C makuosan keeps them in its select
 * loop. ACKs reach a session through the `Acks` table (request id and opcode); the deadlines of every round sit
 * in one timer heap behind one alarm; requests go out from the handler that produced them. No fiber, queue or
 * Effect per session or per round: a session is a state machine (`rounds.ts` and the machine of its role) and
 * a driver that carries out its actions through here.
 */
import { Context, Effect, Layer } from "effect"
import { type Destination, Group, Peer as PeerDestination } from "../../net/Transport.js"
import { type Received, Wire } from "../../net/Wire.js"
import { Acks } from "../Acks.js"
import { Timers } from "../Timers.js"
import type { Machine } from "./machine.js"
import { type Deadline, type RoundEvent, type Rounds, type Transmit } from "./rounds.js"
import { makeTimerHeap } from "./timerHeap.js"
import { type ReqId } from "../../protocol/fields.js"
import { makeRttEstimator, type RttEstimator } from "./rtt.js"

export interface Session {
  readonly reqid: ReqId
  readonly opcode: number
  readonly flags: number
  /** Unicast to each member still in the session instead of multicast to the group. */
  readonly unicast: boolean
  readonly rounds: Rounds
  readonly ack: (received: Received, now: number) => void
  /** The session's deadline (`rounds.deadline`) has come. */
  readonly expire: (now: number) => void
}

/** A sending machine with its state, run as a session by `drive`. */
export interface Sending<S extends Rounds, E, A extends { readonly _tag: string }> {
  readonly reqid: ReqId
  readonly opcode: number
  readonly flags: number
  readonly unicast: boolean
  readonly state: S
  readonly step: Machine<S, E | RoundEvent, A | Transmit | Deadline>
  /** The machine's event for an ACK of the session. */
  readonly ack: (received: Received) => E
  /** Carries out the machine's own actions; a `Finished` one comes after the session is closed. */
  readonly perform: (action: A, apply: (event: E) => void) => void
}

export interface Driven<E> {
  /** The session as `Sessions` knows it (its destinations). */
  readonly session: Session
  readonly apply: (event: E) => void
  /** Stops routing ACKs and deadlines to the session (it ends without a `Finished`). */
  readonly close: () => void
}

export interface SessionsShape {
  readonly now: () => number
  /** The daemon's round-trip estimate: its members share one network. */
  readonly rtt: RttEstimator
  /** The group, or under `-t` each member still in the session. */
  readonly destinations: (session: Session) => ReadonlyArray<Destination>
  /** Opens a session for the machine and steps it with `Start`. */
  readonly drive: <S extends Rounds, E, A extends { readonly _tag: string }>(machine: Sending<S, E, A>) => Driven<E>
}

export class Sessions extends Context.Tag("makuo/Sessions")<Sessions, SessionsShape>() {}

/** The resolution of deadlines (the shortest wait is `MIN_RTO_MS`, 20 ms). */
const GRAIN_MS = 5

export const make = Effect.gen(function*() {
  const wire = yield* Wire
  const acks = yield* Acks
  const timers = yield* Timers
  const clock = yield* Effect.clock
  const now = () => clock.unsafeCurrentTimeMillis()
  const rtt = makeRttEstimator()
  const heap = makeTimerHeap<Session>()
  let alarmAt = Infinity
  let cancelAlarm: (() => void) | undefined

  /** An entry whose session has moved on to another deadline (its round was answered) no longer matters. */
  const stale = (at: number, s: Session) => s.rounds.deadline !== at

  /**
   * The alarm rings on a grain of `GRAIN_MS`: most deadlines go stale before they are due (the answers come
   * first), and one ring serves every deadline of its tick.
   */
  const arm = (at: number) => {
    const when = Math.ceil(at / GRAIN_MS) * GRAIN_MS
    if (when >= alarmAt) return
    cancelAlarm?.()
    alarmAt = when
    cancelAlarm = timers.after(Math.max(0, when - now()), ring)
  }

  const ring = () => {
    alarmAt = Infinity
    cancelAlarm = undefined
    const due: Array<{ readonly at: number; readonly value: Session }> = []
    const t = now()
    heap.due(t, due)
    for (const d of due) if (!stale(d.at, d.value)) d.value.expire(t)
    heap.dropStale(stale)
    arm(heap.earliest())
  }

  const destinations = (s: Session): ReadonlyArray<Destination> =>
    s.unicast ? [...s.rounds.peers.values()].filter((p) => !p.lost).map((p) => PeerDestination(p.target)) : [Group]

  /** Routes the session's ACKs to it until `close`. */
  const open = (s: Session) => acks.add(s.reqid, s.opcode, (r) => s.ack(r, now()))
  const close = (s: Session) => acks.remove(s.reqid)
  /** Sends the request to the session's destinations. */
  const transmit = (s: Session, t: Transmit) => {
    const message = {
      header: wire.request({ opcode: s.opcode, nstate: t.nstate, ostate: t.ostate, seqno: t.seqno, reqid: s.reqid, flags: s.flags }),
      payload: t.payload
    }
    for (const to of destinations(s)) wire.sendNow(to, message)
  }
  /** Calls the session's `expire` at `at`, unless its deadline has moved on by then. */
  const deadline = (s: Session, at: number) => {
    heap.push(at, s)
    arm(at)
  }

  const drive = <S extends Rounds, E, A extends { readonly _tag: string }>(m: Sending<S, E, A>): Driven<E> => {
    let closed = false
    const apply = (event: E | RoundEvent) => {
      if (closed) return
      const out: Array<A | Transmit | Deadline> = []
      m.step(m.state, event, out, now())
      for (const a of out) {
        if (a._tag === "Transmit") transmit(session, a as Transmit)
        else if (a._tag === "Deadline") deadline(session, (a as Deadline).at)
        else {
          if (a._tag === "Finished") end()
          m.perform(a as A, apply)
        }
      }
    }
    const end = () => {
      if (!closed) (closed = true), close(session)
    }
    const session: Session = {
      reqid: m.reqid,
      opcode: m.opcode,
      flags: m.flags,
      unicast: m.unicast,
      rounds: m.state,
      ack: (r) => apply(m.ack(r)),
      expire: () => apply({ _tag: "Expired" })
    }
    open(session)
    apply({ _tag: "Start" })
    return { session, apply, close: end }
  }

  return Sessions.of({ now, rtt, destinations, drive })
})

export const layer = Layer.effect(Sessions, make)
