/**
 * A native tree transaction with both its machines on a simulated network (drops, duplicates, delays,
 * reorders): one sender, 1–4 members, each member's tree modelled as a map from path to what it holds there.
 * Members may go silent (from the start, just before their vote, just after it) and may fail to stage an entry.
 * The manifest carries no digests: the sender sends each file's after its data (`Digests`, lost like any datagram),
 * and again when a member's `Missing` asks for it.
 * What must hold whatever the network does:
 * - the transaction always ends, and the sender says nothing after it has;
 * - the sender's outcome for each member is what that member did: committed (it switched), failed (it voted
 *   FAILED, naming its failed entries), aborted (it discarded), lost (only a member that went silent);
 * - a member switches only if it voted PREPARED; with all-or-nothing, only if every member voted PREPARED and
 *   none was lost (a member that voted FAILED discards, and the others switch without it);
 * - THE INVARIANT: after the transaction, each member's tree is, for the transaction's entries (and, under
 *   --delete, the paths it has that the sender lacks), entirely its old one or entirely the new one (a member
 *   switches all its staged entries and removals or none). Members here never crash
 *   mid-switch: rolling a switch forward from the journal is the driver's, tested with it.
 */
import { createHash } from "node:crypto"
import { describe, expect, it } from "@effect/vitest"
import { FastCheck as fc } from "effect"
import { type Entry, MAX_FAILURES, type ToMember, type ToSender, type TxnId } from "../../../src/transfer/txn/messages.js"
import * as Member from "../../../src/transfer/txn/memberMachine.js"
import * as Sender from "../../../src/transfer/txn/senderMachine.js"
import { type NetworkSpec, networkSpecs, perfect, simulation } from "../../support/simulation.js"
import { makeRttEstimator, type Target } from "../../../src/transfer/engine/rtt.js"

const TXN = 9 as TxnId
/** As the driver packs them at MTU 1500. */
const DIGESTS_PER_DATAGRAM = 38
const EACCES = 13

/** When a member goes silent (deaf and mute) for the rest of the transaction. */
type Silence = "never" | "start" | "beforeVote" | "afterVote"

/** An entry of the source, with what a member holds once it has it. */
interface Source {
  readonly entry: Entry
  readonly contents: Uint8Array
  /** The SHA-256 of `contents`: what the sender's `Digests` carries. */
  readonly digest: Uint8Array
  /** What a tree holds at the path once it has the new version. */
  readonly value: string
}

/** How a member's tree starts at one path. */
type Start = "same" | "other-mode" | "old" | "absent"

interface MemberSpec {
  readonly starts: ReadonlyArray<Start>
  readonly silence: Silence
  /** Entries (by index) whose staging fails. */
  readonly failing: ReadonlyArray<number>
  /** Paths it has that the sender lacks: `--delete` removes them. */
  readonly extras: ReadonlyArray<string>
}

interface SimMember {
  readonly target: Target
  readonly spec: MemberSpec
  readonly initial: ReadonlyMap<string, string>
  readonly tree: Map<string, string>
  readonly temps: Map<number, Uint8Array>
  silent: boolean
  session: Member.MemberSession | undefined
  vote: "prepared" | "failed" | undefined
  switches: number
  discarded: boolean
}

type Datagram =
  | { readonly to: "member"; readonly member: SimMember; readonly message: ToMember }
  | { readonly to: "sender"; readonly from: string; readonly message: ToSender }
  | { readonly to: "staged"; readonly member: SimMember; readonly index: number; readonly errno: number }
  | { readonly to: "scanned"; readonly member: SimMember; readonly removals: ReadonlyArray<string> }

const valueOf = (e: Entry, contents: Uint8Array) =>
  e.type === "file" ? `file ${e.mode.toString(8)} ${Buffer.from(contents).toString("hex")}` : `${e.type} ${e.mode.toString(8)} ${e.target ?? ""}`

const source = (sizes: ReadonlyArray<number>): Array<Source> => [
  ...sizes.map((size, i) => {
    const contents = Uint8Array.from({ length: size }, (_, j) => (i * 31 + j * 7) & 0xff)
    const entry: Entry = {
      path: `d/f${i}`,
      type: "file",
      size,
      mode: 0o644,
      uid: 4_000_000_000,
      gid: 4_000_000_001,
      mtime: { sec: 1_700_000_000 + i, nsec: 999_999_999 }
    }
    return { entry, contents, digest: createHash("sha256").update(contents).digest(), value: valueOf(entry, contents) }
  }),
  ...(["directory", "symlink"] as const).map((type) => {
    const entry: Entry = { path: `d/${type}`, type, size: 0, mode: 0o755, uid: 0, gid: 0, mtime: { sec: 1, nsec: 0 }, ...(type === "symlink" ? { target: "f0" } : {}) }
    return { entry, contents: new Uint8Array(0), digest: new Uint8Array(0), value: valueOf(entry, new Uint8Array(0)) }
  })
]

const startValue = (src: Source, start: Start): string | undefined => {
  switch (start) {
    case "same":
      return src.value
    case "other-mode":
      return src.value.replace(/ [0-7]+ /, " 600 ")
    case "old":
      return `${src.entry.type} old`
    case "absent":
      return undefined
  }
}

const EXTRAS = ["d/x0", "d/x1", "d/x2"]

interface Options {
  readonly allOrNothing: boolean
  readonly delete: boolean
  readonly batchSize: number
  readonly window: number
  readonly block: number
}

const simulate = (sources: ReadonlyArray<Source>, specs: ReadonlyArray<MemberSpec>, options: Options, net: NetworkSpec) => {
  const sim = simulation<Datagram>(net)
  const config: Sender.Config = {
    window: options.window,
    block: options.block,
    datagram: 1400,
    allOrNothing: options.allOrNothing,
    delete: options.delete,
    maxWait: 500,
    timeout: 20_000,
    rtt: makeRttEstimator()
  }
  const members: Array<SimMember> = specs.map((spec, i) => {
    const initial = new Map<string, string>()
    sources.forEach((src, j) => {
      const v = startValue(src, spec.starts[j] ?? "old")
      if (v !== undefined) initial.set(src.entry.path, v)
    })
    for (const path of spec.extras) initial.set(path, "file old extra")
    return {
      target: { host: `h${i + 2}`, address: `10.0.0.${i + 2}`, port: 5000 },
      spec,
      initial,
      tree: new Map(initial),
      temps: new Map(),
      silent: spec.silence === "start",
      session: undefined,
      vote: undefined,
      switches: 0,
      discarded: false
    }
  })
  const s = Sender.make(TXN, members.map((m) => m.target), config, 0)
  const stats = {
    finished: undefined as ReadonlyArray<Sender.MemberOutcome> | undefined,
    afterFinish: 0,
    senderDatagrams: 0,
    memberDatagrams: new Map<SimMember, number>()
  }
  let nextEntry = 0
  const sourceOf = new Map(sources.map((src) => [src.entry, src]))
  const sourcePaths = new Set(sources.map((src) => src.entry.path))

  const toGroup = (message: ToMember) => {
    stats.senderDatagrams++
    for (const m of members) sim.post({ to: "member", member: m, message })
  }

  /** Files whose last byte went out in a first sending, their digests not sent yet; and those sent. */
  const digested: Array<number> = []
  const digestSent = new Set<number>()
  const sendDigests = (indices: ReadonlyArray<number>) => {
    for (let at = 0; at < indices.length; at += DIGESTS_PER_DATAGRAM) {
      toGroup({ _tag: "Digests", txn: TXN, entries: indices.slice(at, at + DIGESTS_PER_DATAGRAM).map((index) => ({ index, digest: sources[index]!.digest })) })
    }
  }
  /** As the driver: a file's digest once its data is out, a datagram's worth at a time (the rest at `DataEnd`). */
  const afterData = (spans: ReadonlyArray<{ readonly index: number; readonly offset: number; readonly length: number }>) => {
    for (const p of spans) {
      if (p.offset + p.length === sources[p.index]!.entry.size && !digestSent.has(p.index)) (digestSent.add(p.index), digested.push(p.index))
    }
    if (digested.length >= DIGESTS_PER_DATAGRAM) sendDigests(digested.splice(0, DIGESTS_PER_DATAGRAM))
  }

  const senderStep = (e: Sender.Event) => {
    const out: Array<Sender.Action> = []
    Sender.step(s, e, out, sim.now())
    for (const a of out) {
      if (stats.finished !== undefined) stats.afterFinish++
      switch (a._tag) {
        case "Transmit":
          toGroup(a.message)
          break
        case "TransmitData":
          toGroup({ _tag: "Data", txn: TXN, pieces: a.spans.map((p) => ({ index: p.index, offset: p.offset, bytes: sources[p.index]!.contents.subarray(p.offset, p.offset + p.length) })) })
          afterData(a.spans)
          senderStep({ _tag: "Sent", count: 1 })
          break
        case "TransmitRun":
          for (let b = 0; b < a.blocks; b++) {
            const offset = a.offset + b * s.config.block
            toGroup({ _tag: "Data", txn: TXN, pieces: [{ index: a.index, offset, bytes: sources[a.index]!.contents.subarray(offset, offset + s.config.block) }] })
          }
          afterData([{ index: a.index, offset: a.offset, length: a.blocks * s.config.block }])
          senderStep({ _tag: "Sent", count: a.blocks })
          break
        case "DataEnd":
          sendDigests(digested.splice(0))
          break
        case "TransmitDigests":
          expect(a.indices.every((i) => digestSent.has(i))).toBe(true)
          sendDigests(a.indices)
          break
        case "NextBatch": {
          const entries = sources.slice(nextEntry, nextEntry + options.batchSize).map((src) => src.entry)
          nextEntry += entries.length
          senderStep({ _tag: "Batch", entries, last: nextEntry >= sources.length })
          break
        }
        case "Deadline":
          break
        case "Finished":
          stats.finished = a.members
          break
        default:
          a satisfies never
      }
    }
  }

  const send = (m: SimMember, message: ToSender) => {
    const isVote = message._tag === "Prepared" || message._tag === "Failed"
    if (isVote) {
      if (m.silent) return
      m.vote = message._tag === "Prepared" ? "prepared" : "failed"
      if (m.spec.silence === "beforeVote") return void (m.silent = true)
    }
    if (m.silent) return
    stats.memberDatagrams.set(m, (stats.memberDatagrams.get(m) ?? 0) + 1)
    sim.post({ to: "sender", from: m.target.address, message })
    if (isVote && m.spec.silence === "afterVote") m.silent = true
  }

  const need = (m: SimMember, e: Entry): Member.Need => {
    const src = sourceOf.get(e)!
    const here = m.tree.get(e.path)
    if (here === src.value) return "none"
    if (e.type === "file" && here !== undefined && here.replace(/ [0-7]+ /, " ") === src.value.replace(/ [0-7]+ /, " ")) return "metadata"
    return e.type === "file" ? "contents" : "metadata"
  }

  const memberStep = (m: SimMember, e: Member.Event) => {
    const session = m.session!
    const out: Array<Member.Action> = []
    Member.step(session, e, out)
    for (const a of out) {
      switch (a._tag) {
        case "Reply":
          send(m, a.message)
          break
        case "Lookup":
          memberStep(m, { _tag: "LookedUp", batch: a.batch, needs: a.entries.map((x) => need(m, x)) })
          break
        case "Write": {
          const temp = m.temps.get(a.index) ?? new Uint8Array(a.entry.size)
          temp.set(a.bytes, a.offset)
          m.temps.set(a.index, temp)
          break
        }
        case "Stage": {
          if (need(m, a.entry) === "contents") {
            const temp = m.temps.get(a.index) ?? new Uint8Array(0)
            expect(temp.length).toBe(a.entry.size)
            expect(a.entry.digest).toBeUndefined()
            expect(createHash("sha256").update(temp).digest().equals(a.digest!)).toBe(true)
          }
          const errno = m.spec.failing.includes(a.index) ? EACCES : 0
          sim.schedule(Math.floor(sim.random() * 4), { to: "staged", member: m, index: a.index, errno })
          break
        }
        case "Scan":
          sim.schedule(Math.floor(sim.random() * 4), { to: "scanned", member: m, removals: [...m.tree.keys()].filter((path) => !sourcePaths.has(path)) })
          break
        case "Switch":
          m.switches++
          for (const x of a.entries) m.tree.set(x.path, sourceOf.get(x)!.value)
          for (const path of a.removals) m.tree.delete(path)
          m.temps.clear()
          memberStep(m, { _tag: "Switched", errno: 0 })
          break
        case "Verify":
          throw new Error("a send never verifies")
        case "Discard":
          m.discarded = true
          m.temps.clear()
          break
        default:
          a satisfies never
      }
    }
  }

  const deliver = (d: Datagram) => {
    switch (d.to) {
      case "sender":
        return senderStep({ _tag: "Reply", from: d.from, message: d.message })
      case "staged":
        if (d.member.session !== undefined) memberStep(d.member, { _tag: "Staged", index: d.index, errno: d.errno })
        return
      case "scanned":
        return memberStep(d.member, { _tag: "Scanned", removals: d.removals, errno: 0 })
      case "member": {
        const m = d.member
        if (m.silent) return
        if (m.session === undefined) {
          if (!Member.opens(d.message)) return send(m, { _tag: "Unknown", txn: d.message.txn })
          m.session = Member.make(d.message.txn, options.block)
        }
        return memberStep(m, { _tag: "Message", message: d.message })
      }
    }
  }

  senderStep({ _tag: "Start" })
  sim.run(deliver, () => s.deadline, () => senderStep({ _tag: "Expired" }), () => stats.finished !== undefined)
  return { members, stats, s }
}

const starts = fc.constantFrom<Start>("same", "other-mode", "old", "absent")

const cases = fc.integer({ min: 1, max: 4 }).chain((k) =>
  fc.record({
    sizes: fc.array(fc.integer({ min: 0, max: 3000 }), { minLength: 0, maxLength: 14 }),
    members: fc.array(
      fc.record({
        starts: fc.array(starts, { minLength: 16, maxLength: 16 }),
        silence: fc.constantFrom<Silence>("never", "never", "never", "start", "beforeVote", "afterVote"),
        failing: fc.oneof(fc.constant([]), fc.constant([]), fc.array(fc.integer({ min: 0, max: 15 }), { maxLength: 2 })),
        extras: fc.subarray(EXTRAS)
      }),
      { minLength: k, maxLength: k }
    ),
    allOrNothing: fc.boolean(),
    delete: fc.boolean(),
    batchSize: fc.integer({ min: 1, max: 6 }),
    window: fc.integer({ min: 1, max: 4 }),
    block: fc.constantFrom(256, 1024)
  })
)

describe("native tree transaction: sender and members on a simulated network", () => {
  it.prop(
    "always ends; outcomes are what members did; a member switches only after its PREPARED (all or nothing: everyone's); every tree entirely old or entirely new",
    [cases, networkSpecs],
    ([c, net]) => {
      const sources = source(c.sizes)
      const { members, stats, s } = simulate(sources, c.members, c, net)
      expect(stats.finished).toBeDefined()
      expect(stats.afterFinish).toBe(0)
      expect(s.phase).toBe("done")
      const outcomes = new Map(stats.finished!.map((o) => [o.target.address, o]))
      const paths = [...sources.map((src) => src.entry.path), ...EXTRAS]
      const restrict = (tree: ReadonlyMap<string, string>) => new Map(paths.map((path) => [path, tree.get(path)]))
      /** The new tree: the sender's entries; what it lacks stays unless --delete. */
      const newTree = (m: SimMember) => new Map([...(c.delete ? [] : m.spec.extras.map((path) => [path, "file old extra"] as const)), ...sources.map((src) => [src.entry.path, src.value] as const)])

      const anySwitched = members.some((m) => m.switches > 0)
      for (const m of members) {
        const o = outcomes.get(m.target.address)!
        // a live member is never lost (20 s of retransmissions outlast a 50 % loss)
        expect(o.outcome === "lost").toBe(m.silent)
        // a member switches once at most, all of its staged entries
        expect(m.switches).toBeLessThanOrEqual(1)
        // THE INVARIANT: entirely old or entirely new
        expect(restrict(m.tree)).toEqual(restrict(m.switches > 0 ? newTree(m) : m.initial))
        if (m.switches > 0) expect(m.vote).toBe("prepared")
        switch (o.outcome) {
          case "committed":
            expect(m.switches).toBe(1)
            expect(m.session?.state).toBe("committed")
            break
          case "failed": {
            expect(m.vote).toBe("failed")
            expect(m.switches).toBe(0)
            expect(m.discarded).toBe(true)
            const needed = sources.map((_, i) => i).filter((i) => m.spec.failing.includes(i) && m.initial.get(sources[i]!.entry.path) !== sources[i]!.value)
            expect(o.failures.map((f) => f.index).sort((a, b) => a - b)).toEqual(needed.slice(0, MAX_FAILURES))
            expect(o.failures.every((f) => f.errno === EACCES)).toBe(true)
            expect(o.failedCount).toBe(needed.length)
            break
          }
          case "aborted":
            expect(m.vote).not.toBe("failed")
            expect(m.switches).toBe(0)
            expect(m.session?.state).toBe("aborted")
            break
          case "lost":
            break
        }
      }
      // the votes as the sender heard them: a member with none was lost before the decision
      const votes = [...s.members.values()].map((m) => m.vote)
      if (anySwitched) {
        // every member not lost committed, or failed as it voted; all or nothing: every member voted PREPARED
        for (const m of members) {
          const o = outcomes.get(m.target.address)!
          if (o.outcome !== "lost") expect(o.outcome).toBe(m.vote === "failed" ? "failed" : "committed")
        }
        if (c.allOrNothing) expect(votes.every((v) => v === "prepared")).toBe(true)
      }
      // and it commits whenever the votes allow it: every live member that voted PREPARED switches
      if (votes.includes("prepared") && (!c.allOrNothing || votes.every((v) => v === "prepared"))) {
        for (const m of members) if (!m.silent && m.vote === "prepared") expect(m.switches).toBe(1)
      }
    },
    { fastCheck: { numRuns: Number(process.env.MAKUO_PROP_RUNS ?? 300) } }
  )

  it.prop(
    "on a perfect network every datagram goes once: b manifest batches, the packed data, the digests (38 to a datagram), one PREPARE, one COMMIT; b + 2 answers per member",
    [fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 0x7fff_ffff })],
    ([k, seed]) => {
      // 2000 files of 100 bytes, all needed: 12 pieces of 100 + 16 bytes fill a 1400-byte datagram
      const sources = source(Array.from({ length: 2000 }, () => 100)).slice(0, 2000)
      const specs = Array.from({ length: k }, () => ({ starts: [], silence: "never" as const, failing: [], extras: [] }))
      const { members, stats } = simulate(sources, specs, { allOrNothing: false, delete: false, batchSize: 50, window: 8, block: 1024 }, perfect(seed))
      expect(stats.finished!.map((o) => o.outcome)).toEqual(specs.map(() => "committed"))
      const batches = 2000 / 50
      const data = Math.ceil(2000 / 12)
      expect(stats.senderDatagrams).toBe(batches + data + Math.ceil(2000 / DIGESTS_PER_DATAGRAM) + 2)
      for (const m of members) expect(stats.memberDatagrams.get(m)).toBe(batches + 2)
    },
    { fastCheck: { numRuns: 5 } }
  )
})
