/**
 * The daemon's one consumer of incoming messages: every message refreshes its sender in the member table,
 * then goes to the handler of its opcode. Requests nobody here serves are answered the way makuosan answers
 * an unknown transfer, so a makuosan sender never waits for us and never evicts us for silence (makuosan-v7.md E32).
 */
import { Effect, Layer, Runtime } from "effect"
import { Members } from "../members/Members.js"
import { Acks } from "../transfer/Acks.js"
import { CheckReceiver } from "../transfer/check/CheckReceiver.js"
import { DelReceiver } from "../transfer/dsync/DelReceiver.js"
import { DsyncReceiver } from "../transfer/dsync/DsyncReceiver.js"
import { FileReceiver } from "../transfer/send/FileReceiver.js"
import { TxnMembers } from "../transfer/txn/TxnMembers.js"
import { type Endpoint, Peer } from "../net/Transport.js"
import { type DataDatagram, type Inbound, type NativeReceived, type Received, type RequestHandler, type TransferReceived, Wire } from "../net/Wire.js"
import { Flag, Opcode, RecvState, SendState } from "../protocol/v7/constants.js"
import { emptyPayload } from "../protocol/v7/message.js"
import { isToSender } from "../transfer/txn/messages.js"
import { TxnSender } from "../transfer/txn/TxnSend.js"
import { wake } from "./settle.js"

/** makuosan's reply to a request for a transfer it does not know (makuosan-v7.md §5.2.3, §5.3, §5.4). */
export const unknownTransferReply = (opcode: number, nstate: number): number | undefined => {
  if (opcode === Opcode.SEND && nstate === SendState.DATA) return undefined
  const closing = nstate === SendState.CLOSE && (opcode === Opcode.MD5 || opcode === Opcode.DSYNC || opcode === Opcode.DEL)
  return closing ? RecvState.CLOSE : RecvState.IGNORE
}

export const layer = Layer.scopedDiscard(
  Effect.gen(function*() {
    const wire = yield* Wire
    const members = yield* Members
    const receiver = yield* FileReceiver
    const acks = yield* Acks
    const txnMembers = yield* TxnMembers
    const txn = yield* TxnSender
    const handlers: Record<number, RequestHandler> = {
      [Opcode.SEND]: receiver.handle,
      [Opcode.MD5]: (yield* CheckReceiver).handle,
      [Opcode.DSYNC]: (yield* DsyncReceiver).handle,
      [Opcode.DEL]: (yield* DelReceiver).handle
    }

    const unknown = ({ from, message: { header } }: Received) => {
      const state = unknownTransferReply(header.opcode, header.nstate)
      wire.refused("unknownTransfers")
      if (state !== undefined) wire.sendNow(Peer(from), { header: wire.ack(header, state), payload: emptyPayload })
    }

    /**
     * ACKs, DATA, and the requests of every transfer: handled at once, without an Effect (membership needs one). The
     * daemon's work: V8's compilers, held off while it idles, are back from the first (`wake`).
     */
    const handleNow = (r: Received | DataDatagram | TransferReceived, now: number) => {
      wake()
      if (r._tag === "Data") return receiver.data(r, now)
      if (r._tag === "Transfer") {
        // a member's answer goes to the transaction this daemon sends (one it no longer holds is dropped there); the
        // rest to the member's driver, which answers Unknown (counted) for a transaction it does not hold
        return isToSender(r.message) ? txn.reply(r.from.address, r.message) : void txnMembers.handle(r, now)
      }
      if ((r.message.header.flags & Flag.ACK) !== 0) return void acks.route(r)
      if (!handlers[r.message.header.opcode]?.(r, now)) unknown(r)
    }

    /** v7 PING and EXIT, and every native message (the native set is membership alone so far). */
    const isMembership = (r: Inbound): r is Received | NativeReceived =>
      r._tag === "Native" || (r._tag === "Message" && (r.message.header.opcode === Opcode.PING || r.message.header.opcode === Opcode.EXIT))

    // everything that arrived at once, with one clock read, as it arrives (no fiber between the socket and the
    // transfers); membership, which is rare, runs as an Effect of its own, started at once so the order holds.
    // The blocks of the batch reach the disk with one write per run of consecutive blocks.
    const clock = yield* Effect.clock
    const runFork = Runtime.runFork(yield* Effect.runtime<never>())
    const batch = (rs: ReadonlyArray<Inbound>) => {
      const now = clock.unsafeCurrentTimeMillis()
      let seen: Endpoint | undefined
      for (const r of rs) {
        // consecutive datagrams mostly come from one member: one table update for them
        if (r.from !== seen) members.touch(r.from.address, now), (seen = r.from)
        if (isMembership(r)) runFork(members.observe(r))
        else handleNow(r, now)
      }
      receiver.flush(now)
    }

    yield* Effect.acquireRelease(Effect.sync(() => wire.consume(batch)), () => Effect.sync(() => wire.consume(undefined)))
  })
)
