/**
 * A long-running daemon must not leak a descriptor per failed or cancelled transfer: the sender's reader and the
 * members' temp files are closed whatever way a transfer ends. Counted in /proc/self/fd: the descriptors of this
 * process that point below a node's base (its base directory itself is held for the node's life).
 */
import { describe, expect, it } from "@effect/vitest"
import { Chunk, Duration, Effect, Fiber, Stream } from "effect"
import * as fs from "node:fs"
import { join } from "node:path"
import type { SendJob } from "../../src/domain/job.js"
import { advance, driveClock, settle, startNode } from "../support/cluster.js"
import * as MemoryNetwork from "../support/MemoryNetwork.js"

// in a subdirectory: a parent directory a receive session failed to close would show too
const job: SendJob = {
  paths: ["sub/big"], recursive: false, dryRun: false, operation: "send", delete: false, targets: [], excludes: [], parallel: 5, checksum: false,
  reportSkipped: true, rateMbit: undefined, progress: false, timeout: Duration.seconds(60)
}

const openBelow = (dir: string) =>
  fs.readdirSync("/proc/self/fd").flatMap((fd) => {
    try {
      const target = fs.readlinkSync(`/proc/self/fd/${fd}`)
      return target.startsWith(dir + "/") ? [target] : []
    } catch {
      return [] // the descriptor readdir itself used, closed by now
    }
  })

const temps = (dir: string) => fs.readdirSync(dir).filter((f) => /\.makuo\d+$/.test(f))

describe("descriptors of transfers that do not complete", () => {
  it.scoped("a transfer whose source shrinks breaks off, leaves no descriptor open on either side, and is sent again as it is now", () =>
    Effect.gen(function*() {
      const net = yield* MemoryNetwork.make({ seed: 11 })
      const a = yield* startNode(net, "10.0.0.1")
      const b = yield* startNode(net, "10.0.0.2")
      const big = join(a.base, "sub/big")
      fs.mkdirSync(join(a.base, "sub"))
      fs.writeFileSync(big, Buffer.alloc(4_000_000, 3))
      const run = yield* Effect.fork(driveClock(Effect.map(Stream.runCollect(a.jobs.run(job)), Chunk.toReadonlyArray), "5 millis"))
      // once DATA flows (the reader is open, the member has a temp file), the file shrinks under the sender
      for (let i = 0; i < 200 && openBelow(a.base).length === 0; i++) yield* advance("1 millis")
      expect(openBelow(a.base)).toEqual([big])
      expect(openBelow(b.base)).toHaveLength(2) // the temp file and its directory
      fs.truncateSync(big, 1000)
      const events = yield* Fiber.join(run)
      expect(events[0]).toMatchObject({ _tag: "File", path: "sub/big", hosts: [{ host: "h2", outcome: "failed" }] })
      expect((events[0] as { hosts: ReadonlyArray<{ detail: string }> }).hosts[0]!.detail).toMatch(/^changed while it was sent \(blocks .*\); sent again$/)
      expect(events[1]).toMatchObject({ _tag: "File", path: "sub/big", hosts: [{ host: "h2", outcome: "updated" }] })
      yield* settle
      expect(openBelow(a.base)).toEqual([])
      expect(openBelow(b.base)).toEqual([])
      expect(temps(join(b.base, "sub"))).toEqual([])
      expect(fs.readFileSync(join(b.base, "sub/big")).equals(Buffer.alloc(1000, 3))).toBe(true)
    }))

  it.scoped("an interrupted send closes the reader at once; the member discards its temp file on BREAK", () =>
    Effect.gen(function*() {
      const net = yield* MemoryNetwork.make({ seed: 12 })
      const a = yield* startNode(net, "10.0.0.1")
      const b = yield* startNode(net, "10.0.0.2")
      fs.mkdirSync(join(a.base, "sub"))
      fs.writeFileSync(join(a.base, "sub/big"), Buffer.alloc(4_000_000, 4))
      const run = yield* Effect.fork(driveClock(Stream.runDrain(a.jobs.run(job)), "5 millis"))
      for (let i = 0; i < 200 && openBelow(a.base).length === 0; i++) yield* advance("1 millis")
      expect(openBelow(a.base)).toHaveLength(1)
      expect(temps(join(b.base, "sub"))).toHaveLength(1)
      yield* Fiber.interrupt(run)
      expect(openBelow(a.base)).toEqual([])
      yield* settle
      expect(openBelow(b.base)).toEqual([])
      expect(temps(join(b.base, "sub"))).toEqual([])
    }))

  it.scoped("sessions that end without data (skipped, dry run, sender gone after STAT) hold no descriptor", () =>
    Effect.gen(function*() {
      const net = yield* MemoryNetwork.make({ seed: 13 })
      const a = yield* startNode(net, "10.0.0.1")
      const b = yield* startNode(net, "10.0.0.2", { members: { memberTimeout: Duration.hours(1) } })
      for (const n of [a, b]) fs.mkdirSync(join(n.base, "sub"))
      fs.writeFileSync(join(a.base, "sub/same"), "same")
      fs.cpSync(join(a.base, "sub/same"), join(b.base, "sub/same"), { preserveTimestamps: true })
      fs.writeFileSync(join(a.base, "sub/new"), "new")
      const send = (paths: ReadonlyArray<string>, dryRun: boolean) =>
        Effect.map(driveClock(Stream.runCollect(a.jobs.run({ ...job, paths, dryRun }))), Chunk.toReadonlyArray)
      expect(yield* send(["sub/same"], false)).toMatchObject([{ hosts: [{ outcome: "skipped" }] }, { _tag: "Summary" }])
      expect(yield* send(["sub/new"], true)).toMatchObject([{ hosts: [{ outcome: "would-update" }] }, { _tag: "Summary" }])
      yield* settle
      expect(openBelow(b.base)).toEqual([])
      // the sender vanishes right after its STAT was answered UPDATE: the session holds the file's directory until
      // it is collected as idle
      yield* net.crashAfter("10.0.0.1", 2)
      yield* Effect.fork(Stream.runDrain(a.jobs.run({ ...job, paths: ["sub/new"], timeout: Duration.seconds(5) })))
      yield* advance("1 second")
      expect(openBelow(b.base)).toHaveLength(1)
      yield* advance("200 seconds")
      expect(openBelow(b.base)).toEqual([])
      expect(temps(join(b.base, "sub"))).toEqual([])
    }))
})
