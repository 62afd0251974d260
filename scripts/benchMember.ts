/**
 * `node dist/scripts/benchMember.js [MiB] [datagrams per batch]`: figures, not a test. A keyed member (the real
 * secure transport, wire, router and transaction driver over an in-process transport) is sent one file of MiB
 * (default 200) as sealed Data, batch by batch as a receive wake-up hands them over (default 43: a GRO slot's
 * worth; 1 or 2 is a member at a slow link's pace), and the process's CPU time per GiB and the garbage
 * collections over the Data are printed (`MEMBER_PROFILE=FILE`: a CPU profile of the Data alone). Sealing is done beforehand and not counted; the copy of each batch into
 * the receive buffer (the kernel's part) is.
 */
import { Effect, Exit, Layer, Scope } from "effect"
import { createHash, randomBytes } from "node:crypto"
import * as fs from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Session } from "node:inspector/promises"
import { PerformanceObserver } from "node:perf_hooks"
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
import type { TxnId } from "../src/transfer/txn/messages.js"

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

const main = Effect.gen(function*() {
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
  /** The member's answers, opened by the sender: the native messages among them. */
  const answers = () => {
    const sent = outbox.splice(0).filter((s) => s.to._tag === "Peer" && s.to.address === SENDER.address)
    const r = sender.receive(sent.map((s) => ({ bytes: s.bytes, from: MEMBER })), Date.now(), performance.now())
    for (const s of r.send) deliverOne(s.frame)
    return r.delivered.flatMap((d) => (d.native === undefined ? [] : [decodeAny(d.native, d.bytes)]))
  }
  const sendNative = (m: Transfer.TransferMessage) => {
    const body = Transfer.encode(m)
    if (body._tag === "Left") throw body.left
    deliverOne(sender.seal(body.right, { _tag: "Group" }, Date.now(), Transfer.typeOf(m)))
  }

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

Effect.runPromise(Effect.scoped(main as Effect.Effect<void, unknown, Scope.Scope>)).catch((e) => {
  console.error(e)
  process.exit(1)
})
