/**
 * A daemon flooded with hostile datagrams on the in-memory network: mutations of makuosan's captured datagrams
 * (bytes flipped, cut short, grown, lengths and counts and opcodes and states replaced), well-formed requests
 * with hostile paths (absolute, `..`, through a planted symlink), and random bytes — 100 000 of them from a host
 * that is no member. What must hold: the daemon lives on and still receives a real transfer; nothing is written
 * outside its base; what the forged transfers left is collected with their sessions (no temp file remains).
 */
import { describe, expect, it } from "@effect/vitest"
import { Chunk, Context, Duration, Effect, Layer, Logger, Stream } from "effect"
import * as fs from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import type { SendJob } from "../../src/domain/job.js"
import { Group, Peer, Transport } from "../../src/net/Transport.js"
import { isTempName } from "../../src/store/FileStore.js"
import { advance, driveClock, settle, startNode } from "../support/cluster.js"
import * as MemoryNetwork from "../support/MemoryNetwork.js"
import { prng } from "../../scripts/lib/prng.js"
import { capturedDatagrams, hostileDatagram, patternFlood } from "../../scripts/lib/hostile.js"

const DATAGRAMS = 100_000

const job: SendJob = {
  paths: [], recursive: true, dryRun: false, operation: "send", delete: false, targets: [], excludes: [], parallel: 8, checksum: false, reportSkipped: false, rateMbit: undefined, progress: false,
  timeout: Duration.seconds(60)
}

/** Every entry under `dir`: its full path as bytes (forged names need not be UTF-8) and its name. */
const walk = (dir: Buffer): Array<{ readonly path: Buffer; readonly name: string }> =>
  fs.readdirSync(dir, { withFileTypes: true, encoding: "buffer" }).flatMap((e) => {
    const path = Buffer.concat([dir, Buffer.from("/"), e.name])
    const here = { path, name: e.name.toString("latin1") }
    return e.isDirectory() ? [here, ...walk(path)] : [here]
  })

describe("a daemon under a flood of hostile datagrams", () => {
  it.scoped(`${DATAGRAMS} mutated, hostile and random datagrams: it lives on, writes nothing outside its base, collects what they left, still receives`, () =>
    Effect.gen(function*() {
      const root = fs.mkdtempSync(join(tmpdir(), "makuo-fuzz-"))
      yield* Effect.addFinalizer(() => Effect.sync(() => fs.rmSync(root, { recursive: true, force: true })))
      const base = join(root, "base")
      fs.mkdirSync(base)
      fs.mkdirSync(join(root, "outside"))
      fs.writeFileSync(join(root, "outside", "keep"), "untouched")
      // a symlink planted in the base, pointing out of it: no received path may go through it
      fs.symlinkSync(join(root, "outside"), join(base, "link"))
      const net = yield* MemoryNetwork.make({ seed: 11 })
      const victim = yield* startNode(net, "10.0.0.2", { base, receiver: { maxSessions: 512 } })
      const sender = yield* startNode(net, "10.0.0.1")
      const attacker = Context.get(yield* Layer.build(net.transport("10.0.0.9")), Transport)
      const seeds = capturedDatagrams(join(import.meta.dirname, "..", "vectors"))
      expect(seeds.length).toBeGreaterThan(50)
      const random = prng(20261203)
      for (let i = 0; i < DATAGRAMS; i++) {
        attacker.send(random() < 0.5 ? Group : Peer({ address: victim.address, port: 5000 }), hostileDatagram(random, seeds, i))
        if (i % 2000 === 1999) yield* settle
      }
      yield* settle
      const counters = yield* victim.wire.counters
      expect(counters.datagramsIn).toBeGreaterThan(DATAGRAMS * 0.99)
      expect(counters.malformed).toBeGreaterThan(DATAGRAMS / 10)
      // requests for transfers it does not have, forged ones by the thousand: counted for status
      expect(counters.unknownTransfers).toBeGreaterThan(1000)
      // and the hostile paths (absolute, '..', NUL, through the link) refused, each answered with an error
      expect(counters.refusedPaths).toBeGreaterThan(100)
      // nothing outside the base; inside it, forged files at most — never through the planted link
      expect(fs.readdirSync(root).sort()).toEqual(["base", "outside"])
      expect(fs.readdirSync(join(root, "outside"))).toEqual(["keep"])
      expect(fs.readFileSync(join(root, "outside", "keep"), "utf8")).toBe("untouched")
      for (const e of walk(Buffer.from(base))) expect(fs.lstatSync(e.path).mode & 0o6000).toBe(0)
      // the forged transfers' sessions are collected with their temp files
      yield* advance("200 seconds")
      yield* advance("10 seconds")
      expect(walk(Buffer.from(base)).filter((e) => isTempName(e.name))).toEqual([])
      // and the daemon still does its job
      fs.mkdirSync(join(sender.base, "site"))
      fs.writeFileSync(join(sender.base, "site", "index.html"), "<h1>after the flood</h1>")
      const events = Chunk.toReadonlyArray(yield* driveClock(Stream.runCollect(sender.jobs.run({ ...job, paths: ["site"] }))))
      expect(events.at(-1)).toMatchObject({ _tag: "Summary", summary: { failed: 0, lost: 0 } })
      expect(fs.readFileSync(join(base, "site", "index.html"), "utf8")).toBe("<h1>after the flood</h1>")
    }), 240_000)

  it.scoped("3000 DSYNC datagrams of 341 one-byte exclude patterns each: every session refused, nothing walked or deleted, the daemon still receives; out-of-order batches warned of once", () => {
    const warnings: Array<string> = []
    const logger = Logger.make(({ logLevel, message }) => void (logLevel._tag === "Warning" && warnings.push(String(message))))
    return Effect.gen(function*() {
      const net = yield* MemoryNetwork.make({ seed: 12 })
      const victim = yield* startNode(net, "10.0.0.2")
      const sender = yield* startNode(net, "10.0.0.1")
      const attacker = Context.get(yield* Layer.build(net.transport("10.0.0.9")), Transport)
      fs.writeFileSync(join(victim.base, "keep"), "kept")
      // six DSYNC sessions of 500 batches each: 170 500 patterns per session, 1 023 000 in all
      for (let session = 0; session < 6; session++) {
        const datagrams = patternFlood(7000 + session, 500)
        for (let i = 0; i < datagrams.length; i++) {
          attacker.send(Peer({ address: victim.address, port: 5000 }), datagrams[i]!)
          if (i % 100 === 99) yield* settle
        }
        yield* settle
      }
      // and a session whose batches all arrive with one missing before them: the same complaint a thousand times
      const [open, ...batches] = patternFlood(8000, 1001)
      attacker.send(Peer({ address: victim.address, port: 5000 }), open!)
      for (let i = 1; i < 1001; i++) {
        attacker.send(Peer({ address: victim.address, port: 5000 }), batches[i]!)
        if (i % 100 === 99) yield* settle
      }
      yield* settle
      const counters = yield* victim.wire.counters
      expect(counters.malformed).toBe(0)
      expect(counters.refusedPatterns).toBe(6)
      expect(warnings.filter((w) => w.includes("exclude patterns missing"))).toHaveLength(1)
      expect(warnings.filter((w) => w.includes("exclude patterns or"))).toHaveLength(1)
      expect(fs.readFileSync(join(victim.base, "keep"), "utf8")).toBe("kept")
      fs.writeFileSync(join(sender.base, "index.html"), "<h1>after the patterns</h1>")
      const events = Chunk.toReadonlyArray(yield* driveClock(Stream.runCollect(sender.jobs.run({ ...job, paths: ["index.html"] }))))
      expect(events.at(-1)).toMatchObject({ _tag: "Summary", summary: { failed: 0, lost: 0 } })
      expect(fs.readFileSync(join(victim.base, "index.html"), "utf8")).toBe("<h1>after the patterns</h1>")
    }).pipe(Effect.provide(Logger.replace(Logger.defaultLogger, logger)))
  }, 240_000)
})
