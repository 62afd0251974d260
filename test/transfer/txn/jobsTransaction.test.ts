/**
 * `makuo send` on a keyed daemon runs as one transaction, end to end in one process: the real Jobs, router, wire
 * and secure transport of the sender on the in-memory network, its members answering sealed through their own
 * secure transports, each a member machine over a tree in memory (`test/support/txnMember.ts`). What the client
 * gets: the files per host, source errors, the summary; `-n` and `check` are transactions that change nothing.
 */
import { describe, expect, it } from "@effect/vitest"
import { Chunk, Context, Duration, Effect, Either, Layer, Runtime, Stream } from "effect"
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import { join } from "node:path"
import { sendJob, type SendEvent } from "../../../src/domain/job.js"
import * as Members from "../../../src/members/Members.js"
import { Peer } from "../../../src/net/Transport.js"
import * as Wire from "../../../src/net/Wire.js"
import { budgetFor } from "../../../src/protocol/native/budget.js"
import * as SecureTransport from "../../../src/secure/SecureTransport.js"
import { isToSender } from "../../../src/transfer/txn/messages.js"
import { generateKey, ringOf } from "../../secure/support.js"
import { advance, driveClock, hostsSeenBy, settle, startNode } from "../../support/cluster.js"
import * as MemoryNetwork from "../../support/MemoryNetwork.js"
import { type FakeMember, fakeMember, receive } from "../../support/txnMember.js"

const block = Either.getOrThrow(budgetFor()).block

/** A keyed member on the network whose transactions are `fake`'s: membership as a daemon's, transactions by the machine. */
const startMember = (net: MemoryNetwork.MemoryNetwork, fake: FakeMember, ring: ReturnType<typeof ringOf>) =>
  Effect.gen(function*() {
    const context = yield* Layer.build(Members.layer(Members.defaults(fake.target.host, "test")).pipe(
      Layer.provideMerge(Wire.layer),
      Layer.provide(SecureTransport.layer({ path: "(in memory)", ring, runAsUid: undefined }).pipe(Layer.provide(net.transport(fake.target.address))))
    ))
    const wire = Context.get(context, Wire.Wire)
    const members = Context.get(context, Members.Members)
    const runFork = Runtime.runFork(yield* Effect.runtime<never>())
    yield* Effect.acquireRelease(
      Effect.sync(() =>
        wire.consume((batch) => {
          for (const r of batch) {
            members.touch(r.from.address, Date.now())
            if (r._tag === "Native") runFork(members.observe(r))
            else if (r._tag === "Transfer" && !isToSender(r.message)) {
              receive(fake, r.message, { block, reply: (m) => void wire.sendNativeNow!(Peer(r.from), m), later: (f) => f() })
            }
          }
        })
      ),
      () => Effect.sync(() => wire.consume(undefined))
    )
  })

const collect = (s: Stream.Stream<SendEvent, unknown>) => Effect.map(Stream.runCollect(s), Chunk.toReadonlyArray)

describe("send on a keyed daemon: one transaction", () => {
  it.scoped("the files per host (updated, skipped), a FIFO reported, the summary; -n and check report per host and change nothing", () =>
    Effect.gen(function*() {
      const net = yield* MemoryNetwork.make({ seed: 11 })
      const ring = ringOf(generateKey())
      const a = yield* startNode(net, "10.0.2.1", { keys: ring })
      const fakes = [fakeMember(2, new Map(), [], "10.0.2"), fakeMember(3, new Map(), [], "10.0.2")]
      for (const f of fakes) yield* startMember(net, f, ring)
      yield* advance("1 second")
      expect(yield* hostsSeenBy(a)).toEqual(["h2", "h3"])
      fs.mkdirSync(join(a.base, "d"))
      fs.writeFileSync(join(a.base, "d/f"), "contents")
      execFileSync("mkfifo", [join(a.base, "d/pipe")])
      yield* settle

      const events = yield* driveClock(collect(a.jobs.run(sendJob({ paths: ["d"], recursive: true, operation: "send" }))), "10 millis", "20 seconds")
      expect(events).toMatchObject([
        { _tag: "SourceError", path: "d/pipe", message: "skipped: not a regular file, directory or symlink" },
        { _tag: "File", path: "d/f", size: 8, hosts: [{ host: "h2", outcome: "updated" }, { host: "h3", outcome: "updated" }] },
        // a new directory: updated there, though only its metadata was staged
        { _tag: "File", path: "d", hosts: [{ host: "h2", outcome: "updated" }, { host: "h3", outcome: "updated" }] },
        { _tag: "Summary", summary: { files: 2, bytes: 8, updated: 4, skipped: 0, failed: 0, lost: 0, sourceErrors: 1 } }
      ])
      for (const f of fakes) expect(Buffer.from(f.tree.get("d/f")!.contents).toString()).toBe("contents")

      // -n is a transaction too (these members serve no v7 transfer): it says what would change, and changes nothing
      fs.writeFileSync(join(a.base, "d/f"), "new contents")
      const outcomes = (events: ReadonlyArray<SendEvent>) => events.flatMap((e) => (e._tag === "File" ? [`${e.path} ${e.hosts.map((h) => h.outcome).join(" ")}`] : []))
      const run = (job: Parameters<typeof sendJob>[0]) =>
        driveClock(collect(a.jobs.run(sendJob({ ...job, timeout: Duration.seconds(2) }))), "10 millis", "20 seconds")
      const dry = yield* run({ paths: ["d"], recursive: true, operation: "send", dryRun: true })
      expect(outcomes(dry)).toEqual(["d/f would-update would-update", "d skipped skipped"])
      expect(fakes.map((f) => [f.switches, Buffer.from(f.tree.get("d/f")!.contents).toString()])).toEqual([[1, "contents"], [1, "contents"]])
      expect(fakes.map((f) => f.session?.state)).toEqual(["aborted", "aborted"])

      // check: h3's copy corrupted, h2's removed; the directory and the FIFO are not compared
      yield* run({ paths: ["d"], recursive: true, operation: "send" })
      fakes[1]!.tree.set("d/f", { ...fakes[1]!.tree.get("d/f")!, contents: new TextEncoder().encode("NEW CONTENTS") })
      fakes[0]!.tree.delete("d/f")
      const checked = yield* run({ paths: ["d"], recursive: true, operation: "check" })
      expect(outcomes(checked)).toEqual(["d/f missing different"])
      expect(checked.at(-1)).toMatchObject({ _tag: "Summary", summary: { files: 1, missing: 1, different: 1, bytes: 0 } })
      expect(fakes.map((f) => f.switches)).toEqual([2, 2])

      // the text report's request: a file every host skipped is counted, not named; the others as ever (h2 lacks d/f,
      // h3's copy differs in content only, which a send without --checksum does not look at)
      const counted = yield* run({ paths: ["d"], recursive: true, operation: "send", reportSkipped: false, countSkipped: true })
      expect(counted).toMatchObject([
        { _tag: "SourceError", path: "d/pipe" },
        { _tag: "File", path: "d/f", hosts: [{ host: "h2", outcome: "updated" }, { host: "h3", outcome: "skipped" }] },
        { _tag: "Skipped", files: 1, hosts: [{ host: "h2", outcome: "skipped" }, { host: "h3", outcome: "skipped" }] },
        { _tag: "Summary", summary: { files: 2, updated: 1, skipped: 3 } }
      ])
    }))

  it.scoped("-n --delete and sync -n are transactions: what each member would remove, per host, and nothing removed; a scope too large is refused naming the options", () =>
    Effect.gen(function*() {
      const net = yield* MemoryNetwork.make({ seed: 12 })
      const ring = ringOf(generateKey())
      const a = yield* startNode(net, "10.0.3.1", { keys: ring })
      const stale = { type: "file" as const, mtime: { sec: 1, nsec: 0 }, mode: 0o100644, contents: new Uint8Array(1) }
      // these members serve no v7 transfer: a job that fell back to v7 would find them lost
      const fakes = [fakeMember(2, new Map([["e/old", stale], ["gone", stale]]), [], "10.0.3"), fakeMember(3, new Map([["e/old", stale]]), [], "10.0.3")]
      for (const f of fakes) yield* startMember(net, f, ring)
      yield* advance("1 second")
      fs.mkdirSync(join(a.base, "e"))
      fs.writeFileSync(join(a.base, "e/f"), "contents")
      yield* settle
      const run = (job: Parameters<typeof sendJob>[0]) =>
        driveClock(collect(a.jobs.run(sendJob({ ...job, timeout: Duration.seconds(2) }))), "10 millis", "20 seconds")
      const outcomes = (events: ReadonlyArray<SendEvent>) => events.flatMap((e) => (e._tag === "File" ? [`${e.path} ${e.hosts.map((h) => `${h.host} ${h.outcome}`).join(" ")}`] : []))

      const dry = yield* run({ paths: ["e"], recursive: true, delete: true, dryRun: true, operation: "send" })
      expect(outcomes(dry)).toEqual(["e/old h2 would-delete h3 would-delete", "e/f h2 would-update h3 would-update", "e h2 would-update h3 would-update"])
      expect(dry.at(-1)).toMatchObject({ _tag: "Summary", summary: { deleted: 2, updated: 4, failed: 0, lost: 0 } })
      const syncDry = yield* run({ paths: ["gone"], operation: "sync", dryRun: true })
      expect(outcomes(syncDry)).toEqual(["gone h2 would-delete"])
      expect(fakes.map((f) => [f.switches, f.session?.state, [...f.tree.keys()]])).toEqual([[0, "aborted", ["e/old", "gone"]], [0, "aborted", ["e/old"]]])

      const many = Array.from({ length: 8 }, (_, i) => `e/${String(i).repeat(200)}`)
      const refused = yield* Effect.flip(Stream.runCollect(a.jobs.run(sendJob({ paths: many, recursive: true, delete: true, operation: "send" }))))
      expect(refused).toMatchObject({ _tag: "ScopeTooLarge" })
      expect(refused.message).toMatch(/--delete PATHs and --exclude patterns take \d+ bytes, more than the 1270/)
      expect(fakes.map((f) => f.switches)).toEqual([0, 0])
    }))
})
