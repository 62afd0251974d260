/**
 * Our side of the DEL sub-protocol (spec §5.4, phase 3): a member that runs our DSYNC lists its paths in DEL
 * OPEN; we answer with those we do not have; it deletes them and reports in DEL DATA, which we pass to the
 * DSYNC that asked (found by the DEL `seqno` = our DSYNC request id), once per batch. Synchronous: the router
 * hands requests over as they arrive.
 */
import { Context, Duration, Effect, Layer, Option } from "effect"
import { Members } from "../../members/Members.js"
import { Peer } from "../../net/Transport.js"
import { type Received, Wire } from "../../net/Wire.js"
import { Opcode, RecvState, SendState } from "../../protocol/constants.js"
import { type DelRecord, emptyPayload, type Payload, type ReqId } from "../../protocol/message.js"
import { FileStore, StoreError } from "../../store/FileStore.js"
import type { DeleteReport, DsyncRegistry } from "./dsync.js"
import { collectIdle } from "../idleSessions.js"

interface Session {
  readonly answer: ReadonlyArray<DelRecord>
  reported: boolean
  lastSeen: number
}

export interface DelReceiverShape extends DsyncRegistry {
  /** Handles one DEL request; false when it is for no session here (the router answers). */
  readonly handle: (received: Received, now: number) => boolean
}

export class DelReceiver extends Context.Tag("makuo/DelReceiver")<DelReceiver, DelReceiverShape>() {}

export const make = (idleTimeout: Duration.Duration) =>
  Effect.gen(function*() {
    const wire = yield* Wire
    const store = yield* FileStore
    const members = yield* Members
    const sessions = new Map<string, Session>()
    const reports = new Map<ReqId, (r: DeleteReport) => void>()

    /** What the member has and we do not: only those may be deleted there. */
    const lacking = (records: ReadonlyArray<DelRecord>) =>
      records.filter((r) => {
        const here = store.inspectNow(r.path)
        return !(here instanceof StoreError) && Option.isNone(here)
      }).map((r): DelRecord => ({ value: 0, path: r.path }))

    const handle = ({ from, message: { header, payload } }: Received, now: number): boolean => {
      if (header.opcode !== Opcode.DEL) return false
      const key = `${from.address}:${from.port}:${header.reqid}`
      let s = sessions.get(key)
      // an OPEN ACK of DEL carries records (empty when answering DATA)
      let answer: Payload = { _tag: "DelRecords", records: [] }
      let state: number = RecvState.OPEN
      if (header.nstate === SendState.OPEN && payload._tag === "DelRecords") {
        if (s === undefined) sessions.set(key, s = { answer: lacking(payload.records), reported: false, lastSeen: now })
        answer = { _tag: "DelRecords", records: s.answer }
      } else if (header.nstate === SendState.DATA && payload._tag === "DelRecords") {
        if (s === undefined) return false
        if (!s.reported) {
          s.reported = true
          const report = reports.get(header.seqno as ReqId)
          const host = members.at(from.address)?.host ?? from.address
          for (const r of payload.records) report?.({ host, address: from.address, path: r.path, errno: r.value })
        }
      } else if (header.nstate === SendState.CLOSE) {
        if (s === undefined) return false
        sessions.delete(key)
        state = RecvState.CLOSE
      } else return false
      if (s !== undefined) s.lastSeen = now
      wire.sendNow(Peer(from), { header: wire.ack(header, state), payload: state === RecvState.OPEN ? answer : emptyPayload })
      return true
    }

    yield* collectIdle(sessions, idleTimeout)

    return DelReceiver.of({
      handle,
      register: (reqid, report) => void reports.set(reqid, report),
      unregister: (reqid) => void reports.delete(reqid)
    })
  })

export const layer = (idleTimeout: Duration.Duration) => Layer.scoped(DelReceiver, make(idleTimeout))
