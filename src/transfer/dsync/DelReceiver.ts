/**
 * Our side of the DEL sessions members open while they run our DSYNC (makuosan-v7.md §5.4, phase 3): one
 * `delReceiveMachine` per session, run by the receiving driver (`receiving.ts`); the deletions a member reports go
 * to the DSYNC that asked (found by the DEL `seqno` = our DSYNC request id). Synchronous: the router hands requests
 * over as they arrive. Sessions live in the daemon's one table of received sessions.
 */
import { Context, Effect, Layer, Option } from "effect"
import { Members } from "../../members/Members.js"
import { type RequestHandler, Wire } from "../../net/Wire.js"
import { Opcode } from "../../protocol/v7/constants.js"
import { type DelRecord, emptyPayload } from "../../protocol/v7/message.js"
import { FileStore, StoreError } from "../../store/FileStore.js"
import type { DeleteReport, DsyncRegistry } from "./dsync.js"
import { ReceiveSessions } from "../ReceiveSessions.js"
import { type ReceivedSession, receiving } from "../receiving.js"
import * as Machine from "./delReceiveMachine.js"
import { type ReqId } from "../../protocol/fields.js"

type Session = ReceivedSession<Machine.DelReceiveSession>

export interface DelReceiverShape extends DsyncRegistry {
  readonly handle: RequestHandler
}

export class DelReceiver extends Context.Tag("makuo/DelReceiver")<DelReceiver, DelReceiverShape>() {}

export const make = Effect.gen(function*() {
  const wire = yield* Wire
  const store = yield* FileStore
  const members = yield* Members
  const reports = new Map<ReqId, (r: DeleteReport) => void>()

  /** What the member has and we do not: only those may be deleted there. */
  const lacking = (records: ReadonlyArray<DelRecord>) =>
    records.filter((r) => {
      const here = store.inspectNow(r.path)
      return !(here instanceof StoreError) && Option.isNone(here)
    }).map((r): DelRecord => ({ value: 0, path: r.path }))

  const perform = (s: Session, a: Machine.Action, now: number) => {
    switch (a._tag) {
      case "Ack":
        return driver.answer(s, a.state, undefined, a.records === undefined ? emptyPayload : { _tag: "DelRecords", records: a.records })
      case "Lookup":
        return driver.apply(s, { _tag: "LookedUp", lacking: lacking(a.records) }, now)
      case "Report": {
        const report = reports.get(s.request.seqno as ReqId)
        const host = members.at(s.from.address)?.host ?? s.from.address
        for (const r of a.records) report?.({ host, address: s.from.address, path: r.path, errno: r.value })
        return
      }
      default:
        return a satisfies never
    }
  }

  const driver = receiving(wire, yield* ReceiveSessions, {
    kind: "del",
    opcode: Opcode.DEL,
    step: Machine.step,
    // the member retransmits while it waits for us, and an ended session only answers late copies: always half-open
    policy: { flowing: () => false, busy: () => false, release: () => {} },
    opens: Machine.opens,
    open: ({ message: { payload } }) => (payload._tag !== "DelRecords" ? undefined : { what: "DEL", make: (slot) => ({ ...slot, machine: Machine.make() }) }),
    event: ({ message: { header, payload } }): Machine.Event => ({
      _tag: "Request",
      nstate: header.nstate,
      records: payload._tag === "DelRecords" ? payload.records : undefined
    }),
    perform
  })

  return DelReceiver.of({
    handle: driver.handle,
    register: (reqid, report) => void reports.set(reqid, report),
    unregister: (reqid) => void reports.delete(reqid)
  })
})

export const layer = Layer.scoped(DelReceiver, make)
