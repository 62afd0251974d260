/**
 * The reliability engine every transfer shares (spec §4): a per-member state table, and rounds — send one
 * request, re-send it every `retransmit` until every member it waits for has answered. A member that stays
 * silent for `timeout` is lost for THIS transfer only (never evicted from the group: no eviction storm, E12).
 * ACKs reach the exchange through the `AckRouter`, by request id.
 */
import { Duration, Effect, Queue } from "effect"
import { Group, Peer as PeerDestination } from "../net/Transport.js"
import type { Received, WireShape } from "../net/Wire.js"
import { RecvState, type RecvStateValue } from "../protocol/constants.js"
import type { Header, Payload, ReqId } from "../protocol/message.js"

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
  /** Retransmissions of the current round this member has not answered. */
  silent: number
  /** DATA blocks this member reported missing (NAK or MARK answer): a slow or lossy member shows here. */
  missed: number
}

export interface AckRouter {
  readonly register: (reqid: ReqId, onAck: (r: Received) => void) => Effect.Effect<void>
  readonly unregister: (reqid: ReqId) => Effect.Effect<void>
}

export interface RoundSettings {
  readonly retransmit: Duration.Duration
  /** Silence after which a member is dropped from a transfer. */
  readonly timeout: Duration.Duration
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

export const makeExchange = (wire: WireShape, router: AckRouter, settings: RoundSettings, options: ExchangeOptions) =>
  Effect.gen(function*() {
    const reqid = yield* wire.nextReqId
    const peers = new Map<string, Peer>(
      options.targets.map((target) => [target.address, { target, state: undefined, result: RecvState.NONE, error: 0, lost: false, silent: 0, missed: 0 }])
    )
    const retries = Math.max(1, Math.ceil(Duration.toMillis(settings.timeout) / Duration.toMillis(settings.retransmit)))
    // two signals: a round's completion, and a poke that ends a `pause` early; a poke must never cut a
    // round's retransmission wait short, or members would be counted silent without having been waited for
    const wake = yield* Queue.sliding<void>(1)
    const pokes = yield* Queue.sliding<void>(1)
    let phase = 0
    let ostate = 0
    let waiting = new Set<Peer>()
    let rounds = 0

    const onAck = (r: Received) => {
      const peer = peers.get(r.from.address)
      if (peer === undefined || peer.lost) return
      if (!options.onAck(peer, r, phase)) return
      peer.silent = 0
      peer.state = r.message.header.nstate as RecvStateValue
      if (waiting.delete(peer) && waiting.size === 0) wake.unsafeOffer(undefined)
    }
    yield* Effect.acquireRelease(router.register(reqid, onAck), () => router.unregister(reqid))

    const request = (nstate: number, seqno: number, payload: Payload): Request => ({
      header: wire.request({ opcode: options.opcode, nstate, reqid, flags: options.flags, seqno, ostate }),
      payload
    })

    const transmit = (message: Request) =>
      options.unicast
        ? Effect.forEach([...peers.values()].filter((p) => !p.lost), (p) => wire.send(PeerDestination(p.target), message), { discard: true })
        : wire.send(Group, message)

    /** One round: the members `who` selects wait for an answer to `nstate`; re-sent until all answered or lost. */
    const round = (nstate: number, who: (p: Peer) => boolean, payload: Payload, seqno = 0) =>
      Effect.gen(function*() {
        phase = nstate
        rounds++
        waiting = new Set([...peers.values()].filter((p) => !p.lost && who(p)))
        for (const p of waiting) (p.state = undefined), (p.silent = 0)
        const message = request(nstate, seqno, payload)
        while (waiting.size > 0) {
          yield* transmit(message)
          yield* Queue.take(wake).pipe(Effect.timeout(settings.retransmit), Effect.ignore)
          for (const p of [...waiting]) if (++p.silent > retries) (p.lost = true), waiting.delete(p)
        }
        yield* Queue.takeAll(wake)
        ostate = nstate
      })

    /** Enters `nstate` without a round (DATA: no ACK is awaited). */
    const enter = (nstate: number) => void (phase = nstate)

    /** Waits up to `d`, or until `poke` (a poll interval that an unsolicited answer cuts short). */
    const pause = (d: Duration.DurationInput) =>
      Effect.zipRight(Queue.take(pokes).pipe(Effect.timeout(d), Effect.ignore), Queue.takeAll(pokes))

    const poke = () => void pokes.unsafeOffer(undefined)

    const inState = (...states: ReadonlyArray<number>) => (p: Peer) => p.state !== undefined && states.includes(p.state)

    return { reqid, peers, request, transmit, round, enter, pause, poke, inState, rounds: () => rounds }
  })

export type Exchange = Effect.Effect.Success<ReturnType<typeof makeExchange>>
