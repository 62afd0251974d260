/**
 * Our side of the DEL sessions members open while they run our DSYNC (makuosan-v7.md §5.4, phase 3): one
 * `delReceiveMachine` per session, found by member and request id; the deletions a member reports go to the
 * DSYNC that asked (found by the DEL `seqno` = our DSYNC request id). Synchronous: the router hands requests
 * over as they arrive. Sessions live in the daemon's one table of received sessions.
 */
import { Context, Effect, Layer, Option } from "effect"
import { Members } from "../../members/Members.js"
import { Peer } from "../../net/Transport.js"
import { type Received, type RequestHandler, Wire } from "../../net/Wire.js"
import { Opcode } from "../../protocol/constants.js"
import { type DelRecord, emptyPayload, type Header, type ReqId } from "../../protocol/message.js"
import { FileStore, StoreError } from "../../store/FileStore.js"
import type { DeleteReport, DsyncRegistry } from "./dsync.js"
import { ReceiveSessions } from "../ReceiveSessions.js"
import type { KindPolicy, Slot } from "../sessionTable.js"
import * as Machine from "./delReceiveMachine.js"

interface Session extends Slot {
  readonly machine: Machine.DelReceiveSession
}

// the member retransmits while it waits for us, and an ended session only answers late copies: always half-open
const policy: KindPolicy<Session> = { flowing: () => false, busy: () => false, release: () => {} }

export interface DelReceiverShape extends DsyncRegistry {
  readonly handle: RequestHandler
}

export class DelReceiver extends Context.Tag("makuo/DelReceiver")<DelReceiver, DelReceiverShape>() {}

export const make = Effect.gen(function*() {
  const wire = yield* Wire
  const store = yield* FileStore
  const members = yield* Members
  const receive = yield* ReceiveSessions
  const reports = new Map<ReqId, (r: DeleteReport) => void>()

  /** What the member has and we do not: only those may be deleted there. */
  const lacking = (records: ReadonlyArray<DelRecord>) =>
    records.filter((r) => {
      const here = store.inspectNow(r.path)
      return !(here instanceof StoreError) && Option.isNone(here)
    }).map((r): DelRecord => ({ value: 0, path: r.path }))

  const apply = (s: Session, header: Header, event: Machine.Event, now: number) => {
    const out: Array<Machine.Action> = []
    Machine.step(s.machine, event, out)
    for (const a of out) {
      switch (a._tag) {
        case "Ack":
          wire.sendNow(Peer(s.from), {
            header: wire.ack(header, a.state),
            payload: a.records === undefined ? emptyPayload : { _tag: "DelRecords", records: a.records }
          })
          break
        case "Lookup":
          apply(s, header, { _tag: "LookedUp", lacking: lacking(a.records) }, now)
          break
        case "Report": {
          const report = reports.get(header.seqno as ReqId)
          const host = members.at(s.from.address)?.host ?? s.from.address
          for (const r of a.records) report?.({ host, address: s.from.address, path: r.path, errno: r.value })
          break
        }
        default:
          a satisfies never
      }
    }
  }

  const handle = (received: Received, now: number): boolean => {
    const { from, message: { header, payload } } = received
    if (header.opcode !== Opcode.DEL) return false
    let s = receive.table.get<Session>("del", from, header.reqid)
    if (s === undefined) {
      if (!Machine.opens(header.nstate) || payload._tag !== "DelRecords") return false
      s = receive.admit("del", policy, from, header.reqid, now, "DEL", (slot) => ({ ...slot, machine: Machine.make() }))
      if (s === undefined) return true
    }
    s.lastSeen = now
    apply(s, header, { _tag: "Request", nstate: header.nstate, records: payload._tag === "DelRecords" ? payload.records : undefined }, now)
    return true
  }

  return DelReceiver.of({
    handle,
    register: (reqid, report) => void reports.set(reqid, report),
    unregister: (reqid) => void reports.delete(reqid)
  })
})

export const layer = Layer.scoped(DelReceiver, make)
