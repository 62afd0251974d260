import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import type { Received } from "../../src/net/Wire.js"
import { Opcode, RecvState, Flag } from "../../src/protocol/v7/constants.js"
import { emptyPayload } from "../../src/protocol/v7/message.js"
import { Acks, layer } from "../../src/transfer/Acks.js"
import { type Ipv4, type ReqId } from "../../src/protocol/fields.js"

const ack = (reqid: number, opcode: number): Received => ({
  _tag: "Message",
  from: { address: "10.0.0.2", port: 5000 },
  message: {
    header: {
      opcode, nstate: RecvState.CLOSE, ostate: 0, flags: Flag.ACK, reqid: reqid as ReqId, seqno: 0, maddr: "224.0.0.108" as Ipv4,
      mport: 5000, error: 0, hash: new Uint8Array(16)
    },
    payload: emptyPayload
  }
})

describe("ACK routing", () => {
  it.effect("by request id and opcode: an ACK of another operation carrying the id is not taken for an answer (makuosan-v7.md E22)", () =>
    Effect.gen(function*() {
      const acks = yield* Acks
      const seen: Array<number> = []
      acks.add(7 as ReqId, Opcode.SEND, (r) => void seen.push(r.message.header.opcode))
      expect(acks.route(ack(7, Opcode.MD5))).toBe(false)
      expect(acks.route(ack(8, Opcode.SEND))).toBe(false)
      expect(acks.route(ack(7, Opcode.SEND))).toBe(true)
      acks.remove(7 as ReqId)
      expect(acks.route(ack(7, Opcode.SEND))).toBe(false)
      expect(seen).toEqual([Opcode.SEND])
    }).pipe(Effect.provide(layer)))
})
