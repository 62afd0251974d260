/**
 * The daemon's one consumer of incoming messages: every message refreshes its sender in the member table,
 * then goes to the handler of its opcode. Requests nobody here serves are answered the way makuosan answers
 * an unknown transfer, so a makuosan sender never waits for us and never evicts us for silence (E32).
 */
import { Clock, Effect, Layer } from "effect"
import { Members } from "../members/Members.js"
import { Acks } from "../transfer/Acks.js"
import { CheckReceiver } from "../transfer/CheckReceiver.js"
import { DelReceiver } from "../transfer/DelReceiver.js"
import { DsyncReceiver } from "../transfer/DsyncReceiver.js"
import { Receiver } from "../transfer/Receiver.js"
import { type Endpoint, Peer } from "../net/Transport.js"
import { type Inbound, type Received, Wire } from "../net/Wire.js"
import { Flag, Opcode, RecvState, SendState } from "../protocol/constants.js"
import { emptyPayload } from "../protocol/message.js"

/** makuosan's reply to a request for a transfer it does not know (spec §5.2.3, §5.3, §5.4). */
export const unknownTransferReply = (opcode: number, nstate: number): number | undefined => {
  if (opcode === Opcode.SEND && nstate === SendState.DATA) return undefined
  const closing = nstate === SendState.CLOSE && (opcode === Opcode.MD5 || opcode === Opcode.DSYNC || opcode === Opcode.DEL)
  return closing ? RecvState.CLOSE : RecvState.IGNORE
}

export const layer = Layer.scopedDiscard(
  Effect.gen(function*() {
    const wire = yield* Wire
    const members = yield* Members
    const receiver = yield* Receiver
    const acks = yield* Acks
    const handlers: Record<number, (r: Received) => Effect.Effect<boolean>> = {
      [Opcode.SEND]: receiver.handle,
      [Opcode.MD5]: (yield* CheckReceiver).handle,
      [Opcode.DSYNC]: (yield* DsyncReceiver).handle,
      [Opcode.DEL]: (yield* DelReceiver).handle
    }

    const unknown = ({ from, message: { header } }: Received) => {
      const state = unknownTransferReply(header.opcode, header.nstate)
      return state === undefined
        ? Effect.void
        : wire.send(Peer(from), { header: wire.ack(header, state), payload: emptyPayload })
    }

    const dispatch = (r: Received): Effect.Effect<void> => {
      const { header } = r.message
      if (header.opcode === Opcode.PING || header.opcode === Opcode.EXIT) return members.observe(r)
      if ((header.flags & Flag.ACK) !== 0) return Effect.sync(() => void acks.route(r))
      const handler = handlers[header.opcode]
      return handler === undefined ? unknown(r) : Effect.flatMap(handler(r), (handled) => (handled ? Effect.void : unknown(r)))
    }

    // a chunk at a time, one clock read per chunk; DATA blocks and ACKs (what a sender receives most) skip the
    // Effect machinery, and the blocks of a chunk reach the disk with one write per run of consecutive blocks
    const chunk = (rs: ReadonlyArray<Inbound>) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) => {
        let follow: Array<Effect.Effect<void>> | undefined
        let seen: Endpoint | undefined
        for (const r of rs) {
          // consecutive datagrams mostly come from one member: one table update for them
          if (r.from !== seen) members.touch(r.from.address, now), (seen = r.from)
          if (r._tag === "Data") {
            // in order: once something of this chunk waits to run, the blocks after it wait their turn too
            const effect = follow === undefined ? receiver.data(r, now) : Effect.suspend(() => receiver.data(r, now) ?? Effect.void)
            if (effect !== undefined) (follow ??= []).push(effect)
            continue
          }
          const h = r.message.header
          const isAck = (h.flags & Flag.ACK) !== 0 && h.opcode !== Opcode.PING && h.opcode !== Opcode.EXIT
          if (isAck && follow === undefined) acks.route(r)
          else (follow ??= []).push(dispatch(r))
        }
        const flushed = receiver.flush()
        if (follow === undefined) return flushed ?? Effect.void
        if (flushed !== undefined) follow.unshift(flushed)
        follow.push(Effect.suspend(() => receiver.flush() ?? Effect.void))
        return Effect.all(follow, { discard: true })
      })

    yield* Effect.forkScoped(Effect.forever(Effect.flatMap(wire.receive, chunk)))
  })
)
