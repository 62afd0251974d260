/**
 * Routes each ACK to the transfer that waits for it, by request id and opcode: makuosan matches the id alone (makuosan-v7.md E22),
 * so a late ACK of another operation that happens to carry the id would be taken for an answer.
 */
import { Context, Layer } from "effect"
import type { Received } from "../net/Wire.js"
import { type ReqId } from "../protocol/fields.js"

export interface AcksShape {
  readonly add: (reqid: ReqId, opcode: number, onAck: (r: Received) => void) => void
  readonly remove: (reqid: ReqId) => void
  /** Delivers an ACK; false when no transfer of ours waits for it. */
  readonly route: (received: Received) => boolean
}

export class Acks extends Context.Tag("makuo/Acks")<Acks, AcksShape>() {}

export const layer = Layer.sync(Acks, () => {
  const routes = new Map<ReqId, { readonly opcode: number; readonly onAck: (r: Received) => void }>()
  const add = (reqid: ReqId, opcode: number, onAck: (r: Received) => void) => void routes.set(reqid, { opcode, onAck })
  const remove = (reqid: ReqId) => void routes.delete(reqid)
  return Acks.of({
    add,
    remove,
    route: (r) => {
      const { reqid, opcode } = r.message.header
      const route = routes.get(reqid)
      if (route === undefined || route.opcode !== opcode) return false
      route.onAck(r)
      return true
    }
  })
})
