import { incoming } from "../support/incoming.js"
import { describe, expect, it } from "@effect/vitest"
import { Chunk, Context, Effect, Either, Layer, Stream } from "effect"
import { unknownTransferReply } from "../../src/daemon/Router.js"
import { Peer, Transport } from "../../src/net/Transport.js"
import { Flag, Opcode, RecvState, SendState } from "../../src/protocol/v7/constants.js"
import { emptyPayload } from "../../src/protocol/v7/message.js"
import { decode, encode } from "../../src/protocol/v7/codec.js"
import { settle, startNode } from "../support/cluster.js"
import * as MemoryNetwork from "../support/MemoryNetwork.js"
import { type Ipv4, type ReqId } from "../../src/protocol/fields.js"

describe("requests for transfers this daemon does not serve", () => {
  it("are answered like makuosan answers an unknown reqid (makuosan-v7.md E32)", () => {
    expect(unknownTransferReply(Opcode.SEND, SendState.STAT)).toBe(RecvState.IGNORE)
    expect(unknownTransferReply(Opcode.SEND, SendState.DATA)).toBeUndefined()
    expect(unknownTransferReply(Opcode.MD5, SendState.CLOSE)).toBe(RecvState.CLOSE)
    expect(unknownTransferReply(Opcode.DSYNC, SendState.CLOSE)).toBe(RecvState.CLOSE)
    expect(unknownTransferReply(Opcode.DEL, SendState.CLOSE)).toBe(RecvState.CLOSE)
    expect(unknownTransferReply(42, SendState.OPEN)).toBe(RecvState.IGNORE)
  })

  it.scoped("an unknown opcode from a stranger gets an IGNORE ACK echoing reqid and seqno; no member is created", () =>
    Effect.gen(function*() {
      const net = yield* MemoryNetwork.make({ seed: 9 })
      const daemon = yield* startNode(net, "10.0.0.1")
      const probe = Context.get(yield* Layer.build(net.transport("10.0.0.9")), Transport)
      const request = {
        header: {
          opcode: 9, nstate: SendState.OPEN, ostate: 0, flags: 0, reqid: 77 as ReqId, seqno: 5,
          maddr: "224.0.0.108" as Ipv4, mport: 5000, error: 0, hash: new Uint8Array(16)
        },
        payload: emptyPayload
      }
      probe.send(Peer(daemon.wire.local), Either.getOrThrow(encode(request)))
      yield* settle
      const [reply] = Chunk.toReadonlyArray(yield* Stream.runCollect(Stream.take(incoming(probe), 1)))
      const { header } = Either.getOrThrow(decode(reply!.bytes))
      expect(header).toMatchObject({ opcode: 9, nstate: RecvState.IGNORE, flags: Flag.ACK, reqid: 77, seqno: 5 })
      expect(yield* daemon.members.list).toEqual([])
    }))
})
