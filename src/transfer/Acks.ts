/** Routes each ACK to the transfer that waits for it, by request id (and opcode: a reqid alone can collide, E22). */
import { Context, Effect, Layer } from "effect"
import type { Received } from "../net/Wire.js"
import type { ReqId } from "../protocol/message.js"
import type { AckRouter } from "./exchange.js"

export interface AcksShape extends AckRouter {
  /** Delivers an ACK; false when no transfer of ours waits for it. */
  readonly route: (received: Received) => boolean
}

export class Acks extends Context.Tag("makuo/Acks")<Acks, AcksShape>() {}

export const layer = Layer.sync(Acks, () => {
  const routes = new Map<ReqId, (r: Received) => void>()
  return Acks.of({
    register: (reqid, onAck) => Effect.sync(() => void routes.set(reqid, onAck)),
    unregister: (reqid) => Effect.sync(() => void routes.delete(reqid)),
    route: (r) => {
      const f = routes.get(r.message.header.reqid)
      if (f === undefined) return false
      f(r)
      return true
    }
  })
})
