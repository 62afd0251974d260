/**
 * `node dist/scripts/benchMember.js [MiB] [datagrams per batch]`: figures, not a test. A keyed member (the real
 * secure transport, wire, router and transaction driver over an in-process transport) is sent one file of MiB
 * (default 200) as sealed Data, batch by batch as a receive wake-up hands them over (default 43: a GRO slot's
 * worth; 1 or 2 is a member at a slow link's pace), and the process's CPU time per GiB and the garbage
 * collections over the Data are printed (`MEMBER_PROFILE=FILE`: a CPU profile of the Data alone). Sealing is done beforehand and not counted; the copy of each batch into
 * the receive buffer (the kernel's part) is.
 *
 * `node dist/scripts/benchMember.js files [count] [new|unchanged] [rounds]`: the same member is sent a tree of `count`
 * (default 2000) small files of 1-4 KiB in 21 directories (the bench's small workload) as one transaction: its
 * manifest batches, its Data packed as the sender's bundle stream packs them, its Digests a datagram's worth at a
 * time, then Prepare and Commit, in wake-ups of up to 43 datagrams. `new`: the directories exist, the files do not
 * (the bench's fresh tree); `unchanged`: every file is here already, nothing is sent but the manifest. Prints the
 * CPU time per file from the first manifest to the `Committed`, the median of the rounds (default 7, after one
 * warm-up) and the least, and the collector's pauses within (a full collection runs before each round's window,
 * so the set-up's own objects are not counted); `MEMBER_PROFILE=FILE` profiles the last round.
 */
import { Effect, Exit, Layer, Scope } from "effect"
import { createHash, randomBytes } from "node:crypto"
import * as fs from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Session } from "node:inspector/promises"
import { PerformanceObserver } from "node:perf_hooks"
import { setFlagsFromString } from "node:v8"
import { runInNewContext } from "node:vm"
import * as Node from "../src/daemon/Node.js"
import * as Members from "../src/members/Members.js"
import { type Datagram, type Destination, type Endpoint, type Layout, Transport, eachDatagram } from "../src/net/Transport.js"
import { decodeAny, type BodyType } from "../src/protocol/native/codec.js"
import * as Transfer from "../src/protocol/native/transfer.js"
import { defaultAead } from "../src/secure/aead.js"
import { SecureChannel } from "../src/secure/channel.js"
import * as SecureTransport from "../src/secure/SecureTransport.js"
import { generateKey } from "../src/secure/keys.js"
import * as FileReceiver from "../src/transfer/send/FileReceiver.js"
import { BLOCK } from "../src/transfer/txn/TxnMembers.js"
import type { Entry, Piece, TxnId } from "../src/transfer/txn/messages.js"
import { budgetFor, fillBatch } from "../src/protocol/native/budget.js"
import { DIGESTS_ENTRY, DIGESTS_FIXED, MAX_DIGESTS } from "../src/protocol/native/transfer.js"
import { PIECE_OVERHEAD } from "../src/transfer/txn/senderMachine.js"

const MIB = Number(process.argv[2] ?? 200)
const PER_BATCH = Number(process.argv[3] ?? 43)
/** Batches per wake-up: the native transport reads up to 8 before the event loop gets a turn. */
const PER_WAKE = PER_BATCH >= 43 ? 8 : 1
const PORT = 5000
const GROUP: Endpoint = { address: "224.0.0.108", port: PORT }
const MEMBER: Endpoint = { address: "127.0.0.2", port: PORT }
const SENDER: Endpoint = { address: "127.0.0.1", port: PORT }
const TXN = 42 as TxnId

interface Sent {
  readonly to: Destination
  readonly bytes: Uint8Array
}

/**
 * A keyed member over an in-process transport, and the sender's side of it: `deliver` hands a batch of sealed
 * frames over as one receive wake-up, `sendNative` seals a message to the group and delivers it alone, `answers`
 * opens what the member sent back.
 */
const harness = Effect.gen(function*() {
  const key = generateKey()
  const ring = { sending: key, accepted: new Map([[key.id, key]]) }
  const sender = new SecureChannel(defaultAead(), ring, (n) => new Uint8Array(randomBytes(n)), { group: GROUP, isLocal: (to) => to.address === SENDER.address && to.port === PORT })
  const outbox: Array<Sent> = []
  let consumer: ((batch: ReadonlyArray<Datagram>) => void) | undefined
  const inner = Layer.succeed(Transport, Transport.of({
    local: MEMBER,
    group: GROUP,
    send: (to, bytes, layout?: Layout) => eachDatagram(bytes, layout, (d) => void outbox.push({ to, bytes: d.slice() })),
    sendSegments: (to, bytes, segment) => Effect.sync(() => eachDatagram(bytes, segment, (d) => void outbox.push({ to, bytes: d.slice() }))),
    consume: (next) => void (consumer = next),
    stats: Effect.succeed({ io: "memory", overflowed: 0, kernelDrops: null, sendErrors: 0 })
  }))
  const base = fs.mkdtempSync(join(tmpdir(), "makuo-benchmember-"))
  const scope = yield* Scope.make()
  yield* Scope.addFinalizer(scope, Effect.sync(() => fs.rmSync(base, { recursive: true, force: true })))
  yield* Layer.buildWithScope(
    Node.layer({ base, members: Members.defaults("h2", "bench"), receiver: FileReceiver.receiverDefaults }).pipe(
      Layer.provide(SecureTransport.layer({ path: "(bench)", ring, runAsUid: undefined }).pipe(Layer.provide(inner)))
    ),
    scope
  )
  yield* Effect.sleep("50 millis")

  // the receive buffer: batches are copied in as the kernel would, and handed over as views of it
  const slab = new Uint8Array(64 * 65_536)
  const deliver = (frames: Uint8Array, starts: ReadonlyArray<number>, lengths: ReadonlyArray<number>) => {
    const batch: Array<Datagram> = []
    let at = 0
    for (let i = 0; i < starts.length; i++) {
      slab.set(frames.subarray(starts[i]!, starts[i]! + lengths[i]!), at)
      batch.push({ bytes: slab.subarray(at, at + lengths[i]!), from: SENDER })
      at += lengths[i]!
    }
    consumer!(batch)
  }
  const deliverOne = (frame: Uint8Array) => deliver(frame, [0], [frame.length])
  /**
   * The member's answers, opened by the sender: the native messages among them. What the sender sends back (a
   * CHALLENGE, an ANSWER) is delivered and the member's reply to it taken at once, a few exchanges at most: a reply
   * left in the outbox until the next call would come after the challenge expired (a round's set-up of 20 000 files
   * takes longer), and the member's vote would be refused as unadmitted.
   */
  const answers = () => {
    const delivered: Array<ReturnType<typeof decodeAny>> = []
    for (let exchange = 0; exchange < 4; exchange++) {
      const sent = outbox.splice(0).filter((s) => s.to._tag === "Peer" && s.to.address === SENDER.address)
      if (sent.length === 0) break
      const r = sender.receive(sent.map((s) => ({ bytes: s.bytes, from: MEMBER })), Date.now(), performance.now())
      for (const d of r.delivered) if (d.native !== undefined) delivered.push(decodeAny(d.native, d.bytes))
      if (r.send.length === 0) break
      for (const s of r.send) deliverOne(s.frame)
    }
    return delivered
  }
  const sendNative = (m: Transfer.TransferMessage) => {
    const body = Transfer.encode(m)
    if (body._tag === "Left") throw body.left
    deliverOne(sender.seal(body.right, { _tag: "Group" }, Date.now(), Transfer.typeOf(m)))
  }

  return { base, scope, sender, outbox, deliver, deliverOne, answers, sendNative }
})

const main = Effect.gen(function*() {
  const { scope, sender, outbox, deliver, answers, sendNative } = yield* harness
  const size = MIB * 1024 * 1024
  const contents = new Uint8Array(randomBytes(size))
  const digest = createHash("sha256").update(contents).digest()
  const manifest: Transfer.TransferMessage = {
    _tag: "Manifest",
    txn: TXN,
    batch: 0,
    first: 0,
    last: true,
    delete: false,
    entries: [{ path: "big", type: "file", size, mode: 0o644, uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0, mtime: { sec: 1, nsec: 0 }, digest }]
  }
  // the first frame is challenged, the ANSWER admits the epoch; then the manifest is taken
  sendNative(manifest)
  answers()
  sendNative(manifest)
  yield* Effect.sleep("50 millis")
  const needs = answers()
  if (!needs.some((n) => n._tag === "Right" && n.right._tag === "Needs")) throw new Error(`no Needs from the member: ${JSON.stringify(needs)}`)

  // every Data sealed beforehand, one piece a datagram as the sender's bundle stream lays a big file out
  const segment = Transfer.DATA_HEADER + BLOCK
  const blocks = Math.ceil(size / BLOCK)
  const bodies = new Uint8Array(blocks * segment)
  const view = new DataView(bodies.buffer)
  for (let b = 0; b < blocks; b++) {
    const length = Math.min(BLOCK, size - b * BLOCK)
    Transfer.writeDataHeader(view, b * segment, TXN, 0, b * BLOCK, length)
    bodies.set(contents.subarray(b * BLOCK, b * BLOCK + length), b * segment + Transfer.DATA_HEADER)
  }
  const used = blocks * segment - (BLOCK - (size - (blocks - 1) * BLOCK))
  const frames = sender.sealRun(bodies.subarray(0, used), segment, { _tag: "Group" }, Date.now(), Transfer.typeOf({ _tag: "Data", txn: TXN, pieces: [] }) as BodyType)
  const frameBytes = segment + (frames.length - used) / blocks
  const starts = Array.from({ length: blocks }, (_, i) => i * frameBytes)
  const lengths = starts.map((s) => Math.min(frameBytes, frames.length - s))

  let gcs = 0
  let gcMs = 0
  const observer = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) (gcs++, (gcMs += e.duration))
  })
  observer.observe({ entryTypes: ["gc"] })
  // MEMBER_PROFILE=FILE: a CPU profile of the Data alone, into FILE (.cpuprofile)
  const profileTo = process.env["MEMBER_PROFILE"]
  const inspector = profileTo === undefined ? undefined : new Session()
  if (inspector !== undefined) {
    inspector.connect()
    yield* Effect.promise(() => inspector.post("Profiler.enable").then(() => inspector.post("Profiler.start")))
  }
  const cpu0 = process.cpuUsage()
  const t0 = performance.now()
  // outside the Effect runtime, as the native transport's wake-ups are
  yield* Effect.promise(async () => {
    for (let b = 0; b < blocks;) {
      for (let w = 0; w < PER_WAKE && b < blocks; w++, b += PER_BATCH) {
        const end = Math.min(blocks, b + PER_BATCH)
        deliver(frames.subarray(starts[b]!), starts.slice(b, end).map((s) => s - starts[b]!), lengths.slice(b, end))
      }
      // a wake-up ends: its microtasks (the staging pass's end) run, and the event loop turns
      await new Promise<void>((resolve) => setImmediate(resolve))
    }
  })
  const cpu = process.cpuUsage(cpu0)
  const wall = performance.now() - t0
  if (inspector !== undefined) {
    const { profile } = yield* Effect.promise(() => inspector.post("Profiler.stop"))
    fs.writeFileSync(profileTo!, JSON.stringify(profile))
  }
  yield* Effect.sleep("20 millis")
  observer.disconnect()
  outbox.splice(0)
  sendNative({ _tag: "Prepare", txn: TXN, batches: 1 })
  yield* Effect.sleep("200 millis")
  const vote = answers().map((a) => (a._tag === "Right" ? a.right._tag : a.left.message))
  const gib = size / 2 ** 30
  const seconds = (cpu.user + cpu.system) / 1e6
  console.log(
    `${MIB} MiB, ${PER_BATCH} a batch: CPU ${(seconds / gib).toFixed(2)} s/GiB (user ${(cpu.user / 1e6 / gib).toFixed(2)}, system ${
      (cpu.system / 1e6 / gib).toFixed(2)
    }), wall ${(wall / 1000 / gib).toFixed(2)} s/GiB, ${gcs} GCs (${gcMs.toFixed(0)} ms); vote: ${vote.join(", ")}`
  )
  yield* Scope.close(scope, Exit.void)
})

/** A full collection on demand (`gc`, exposed for this process only). */
setFlagsFromString("--expose-gc")
const collect = runInNewContext("gc") as () => void

const FILES = Number(process.argv[3] ?? 2000)
const UNCHANGED = process.argv[4] === "unchanged"
const ROUNDS = Number(process.argv[5] ?? 7)
/** Frames handed over per receive wake-up at most. */
const PER_WAKE_FRAMES = 43

/** The bench's small tree (scripts/lib/trees.ts, `makeSampleTree`): its directories first, then its files by path. */
const smallTree = (top: string) => {
  let x = 42
  const rnd = () => (x = (Math.imul(x, 1103515245) + 12345) >>> 0)
  const uid = process.getuid?.() ?? 0
  const gid = process.getgid?.() ?? 0
  const files = Array.from({ length: FILES }, (_, i) => {
    const bytes = new Uint8Array(1024 + (rnd() % 3072)).fill(i % 251)
    const entry: Entry = { path: `${top}/d${i % 7}/s${i % 3}/f${i}.txt`, type: "file", size: bytes.length, mode: [0o644, 0o600, 0o755][i % 3]!, uid, gid, mtime: { sec: 1_700_000_000 + i, nsec: 0 } }
    return { entry, bytes }
  }).sort((a, b) => (a.entry.path < b.entry.path ? -1 : 1))
  const dirs: Array<Entry> = [top, ...Array.from({ length: 7 }, (_, d) => [`${top}/d${d}`, ...Array.from({ length: 3 }, (_, k) => `${top}/d${d}/s${k}`)]).flat()]
    .map((path) => ({ path, type: "directory", size: 0, mode: 0o755, uid, gid, mtime: { sec: 1_650_000_000, nsec: 0 } }))
  return { dirs, files }
}

const files = Effect.gen(function*() {
  const { base, scope, sender, deliver, answers, sendNative } = yield* harness
  const budget = budgetFor().pipe((b) => (b._tag === "Right" ? b.right : undefined))!
  // the first frame is challenged, the ANSWER admits the epoch
  sendNative({ _tag: "Abort", txn: 1 as TxnId })
  answers()
  const perDigests = Math.min(MAX_DIGESTS, Math.floor((budget.body - DIGESTS_FIXED) / DIGESTS_ENTRY))
  const seal = (m: Transfer.TransferMessage) => {
    const body = Transfer.encode(m)
    if (body._tag === "Left") throw body.left
    return sender.seal(body.right, { _tag: "Group" }, Date.now(), Transfer.typeOf(m))
  }
  const round = (r: number, profile: boolean) =>
    Effect.gen(function*() {
      const txn = (100 + r) as TxnId
      const top = `r${r}`
      const { dirs, files } = smallTree(top)
      for (const d of dirs) fs.mkdirSync(join(base, d.path), { recursive: true })
      if (UNCHANGED) {
        for (const { bytes, entry } of files) {
          const p = join(base, entry.path)
          fs.writeFileSync(p, bytes, { mode: entry.mode })
          fs.chmodSync(p, entry.mode)
          fs.utimesSync(p, entry.mtime.sec, entry.mtime.sec)
        }
      }
      const entries = [...dirs, ...files.map((f) => f.entry)]
      // sealed beforehand, in the order the sender sends: the manifest, the bundle stream with its digests, the vote
      const frames: Array<Uint8Array> = []
      let batches = 0
      for (let first = 0; first < entries.length; batches++) {
        const n = fillBatch(entries, first, budget)
        frames.push(seal({ _tag: "Manifest", txn, batch: batches, first, entries: entries.slice(first, first + n), last: first + n === entries.length, delete: false }))
        first += n
      }
      if (!UNCHANGED) {
        let pieces: Array<Piece> = []
        let bytes = 0
        let digests: Array<{ index: number; digest: Uint8Array }> = []
        const flush = () => void (pieces.length > 0 && frames.push(seal({ _tag: "Data", txn, pieces })), (pieces = []), (bytes = 0))
        files.forEach(({ bytes: contents }, i) => {
          const index = dirs.length + i
          for (let at = 0; at < contents.length; at += BLOCK) {
            const piece = Math.min(BLOCK, contents.length - at)
            if (bytes + piece + PIECE_OVERHEAD > budget.pieces) flush()
            pieces.push({ index, offset: at, bytes: contents.subarray(at, at + piece) })
            bytes += piece + PIECE_OVERHEAD
          }
          digests.push({ index, digest: new Uint8Array(createHash("sha256").update(contents).digest()) })
          if (digests.length === perDigests) flush(), frames.push(seal({ _tag: "Digests", txn, entries: digests })), (digests = [])
        })
        flush()
        if (digests.length > 0) frames.push(seal({ _tag: "Digests", txn, entries: digests }))
      }
      frames.push(seal({ _tag: "Prepare", txn, batches }))
      const commit = seal({ _tag: "Commit", txn })
      const inspector = profile ? new Session() : undefined
      if (inspector !== undefined) {
        inspector.connect()
        yield* Effect.promise(() => inspector.post("Profiler.enable").then(() => inspector.post("Profiler.start")))
      }
      // the wake-ups laid out beforehand too: the sender's work, not the member's
      const wakes = Array.from({ length: Math.ceil(frames.length / PER_WAKE_FRAMES) }, (_, w) => {
        const wake = frames.slice(w * PER_WAKE_FRAMES, (w + 1) * PER_WAKE_FRAMES)
        const starts: Array<number> = []
        let length = 0
        for (const f of wake) starts.push(length), (length += f.length)
        const joined = new Uint8Array(length)
        wake.forEach((f, k) => joined.set(f, starts[k]!))
        return { joined, starts, lengths: wake.map((f) => f.length) }
      })
      // the set-up's sealed frames and wake-ups (thousands of objects, just made) collected or moved to the old
      // generation now, not copied by the scavenger inside the measured window: a daemon's receive buffer is reused
      collect()
      const cpu0 = process.cpuUsage()
      const t0 = performance.now()
      yield* Effect.promise(async () => {
        for (const { joined, lengths, starts } of wakes) {
          deliver(joined, starts, lengths)
          await new Promise<void>((resolve) => setImmediate(resolve))
        }
      })
      const cpu1 = process.cpuUsage()
      const t1 = performance.now()
      const vote = answers().flatMap((a) => (a._tag === "Right" && a.right._tag !== "Needs" ? [a.right._tag] : []))
      const cpu2 = process.cpuUsage()
      const t2 = performance.now()
      yield* Effect.promise(async () => {
        deliver(commit, [0], [commit.length])
        await new Promise<void>((resolve) => setImmediate(resolve))
      })
      const cpu = process.cpuUsage(cpu2)
      windows.push([t0, t1], [t2, performance.now()])
      const before = { user: cpu1.user - cpu0.user, system: cpu1.system - cpu0.system }
      if (inspector !== undefined) {
        const { profile: p } = yield* Effect.promise(() => inspector.post("Profiler.stop"))
        fs.writeFileSync(process.env["MEMBER_PROFILE"]!, JSON.stringify(p))
      }
      const done = answers().flatMap((a) => (a._tag === "Right" ? [a.right._tag] : []))
      if (!vote.includes("Prepared") || !done.includes("Committed")) throw new Error(`vote ${vote.join(", ")}, then ${done.join(", ")}`)
      if (!UNCHANGED) {
        const last = files.at(-1)!
        if (!fs.readFileSync(join(base, last.entry.path)).equals(last.bytes)) throw new Error(`${last.entry.path} differs`)
      }
      return { user: before.user + cpu.user, system: before.system + cpu.system }
    })
  // the collector's pauses within the measured windows (the member's garbage, and what the set-up left)
  const gcs: Array<{ readonly start: number; readonly ms: number }> = []
  const windows: Array<[number, number]> = []
  const observer = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) gcs.push({ start: e.startTime, ms: e.duration })
  })
  observer.observe({ entryTypes: ["gc"] })
  yield* round(0, false)
  windows.length = 0
  const results: Array<{ user: number; system: number }> = []
  for (let r = 1; r <= ROUNDS; r++) results.push(yield* round(r, r === ROUNDS && process.env["MEMBER_PROFILE"] !== undefined))
  const per = (n: number) => (n / FILES).toFixed(1)
  const median = (xs: ReadonlyArray<number>) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
  const totals = results.map((c) => c.user + c.system)
  yield* Effect.sleep("20 millis")
  observer.disconnect()
  const gcMs = gcs.filter((g) => windows.some(([from, to]) => g.start >= from && g.start < to)).reduce((sum, g) => sum + g.ms, 0)
  console.log(
    `${FILES} ${UNCHANGED ? "unchanged" : "new"} small files: CPU µs per file ${per(median(totals))} (user ${per(median(results.map((c) => c.user)))}, system ${
      per(median(results.map((c) => c.system)))
    }), least ${per(Math.min(...totals))}; GC pauses ${(gcMs * 1000 / FILES / ROUNDS).toFixed(1)} µs per file (wall)`
  )
  yield* Scope.close(scope, Exit.void)
})

Effect.runPromise(Effect.scoped((process.argv[2] === "files" ? files : main) as Effect.Effect<void, unknown, Scope.Scope>)).catch((e) => {
  console.error(e)
  process.exit(1)
})
