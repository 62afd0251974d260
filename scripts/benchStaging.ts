/**
 * `node dist/scripts/benchStaging.js [files] [rounds] [existing|new|both]`: figures, not a test. A member's disk side of a send of
 * many new small files without the network: `store/staging.ts` looks up 2000 new files of 1-4 KiB (manifest
 * batches of 16, one pass each), writes each in blocks of 1400 bytes and stages it (passes of 16 files, as the
 * arrivals of one wake-up), then switches them, in a fresh base each round whose 21 directories exist (as the
 * bench's small-file row: every file put in place by its own rename); then the same files under new directories
 * (staged inside a new directory's temp). `TMPDIR=/dev/shm` leaves out what the disk's own create costs. Prints the CPU time (`process.cpuUsage`: user and system, the
 * machine is shared) per file of each phase, the median of the rounds, and the least round in all.
 */
import { Effect } from "effect"
import { createHash } from "node:crypto"
import * as fs from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as FileStore from "../src/store/FileStore.js"
import * as Staging from "../src/store/staging.js"
import type { Entry } from "../src/transfer/txn/messages.js"

const files = Number(process.argv[2] ?? 2000)
const rounds = Number(process.argv[3] ?? 7)
const which = process.argv[4] ?? "both"

const BLOCK = 1400
const BATCH = 16

const uid = process.getuid?.() ?? 0
const gid = process.getgid?.() ?? 0

/** In the order of the sender's scan: a directory's files one after the other. */
const paths = Array.from({ length: files }, (_, i) => `d${i % 7}/s${i % 3}/f${i}.txt`).sort()
const contents = paths.map((_, i) => Buffer.alloc(1024 + ((i * 7919) % 3072), i % 251))
const entriesUnder = (top: string): Array<Entry> =>
  contents.map((bytes, i) => ({
    path: `${top}/${paths[i]}`,
    type: "file",
    size: bytes.length,
    mode: [0o644, 0o600, 0o755][i % 3]!,
    uid,
    gid,
    mtime: { sec: 1_700_000_000 + i, nsec: 0 },
    digest: new Uint8Array(createHash("sha256").update(bytes).digest())
  }))

type Phase = "lookup" | "stage" | "switch"

const cpu = () => {
  const c = process.cpuUsage()
  return { user: c.user, system: c.system }
}

const round = (existing: boolean) =>
  Effect.scoped(Effect.gen(function*() {
    const root = fs.mkdtempSync(join(tmpdir(), "makuo-bench-staging-"))
    try {
      const base = join(root, "base")
      fs.mkdirSync(base)
      if (existing) for (let d = 0; d < 7; d++) for (let s = 0; s < 3; s++) fs.mkdirSync(join(base, "small", `d${d}`, `s${s}`), { recursive: true })
      const store = yield* FileStore.make(base)
      const staging = Staging.make(store, {
        keepSetId: false,
        journalDir: join(root, "journal"),
        take: () => true,
        give: () => undefined,
        notice: () => undefined,
        held: Staging.heldBudget(Infinity)
      })
      const entries = entriesUnder("small")
      const took: Record<Phase, { user: number; system: number }> = {} as never
      const time = (phase: Phase, f: () => void) => {
        const before = cpu()
        f()
        const after = cpu()
        took[phase] = { user: after.user - before.user, system: after.system - before.system }
      }
      time("lookup", () => {
        for (let b = 0; b < files; b += BATCH) {
          staging.passNow(() => {
            // a batch at once, as the member looks one up
            const batch = entries.slice(b, b + BATCH)
            staging.lookupAllNow(batch).forEach((need, i) => {
              if (need !== "contents") throw new Error(`${batch[i]!.path}: not new`)
            })
          })
        }
      })
      time("stage", () => {
        for (let b = 0; b < files; b += BATCH) {
          staging.passNow(() => {
            for (let i = b; i < Math.min(files, b + BATCH); i++) {
              const bytes = contents[i]!
              for (let o = 0; o < bytes.length; o += BLOCK) staging.writeNow(entries[i]!, o, bytes.subarray(o, o + BLOCK))
              const errno = staging.stageNow(entries[i]!)
              if (errno !== 0) throw new Error(`${entries[i]!.path}: errno ${errno}`)
            }
          })
        }
      })
      time("switch", () => {
        const failed = staging.switchNow(1, entries, [])
        if (failed !== undefined) throw failed
      })
      const check = fs.readFileSync(join(base, entries[files - 1]!.path))
      if (!check.equals(contents[files - 1]!)) throw new Error("the last file differs")
      return took
    } finally {
      fs.rmSync(root, { recursive: true, force: true })
    }
  }))

const median = (xs: ReadonlyArray<number>) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!

const report = (label: string, results: ReadonlyArray<Record<Phase, { user: number; system: number }>>) => {
  const per = (n: number) => (n / files).toFixed(1)
  const phases: ReadonlyArray<Phase> = ["lookup", "stage", "switch"]
  const cells = phases.map((p) =>
    `${p} ${per(median(results.map((r) => r[p].user)))}+${per(median(results.map((r) => r[p].system)))}`
  )
  const totals = results.map((r) => phases.reduce((n, p) => n + r[p].user + r[p].system, 0))
  const user = median(results.map((r) => phases.reduce((n, p) => n + r[p].user, 0)))
  // the least a round took as well: on a shared machine the others' load only ever adds
  console.log(`${label}: µs per file (user+system) ${cells.join(", ")}; in all ${per(median(totals))} (user ${per(user)}), least ${per(Math.min(...totals))}`)
}

const main = Effect.gen(function*() {
  for (const existing of which === "new" ? [false] : which === "existing" ? [true] : [true, false]) {
    yield* round(existing) // warm-up: the JIT
    const results = []
    for (let r = 0; r < rounds; r++) results.push(yield* round(existing))
    report(`${files} new files, ${existing ? "directories existing" : "under new directories"}`, results)
  }
})

Effect.runSync(main)
