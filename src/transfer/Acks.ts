/** Routes each ACK to the transfer that waits for it, by request id (and opcode: a reqid alone can collide, E22). */
import { Context, Effect, Layer } from "effect"
import type { Received } from "../net/Wire.js"
import type { ReqId } from "../protocol/message.js"
import type { AckRouter } from "./exchange.js"

export interface AcksShape extends AckRouter {
  /** `register` and `unregister` without an Effect, for the transfer engine's handlers. */
  readonly add: (reqid: ReqId, onAck: (r: Received) => void) => void
  readonly remove: (reqid: ReqId) => void
  /** Delivers an ACK; false when no transfer of ours waits for it. */
  readonly route: (received: Received) => boolean
}

export class Acks extends Context.Tag("makuo/Acks")<Acks, AcksShape>() {}

export const layer = Layer.sync(Acks, () => {
  const routes = new Map<ReqId, (r: Received) => void>()
  const add = (reqid: ReqId, onAck: (r: Received) => void) => void routes.set(reqid, onAck)
  const remove = (reqid: ReqId) => void routes.delete(reqid)
  return Acks.of({
    add,
    remove,
    register: (reqid, onAck) => Effect.sync(() => add(reqid, onAck)),
    unregister: (reqid) => Effect.sync(() => remove(reqid)),
    route: (r) => {
      const f = routes.get(r.message.header.reqid)
      if (f === undefined) return false
      f(r)
      return true
    }
  })
})
