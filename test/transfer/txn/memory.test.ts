/**
 * What a 100 000-entry transaction costs in memory per entry (issue #23: at most ~500 bytes on the sender and on a
 * member), measured as heap growth (JavaScript heap and array buffers) after a full garbage collection:
 * - the sender's driver (`TxnSend.ts`), at the moment it sends COMMIT, when it holds a record of every entry for
 *   the report; its members are scripted answerers that hold nothing per entry, so what grows is the sender's;
 * - a member's machine (`memberMachine.ts`) once every batch is looked up and every entry needed, its batches
 *   decoded from their datagrams by the codec as the wire does (the digests share each datagram's buffer).
 * Entries have paths of ~35 characters. No timing is asserted; the run is bounded (100 000 entries, no file I/O).
 */
import { createHash } from "node:crypto"
import { setFlagsFromString } from "node:v8"
import { runInNewContext } from "node:vm"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Either } from "effect"
import { tempDir } from "../../../scripts/lib/loopbackCluster.js"
import { budgetFor, fillBatch } from "../../../src/protocol/native/budget.js"
import * as Transfer from "../../../src/protocol/native/transfer.js"
import * as FileStore from "../../../src/store/FileStore.js"
import { makeRttEstimator } from "../../../src/transfer/engine/rtt.js"
import { makePacer } from "../../../src/transfer/pacer.js"
import * as Member from "../../../src/transfer/txn/memberMachine.js"
import { bitmapFor, type Entry, setBit, type ToMember, type ToSender, type TxnId } from "../../../src/transfer/txn/messages.js"
import { makeDriver } from "../../../src/transfer/txn/TxnSend.js"

const ENTRIES = 100_000
/** Issue #23's bound, with a margin of 10 % for what a collection leaves. */
const LIMIT = 550
const budget = Either.getOrThrow(budgetFor())

/** A full collection: `global.gc` when node runs with --expose-gc, else the same function made reachable here. */
const gc: () => void = (globalThis as { gc?: () => void }).gc ?? (setFlagsFromString("--expose-gc"), runInNewContext("gc") as () => void)
const used = () => {
  gc()
  gc()
  const m = process.memoryUsage()
  return m.heapUsed + m.arrayBuffers
}

const pathOf = (i: number) => `site/d${String(i % 1000).padStart(3, "0")}/page-${String(i).padStart(6, "0")}.html`
const uid = process.getuid?.() ?? 0

describe("a 100 000-entry transaction's memory", () => {
  it.live("the sender's driver holds under ~500 bytes per entry when it commits", () =>
    Effect.scoped(Effect.gen(function*() {
      const store = yield* FileStore.make(yield* tempDir)
      // every entry an empty file with a version of its own, as each lstat of the scan makes one (no digest: a send's
      // manifest carries none; no data goes out)
      const version = (i: number) => ({ size: 0, mtimeNs: 1_700_000_000_000_000_000n + BigInt(i), ctimeNs: 1_700_000_000_000_000_000n + BigInt(i) })
      const targets = [2, 3].map((i) => ({ host: `h${i}`, address: `10.0.0.${i}`, port: 5000 }))
      let before = 0
      let atCommit: number | undefined
      let driver: ReturnType<typeof makeDriver> | undefined
      const answer = (from: string, m: ToSender) => setImmediate(() => driver!.reply(from, m))
      driver = makeDriver({
        store,
        budget,
        // every entry is empty: no Data goes out
        sendData: () => expect.unreachable("Data sent for an empty file"),
        sendBundle: () => expect.unreachable("Data sent for an empty file"),
        send: (_, message: ToMember) => {
          if (message._tag === "Commit" && atCommit === undefined) atCommit = used()
          for (const t of targets) {
            // scripted members: every entry needed and changed, nothing held per entry
            if (message._tag === "Manifest") {
              const bits = bitmapFor(message.entries.length)
              for (let i = 0; i < message.entries.length; i++) setBit(bits, i)
              answer(t.address, { _tag: "Needs", txn: message.txn, batch: message.batch, bitmap: bits, changes: bits })
            } else if (message._tag === "Prepare") answer(t.address, { _tag: "Prepared", txn: message.txn })
            else if (message._tag === "Commit") answer(t.address, { _tag: "Committed", txn: message.txn, errno: 0 })
          }
        },
        now: () => performance.now(),
        after: (ms, f) => {
          const t = setTimeout(f, ms)
          return () => clearTimeout(t)
        },
        rtt: makeRttEstimator(),
        nextTxn: () => 7 as TxnId
      })
      let i = 0
      before = used()
      const result = yield* driver.run({
        targets,
        unicast: false,
        allOrNothing: false,
        timeout: 30_000,
        pacer: makePacer(undefined),
        next: () =>
          i < ENTRIES
            ? { rel: pathOf(i++), entry: { kind: "file", mode: 0o100644, uid, gid: uid, size: 0, mtime: 1_700_000_000, ctime: 1_700_000_000, rdev: 0, linkTarget: "", identity: { dev: 1, ino: i }, version: version(i) } }
            : undefined,
        problem: (rel, message) => expect.fail(`${rel}: ${message}`)
      })
      expect(result.members.map((m) => m.outcome)).toEqual(["committed", "committed"])
      expect(result.entries.length).toBe(ENTRIES)
      const perEntry = (atCommit! - before) / ENTRIES
      console.log(`sender: ${perEntry.toFixed(0)} bytes per entry`)
      expect(perEntry).toBeLessThan(LIMIT)
    })), 60_000)

  it("a member's machine holds under ~500 bytes per entry it needs, its batches decoded from datagrams", () => {
    const digest = createHash("sha256").update("contents").digest()
    const entryOf = (i: number): Entry => ({
      path: pathOf(i), type: "file", size: 700, mode: 0o644, uid, gid: uid, mtime: { sec: 1_700_000_000, nsec: i }, digest
    })
    const txn = 9 as TxnId
    const s = Member.make(txn, budget.block)
    const out: Array<Member.Action> = []
    const before = used()
    let first = 0
    for (let batch = 0; first < ENTRIES; batch++) {
      // as the sender forms them: as many entries as one datagram carries
      const candidates = Array.from({ length: Math.min(64, ENTRIES - first) }, (_, k) => entryOf(first + k))
      const n = fillBatch(candidates, 0, budget, 0)
      const sent: ToMember = { _tag: "Manifest", txn, batch, first, entries: candidates.slice(0, n), last: first + n === ENTRIES, delete: false }
      const body = Either.getOrThrow(Transfer.encode(sent))
      const message = Either.getOrThrow(Transfer.decode(Transfer.typeOf(sent), body)) as ToMember
      Member.step(s, { _tag: "Message", message }, out)
      Member.step(s, { _tag: "LookedUp", batch, needs: Array.from({ length: n }, () => "contents" as const) }, out)
      out.length = 0
      first += n
    }
    expect(s.needed.size).toBe(ENTRIES)
    const perEntry = (used() - before) / ENTRIES
    console.log(`member: ${perEntry.toFixed(0)} bytes per entry`)
    expect(perEntry).toBeLessThan(LIMIT)
  }, 60_000)
})
