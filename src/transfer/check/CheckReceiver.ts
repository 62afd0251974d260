/**
 * A member's side of `check` (MD5, spec §5.3): one `checkReceiveMachine` per session, found by sender and request
 * id. Requests are handled as they arrive; the hash, the one slow part, runs in a fiber kept by session key (one
 * per session at most) and steps the session with its result; it is interrupted when CLOSE or idle collection
 * ends the session, and with the daemon.
 */
import { Context, Duration, Effect, FiberMap, Layer, Option, Runtime } from "effect"
import { Peer } from "../../net/Transport.js"
import { type Received, type RequestHandler, Wire } from "../../net/Wire.js"
import { Opcode } from "../../protocol/constants.js"
import { emptyPayload, type Header } from "../../protocol/message.js"
import { FileStore, StoreError } from "../../store/FileStore.js"
import { collectIdle, sessionKey } from "../idleSessions.js"
import * as Machine from "./checkReceiveMachine.js"

interface Session {
  readonly key: string
  readonly machine: Machine.CheckReceiveSession
  readonly from: Received["from"]
  /** The request answered last: an unsolicited result is its ACK. */
  request: Header
  lastSeen: number
}

export interface CheckReceiverShape {
  readonly handle: RequestHandler
}

export class CheckReceiver extends Context.Tag("makuo/CheckReceiver")<CheckReceiver, CheckReceiverShape>() {}

export const make = (idleTimeout: Duration.Duration) =>
  Effect.gen(function*() {
    const wire = yield* Wire
    const store = yield* FileStore
    const runFork = Runtime.runFork(yield* Effect.runtime<never>())
    const sessions = new Map<string, Session>()
    const hashes = yield* FiberMap.make<string>()
    const runHash = yield* FiberMap.runtime(hashes)<never>()

    const apply = (s: Session, event: Machine.Event) => {
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
            apply(s, { _tag: "Inspected", error })
            break
          }
          case "Hash":
            runHash(s.key, store.digest(a.path).pipe(
              Effect.match({
                onSuccess: (digest): Machine.Event => ({ _tag: "Hashed", digest }),
                onFailure: (e): Machine.Event => ({ _tag: "HashFailed", error: e.errno })
              }),
              Effect.flatMap((e) => Effect.sync(() => apply(s, e)))
            ))
            break
          case "StopHash":
            stop(s)
            break
          case "End":
            sessions.delete(s.key)
            break
          default:
            a satisfies never
        }
      }
    }

    const stop = (s: Session) => {
      if (FiberMap.unsafeHas(hashes, s.key)) runFork(FiberMap.remove(hashes, s.key))
    }

    const handle = ({ from, message: { header, payload } }: Received, now: number): boolean => {
      if (header.opcode !== Opcode.MD5) return false
      const key = sessionKey(from, header.reqid)
      let s = sessions.get(key)
      if (s === undefined) {
        if (!Machine.opens(header.nstate) || payload._tag !== "Mhash") return false
        sessions.set(key, s = { key, machine: Machine.make(payload.path, payload.digest), from, request: header, lastSeen: now })
      }
      s.lastSeen = now
      s.request = header
      apply(s, { _tag: "Request", nstate: header.nstate })
      return true
    }

    yield* collectIdle(sessions, idleTimeout, (s) => Effect.sync(() => stop(s)))

    return CheckReceiver.of({ handle })
  })

export const layer = (idleTimeout: Duration.Duration) => Layer.scoped(CheckReceiver, make(idleTimeout))
