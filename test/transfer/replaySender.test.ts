/**
 * makuo as the sender to a makuosan 1.3.6 receiver: a probe stands in for receiver-1 of a capture and answers
 * each of makuo's requests with the ACK receiver-1 really sent to that request (its reqid rewritten to makuo's).
 * makuo must send makuosan's sequence of requests and report the outcome receiver-1's answers mean.
 */
import { incoming } from "../support/incoming.js"
import { describe, expect, it } from "@effect/vitest"
import { Chunk, Context, Duration, Effect, Either, Layer, Stream } from "effect"
import * as fs from "node:fs"
import { join } from "node:path"
import { Group, Peer, Transport } from "../../src/net/Transport.js"
import { Flag, Opcode, SendState } from "../../src/protocol/v7/constants.js"
import { decode, encode } from "../../src/protocol/v7/codec.js"
import type { SendJob } from "../../src/domain/job.js"
import { driveClock, settle, startNode } from "../support/cluster.js"
import * as MemoryNetwork from "../support/MemoryNetwork.js"
import { type Ipv4, type ReqId } from "../../src/protocol/fields.js"

interface Capture {
  readonly from: string
  readonly to: string
  readonly hex: string
}

const load = (name: string) =>
  JSON.parse(fs.readFileSync(join(import.meta.dirname, "..", "vectors", name), "utf8")) as ReadonlyArray<Capture>

const job: SendJob = {
  paths: ["small.txt"], recursive: false, dryRun: false, operation: "send", delete: false, targets: [], excludes: [],
  parallel: 1, checksum: false, reportSkipped: true, rateMbit: undefined, progress: false, timeout: Duration.seconds(5)
}

describe("makuo sends to a makuosan 1.3.6 receiver (its captured answers replayed)", () => {
  it.scoped("send-small.json: makuosan's request sequence, the file's bytes, and 'updated'", () =>
    Effect.gen(function*() {
      const captured = load("send-small.json")
      const bytes = (c: Capture) => new Uint8Array(Buffer.from(c.hex, "hex"))
      // receiver-1's answer to each request state, as captured
      const answers = new Map<number, Uint8Array>()
      let lastRequest: number | undefined
      for (const c of captured) {
        const h = Either.getOrThrow(decode(bytes(c))).header
        if (c.from === "sender") lastRequest = h.nstate
        else if (c.from === "receiver-1" && lastRequest !== undefined && !answers.has(lastRequest)) answers.set(lastRequest, bytes(c))
      }
      const net = yield* MemoryNetwork.make({ seed: 1 })
      const probe = Context.get(yield* Layer.build(net.transport("10.99.0.12")), Transport)
      const node = yield* startNode(net, "10.99.0.11")
      fs.writeFileSync(join(node.base, "small.txt"), "hello makuosan\n")
      fs.utimesSync(join(node.base, "small.txt"), 1_700_000_000, 1_700_000_000)
      // the probe announces itself like a makuosan daemon starting
      const hello = {
        header: {
          opcode: Opcode.PING, nstate: 0, ostate: 0, flags: 0, reqid: 1 as ReqId, seqno: 0, maddr: "224.0.0.108" as Ipv4,
          mport: 5000, error: 0, hash: new Uint8Array(16)
        },
        payload: { _tag: "Mping" as const, hostname: "node2", version: "1.3.6" }
      }
      probe.send(Group, Either.getOrThrow(encode(hello)))
      yield* settle
      const seen: Array<{ nstate: number; data?: string }> = []
      yield* incoming(probe).pipe(
        Stream.runForEach((d) =>
          Effect.gen(function*() {
            const m = Either.getOrThrow(decode(d.bytes))
            if (m.header.opcode !== Opcode.SEND || (m.header.flags & Flag.ACK) !== 0) return
            seen.push({ nstate: m.header.nstate, ...(m.payload._tag === "DataBlock" ? { data: Buffer.from(m.payload.bytes).toString() } : {}) })
            const answer = answers.get(m.header.nstate)
            if (answer === undefined) return
            const a = Either.getOrThrow(decode(answer))
            probe.send(Peer(d.from), Either.getOrThrow(encode({ ...a, header: { ...a.header, reqid: m.header.reqid } })))
          })
        ),
        Effect.forkScoped
      )
      const events = Chunk.toReadonlyArray(yield* driveClock(Stream.runCollect(node.jobs.run(job))))
      expect(events[0]).toMatchObject({ _tag: "File", path: "small.txt", hosts: [{ host: "node2", outcome: "updated" }] })
      const states = seen.map((s) => s.nstate).filter((s, i, all) => i === 0 || all[i - 1] !== s)
      expect(states).toEqual([SendState.STAT, SendState.OPEN, SendState.DATA, SendState.MARK, SendState.CLOSE, SendState.LAST])
      expect(seen.find((s) => s.nstate === SendState.DATA)?.data).toBe("hello makuosan\n")
    }))
})
