/**
 * What an idle daemon holds, as structure rather than figures (`npm run bench` prints the resident sizes): V8's
 * parser never held the whole bundle at once (its peak stays resident in the C heap), receive space is sized for
 * idle traffic, the young generation did not grow to fit start-up's allocations (`src/daemon/settle.ts`), and the
 * bundle is text V8 can hold one byte a character, and the old generation was compacted once the daemon served. Under traffic the young generation grows to a ceiling, not to V8's
 * default maximum, and back to its initial size once the daemon is idle again. V8's compilers above the interpreter stay idle until the daemon's first transfer.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { readFileSync, writeFileSync } from "node:fs"
import { dirname, join } from "node:path"
import { randomBytes } from "node:crypto"
import { BIN, type Daemon, eventually, freePort, makuo, memberNames, startDaemon, tempDir } from "../../scripts/lib/loopbackCluster.js"

const MiB = 1 << 20
const probe = join(import.meta.dirname, "..", "support", "heapProbe.mjs")

/** What `heapProbe.mjs` prints on SIGUSR2 (the next report after those already in the log). */
const heapOf = (d: Daemon) =>
  Effect.gen(function*() {
    const reports = () => [...d.log().matchAll(/heap-probe (\{.*\})/g)].map((m) => m[1]!)
    const before = reports().length
    d.process.kill("SIGUSR2")
    expect(yield* eventually(Effect.sync(() => reports().length > before), "5 seconds"), d.log()).toBe(true)
    return JSON.parse(reports()[before]!) as {
      peakMallocedBytes: number
      arrayBuffers: number
      youngGenerationBytes: number
      oldSpaceBytes?: number
      oldSpaceLiveBytes?: number
    }
  })

/**
 * The tiers V8 compiled the daemon bundle's functions to, from its code log (`node --log-code`): `~` interpreted,
 * `^` Sparkplug, `*` TurboFan. A name's commas are logged as \x2C: the marker is the line's last field.
 */
const tiersOf = (v8Log: string) =>
  new Set([...readFileSync(v8Log, "latin1").matchAll(/^code-creation,[^\n]*makuo-daemon\.js:\d+:\d+,[^,\n]*,([^,\n]*)$/gm)].map((m) => m[1]!))

describe("an idle daemon's memory", () => {
  it("the bundle is ASCII: one other character and V8 keeps its 2.5 MB source as UTF-16, twice the size", () => {
    for (const file of [BIN, join(dirname(BIN), "makuo-daemon.js"), join(dirname(BIN), "makuo-cli.js")]) {
      const stray = /[^\x00-\x7f]/.exec(readFileSync(file, "latin1"))
      expect(stray === null ? "ascii" : `${file}: a byte ${stray[0].charCodeAt(0)} at ${stray.index}`).toBe("ascii")
    }
  })

  it.scopedLive("compiled the CLI module by module, holds little receive space and a young generation of its initial size", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const port = yield* freePort(["127.0.0.2"])
      const d = yield* startDaemon(dir, 1, port, [], { node: ["--import", probe] })
      expect(yield* eventually(Effect.sync(() => d.log().includes("control socket")), "10 seconds"), d.log()).toBe(true)
      const heap = yield* heapOf(d)
      // compiling the bundle as one top-level function took 24 MiB; the preallocated receive slots and slabs were 12 MiB
      expect(heap.peakMallocedBytes).toBeLessThanOrEqual(12 * MiB)
      expect(heap.arrayBuffers).toBeLessThanOrEqual(4 * MiB)
      // V8 starts it at 1 MiB (2 once both semi-spaces are in use); start-up's allocations grew it to 16 MiB, and
      // reading and compiling the CLI's bundle, before the entry held it there, to 4 MiB, which an idle daemon kept
      expect(heap.youngGenerationBytes).toBeLessThanOrEqual(2 * MiB)
    }), 30_000)

  it.scopedLive("collected its start-up's garbage: the old generation spans little more than what is alive in it", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const port = yield* freePort(["127.0.0.2"])
      const d = yield* startDaemon(dir, 1, port, [], { node: ["--expose-gc", "--import", probe] })
      expect(yield* eventually(Effect.sync(() => d.log().includes("control socket")), "10 seconds"), d.log()).toBe(true)
      const heap = yield* heapOf(d)
      // left to V8's own collections, start-up's garbage stayed spread over old-space pages it kept: 16 MiB for 11.6 alive
      expect(heap.oldSpaceBytes! - heap.oldSpaceLiveBytes!, JSON.stringify(heap)).toBeLessThanOrEqual(2 * MiB)
    }), 30_000)

  it.scopedLive("runs interpreted while idle (the compilers' code and working space stay out of its RSS) and compiles from its first transfer on", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const port = yield* freePort(["127.0.0.2", "127.0.0.3"])
      const v8Log = (name: string) => join(dir, `${name}.v8.log`)
      const logged = (name: string) => ({ node: ["--log-code", `--logfile=${v8Log(name)}`, "--no-logfile-per-isolate"] })
      const sender = yield* startDaemon(dir, 1, port, [], logged("h1"))
      const receiver = yield* startDaemon(dir, 2, port, [], logged("h2"))
      expect(yield* eventually(Effect.map(memberNames(sender), (l) => l.length === 1), "10 seconds")).toBe(true)
      // start-up, and within seconds the receive sessions' sweep (each second), had V8 compile hundreds of functions
      yield* Effect.sleep("3 seconds")
      for (const d of [sender, receiver]) expect([...tiersOf(v8Log(d.name))], d.name).toEqual(["~"])
      writeFileSync(join(sender.base, "some"), randomBytes(4 * MiB))
      const sent = yield* makuo(["send", "some", "--control", sender.control], 60_000)
      expect(sent.code, sent.stdout + sent.stderr).toBe(0)
      for (const d of [sender, receiver]) expect(tiersOf(v8Log(d.name)).has("^") || tiersOf(v8Log(d.name)).has("*"), d.name).toBe(true)
    }), 60_000)

  it.scopedLive("a daemon that received 256 MiB holds its young generation at the ceiling (8 MiB), not V8's default 32, and once idle its initial size", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const port = yield* freePort(["127.0.0.2", "127.0.0.3"])
      const sender = yield* startDaemon(dir, 1, port)
      const receiver = yield* startDaemon(dir, 2, port, [], { node: ["--import", probe] })
      expect(yield* eventually(Effect.map(memberNames(sender), (l) => l.length === 1), "10 seconds")).toBe(true)
      writeFileSync(join(sender.base, "big"), randomBytes(256 * MiB))
      const sent = yield* makuo(["send", "big", "--control", sender.control], 120_000)
      expect(sent.code, sent.stdout + sent.stderr).toBe(0)
      expect((yield* heapOf(receiver)).youngGenerationBytes).toBeLessThanOrEqual(8 * MiB)
      // quiet for a few seconds, it gives back what the transfer grew (`settlePolicy.ts`): V8 shrinks the young
      // generation in the full collection it is then asked for, and in no other while the daemon idles
      const shrunk = Effect.map(heapOf(receiver), (h) => h.youngGenerationBytes <= 2 * MiB)
      expect(yield* eventually(shrunk, "30 seconds"), receiver.log().slice(-2000)).toBe(true)
    }), 180_000)
})
