/**
 * The reliability engine every transfer shares (spec §4): a per-member state table, and rounds — send one
 * request, re-send it every `retransmit` until every member it waits for has answered. A member that stays
 * silent for `timeout` is lost for THIS transfer only (never evicted from the group: no eviction storm, E12).
 * ACKs reach the exchange through the `AckRouter`, by request id.
 */
import { Duration, Effect } from "effect"
import { Group, Peer as PeerDestination } from "../net/Transport.js"
import type { Received, WireShape } from "../net/Wire.js"
import { RecvState, type RecvStateValue } from "../protocol/constants.js"
import type { Header, Payload, ReqId } from "../protocol/message.js"
import type { TimersShape } from "./Timers.js"

export interface Target {
  readonly host: string
  readonly address: string
  readonly port: number
}

export interface Peer {
  readonly target: Target
  /** The answer in the current round; undefined until the member answers (makuosan's NONE). */
  state: RecvStateValue | undefined
  /** What the transfer amounts to on this member so far. */
  result: RecvStateValue
  error: number
  lost: boolean
  /** DATA blocks this member reported missing (NAK or MARK answer): a slow or lossy member shows here. */
  missed: number
}

export interface AckRouter {
  readonly register: (reqid: ReqId, opcode: number, onAck: (r: Received) => void) => Effect.Effect<void>
  readonly unregister: (reqid: ReqId) => Effect.Effect<void>
}

export interface RoundTiming {
  /** The longest wait before a request is sent again (makuosan's fixed 500 ms). */
  readonly retransmit: Duration.Duration
  /** Silence after which a member is dropped from a transfer. */
  readonly timeout: Duration.Duration
}

export interface RoundSettings extends RoundTiming {
  /** Adapts the first wait to the measured round-trip time; without it every wait is `retransmit`. */
  readonly rtt?: RttEstimator
  readonly timers: TimersShape
}

/**
 * The round-trip time of request → ACK, smoothed as TCP does (RFC 6298): the first retransmission of a round
 * waits `srtt + 4·rttvar` (at least `MIN_RTO_MS`) instead of a fixed 500 ms, and each further one twice as long,
 * up to `retransmit`. On a LAN that turns a lost datagram into a few milliseconds' delay rather than half a
 * second, which is what small files under loss are made of. An answer is timed from the request's first
 * transmission even when it answers a retransmission: never shorter than the truth, so a busy member or a
 * busy sender lengthens the wait instead of drawing more retransmissions.
 */
export interface RttEstimator {
  readonly rto: (max: number) => number
  readonly sample: (ms: number) => void
}

export const MIN_RTO_MS = 20

export const makeRttEstimator = (): RttEstimator => {
  let srtt: number | undefined
  let rttvar = 0
  return {
    rto: (max) => (srtt === undefined ? max : Math.min(max, Math.max(MIN_RTO_MS, Math.ceil(srtt + 4 * rttvar)))),
    sample: (ms) => {
      if (srtt === undefined) (srtt = ms), (rttvar = ms / 2)
      else (rttvar = 0.75 * rttvar + 0.25 * Math.abs(srtt - ms)), (srtt = 0.875 * srtt + 0.125 * ms)
    }
  }
}

export interface ExchangeOptions {
  readonly opcode: number
  readonly flags: number
  readonly targets: ReadonlyArray<Target>
  /** Unicast to each target (`-t`) instead of multicast to the group. */
  readonly unicast: boolean
  /**
   * Sees every ACK from a member of this transfer, in the round `phase`; returns whether it answers that round
   * (a late answer to an earlier round does not).
   */
  readonly onAck: (peer: Peer, received: Received, phase: number) => boolean
}

export type Request = { readonly header: Header; readonly payload: Payload }

/**
 * Runs `use` with an exchange whose ACKs the router delivers while it runs (registration without a `Scope`: a
 * scope per transfer costs more than the rest of a skipped file's rounds).
 */
export const withExchange = <A, E, R>(
  wire: WireShape,
  router: AckRouter,
  settings: RoundSettings,
  options: ExchangeOptions,
  use: (x: Exchange) => Effect.Effect<A, E, R>
): Effect.Effect<A, E, R> =>
  Effect.flatMap(makeExchange(wire, settings, options), (x) =>
    Effect.acquireUseRelease(router.register(x.reqid, options.opcode, x.onAck), () => use(x), () => router.unregister(x.reqid)))

const makeExchange = (wire: WireShape, settings: RoundSettings, options: ExchangeOptions) =>
  Effect.gen(function*() {
    const reqid = yield* wire.nextReqId
    const peers = new Map<string, Peer>(
      options.targets.map((target) => [target.address, { target, state: undefined, result: RecvState.NONE, error: 0, lost: false, missed: 0 }])
    )
    const clock = yield* Effect.clock
    const maxWait = Duration.toMillis(settings.retransmit)
    const timeout = Duration.toMillis(settings.timeout)
    // two signals: a round's completion, and a poke that ends a `pause` early; a poke must never cut a
    // round's retransmission wait short, or members would be counted silent without having been waited for
    let answered: (() => void) | undefined
    let poked = false
    let pokeNow: (() => void) | undefined
    /** Waits `ms`, or less when `cut` is handed the means to end the wait. */
    const wait = (ms: number, cut: (end: (() => void) | undefined) => void) =>
      Effect.async<void>((resume) => {
        const end = () => {
          cancel()
          cut(undefined)
          resume(Effect.void)
        }
        const cancel = settings.timers.after(ms, end)
        cut(end)
        return Effect.sync(() => (cancel(), cut(undefined)))
      })
    let phase = 0
    let ostate = 0
    let waiting = new Set<Peer>()
    let rounds = 0
    /** When the current round's request was first sent. */
    let sampleFrom = 0

    const onAck = (r: Received) => {
      const peer = peers.get(r.from.address)
      if (peer === undefined || peer.lost) return
      if (!options.onAck(peer, r, phase)) return
      peer.state = r.message.header.nstate as RecvStateValue
      if (!waiting.delete(peer)) return
      settings.rtt?.sample(clock.unsafeCurrentTimeMillis() - sampleFrom)
      if (waiting.size === 0) answered?.()
    }

    const request = (nstate: number, seqno: number, payload: Payload): Request => ({
      header: wire.request({ opcode: options.opcode, nstate, reqid, flags: options.flags, seqno, ostate }),
      payload
    })

    const transmit = (message: Request) =>
      options.unicast
        ? Effect.forEach([...peers.values()].filter((p) => !p.lost), (p) => wire.send(PeerDestination(p.target), message), { discard: true })
        : wire.send(Group, message)

    /** A burst of DATA datagrams encoded back to back (`Transport.sendSegments`), to the same members. */
    const transmitSegments = (bytes: Uint8Array, segment: number) =>
      options.unicast
        ? Effect.forEach([...peers.values()].filter((p) => !p.lost), (p) => wire.sendSegments(PeerDestination(p.target), bytes, segment), { discard: true })
        : wire.sendSegments(Group, bytes, segment)

    /** One round: the members `who` selects wait for an answer to `nstate`; re-sent until all answered or lost. */
    const round = (nstate: number, who: (p: Peer) => boolean, payload: Payload, seqno = 0) =>
      Effect.gen(function*() {
        phase = nstate
        rounds++
        waiting = new Set([...peers.values()].filter((p) => !p.lost && who(p)))
        for (const p of waiting) p.state = undefined
        const message = request(nstate, seqno, payload)
        const started = clock.unsafeCurrentTimeMillis()
        sampleFrom = started
        let ms = settings.rtt?.rto(maxWait) ?? maxWait
        while (waiting.size > 0) {
          yield* transmit(message)
          // everyone may have answered already: the wait starts only now
          if (waiting.size > 0) yield* wait(ms, (end) => void (answered = end))
          ms = Math.min(maxWait, ms * 2)
          // silent for the whole timeout: lost for this transfer
          if (clock.unsafeCurrentTimeMillis() - started >= timeout) for (const p of waiting) p.lost = true
          for (const p of [...waiting]) if (p.lost) waiting.delete(p)
        }
        ostate = nstate
      })

    /** Enters `nstate` without a round (DATA: no ACK is awaited). */
    const enter = (nstate: number) => void (phase = nstate)

    /** Waits up to `d`, or until `poke` (a poll interval that an unsolicited answer cuts short). */
    const pause = (d: Duration.DurationInput) =>
      Effect.suspend(() => {
        if (poked) return Effect.sync(() => void (poked = false))
        return Effect.zipRight(wait(Duration.toMillis(d), (end) => void (pokeNow = end)), Effect.sync(() => void (poked = false)))
      })

    const poke = () => {
      poked = true
      pokeNow?.()
    }

    const inState = (...states: ReadonlyArray<number>) => (p: Peer) => p.state !== undefined && states.includes(p.state)

    return { reqid, onAck, peers, request, transmit, transmitSegments, round, enter, pause, poke, inState, rounds: () => rounds }
  })

export type Exchange = Effect.Effect.Success<ReturnType<typeof makeExchange>>
