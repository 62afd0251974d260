import { describe, expect, it } from "@effect/vitest"
import { Chunk, Duration, Effect, Stream } from "effect"
import * as fs from "node:fs"
import { join } from "node:path"
import { type SendEvent, sendJob } from "../../src/domain/job.js"
import { Opcode, SendState } from "../../src/protocol/v7/constants.js"
import { decode } from "../../src/protocol/v7/codec.js"
import { MAX_RESENDS } from "../../src/transfer/Jobs.js"
import { driveClock, startNode } from "../support/cluster.js"
import * as MemoryNetwork from "../support/MemoryNetwork.js"

const job = sendJob({ paths: ["big"], operation: "send", timeout: Duration.seconds(60) })
const collect = (s: Stream.Stream<SendEvent, unknown>) => Effect.map(driveClock(Stream.runCollect(s)), Chunk.toReadonlyArray)

/** The block number of a DATA datagram, else undefined. */
const dataBlock = (bytes: Uint8Array) => {
  const m = decode(bytes)
  return m._tag === "Right" && m.right.header.opcode === Opcode.SEND && m.right.header.nstate === SendState.DATA ? m.right.header.seqno : undefined
}

const overwrite = (path: string, offset: number, text: string) => {
  const fd = fs.openSync(path, "r+")
  fs.writeSync(fd, text, offset)
  fs.closeSync(fd)
}

const outcomes = (events: ReadonlyArray<SendEvent>) =>
  events.flatMap((e) => (e._tag === "File" ? e.hosts.map((h) => `${e.path} ${h.host} ${h.outcome}${h.detail === undefined ? "" : `: ${h.detail}`}`) : []))

const tempFiles = (base: string) => fs.readdirSync(base).filter((f) => /\.makuo\d+$/.test(f))

describe("a file that changes while it is sent", () => {
  it.scoped("overwritten between blocks: broken off before any member commits, reported for every host, sent again; each member ends with the final file", () =>
    Effect.gen(function*() {
      const net = yield* MemoryNetwork.make({ seed: 21 })
      const a = yield* startNode(net, "10.0.0.1")
      const members = yield* Effect.forEach(["10.0.0.2", "10.0.0.3"], (x) => startNode(net, x))
      const source = join(a.base, "big")
      fs.writeFileSync(source, Buffer.alloc(200 * 1024, "A"))
      let changed = false
      net.onSend(a.address, (bytes) => {
        if (changed || dataBlock(bytes) !== 100) return
        changed = true
        // a block already sent and one still to come: without the check the members would commit neither version
        overwrite(source, 10 * 1024, "BBBB")
        overwrite(source, 150 * 1024, "CCCC")
      })
      const events = yield* collect(a.jobs.run(job))
      expect(changed).toBe(true)
      expect(outcomes(events)).toEqual([
        expect.stringMatching(/^big h2 failed: changed while it was sent \(modified during the transfer\); sent again$/),
        expect.stringMatching(/^big h3 failed: changed while it was sent \(modified during the transfer\); sent again$/),
        "big h2 updated",
        "big h3 updated"
      ])
      expect(events.at(-1)).toMatchObject({ _tag: "Summary", summary: { files: 1, failed: 2, updated: 2 } })
      const final = fs.readFileSync(source)
      for (const m of members) {
        expect(fs.readFileSync(join(m.base, "big")).equals(final)).toBe(true)
        expect(tempFiles(m.base)).toEqual([])
      }
    }))

  it.scoped(`appended to during every attempt: given up after ${MAX_RESENDS} resends, members keep the old file byte for byte`, () =>
    Effect.gen(function*() {
      const net = yield* MemoryNetwork.make({ seed: 22 })
      const a = yield* startNode(net, "10.0.0.1")
      const members = yield* Effect.forEach(["10.0.0.2", "10.0.0.3"], (x) => startNode(net, x))
      const source = join(a.base, "big")
      const old = Buffer.alloc(100 * 1024, "A")
      fs.writeFileSync(source, old)
      fs.utimesSync(source, 1_000_000, 1_000_000)
      const first = yield* collect(a.jobs.run(job))
      expect(first.at(-1)).toMatchObject({ _tag: "Summary", summary: { updated: 2, failed: 0 } })
      fs.writeFileSync(source, Buffer.alloc(100 * 1024, "N"))
      let appends = 0
      net.onSend(a.address, (bytes) => {
        if (dataBlock(bytes) !== 50) return
        appends++
        fs.appendFileSync(source, "more")
      })
      const events = yield* collect(a.jobs.run(job))
      expect(appends).toBe(MAX_RESENDS + 1)
      const reported = outcomes(events)
      expect(reported).toHaveLength(2 * (MAX_RESENDS + 1))
      expect(reported.slice(0, -2).every((o) => /failed: changed while it was sent \(size \d+ when opened, \d+ after sending\); sent again$/.test(o))).toBe(true)
      expect(reported.slice(-2).every((o) => /failed: changed while it was sent \(.*\); not sent$/.test(o))).toBe(true)
      expect(events.at(-1)).toMatchObject({ _tag: "Summary", summary: { files: 1, updated: 0, failed: 2 * (MAX_RESENDS + 1) } })
      for (const m of members) {
        expect(fs.readFileSync(join(m.base, "big")).equals(old)).toBe(true)
        expect(tempFiles(m.base)).toEqual([])
      }
    }))
})
