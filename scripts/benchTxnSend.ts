/**
 * `node dist/scripts/benchTxnSend.js [files] [--unchanged] [--k K]`: figures, not a test. What a transaction's
 * sender costs per file in process (user + system CPU, `process.cpuUsage`): the scan of a tree of small files
 * (1–4 KiB, 100 a directory, in a temp dir), the manifest in batches encoded as the wire encodes them, the bundle
 * stream read and laid out, the digests, the vote, and the report per file (`fileOutcomes`), against K members that
 * answer at once on a later turn of the event loop (every file needed, or with `--unchanged` none). Not in it:
 * sealing and the socket (`benchSend.js`), the members' own work. The tree is made by a child process, so none of
 * its garbage is collected during a pass; the first pass (the code not yet optimised) is printed apart.
 */
import { Effect, Either } from "effect"
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import type { Destination } from "../src/net/Transport.js"
import { budgetFor } from "../src/protocol/native/budget.js"
import { encodeAny } from "../src/protocol/native/codec.js"
import { makeExclude } from "../src/store/exclude.js"
import * as FileStore from "../src/store/FileStore.js"
import { walk } from "../src/store/scan.js"
import { makeRttEstimator } from "../src/transfer/engine/rtt.js"
import { makePacer } from "../src/transfer/pacer.js"
import type { ToMember, ToSender, TxnId } from "../src/transfer/txn/messages.js"
import { makeDriver } from "../src/transfer/txn/TxnSend.js"
import { fileOutcomes } from "../src/transfer/txn/txnReport.js"

const PER_DIR = 100
const PASSES = Number(process.env["PASSES"] ?? 10)
const budget = Either.getOrThrow(budgetFor())

const makeTree = (root: string, files: number) => {
  for (let i = 0; i < files; i++) {
    const dir = join(root, `d${Math.floor(i / PER_DIR)}`)
    if (i % PER_DIR === 0) fs.mkdirSync(dir, { recursive: true })
    fs.writeFileSync(join(dir, `f${i}.txt`), Buffer.alloc(1024 + ((i * 1237) % 3072), i % 251))
  }
}

/** One transaction of the whole tree to `k` members answering at once. */
const once = (store: FileStore.FileStoreShape, k: number, unchanged: boolean) =>
  Effect.gen(function*() {
    let driver: ReturnType<typeof makeDriver> | undefined
    const addresses = Array.from({ length: k }, (_, i) => `10.0.0.${i + 2}`)
    let received = 0
    const answer = (message: ToMember): ToSender | undefined => {
      switch (message._tag) {
        case "Manifest": {
          const bitmap = new Uint8Array((message.entries.length + 7) >> 3)
          if (!unchanged) message.entries.forEach((e, i) => e.type === "file" && (bitmap[i >> 3]! |= 1 << (i & 7)))
          return { _tag: "Needs", txn: message.txn, batch: message.batch, bitmap, changes: bitmap }
        }
        case "Probe":
          return { _tag: "Progress", txn: message.txn, seq: message.seq, received }
        case "Prepare":
          return { _tag: "Prepared", txn: message.txn }
        case "Commit":
          return { _tag: "Committed", txn: message.txn, errno: 0 }
        case "Abort":
          return { _tag: "Aborted", txn: message.txn }
        default:
          return undefined
      }
    }
    const send = (_to: Destination, message: ToMember) => {
      // what the wire does before it seals: the body
      Either.getOrThrow(encodeAny(message))
      const reply = answer(message)
      if (reply !== undefined) setImmediate(() => addresses.forEach((a) => driver!.reply(a, reply)))
    }
    driver = makeDriver({
      store,
      budget,
      send,
      sendData: (_to, bodies) => void (received += bodies.length),
      sendBundle: (_to, bodies) => void (received += bodies.length),
      now: () => performance.now(),
      after: (ms, f) => {
        const t = setTimeout(f, ms)
        return () => clearTimeout(t)
      },
      rtt: makeRttEstimator(),
      nextTxn: () => 1 as TxnId
    })
    const items = walk(store, { paths: [], recursive: true, exclude: makeExclude(store.base, []) })
    const result = yield* driver.run({
      targets: addresses.map((address, i) => ({ host: `h${i + 2}`, address, port: 5000 })),
      unicast: false,
      allOrNothing: false,
      checksum: false,
      timeout: 5_000,
      pacer: makePacer(undefined, Number.POSITIVE_INFINITY),
      next: () => {
        for (let i = items.next(); i.done !== true; i = items.next()) if (i.value._tag === "Entry") return { rel: i.value.rel, entry: i.value.entry }
        return undefined
      },
      problem: (rel, message) => console.error(`${rel}: ${message}`)
    })
    const outcomes = fileOutcomes(result)
    if (result.members.some((m) => m.outcome !== "committed")) throw new Error(`not committed: ${JSON.stringify(result.members)}`)
    return outcomes.length
  })

const measure = (files: number, k: number, unchanged: boolean) =>
  Effect.gen(function*() {
    const root = fs.mkdtempSync(join(tmpdir(), "makuo-txnsend-"))
    try {
      execFileSync(process.execPath, [import.meta.filename, "--make", root, String(files)])
      const store = yield* FileStore.make(root)
      const passes: Array<number> = []
      let entries = 0
      for (let pass = 0; pass < PASSES; pass++) {
        const before = process.cpuUsage()
        entries = yield* once(store, k, unchanged)
        const used = process.cpuUsage(before)
        passes.push(used.user + used.system)
      }
      const per = (us: number) => `${(us / files).toFixed(1)} µs`
      const sorted = passes.slice(1).sort((a, b) => a - b)
      console.log(
        `${String(files).padStart(6)} ${unchanged ? "unchanged" : "new"} files (${entries} entries), K = ${k}, sender CPU per file: ` +
          `first pass ${per(passes[0]!)}, then best ${per(sorted[0]!)}, median ${per(sorted[sorted.length >> 1]!)} (${PASSES - 1} passes)`
      )
    } finally {
      fs.rmSync(root, { recursive: true, force: true })
    }
  })

const args = process.argv.slice(2)
if (args[0] === "--make") makeTree(args[1]!, Number(args[2]))
else {
  const flag = (name: string) => {
    const at = args.indexOf(name)
    return at < 0 ? false : (args.splice(at, 1), true)
  }
  const kAt = args.indexOf("--k")
  const k = kAt < 0 ? 1 : Number(args.splice(kAt, 2)[1])
  const unchanged = flag("--unchanged")
  await Effect.runPromise(Effect.scoped(measure(Number(args[0] ?? 2000), k, unchanged)) as Effect.Effect<void, unknown, never>)
}
