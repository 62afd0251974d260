/**
 * Runs `send --delete` for one path as a session of the engine (`dsyncMachine`): members scan their trees and
 * ask us what we lack in DEL sessions of their own, which `DelReceiver` answers; the deletions they report reach
 * `report` through the registry, by our DSYNC request id. Succeeds with the members lost on the way and those
 * whose scan was broken off.
 */
import { Effect } from "effect"
import { Opcode, type RecvStateValue } from "../../protocol/v7/constants.js"
import type { RoundContext } from "../engine/rounds.js"
import type { SessionsShape } from "../engine/Sessions.js"
import * as Machine from "./dsyncMachine.js"
import { type ReqId } from "../../protocol/fields.js"
import { type Target } from "../engine/rtt.js"

export interface DeleteReport {
  readonly host: string
  readonly address: string
  readonly path: string
  /** 0 = deleted (or, in a dry run, would be). */
  readonly errno: number
}

export interface DsyncRegistry {
  readonly register: (reqid: ReqId, report: (r: DeleteReport) => void) => void
  readonly unregister: (reqid: ReqId) => void
}

export const dsync = (
  sessions: SessionsShape,
  registry: DsyncRegistry,
  context: RoundContext,
  t: Machine.DsyncRequest & { readonly reqid: ReqId; readonly targets: ReadonlyArray<Target>; readonly unicast: boolean },
  report: (r: DeleteReport) => void
): Effect.Effect<Omit<Extract<Machine.Action, { _tag: "Finished" }>, "_tag">> =>
  Effect.async((resume) => {
    const state = Machine.make(t.reqid, t, t.targets, context, sessions.now())
    registry.register(t.reqid, report)
    const driven = sessions.drive<Machine.DsyncSession, Extract<Machine.Event, { _tag: "Ack" }>, Extract<Machine.Action, { _tag: "Finished" }>>({
      reqid: t.reqid,
      opcode: Opcode.DSYNC,
      flags: state.flags,
      unicast: t.unicast,
      state,
      step: Machine.step,
      ack: ({ from, message: { header } }) => ({ _tag: "Ack", from: from.address, state: header.nstate as RecvStateValue, seqno: header.seqno }),
      perform: (finished) => {
        registry.unregister(t.reqid)
        resume(Effect.succeed(finished))
      }
    })
    return Effect.sync(() => {
      registry.unregister(t.reqid)
      driven.close()
    })
  })
