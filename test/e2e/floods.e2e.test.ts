/**
 * A real daemon under a small open-files limit, flooded on loopback from a raw socket with what each holds a
 * descriptor on a member: MD5 OPENs of a large file (each hash reads it) and SEND STATs of files to update (each
 * holds the file's directory until OPEN). What must hold: the daemon lives, `makuo status` answers and counts the
 * refusals, the half-open sessions go within seconds, and a real send then goes through.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as dgram from "node:dgram"
import * as fs from "node:fs"
import { join } from "node:path"
import { eventually, freePort, makuo, memberNames, startDaemon, tempDir } from "../../scripts/lib/loopbackCluster.js"
import { forgedRequest } from "../../scripts/lib/hostile.js"
import { Opcode, SendState } from "../../src/protocol/v7/constants.js"

const loopback = ["127.0.0.2", "127.0.0.3"]
/** Room for 32 received files (64 descriptors) beside the daemon's reserve of 256. */
const OPEN_FILES = 320
const FLOOD = { md5: 3000, stat: 1000, seconds: 10 }
/**
 * Datagrams per 5 ms: the flood must reach the daemon to be refused by it. Bursts of 100 from two peers can
 * overflow the receive buffer of the slower node:dgram fallback (a clean-clone run once saw no session refused).
 */
const BURST = 25

/** A socket on `address` that sends each datagram to `to`:`port`, a burst at a time (bounded in count and time). */
const flood = (address: string, to: string, port: number, datagrams: ReadonlyArray<Uint8Array>) =>
  Effect.async<number>((resume) => {
    const socket = dgram.createSocket("udp4")
    const deadline = Date.now() + FLOOD.seconds * 1000
    let sent = 0
    const burst = () => {
      if (sent >= datagrams.length || Date.now() > deadline) return socket.close(() => resume(Effect.succeed(sent)))
      for (const end = Math.min(datagrams.length, sent + BURST); sent < end; sent++) socket.send(datagrams[sent]!, port, to)
      setTimeout(burst, 5)
    }
    socket.bind(0, address, burst)
  })

interface Status {
  readonly counters: { readonly refusedSessions: number; readonly refusedDescriptors: number }
  readonly incoming: ReadonlyArray<unknown>
}

describe("a daemon with few descriptors under a flood of requests that hold them", () => {
  it.scopedLive("MD5 OPENs and SEND STATs from a raw socket: it lives, status shows the refusals, a real send goes through", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const port = yield* freePort(loopback)
      const h1 = yield* startDaemon(dir, 1, port)
      const h2 = yield* startDaemon(dir, 2, port, [], { openFiles: OPEN_FILES })
      for (const d of [h1, h2]) expect(yield* eventually(Effect.map(memberNames(d), (l) => l.length === 1), "10 seconds"), d.log()).toBe(true)
      fs.writeFileSync(join(h2.base, "big.bin"), Buffer.alloc(32 * 1024 * 1024, 7))
      fs.mkdirSync(join(h2.base, "sub"))
      for (let i = 0; i < 20; i++) fs.writeFileSync(join(h2.base, "sub", `f${i}`), "old")

      const md5 = Array.from({ length: FLOOD.md5 }, (_, i) =>
        forgedRequest({ opcode: Opcode.MD5, nstate: SendState.OPEN, reqid: 10_000 + i, payload: { _tag: "Mhash", digest: new Uint8Array(16), path: "big.bin" } }, "224.0.0.108", port))
      // newer than what h2 has: each STAT is answered UPDATE and holds sub/ open for the OPEN that never comes
      const stat = Array.from({ length: FLOOD.stat }, (_, i) =>
        forgedRequest({
          opcode: Opcode.SEND, nstate: SendState.STAT, reqid: 20_000 + i,
          payload: { _tag: "Mstat", mode: 0o100644, uid: 0, gid: 0, size: 5000, mtime: 2_000_000_000, ctime: 1, path: `sub/f${i % 20}`, linkTarget: "", rdevHigh: 0, rdevLow: 0 }
        }, "224.0.0.108", port))
      const [sentMd5, sentStat] = yield* Effect.all([flood("127.0.0.9", h2.address, port, md5), flood("127.0.0.10", h2.address, port, stat)], { concurrency: 2 })
      expect(sentMd5 + sentStat).toBeGreaterThan(1000)

      expect(h2.process.exitCode, h2.log()).toBe(null)
      const status = yield* makuo(["status", "--json", "--control", h2.control])
      expect(status.code, status.stderr + h2.log()).toBe(0)
      const counters = (JSON.parse(status.stdout) as Status).counters
      // one peer's share of the table (512) taken, the rest refused; of the hashes, those beyond the budget refused
      expect(counters.refusedSessions).toBeGreaterThan(0)
      expect(counters.refusedDescriptors).toBeGreaterThan(0)
      // the forged sessions are half-open: gone within seconds of the flood
      const idle = Effect.map(makuo(["status", "--json", "--control", h2.control]), (r) => r.code === 0 && (JSON.parse(r.stdout) as Status).incoming.length === 0)
      expect(yield* eventually(idle, "20 seconds")).toBe(true)

      fs.writeFileSync(join(h1.base, "page.html"), "<h1>after the flood</h1>")
      const sent = yield* makuo(["send", "page.html", "--control", h1.control], 60_000)
      expect(sent.code, sent.stdout + sent.stderr).toBe(0)
      expect(fs.readFileSync(join(h2.base, "page.html"), "utf8")).toBe("<h1>after the flood</h1>")
      expect(h2.process.exitCode, h2.log()).toBe(null)
    }), 120_000)
})
