/**
 * Rounds, the reliability every v7 sending role shares (makuosan-v7.md §4), without I/O: a round sends one request and sends
 * it again after a wait that starts at the round-trip estimate and doubles up to `maxWait`, until every member it
 * waits for has answered; a member silent for `timeout` is lost for this session only (never evicted from the
 * group: no eviction storm, makuosan-v7.md E12). The SEND, MD5, DSYNC and DEL machines keep their rounds in a `Rounds` record
 * (mutated in place, like the machines themselves) and call `begin`, `answered` and `expired` from their `step`.
 */
import { RecvState, type RecvStateValue } from "../../protocol/v7/constants.js"
import type { Payload } from "../../protocol/v7/message.js"
import type { RttEstimator, Target } from "./rtt.js"

export interface Peer {
  readonly target: Target
  /** The answer in the current round; undefined until the member answers (makuosan's NONE). */
  state: RecvStateValue | undefined
  /** What the session amounts to on this member so far. */
  result: RecvStateValue
  error: number
  lost: boolean
  /** DATA blocks this member reported missing (NAK or MARK answer): a slow or lossy member shows here. */
  missed: number
}

export interface RoundContext {
  /** The longest wait before a request is sent again (makuosan's fixed 500 ms). */
  readonly maxWait: number
  /** Silence after which a member is dropped from the session. */
  readonly timeout: number
  readonly rtt: RttEstimator
}

export type RoundTiming = Omit<RoundContext, "rtt">

/** The events every sending machine takes besides its own: its start, and its deadline come. */
export type RoundEvent = { readonly _tag: "Start" } | { readonly _tag: "Expired" }

/** Send this request (to the group, or under `-t` to each member still in the session). */
export interface Transmit {
  readonly _tag: "Transmit"
  readonly nstate: number
  readonly ostate: number
  readonly seqno: number
  readonly payload: Payload
}

/** (Re)arms the session's deadline: `Expired` is due at `at`. */
export interface Deadline {
  readonly _tag: "Deadline"
  readonly at: number
}

/** Where a machine collects its actions: rounds add theirs. */
export interface Actions {
  readonly push: (...actions: Array<Transmit | Deadline>) => unknown
}

export interface Rounds<C extends RoundContext = RoundContext> {
  /** The session's timing (and, for a SEND, its pacing): the machine's own, read by every step. */
  readonly context: C
  readonly peers: ReadonlyMap<string, Peer>
  /** The state of the current request. */
  phase: number
  /** The state of the last round completed (the header's ostate). */
  ostate: number
  readonly waiting: Set<Peer>
  roundStart: number
  /** The current wait between transmissions of the round's request. */
  wait: number
  /** When `Expired` is due (the round's next transmission, or the end of a pause); Infinity when nothing is. */
  deadline: number
  request: Transmit
  rounds: number
}

export const makeRounds = <C extends RoundContext>(targets: ReadonlyArray<Target>, context: C, now: number, phase: number): Rounds<C> => ({
  context,
  peers: new Map(targets.map((target) => [target.address, { target, state: undefined, result: RecvState.NONE, error: 0, lost: false, missed: 0 }])),
  phase,
  ostate: 0,
  waiting: new Set(),
  roundStart: now,
  wait: 0,
  deadline: Infinity,
  request: { _tag: "Transmit", nstate: phase, ostate: 0, seqno: 0, payload: { _tag: "Opaque", bytes: new Uint8Array(0) } },
  rounds: 0
})

/**
 * A machine's state: its rounds and its own fields, in one object. Built with `Object.assign`, not a spread: V8
 * turns a spread of this many properties into a dictionary-mode object, ~15× slower to build and to read — per
 * file, on the hot path.
 */
export const withRounds = <C extends RoundContext, S extends object>(
  targets: ReadonlyArray<Target>,
  context: C,
  now: number,
  phase: number,
  own: S
): Rounds<C> & S => Object.assign(makeRounds(targets, context, now, phase), own)

/**
 * Starts a round: the members `who` selects wait for an answer to `nstate`. False when nobody is to be waited
 * for (the round is complete at once, nothing is sent).
 */
export const begin = (
  r: Rounds,
  now: number,
  nstate: number,
  who: (p: Peer) => boolean,
  payload: Payload,
  seqno: number,
  out: Actions
): boolean => {
  r.phase = nstate
  r.rounds++
  r.waiting.clear()
  for (const p of r.peers.values()) {
    if (!p.lost && who(p)) (r.waiting.add(p), (p.state = undefined))
  }
  if (r.waiting.size === 0) return (r.deadline = Infinity), false
  r.request = { _tag: "Transmit", nstate, ostate: r.ostate, seqno, payload }
  r.roundStart = now
  r.wait = r.context.rtt.rto(r.context.maxWait)
  r.deadline = now + r.wait
  out.push(r.request, { _tag: "Deadline", at: r.deadline })
  return true
}

/** Marks the round complete: its state becomes the next requests' ostate. */
export const complete = (r: Rounds) => {
  r.deadline = Infinity
  r.ostate = r.phase
}

/** `peer` has answered the round (in `state`); true when it was the last one waited for. */
export const answered = (r: Rounds, now: number, peer: Peer, state: RecvStateValue): boolean => {
  peer.state = state
  if (!r.waiting.delete(peer)) return false
  // timed from the request's first transmission even when it answers a retransmission: never shorter than the truth
  r.context.rtt.sample(now - r.roundStart)
  return r.waiting.size === 0
}

/**
 * The deadline of a round has passed: the request goes again, or after `timeout` of silence the members still
 * waited for are lost. True when the round is complete that way.
 */
export const expired = (r: Rounds, now: number, out: Actions): boolean => {
  if (r.waiting.size === 0 || now < r.deadline) return false
  if (now - r.roundStart >= r.context.timeout) {
    for (const p of r.waiting) p.lost = true
    r.waiting.clear()
    return true
  }
  r.wait = Math.min(r.context.maxWait, r.wait * 2)
  r.deadline = now + r.wait
  out.push(r.request, { _tag: "Deadline", at: r.deadline })
  return false
}

/** Waits until `at` with no round open (a poll interval); `Expired` ends it. */
export const pause = (r: Rounds, at: number, out: Actions) => {
  r.waiting.clear()
  r.deadline = at
  out.push({ _tag: "Deadline", at })
}
