/**
 * Our side of the DEL sub-protocol (spec §5.4, phase 3): a member that runs our DSYNC lists its paths in DEL
 * OPEN; we answer with those we do not have; it deletes them and reports in DEL DATA, which we pass to the
 * DSYNC that asked (found by the DEL `seqno` = our DSYNC request id), once per batch.
 */
import { Clock, Context, Duration, Effect, Layer, Option } from "effect"
import { Members } from "../members/Members.js"
import { Peer } from "../net/Transport.js"
import { type Received, Wire } from "../net/Wire.js"
import { Opcode, RecvState, SendState } from "../protocol/constants.js"
import { type DelRecord, emptyPayload, type Payload, type ReqId } from "../protocol/message.js"
import { FileStore } from "../store/FileStore.js"
import type { DeleteReport, DsyncRegistry } from "./dsync.js"
import { collectIdle } from "./idleSessions.js"

interface Session {
  answer: ReadonlyArray<DelRecord>
  reported: boolean
  lastSeen: number
}

export interface DelReceiverShape extends DsyncRegistry {
  readonly handle: (received: Received) => Effect.Effect<boolean>
}

export class DelReceiver extends Context.Tag("makuo/DelReceiver")<DelReceiver, DelReceiverShape>() {}

export const make = (idleTimeout: Duration.Duration) =>
  Effect.gen(function*() {
    const wire = yield* Wire
    const store = yield* FileStore
    const members = yield* Members
    const sessions = new Map<string, Session>()
    const reports = new Map<ReqId, (r: DeleteReport) => void>()

    const handle = ({ from, message: { header, payload } }: Received) =>
      Effect.gen(function*() {
        const key = `${from.address}:${from.port}:${header.reqid}`
        const now = yield* Clock.currentTimeMillis
        let s = sessions.get(key)
        // an OPEN ACK of DEL carries records (empty when answering DATA)
        let answer: Payload = { _tag: "DelRecords", records: [] }
        let state: number = RecvState.OPEN
        if (header.nstate === SendState.OPEN && payload._tag === "DelRecords") {
          if (s === undefined) {
            // what the member has and we do not: only those may be deleted there
            const missing: Array<DelRecord> = []
            for (const r of payload.records) {
              const here = yield* Effect.either(store.inspect(r.path))
              if (here._tag === "Right" && Option.isNone(here.right)) missing.push({ value: 0, path: r.path })
            }
            s = { answer: missing, reported: false, lastSeen: now }
            sessions.set(key, s)
          }
          answer = { _tag: "DelRecords", records: s.answer }
        } else if (header.nstate === SendState.DATA && payload._tag === "DelRecords") {
          if (s === undefined) return false
          if (!s.reported) {
            s.reported = true
            const report = reports.get(header.seqno as ReqId)
            const host = Option.match(Option.fromNullable((yield* members.list).find((m) => m.address === from.address)), {
              onNone: () => from.address,
              onSome: (m) => m.host
            })
            for (const r of payload.records) report?.({ host, address: from.address, path: r.path, errno: r.value })
          }
        } else if (header.nstate === SendState.CLOSE) {
          if (s === undefined) return false
          sessions.delete(key)
          state = RecvState.CLOSE
        } else return false
        if (s !== undefined) s.lastSeen = now
        yield* wire.send(Peer(from), { header: wire.ack(header, state), payload: state === RecvState.OPEN ? answer : emptyPayload })
        return true
      })

    yield* collectIdle(sessions, idleTimeout)

    return DelReceiver.of({
      handle: (r) => (r.message.header.opcode === Opcode.DEL ? handle(r) : Effect.succeed(false)),
      register: (reqid, report) => Effect.sync(() => void reports.set(reqid, report)),
      unregister: (reqid) => Effect.sync(() => void reports.delete(reqid))
    })
  })

export const layer = (idleTimeout: Duration.Duration) => Layer.scoped(DelReceiver, make(idleTimeout))
