/**
 * A member's side of `check` (MD5, makuosan-v7.md §5.3): one `checkReceiveMachine` per session, found by sender and request
 * id. Requests are handled as they arrive; the hash, the one slow part, runs in a fiber kept by session key (one
 * per session at most) and steps the session with its result; it is interrupted when CLOSE or idle collection
 * ends the session, and with the daemon. Sessions live in the daemon's one table of received sessions; a hash
 * holds a descriptor of its budget (none left: READERROR with EMFILE).
 */
import { Context, Effect, FiberMap, Layer, Option, Runtime } from "effect"
import { Peer } from "../../net/Transport.js"
import { type Received, type RequestHandler, Wire } from "../../net/Wire.js"
import { Opcode } from "../../protocol/constants.js"
import { emptyPayload, type Header } from "../../protocol/message.js"
import { FileStore, StoreError } from "../../store/FileStore.js"
import { ReceiveSessions } from "../ReceiveSessions.js"
import type { KindPolicy, Slot } from "../sessionTable.js"
import * as Machine from "./checkReceiveMachine.js"

interface Session extends Slot {
  readonly machine: Machine.CheckReceiveSession
  /** The request answered last: an unsolicited result is its ACK. */
  request: Header
}

const EMFILE = 24

export interface CheckReceiverShape {
  readonly handle: RequestHandler
}

export class CheckReceiver extends Context.Tag("makuo/CheckReceiver")<CheckReceiver, CheckReceiverShape>() {}

export const make = Effect.gen(function*() {
  const wire = yield* Wire
  const store = yield* FileStore
  const runFork = Runtime.runFork(yield* Effect.runtime<never>())
  const receive = yield* ReceiveSessions
  const table = receive.table
  const hashes = yield* FiberMap.make<string>()
  const runHash = yield* FiberMap.runtime(hashes)<never>()

  const apply = (s: Session, event: Machine.Event, now: number) => {
    const out: Array<Machine.Action> = []
    Machine.step(s.machine, event, out)
    for (const a of out) {
      switch (a._tag) {
        case "Reply":
          wire.sendNow(Peer(s.from), { header: { ...wire.ack(s.request, a.state), seqno: 0, ostate: 0, error: a.error }, payload: emptyPayload })
          break
        case "Inspect": {
          const found = store.inspectNow(a.path)
          const error = found instanceof StoreError ? found.errno : Option.isNone(found) ? 2 : found.value.kind !== "file" ? 21 : 0
          apply(s, { _tag: "Inspected", error }, now)
          break
        }
        case "Hash":
          if (!receive.hold(s, 1, now, `md5 ${a.path}`)) {
            apply(s, { _tag: "HashFailed", error: EMFILE }, now)
            break
          }
          runHash(s.key, store.digest(a.path).pipe(
            Effect.ensuring(Effect.sync(() => table.drop(s, 1))),
            Effect.match({
              onSuccess: (digest): Machine.Event => ({ _tag: "Hashed", digest }),
              onFailure: (e): Machine.Event => ({ _tag: "HashFailed", error: e.errno })
            }),
            Effect.flatMap((e) => Effect.clockWith((c) => Effect.sync(() => apply(s, e, c.unsafeCurrentTimeMillis()))))
          ))
          break
        case "StopHash":
          stop(s)
          break
        case "End":
          table.remove(s.key)
          break
        default:
          a satisfies never
      }
    }
  }

  // the sender retransmits OPEN while it waits, even during a long hash: a check is always half-open
  const policy: KindPolicy<Session> = { flowing: () => false, busy: () => false, release: (s) => stop(s) }

  const stop = (s: Session) => {
    if (FiberMap.unsafeHas(hashes, s.key)) runFork(FiberMap.remove(hashes, s.key))
  }

  const handle = ({ from, message: { header, payload } }: Received, now: number): boolean => {
    if (header.opcode !== Opcode.MD5) return false
    let s = table.get<Session>("check", from, header.reqid)
    if (s === undefined) {
      if (!Machine.opens(header.nstate) || payload._tag !== "Mhash") return false
      const { path, digest } = payload
      s = receive.admit("check", policy, from, header.reqid, now, `md5 ${path}`, (slot) => ({ ...slot, machine: Machine.make(path, digest), request: header }))
      if (s === undefined) return true
    }
    s.lastSeen = now
    s.request = header
    apply(s, { _tag: "Request", nstate: header.nstate }, now)
    return true
  }

  return CheckReceiver.of({ handle })
})

export const layer = Layer.scoped(CheckReceiver, make)
