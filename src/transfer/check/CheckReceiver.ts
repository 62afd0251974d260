/**
 * A member's side of `check` (MD5, makuosan-v7.md §5.3): one `checkReceiveMachine` per session, run by the receiving
 * driver (`receiving.ts`). Requests are handled as they arrive; the hash, the one slow part, runs in a fiber kept
 * by session key (one per session at most) and steps the session with its result; it is interrupted when CLOSE or
 * idle collection ends the session, and with the daemon. Sessions live in the daemon's one table of received sessions; a hash
 * holds a descriptor of its budget (none left: READERROR with EMFILE).
 */
import { Context, Effect, FiberMap, Layer, Option, Runtime } from "effect"
import { type RequestHandler, Wire } from "../../net/Wire.js"
import { Opcode } from "../../protocol/v7/constants.js"
import { FileStore, StoreError } from "../../store/FileStore.js"
import { ReceiveSessions } from "../ReceiveSessions.js"
import { type End, receiving, type ReceivedSession } from "../receiving.js"
import * as Machine from "./checkReceiveMachine.js"
import { EMFILE } from "../../protocol/errno.js"

type Session = ReceivedSession<Machine.CheckReceiveSession>

export interface CheckReceiverShape {
  readonly handle: RequestHandler
}

export class CheckReceiver extends Context.Tag("makuo/CheckReceiver")<CheckReceiver, CheckReceiverShape>() {}

export const make = Effect.gen(function*() {
  const wire = yield* Wire
  const store = yield* FileStore
  const runFork = Runtime.runFork(yield* Effect.runtime<never>())
  const receive = yield* ReceiveSessions
  const hashes = yield* FiberMap.make<string>()
  const runHash = yield* FiberMap.runtime(hashes)<never>()

  const perform = (s: Session, a: Exclude<Machine.Action, End>, now: number) => {
    switch (a._tag) {
      case "Reply":
        // the request answered last: an unsolicited result is its ACK
        return driver.answer(s, a.state, { seqno: 0, ostate: 0, error: a.error })
      case "Inspect": {
        const found = store.inspectNow(a.path)
        const error = found instanceof StoreError ? found.errno : Option.isNone(found) ? 2 : found.value.kind !== "file" ? 21 : 0
        return driver.apply(s, { _tag: "Inspected", error }, now)
      }
      case "Hash":
        if (!receive.hold(s, 1, now, `md5 ${a.path}`)) return driver.apply(s, { _tag: "HashFailed", error: EMFILE }, now)
        return void runHash(s.key, store.digest(a.path).pipe(
          Effect.ensuring(Effect.sync(() => receive.table.drop(s, 1))),
          Effect.match({
            onSuccess: (digest): Machine.Event => ({ _tag: "Hashed", digest }),
            onFailure: (e): Machine.Event => ({ _tag: "HashFailed", error: e.errno })
          }),
          Effect.flatMap((e) => Effect.clockWith((c) => Effect.sync(() => driver.apply(s, e, c.unsafeCurrentTimeMillis()))))
        ))
      case "StopHash":
        return stop(s)
      default:
        return a satisfies never
    }
  }

  const stop = (s: Session) => {
    if (FiberMap.unsafeHas(hashes, s.key)) runFork(FiberMap.remove(hashes, s.key))
  }

  const driver = receiving(wire, receive, {
    kind: "check",
    opcode: Opcode.MD5,
    step: Machine.step,
    // the sender retransmits OPEN while it waits, even during a long hash: a check is always half-open
    policy: { flowing: () => false, busy: () => false, release: stop },
    opens: Machine.opens,
    open: ({ message: { payload } }) =>
      payload._tag !== "Mhash" ? undefined : { what: `md5 ${payload.path}`, make: (slot) => ({ ...slot, machine: Machine.make(payload.path, payload.digest) }) },
    event: ({ message: { header } }): Machine.Event => ({ _tag: "Request", nstate: header.nstate }),
    perform
  })

  return CheckReceiver.of({ handle: driver.handle })
})

export const layer = Layer.scoped(CheckReceiver, make)
