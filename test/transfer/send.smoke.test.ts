import { describe, expect, it } from "@effect/vitest"
import { Chunk, Context, Duration, Effect, Layer, Stream } from "effect"
import * as fs from "node:fs"
import { join } from "node:path"
import type { SendEvent, SendJob } from "../../src/domain/job.js"
import { Peer, Transport } from "../../src/net/Transport.js"
import { Opcode, SendState } from "../../src/protocol/v7/constants.js"
import { encode } from "../../src/protocol/v7/codec.js"
import { advance, driveClock, hostsSeenBy, settle, startNode } from "../support/cluster.js"
import * as MemoryNetwork from "../support/MemoryNetwork.js"
import { type Ipv4, type ReqId } from "../../src/protocol/fields.js"

const job: SendJob = {
  paths: [], recursive: true, dryRun: false, operation: "send", delete: false, targets: [], excludes: [], parallel: 5, checksum: false, reportSkipped: true, rateMbit: undefined, progress: false,
  timeout: Duration.seconds(60)
}

const collect = (s: Stream.Stream<SendEvent, unknown>) => Effect.map(driveClock(Stream.runCollect(s)), Chunk.toReadonlyArray)

describe("send on the in-memory network", () => {
  it.scoped("a small tree reaches two receivers", () =>
    Effect.gen(function*() {
      const net = yield* MemoryNetwork.make({ seed: 1 })
      const [a, b, c] = yield* Effect.forEach(["10.0.0.1", "10.0.0.2", "10.0.0.3"], (x) => startNode(net, x))
      fs.mkdirSync(join(a!.base, "d/e"), { recursive: true })
      fs.writeFileSync(join(a!.base, "d/e/f.txt"), "hello")
      fs.writeFileSync(join(a!.base, "big"), Buffer.alloc(5000, 7))
      fs.symlinkSync("d/e/f.txt", join(a!.base, "link"))
      const events = yield* collect(a!.jobs.run(job))
      expect(events.at(-1)).toMatchObject({ _tag: "Summary", summary: { files: 5, hosts: 2, failed: 0, lost: 0, bytes: 5005 } })
      for (const n of [b!, c!]) {
        expect(fs.readFileSync(join(n.base, "d/e/f.txt"), "utf8")).toBe("hello")
        expect(fs.readFileSync(join(n.base, "big")).equals(Buffer.alloc(5000, 7))).toBe(true)
        expect(fs.readlinkSync(join(n.base, "link"))).toBe("d/e/f.txt")
      }
    }))

  it.scoped("names that are not UTF-8 (Latin-1, EUC-JP, Shift_JIS) arrive byte for byte, are skipped when unchanged, deleted by --delete", () =>
    Effect.gen(function*() {
      const net = yield* MemoryNetwork.make({ seed: 12 })
      const a = yield* startNode(net, "10.0.0.1")
      const b = yield* startNode(net, "10.0.0.2")
      const bytes = (base: string, ...parts: Array<Array<number> | string>) =>
        Buffer.concat([Buffer.from(base + "/"), ...parts.map((p) => (typeof p === "string" ? Buffer.from(p) : Buffer.from(p)))])
      const eucDir = [0xc6, 0xfc, 0xcb, 0xdc] // 日本 in EUC-JP
      const latin1 = [0x63, 0x61, 0x66, 0xe9, 0x2e, 0x74, 0x78, 0x74] // café.txt in Latin-1
      const sjis = [0x93, 0xfa, 0x2e, 0x68, 0x74, 0x6d, 0x6c] // 日.html in Shift_JIS
      fs.mkdirSync(bytes(a.base, eucDir))
      fs.writeFileSync(bytes(a.base, eucDir, "/", latin1), "latin-1 name")
      fs.writeFileSync(bytes(a.base, sjis), "shift_jis name")
      fs.symlinkSync(Buffer.from(latin1), bytes(a.base, eucDir, "/link"))
      /** Every name under `dir` as hex bytes (node's recursive readdir takes no Buffer path). */
      const listing = (dir: string | Buffer, prefix = ""): Array<string> =>
        fs.readdirSync(dir, { withFileTypes: true, encoding: "buffer" }).flatMap((d) => {
          const rel = prefix + d.name.toString("hex")
          return d.isDirectory() ? [rel, ...listing(Buffer.concat([Buffer.from(dir), Buffer.from("/"), d.name]), rel + "/")] : [rel]
        }).sort()
      const first = yield* collect(a.jobs.run(job))
      expect(first.at(-1)).toMatchObject({ _tag: "Summary", summary: { files: 4, failed: 0, sourceErrors: 0 } })
      expect(listing(b.base)).toEqual(listing(a.base))
      expect(fs.readFileSync(bytes(b.base, eucDir, "/", latin1), "utf8")).toBe("latin-1 name")
      expect(fs.readlinkSync(bytes(b.base, eucDir, "/link"), "buffer")).toEqual(Buffer.from(latin1))
      const again = yield* collect(a.jobs.run(job))
      expect(again.at(-1)).toMatchObject({ _tag: "Summary", summary: { updated: 0, skipped: 4 } })
      // an extra file on the member, its name not UTF-8 either: --delete names and removes it
      fs.writeFileSync(bytes(b.base, eucDir, "/", [0xff, 0xfe]), "stale")
      const deleted = yield* collect(a.jobs.run({ ...job, delete: true }))
      const outcomes = deleted.flatMap((e) => (e._tag === "File" ? e.hosts.map((h) => `${h.outcome} ${e.path}`) : []))
      // the path as makuo carries a name that is not UTF-8: each such byte escaped as U+DC80..U+DCFF
      expect(outcomes).toContain("deleted \udcc6\udcfc\udccb\udcdc/\udcff\udcfe")
      expect(listing(b.base)).toEqual(listing(a.base))
    }))

  it.scoped("two senders send the same path at once: the member ends with one of the two files whole, never a mix, and no temp file", () =>
    Effect.gen(function*() {
      const net = yield* MemoryNetwork.make({ seed: 13, impairments: { loss: 0.02, duplicate: 0.02, maxDelayMs: 5 } })
      const a1 = yield* startNode(net, "10.0.0.1")
      const a2 = yield* startNode(net, "10.0.0.3")
      const b = yield* startNode(net, "10.0.0.2")
      const one = Buffer.alloc(300 * 1024, "A")
      const two = Buffer.alloc(200 * 1024, "B")
      fs.writeFileSync(join(a1.base, "page"), one)
      fs.writeFileSync(join(a2.base, "page"), two)
      // under loss, membership may take a keep-alive round
      for (let i = 0; i < 20 && !(yield* Effect.forEach([a1, a2], hostsSeenBy)).every((hs) => hs.includes("h2")); i++) yield* advance("10 seconds")
      const [r1, r2] = yield* driveClock(Effect.all([a1, a2].map((a) => Stream.runCollect(a.jobs.run({ ...job, targets: ["h2"] }))), { concurrency: "unbounded" }))
      for (const r of [r1!, r2!]) expect(Chunk.toReadonlyArray(r).at(-1)).toMatchObject({ _tag: "Summary", summary: { lost: 0 } })
      const got = fs.readFileSync(join(b.base, "page"))
      expect(got.equals(one) || got.equals(two)).toBe(true)
      expect(fs.readdirSync(b.base)).toEqual(["page"])
    }))

  it.scoped("a --readonly member answers READONLY and nothing is written there", () =>
    Effect.gen(function*() {
      const net = yield* MemoryNetwork.make({ seed: 2 })
      const a = yield* startNode(net, "10.0.0.1")
      const ro = yield* startNode(net, "10.0.0.2", { receiver: { readonly: true } })
      fs.writeFileSync(join(a.base, "f"), "x")
      const events = yield* collect(a.jobs.run(job))
      expect(events[0]).toMatchObject({ _tag: "File", path: "f", hosts: [{ host: "h2", outcome: "readonly" }] })
      expect(fs.readdirSync(ro.base)).toEqual([])
    }))

  it.scoped("setuid/setgid bits of a received file are dropped unless the member keeps them; the file is not sent again", () =>
    Effect.gen(function*() {
      const net = yield* MemoryNetwork.make({ seed: 7 })
      const a = yield* startNode(net, "10.0.0.1")
      const plain = yield* startNode(net, "10.0.0.2")
      const keeps = yield* startNode(net, "10.0.0.3", { receiver: { keepSetId: true } })
      fs.writeFileSync(join(a.base, "suid.bin"), "#!/bin/sh\n")
      fs.chmodSync(join(a.base, "suid.bin"), 0o4755)
      fs.mkdirSync(join(a.base, "shared"))
      fs.chmodSync(join(a.base, "shared"), 0o2775)
      const first = yield* collect(a.jobs.run(job))
      expect(first.at(-1)).toMatchObject({ _tag: "Summary", summary: { failed: 0, updated: 4 } })
      const mode = (n: { base: string }, p: string) => fs.statSync(join(n.base, p)).mode & 0o7777
      expect(mode(plain, "suid.bin")).toBe(0o755)
      expect(mode(keeps, "suid.bin")).toBe(0o4755)
      // a directory's setgid bit only hands its group on: kept
      expect(mode(plain, "shared")).toBe(0o2775)
      // what the member applied compares equal to what was sent: skipped from now on, not updated forever
      const again = yield* collect(a.jobs.run(job))
      expect(again.at(-1)).toMatchObject({ _tag: "Summary", summary: { failed: 0, updated: 0, skipped: 4 } })
      // counted where the bits were dropped, once per received STAT that carried them (two runs)
      expect((yield* plain.wire.counters).setidDropped).toBe(2)
      expect((yield* keeps.wire.counters).setidDropped).toBe(0)
    }))

  it.scoped("a file larger than the member's free space is refused at OPEN: ENOSPC reported, no temp file, no DATA sent", () =>
    Effect.gen(function*() {
      const net = yield* MemoryNetwork.make({ seed: 8 })
      const a = yield* startNode(net, "10.0.0.1")
      const b = yield* startNode(net, "10.0.0.2")
      // a sparse 1 TiB file: what a forged STAT could declare
      fs.writeFileSync(join(a.base, "huge"), "")
      fs.truncateSync(join(a.base, "huge"), 2 ** 40)
      const sentBefore = net.sent("10.0.0.1")
      const events = yield* collect(a.jobs.run(job))
      expect(events[0]).toMatchObject({ _tag: "File", path: "huge", hosts: [{ host: "h2", outcome: "failed", errno: 28 }] })
      expect(fs.readdirSync(b.base)).toEqual([])
      // STAT, OPEN, CLOSE, LAST and their retransmissions at most: not 2^30 blocks
      expect(net.sent("10.0.0.1") - sentBefore).toBeLessThan(20)
      expect((yield* b.wire.counters).diskFull).toBe(1)
    }))

  it.scoped("one peer's flood of forged STATs holds at most its share of the receive table: another sender still gets through", () =>
    Effect.gen(function*() {
      const net = yield* MemoryNetwork.make({ seed: 9 })
      const a = yield* startNode(net, "10.0.0.1")
      const b = yield* startNode(net, "10.0.0.2", { receiver: { maxSessions: 150, maxSessionsPerPeer: 100 } })
      const attacker = Context.get(yield* Layer.build(net.transport("10.0.0.9")), Transport)
      for (let i = 0; i < 250; i++) {
        const bytes = encode({
          header: { opcode: Opcode.SEND, nstate: SendState.STAT, ostate: 0, flags: 0, reqid: (9000 + i) as ReqId, seqno: 0, maddr: "224.0.0.108" as Ipv4, mport: 5000, error: 0, hash: new Uint8Array(16) },
          payload: { _tag: "Mstat", mode: 0o100644, uid: 0, gid: 0, size: 5, mtime: 1, ctime: 1, path: `forged${i}`, linkTarget: "", rdevHigh: 0, rdevLow: 0 }
        })
        if (bytes._tag === "Right") attacker.send(Peer({ address: b.address, port: 5000 }), bytes.right)
      }
      yield* settle
      // counted where the operator looks (makuo status): 100 taken, the other 150 refused
      expect((yield* b.wire.counters).refusedSessions).toBe(150)
      for (let i = 0; i < 20; i++) fs.writeFileSync(join(a.base, `real${i}`), `file ${i}`)
      const events = yield* collect(a.jobs.run(job))
      expect(events.at(-1)).toMatchObject({ _tag: "Summary", summary: { files: 20, updated: 20, failed: 0, lost: 0 } })
      for (let i = 0; i < 20; i++) expect(fs.readFileSync(join(b.base, `real${i}`), "utf8")).toBe(`file ${i}`)
    }))

  it.scoped("half-open transfers hold at most --max-temp-files temp files: the next OPEN gets EMFILE, reported; room again once they are collected, seconds later", () =>
    Effect.gen(function*() {
      const net = yield* MemoryNetwork.make({ seed: 10 })
      const a = yield* startNode(net, "10.0.0.1")
      const b = yield* startNode(net, "10.0.0.2", { receiver: { maxTempFiles: 3 } })
      const attacker = Context.get(yield* Layer.build(net.transport("10.0.0.9")), Transport)
      const forged = (i: number, nstate: number) =>
        encode({
          header: { opcode: Opcode.SEND, nstate, ostate: 0, flags: 0, reqid: (500 + i) as ReqId, seqno: 0, maddr: "224.0.0.108" as Ipv4, mport: 5000, error: 0, hash: new Uint8Array(16) },
          payload: { _tag: "Mstat", mode: 0o100644, uid: 0, gid: 0, size: 5000, mtime: 1, ctime: 1, path: `half${i}`, linkTarget: "", rdevHigh: 0, rdevLow: 0 }
        })
      // STAT, then OPEN, and never a block: each holds a temp file
      for (const nstate of [SendState.STAT, SendState.OPEN]) {
        for (let i = 0; i < 3; i++) {
          const bytes = forged(i, nstate)
          if (bytes._tag === "Right") attacker.send(Peer({ address: b.address, port: 5000 }), bytes.right)
        }
        yield* settle
      }
      expect(fs.readdirSync(b.base).filter((f) => /\.makuo\d+$/.test(f))).toHaveLength(3)
      fs.writeFileSync(join(a.base, "page"), "real")
      const refused = yield* collect(a.jobs.run(job))
      expect(refused[0]).toMatchObject({ _tag: "File", path: "page", hosts: [{ host: "h2", outcome: "failed", errno: 24 }] })
      expect(fs.existsSync(join(b.base, "page"))).toBe(false)
      expect((yield* b.wire.counters).refusedDescriptors).toBe(1)
      // the half-open transfers (OPEN without DATA) go with the idle collection within seconds, not minutes, and
      // their descriptors with them
      yield* advance("11 seconds")
      const events = yield* collect(a.jobs.run(job))
      expect(events.at(-1)).toMatchObject({ _tag: "Summary", summary: { updated: 1, failed: 0 } })
      expect(fs.readdirSync(b.base)).toEqual(["page"])
    }))

  it.scoped("a transfer whose sender vanished is collected after 180 s with its temp file, not before", () =>
    Effect.gen(function*() {
      const net = yield* MemoryNetwork.make({ seed: 3 })
      const a = yield* startNode(net, "10.0.0.1")
      const b = yield* startNode(net, "10.0.0.2", { members: { memberTimeout: Duration.hours(1) } })
      fs.writeFileSync(join(a.base, "big"), Buffer.alloc(50_000, 1))
      // the sender is cut off after its first DATA blocks: b keeps a half-written temp file
      yield* net.crashAfter("10.0.0.1", 6)
      yield* Effect.fork(Stream.runDrain(a.jobs.run({ ...job, timeout: Duration.seconds(5) })))
      yield* settle
      yield* advance("1 second")
      const temps = () => fs.readdirSync(b.base).filter((f) => /\.makuo\d+$/.test(f))
      expect(temps()).toHaveLength(1)
      yield* advance("170 seconds")
      expect(temps()).toHaveLength(1)
      yield* advance("20 seconds")
      expect(temps()).toEqual([])
      expect(fs.existsSync(join(b.base, "big"))).toBe(false)
    }))

  it.scoped("sync deletes on the members a path gone here; -n only reports; a symlink parent is never followed", () =>
    Effect.gen(function*() {
      const net = yield* MemoryNetwork.make({ seed: 4 })
      const a = yield* startNode(net, "10.0.0.1")
      const [b, c] = yield* Effect.forEach(["10.0.0.2", "10.0.0.3"], (x) => startNode(net, x))
      for (const n of [b!, c!]) fs.mkdirSync(join(n.base, "old/sub"), { recursive: true })
      fs.writeFileSync(join(b!.base, "old/sub/x"), "x")
      const sync: SendJob = { ...job, recursive: false, operation: "sync", paths: ["old"] }
      const dry = yield* collect(a.jobs.run({ ...sync, dryRun: true }))
      expect(dry[0]).toMatchObject({ _tag: "File", path: "old", hosts: [{ outcome: "would-delete" }, { outcome: "would-delete" }] })
      expect(fs.existsSync(join(b!.base, "old/sub/x"))).toBe(true)
      const real = yield* collect(a.jobs.run(sync))
      expect(real[0]).toMatchObject({ _tag: "File", path: "old", hosts: [{ outcome: "deleted" }, { outcome: "deleted" }] })
      expect(real.at(-1)).toMatchObject({ _tag: "Summary", summary: { deleted: 2, failed: 0 } })
      expect([fs.readdirSync(b!.base), fs.readdirSync(c!.base)]).toEqual([[], []])
      const again = yield* collect(a.jobs.run(sync))
      expect(again[0]).toMatchObject({ hosts: [{ outcome: "not-deleted" }, { outcome: "not-deleted" }] })
      // b has 'l -> outside': deleting l/victim must not reach through the link
      const outside = fs.mkdtempSync(join(b!.base, "..", "outside-"))
      fs.writeFileSync(join(outside, "victim"), "keep")
      fs.symlinkSync(outside, join(b!.base, "l"))
      const through = yield* collect(a.jobs.run({ ...sync, paths: ["l/victim"] }))
      expect(through[0]).toMatchObject({ hosts: [{ host: "h2", outcome: "failed" }, { host: "h3", outcome: "not-deleted" }] })
      expect(fs.readFileSync(join(outside, "victim"), "utf8")).toBe("keep")
      fs.rmSync(outside, { recursive: true })
    }))

  it.scoped("check reports per host: same, different, missing, unreadable; changes nothing", () =>
    Effect.gen(function*() {
      const net = yield* MemoryNetwork.make({ seed: 5 })
      const a = yield* startNode(net, "10.0.0.1")
      const [b, c] = yield* Effect.forEach(["10.0.0.2", "10.0.0.3"], (x) => startNode(net, x))
      fs.mkdirSync(join(a.base, "d"))
      fs.writeFileSync(join(a.base, "d/f"), Buffer.alloc(200_000, 3))
      fs.writeFileSync(join(a.base, "g"), "g")
      yield* collect(a.jobs.run(job))
      fs.appendFileSync(join(c!.base, "d/f"), "x")
      fs.rmSync(join(b!.base, "g"))
      fs.mkdirSync(join(c!.base, "g.tmp"))
      fs.rmSync(join(c!.base, "g"))
      fs.renameSync(join(c!.base, "g.tmp"), join(c!.base, "g"))
      const events = yield* collect(a.jobs.run({ ...job, operation: "check" }))
      const by = (path: string) => events.find((e) => e._tag === "File" && e.path === path)
      expect(by("d/f")).toMatchObject({ hosts: [{ host: "h2", outcome: "same" }, { host: "h3", outcome: "different" }] })
      expect(by("g")).toMatchObject({ hosts: [{ host: "h2", outcome: "missing" }, { host: "h3", outcome: "failed" }] })
      expect(by("d")).toBeUndefined()
      expect(events.at(-1)).toMatchObject({ _tag: "Summary", summary: { files: 2, same: 1, different: 1, missing: 1, failed: 1 } })
      expect(fs.readFileSync(join(c!.base, "d/f")).length).toBe(200_001)
    }))

  it.scoped("send --delete removes on the members what the sender lacks (a file merely named like a temp file too), never excluded paths", () =>
    Effect.gen(function*() {
      const net = yield* MemoryNetwork.make({ seed: 6 })
      const a = yield* startNode(net, "10.0.0.1")
      const [b, c] = yield* Effect.forEach(["10.0.0.2", "10.0.0.3"], (x) => startNode(net, x))
      fs.mkdirSync(join(a.base, "a"))
      fs.writeFileSync(join(a.base, "a/x"), "x")
      for (const n of [b!, c!]) {
        fs.mkdirSync(join(n.base, "a/sub"), { recursive: true })
        for (const f of ["a/x", "a/extra", "a/sub/y", "a/keep.log", "a/x.makuo001123456", "outside-a"]) fs.writeFileSync(join(n.base, f), "old")
      }
      const del: SendJob = { ...job, delete: true, paths: ["a"], excludes: ["*.log"] }
      const dry = yield* collect(a.jobs.run({ ...del, dryRun: true }))
      const would = dry.flatMap((e) => (e._tag === "File" ? e.hosts.filter((h) => h.outcome === "would-delete").map((h) => `${h.host}:${e.path}`) : []))
      expect(would.sort()).toEqual(["h2:a/extra", "h2:a/sub", "h2:a/sub/y", "h2:a/x.makuo001123456", "h3:a/extra", "h3:a/sub", "h3:a/sub/y", "h3:a/x.makuo001123456"])
      expect(fs.existsSync(join(b!.base, "a/extra"))).toBe(true)
      // without -r: the directory's own entries
      const flat = yield* collect(a.jobs.run({ ...del, recursive: false, dryRun: true }))
      const flatWould = flat.flatMap((e) => (e._tag === "File" ? e.hosts.filter((h) => h.outcome === "would-delete").map((h) => `${h.host}:${e.path}`) : []))
      expect(flatWould.sort()).toEqual(["h2:a/extra", "h2:a/sub", "h2:a/x.makuo001123456", "h3:a/extra", "h3:a/sub", "h3:a/x.makuo001123456"])
      const real = yield* collect(a.jobs.run(del))
      // no round waited for a timeout: every DSYNC and DEL request was answered
      expect(real.at(-1)).toMatchObject({ _tag: "Summary", summary: { deleted: 8, failed: 0, lost: 0 } })
      const last = real.at(-1)
      expect(last?._tag === "Summary" ? last.summary.milliseconds : Infinity).toBeLessThan(5000)
      for (const n of [b!, c!]) {
        expect(fs.readdirSync(join(n.base, "a")).sort()).toEqual(["keep.log", "x"])
        expect(fs.readFileSync(join(n.base, "a/x"), "utf8")).toBe("x")
        expect(fs.existsSync(join(n.base, "outside-a"))).toBe(true)
      }
    }))
})
