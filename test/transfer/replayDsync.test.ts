/**
 * makuo as a DSYNC member of a makuosan 1.3.6 sender (`send --delete`, makuosan-v7.md §5.4): the sender's captured DSYNC
 * datagrams are replayed to a makuo node standing in for receiver-1, with receiver-1's tree; a probe answers
 * the node's DEL batches with what the makuosan sender answered receiver-1 (reqid rewritten to the node's).
 * makuo must acknowledge as receiver-1 did, list the same paths with the same modes, delete what it was told
 * (nothing in a dry run, never an excluded path) and report the same results.
 */
import { incoming } from "../support/incoming.js"
import { describe, expect, it } from "@effect/vitest"
import { Context, Deferred, Effect, Either, Layer, Stream } from "effect"
import * as fs from "node:fs"
import { join } from "node:path"
import { Group, Peer, Transport } from "../../src/net/Transport.js"
import { Flag, Opcode, RecvState, SendState } from "../../src/protocol/v7/constants.js"
import type { Message } from "../../src/protocol/v7/message.js"
import { decode, encode } from "../../src/protocol/v7/codec.js"
import { driveClock, settle, startNode } from "../support/cluster.js"
import * as MemoryNetwork from "../support/MemoryNetwork.js"
import { type Ipv4, type ReqId } from "../../src/protocol/fields.js"

interface Capture {
  readonly from: string
  readonly to: string
  readonly hex: string
}

const load = (name: string) =>
  (JSON.parse(fs.readFileSync(join(import.meta.dirname, "..", "vectors", name), "utf8")) as ReadonlyArray<Capture>)
    .map((c) => ({ ...c, message: Either.getOrThrow(decode(new Uint8Array(Buffer.from(c.hex, "hex")))) }))

/** receiver-1's tree in both captures (made by `dsync-dryrun`, which deleted nothing). */
const receiverTree = (base: string) => {
  const at = (p: string) => join(base, p)
  fs.mkdirSync(at("tree/olddir"), { recursive: true })
  fs.mkdirSync(at("tree/sub"))
  for (const [p, text] of [["tree/olddir/x.txt", "x"], ["tree/extra.txt", "extra"], ["tree/sp ace.txt", "space\n"], ["tree/keep.log", "log"], ["tree/sub/b.txt", "file b in sub\n"], ["tree/a.txt", "file a\n"]] as const) {
    fs.writeFileSync(at(p), text)
    fs.chmodSync(at(p), 0o644)
  }
  fs.symlinkSync("a.txt", at("tree/link"))
  fs.chmodSync(at("tree/sub"), 0o750)
  for (const d of ["tree", "tree/olddir"]) fs.chmodSync(at(d), 0o755)
}

const records = (m: Message) => (m.payload._tag === "DelRecords" ? m.payload.records.map((r) => `${r.path} ${r.value}`).sort() : [])

const scenarios = [
  { capture: "dsync-dryrun.json", gone: [], kept: ["tree/olddir/x.txt", "tree/extra.txt", "tree/keep.log", "tree/a.txt"] },
  { capture: "dsync.json", gone: ["tree/extra.txt"], kept: ["tree/olddir/x.txt", "tree/keep.log", "tree/a.txt", "tree/sp ace.txt", "tree/link"] }
]

describe("makuo as a DSYNC member of a makuosan 1.3.6 sender (captures replayed)", () => {
  for (const s of scenarios) {
    it.scoped(`${s.capture}: receiver-1's answers, paths, deletions and results`, () =>
      Effect.gen(function*() {
        const captured = load(s.capture)
        const isDsync = (c: (typeof captured)[number]) => c.message.header.opcode === Opcode.DSYNC
        const isDel = (c: (typeof captured)[number]) => c.message.header.opcode === Opcode.DEL
        const theirRequests = captured.filter((c) => c.from === "sender" && c.to === "group" && isDsync(c))
        const opening = theirRequests.filter((c) => c.message.header.nstate !== SendState.CLOSE)
        const close = theirRequests.find((c) => c.message.header.nstate === SendState.CLOSE)!
        // what receiver-1 said and what the sender answered it, by DEL state
        const r1Del = captured.filter((c) => c.from === "receiver-1" && isDel(c)).map((c) => c.message)
        const answers = captured.filter((c) => c.from === "sender" && c.to === "unicast:receiver-1" && isDel(c)).map((c) => c.message)
        const r1DsyncAcks = captured.filter((c) => c.from === "receiver-1" && isDsync(c)).map((c) => c.message.header)

        const net = yield* MemoryNetwork.make({ seed: 1 })
        const probe = Context.get(yield* Layer.build(net.transport("10.99.0.11")), Transport)
        const node = yield* startNode(net, "10.99.0.12")
        receiverTree(node.base)
        const hello: Message = {
          header: {
            opcode: Opcode.PING, nstate: 0, ostate: 0, flags: 0, reqid: 1 as ReqId, seqno: 0, maddr: "224.0.0.108" as Ipv4,
            mport: 5000, error: 0, hash: new Uint8Array(16)
          },
          payload: { _tag: "Mping", hostname: "node1", version: "1.3.6" }
        }
        probe.send(Group, Either.getOrThrow(encode(hello)))
        yield* settle

        const ours: Array<Message> = []
        const closed = yield* Deferred.make<void>()
        let answered = 0
        yield* incoming(probe).pipe(
          Stream.runForEach((d) =>
            Effect.gen(function*() {
              const m = Either.getOrThrow(decode(d.bytes))
              if (m.header.opcode !== Opcode.DSYNC && m.header.opcode !== Opcode.DEL) return
              ours.push(m)
              if (m.header.opcode === Opcode.DSYNC && m.header.nstate === RecvState.CLOSE) yield* Deferred.succeed(closed, undefined)
              if (m.header.opcode !== Opcode.DEL || (m.header.flags & Flag.ACK) !== 0) return
              // makuosan answers DEL OPEN with the paths it lacks, DEL DATA with OPEN, DEL CLOSE with CLOSE
              const index = m.header.nstate === SendState.OPEN ? 0 : m.header.nstate === SendState.DATA ? 1 : 2
              const a = answers[Math.min(index, answers.length - 1)]!
              answered++
              probe.send(Peer(d.from), Either.getOrThrow(encode({ ...a, header: { ...a.header, reqid: m.header.reqid } })))
            })
          ),
          Effect.forkScoped
        )
        for (const c of opening) {
          probe.send(Group, new Uint8Array(Buffer.from(c.hex, "hex")))
          yield* settle
        }
        // makuosan polls with CLOSE until the member's deletion work is done and it answers CLOSE
        const poll = Effect.gen(function*() {
          while (!(yield* Deferred.isDone(closed))) {
            probe.send(Group, new Uint8Array(Buffer.from(close.hex, "hex")))
            yield* Effect.sleep("500 millis")
          }
        })
        yield* driveClock(poll.pipe(Effect.timeout("30 seconds")))

        const dsyncAcks = ours.filter((m) => m.header.opcode === Opcode.DSYNC)
        const gist = (h: Message["header"]) => `${h.nstate} reqid ${h.reqid} seqno ${h.seqno} flags ${h.flags} error ${h.error}`
        // the acknowledgements of OPEN, of every DATA (the exclude batches and the terminator), and the final CLOSE
        const openAcks = r1DsyncAcks.filter((h) => h.nstate === RecvState.OPEN).map(gist)
        expect([...new Set(dsyncAcks.filter((m) => m.header.nstate === RecvState.OPEN).map((m) => gist(m.header)))])
          .toEqual([...new Set(openAcks)])
        expect(dsyncAcks.some((m) => m.header.nstate === RecvState.CLOSE && m.header.reqid === close.message.header.reqid)).toBe(true)

        const del = ours.filter((m) => m.header.opcode === Opcode.DEL)
        const first = (state: number) => del.find((m) => m.header.nstate === state)
        const theirs = (state: number) => r1Del.find((m) => m.header.nstate === state)!
        for (const state of [SendState.OPEN, SendState.DATA, SendState.CLOSE]) {
          const m = first(state)
          expect(m, `DEL state ${state}`).toBeDefined()
          expect([m!.header.flags, m!.header.seqno]).toEqual([theirs(state).header.flags, theirs(state).header.seqno])
        }
        expect(records(first(SendState.OPEN)!)).toEqual(records(theirs(SendState.OPEN)))
        expect(records(first(SendState.DATA)!)).toEqual(records(theirs(SendState.DATA)))
        expect(answered).toBeGreaterThanOrEqual(3)
        for (const p of s.gone) expect(fs.existsSync(join(node.base, p)), p).toBe(false)
        for (const p of s.kept) expect(fs.existsSync(join(node.base, p)), p).toBe(true)
      }))
  }
})
