/**
 * Runs the check of one file as a session of the engine (`checkMachine`): the outcome per member once every
 * member has answered or been lost. Interrupting it closes the session (the members forget it when idle).
 */
import { Effect } from "effect"
import { Opcode, type RecvStateValue } from "../../protocol/v7/constants.js"
import type { HostOutcome } from "../../domain/outcome.js"
import type { RoundContext } from "../engine/rounds.js"
import type { SessionsShape } from "../engine/Sessions.js"
import type { Progress } from "../progress.js"
import * as Machine from "./checkMachine.js"
import { type Target } from "../engine/rtt.js"

export interface CheckRequest {
  readonly reqid: Machine.CheckSession["reqid"]
  readonly path: string
  readonly digest: Uint8Array
  readonly targets: ReadonlyArray<Target>
  readonly unicast: boolean
}

export const checkFile = (
  sessions: SessionsShape,
  context: RoundContext,
  t: CheckRequest,
  progress: Progress
): Effect.Effect<ReadonlyArray<HostOutcome>> =>
  Effect.async((resume) => {
    const state = Machine.make(t.reqid, t.path, t.digest, t.targets, context, sessions.now())
    progress.peers = state.peers
    const driven = sessions.drive<Machine.CheckSession, Extract<Machine.Event, { _tag: "Ack" }>, Extract<Machine.Action, { _tag: "Finished" }>>({
      reqid: t.reqid,
      opcode: Opcode.MD5,
      flags: 0,
      unicast: t.unicast,
      state,
      step: Machine.step,
      ack: ({ from, message: { header } }) => ({ _tag: "Ack", from: from.address, state: header.nstate as RecvStateValue, error: header.error }),
      perform: (finished) => resume(Effect.succeed(finished.hosts))
    })
    return Effect.sync(driven.close)
  })
