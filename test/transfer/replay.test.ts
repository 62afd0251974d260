/**
 * makuo as a receiver of a real makuosan 1.3.6 sender: the sender's datagrams of each capture are replayed, in
 * capture order, to a makuo node standing in for receiver-1 (datagrams the lab dropped at receiver-1 are
 * dropped here too). makuo must answer with the ACKs receiver-1 sent, and end with the file receiver-1 had.
 */
import { incoming } from "../support/incoming.js"
import { describe, expect, it } from "@effect/vitest"
import { Chunk, Context, Effect, Either, Fiber, Layer, Option, Stream } from "effect"
import * as fs from "node:fs"
import { join } from "node:path"
import { Peer, Transport } from "../../src/net/Transport.js"
import { decode } from "../../src/protocol/v7/codec.js"
import { settle, startNode } from "../support/cluster.js"
import * as MemoryNetwork from "../support/MemoryNetwork.js"

interface Capture {
  readonly from: string
  readonly to: string
  readonly hex: string
  readonly lab_drop?: string
}

const load = (name: string) =>
  JSON.parse(fs.readFileSync(join(import.meta.dirname, "..", "vectors", name), "utf8")) as ReadonlyArray<Capture>

const pattern = (size: number, a: number, b: number) => Buffer.from(Array.from({ length: size }, (_, i) => (a * i + b) % 256))

const file = (content: Buffer | string, mode: number, mtime: number) => ({ content: Buffer.from(content), mode, mtime })
type Want = ReturnType<typeof file>

const scenarios: ReadonlyArray<{ readonly capture: string; readonly before?: (base: string) => void; readonly want: Record<string, Want | null> }> = [
  { capture: "send-small.json", want: { "small.txt": file("hello makuosan\n", 0o644, 1_700_000_000) } },
  { capture: "send-multiblock.json", want: { "multi.bin": file(pattern(5000, 7, 3), 0o640, 1_700_000_100) } },
  { capture: "nak.json", want: { "nak.bin": file(pattern(20980, 13, 5), 0o644, 1_700_000_200) } },
  { capture: "lost-ack.json", want: { "lostack.txt": file("lost ack test 2\n", 0o644, 1_700_001_001) } },
  { capture: "dryrun.json", want: { "dry.txt": null } },
  { capture: "sync-delete.json", want: { "gone.txt": null } },
  {
    capture: "send-skip.json",
    before: (base) => {
      fs.writeFileSync(join(base, "small.txt"), "hello makuosan\n")
      fs.utimesSync(join(base, "small.txt"), 1_700_000_000, 1_700_000_000)
    },
    want: { "small.txt": file("hello makuosan\n", 0o644, 1_700_000_000) }
  },
  {
    capture: "check-md5.json",
    before: (base) => {
      fs.writeFileSync(join(base, "multi.bin"), pattern(5000, 7, 3))
      fs.writeFileSync(join(base, "target.txt"), "only for node2\n")
    },
    want: { "multi.bin": file(pattern(5000, 7, 3), 0o644, -1) }
  },
  {
    capture: "recursive.json",
    want: {
      "tree/a.txt": file("file a\n", 0o644, 1_700_000_400),
      "tree/sub/b.txt": file("file b in sub\n", 0o644, 1_700_000_400),
      "tree/sp ace.txt": file("space\n", 0o644, 1_700_000_400)
    }
  }
]

/** What an ACK says, less what is the receiver's own business (its ostate, C4). */
const gist = (bytes: Uint8Array) => {
  const { header, payload } = Either.getOrThrow(decode(bytes))
  return `${header.opcode}/${header.nstate} reqid ${header.reqid} seqno ${header.seqno} error ${header.error}` +
    (payload._tag === "Ranges" && payload.ranges.length > 0 ? ` ranges ${JSON.stringify(payload.ranges)}` : "")
}

describe("makuo receives from a makuosan 1.3.6 sender (captures replayed: SEND, SYNC, MD5)", () => {
  for (const s of scenarios) {
    it.scoped(`${s.capture}: the same ACKs as makuosan's receiver-1, and the same file`, () =>
      Effect.gen(function*() {
        const net = yield* MemoryNetwork.make({ seed: 1 })
        const node = yield* startNode(net, "10.99.0.12")
        s.before?.(node.base)
        const sender = Context.get(yield* Layer.build(net.transport("10.99.0.11")), Transport)
        const captured = load(s.capture)
        const theirs: Array<string> = []
        for (const c of captured) {
          const bytes = new Uint8Array(Buffer.from(c.hex, "hex"))
          if (c.from === "receiver-1" && c.to === "unicast:sender") theirs.push(gist(bytes))
          if (c.from !== "sender" || (c.to !== "group" && c.to !== "unicast:receiver-1")) continue
          if (c.lab_drop?.includes("at receiver-1's input")) continue
          const opcode = Either.getOrThrow(decode(bytes)).header.opcode
          if (opcode !== 2 && opcode !== 3) continue
          sender.send(Peer(node.wire.local), bytes)
          yield* settle
          // a member hashes between turns of the event loop: let it finish before the next request
          if (opcode === 3) yield* Effect.promise(() => new Promise((r) => setTimeout(r, 20)))
        }
        const ours = Chunk.toReadonlyArray(yield* Stream.runCollect(Stream.take(incoming(sender), theirs.length)))
          .map((d) => gist(d.bytes))
        expect(ours).toEqual(theirs)
        expect(theirs.length).toBeGreaterThanOrEqual(2)
        // and nothing more than makuosan said
        const extra = yield* Effect.fork(Stream.runHead(incoming(sender)))
        yield* settle
        expect(Option.isNone(yield* Fiber.poll(extra))).toBe(true)
        for (const [path, want] of Object.entries(s.want)) {
          const p = join(node.base, path)
          if (want === null) {
            expect(fs.existsSync(p)).toBe(false)
            continue
          }
          const st = fs.statSync(p)
          if (want.mtime < 0) expect(fs.readFileSync(p).equals(want.content)).toBe(true)
          else expect([fs.readFileSync(p).equals(want.content), st.mode & 0o7777, Math.floor(st.mtimeMs / 1000)]).toEqual([true, want.mode, want.mtime])
        }
      }))
  }
})
