/**
 * The receiving side of `check` (MD5, spec §5.3): the first OPEN opens the local file (OPENERROR if it cannot)
 * and starts hashing it in chunks; OPEN is answered at once, and the result (MD5OK, MD5NG or READERROR) is sent
 * unsolicited when the hash is done, and again on every later OPEN. CLOSE stops the work and forgets the session.
 */
import { Clock, Context, Duration, Effect, Fiber, Layer } from "effect"
import { Peer } from "../../net/Transport.js"
import { type Received, Wire } from "../../net/Wire.js"
import { Opcode, RecvState, type RecvStateValue, SendState } from "../../protocol/constants.js"
import { emptyPayload, type Header } from "../../protocol/message.js"
import { FileStore } from "../../store/FileStore.js"
import { collectIdle } from "../idleSessions.js"

interface Session {
  state: RecvStateValue
  error: number
  request: Header
  lastSeen: number
  hashing: Fiber.RuntimeFiber<void> | undefined
  readonly from: Received["from"]
}

export interface CheckReceiverShape {
  /** Handles one MD5 request; false when it is for no session here (the router answers). */
  readonly handle: (received: Received) => Effect.Effect<boolean>
}

export class CheckReceiver extends Context.Tag("makuo/CheckReceiver")<CheckReceiver, CheckReceiverShape>() {}

const sameDigest = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((x, i) => x === b[i])

export const make = (idleTimeout: Duration.Duration) =>
  Effect.gen(function*() {
    const wire = yield* Wire
    const store = yield* FileStore
    const sessions = new Map<string, Session>()
    const scope = yield* Effect.scope

    const reply = (s: Session) =>
      wire.send(Peer(s.from), { header: { ...wire.ack(s.request, s.state), seqno: 0, ostate: 0, error: s.error }, payload: emptyPayload })

    const hash = (s: Session, path: string, want: Uint8Array) =>
      store.digest(path).pipe(
        Effect.map((got) => {
          s.state = sameDigest(got, want) ? RecvState.MD5OK : RecvState.MD5NG
        }),
        Effect.catchAll((e) => Effect.sync(() => ((s.state = RecvState.READERROR), (s.error = e.errno)))),
        Effect.zipRight(Effect.suspend(() => reply(s))),
        Effect.ensuring(Effect.sync(() => (s.hashing = undefined)))
      )

    const handle = ({ from, message: { header, payload } }: Received) =>
      Effect.gen(function*() {
        const key = `${from.address}:${from.port}:${header.reqid}`
        const now = yield* Clock.currentTimeMillis
        let s = sessions.get(key)
        if (header.nstate === SendState.CLOSE) {
          if (s === undefined) return false
          sessions.delete(key)
          if (s.hashing !== undefined) yield* Fiber.interrupt(s.hashing)
          s.state = RecvState.CLOSE
          s.request = header
          yield* reply(s)
          return true
        }
        if (header.nstate !== SendState.OPEN || payload._tag !== "Mhash") return false
        if (s === undefined) {
          s = { state: RecvState.OPEN, error: 0, request: header, lastSeen: now, hashing: undefined, from }
          sessions.set(key, s)
          const session = s
          const opened = yield* Effect.either(store.inspect(payload.path))
          if (opened._tag === "Left" || opened.right._tag === "None" || opened.right.value.kind !== "file") {
            s.state = RecvState.OPENERROR
            s.error = opened._tag === "Left" ? opened.left.errno : opened.right._tag === "None" ? 2 : 21
          } else {
            s.hashing = yield* Effect.forkIn(hash(session, payload.path, payload.digest), scope)
          }
        }
        s.lastSeen = now
        s.request = header
        yield* reply(s)
        return true
      })

    yield* collectIdle(sessions, idleTimeout, (s) => (s.hashing === undefined ? Effect.void : Fiber.interrupt(s.hashing)))

    return CheckReceiver.of({
      handle: (r) => (r.message.header.opcode === Opcode.MD5 ? handle(r) : Effect.succeed(false))
    })
  })

export const layer = (idleTimeout: Duration.Duration) => Layer.scoped(CheckReceiver, make(idleTimeout))
