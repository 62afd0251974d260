/**
 * `send --delete` with every machine of it on a simulated network (drops, duplicates, delays, reorders): the
 * requester's DSYNC machine and its DEL answering machines, each member's DSYNC machine and the DEL sessions of
 * its walk. What must hold whatever the network does:
 * - the DSYNC always finishes, and asks for nothing after it has; a deaf member is lost, and only it;
 * - a member starts its walk only once it holds every exclude pattern, in order (makuosan-v7.md E13);
 * - every other member then holds exactly its paths that the requester has or that are excluded: nothing the
 *   requester has is deleted, nothing excluded, nothing it lacks is left; in a dry run nothing at all;
 * - unless its scan broke off (the requester fell silent in one of its DEL sessions): then the requester is told
 *   so (BREAK), and what the member did delete was still only what the requester lacks;
 * - the requester hears of each deletion exactly once.
 */
import { describe, expect, it } from "@effect/vitest"
import { FastCheck as fc } from "effect"
import { Opcode, RecvState, type RecvStateValue, SendState } from "../../../src/protocol/v7/constants.js"
import type { DelRecord } from "../../../src/protocol/v7/message.js"
import { unknownTransferReply } from "../../../src/daemon/Router.js"
import { type RoundContext } from "../../../src/transfer/engine/rounds.js"
import * as Dsync from "../../../src/transfer/dsync/dsyncMachine.js"
import * as DsyncMember from "../../../src/transfer/dsync/dsyncReceiveMachine.js"
import * as Del from "../../../src/transfer/dsync/delMachine.js"
import * as DelAnswer from "../../../src/transfer/dsync/delReceiveMachine.js"
import { type NetworkSpec, networkSpecs, perfect, simulation } from "../../support/simulation.js"
import { type ReqId } from "../../../src/protocol/fields.js"
import { makeRttEstimator, type Target } from "../../../src/transfer/engine/rtt.js"

const DSYNC_ID = 77 as ReqId
/** Padding patterns that match nothing: they make the exclude list span several batches. */
const padding = (n: number) => Array.from({ length: n }, (_, i) => `zz${i}`)

interface Member {
  readonly target: Target
  readonly deaf: boolean
  readonly paths: Set<string>
  readonly initial: ReadonlySet<string>
  session: DsyncMember.DsyncReceiveSession | undefined
  /** The exclude patterns its walk started with. */
  startedWith: ReadonlyArray<string> | undefined
  batches: Array<Array<DelRecord>>
  del: Del.DelSession | undefined
  nextDelId: number
}

type Datagram =
  | { readonly to: "requester"; readonly ack: Extract<Dsync.Event, { _tag: "Ack" }> }
  | { readonly to: "requester-del"; readonly from: Member; readonly reqid: number; readonly nstate: number; readonly records: ReadonlyArray<DelRecord> }
  | { readonly to: "member"; readonly member: Member; readonly nstate: number; readonly seqno: number; readonly patterns: ReadonlyArray<string> | undefined }
  | { readonly to: "member-del"; readonly member: Member; readonly reqid: number; readonly ack: Extract<Del.Event, { _tag: "Ack" }> }

const simulate = (
  requester: ReadonlySet<string>,
  trees: ReadonlyArray<ReadonlySet<string>>,
  excluded: ReadonlyArray<string>,
  dryRun: boolean,
  deafOne: boolean,
  net: NetworkSpec
) => {
  const sim = simulation<Datagram>(net)
  const context: RoundContext = { maxWait: 500, timeout: 20_000, rtt: makeRttEstimator() }
  const members: Array<Member> = trees.map((paths, i) => ({
    target: { host: `h${i}`, address: `10.0.0.${i + 2}`, port: 5000 },
    deaf: deafOne && i === trees.length - 1,
    paths: new Set(paths),
    initial: paths,
    session: undefined,
    startedWith: undefined,
    batches: [],
    del: undefined,
    nextDelId: 1000
  }))
  const excludes = [...excluded, ...padding(excluded.length > 0 ? 20 : 0)]
  const s = Dsync.make(DSYNC_ID, { path: ".", recursive: true, dryRun, excludes }, members.map((m) => m.target), context, 0)
  const answers = new Map<string, DelAnswer.DelReceiveSession>()
  const reported = new Map<string, Array<string>>()
  const stats = { finished: undefined as ReadonlyArray<Target> | undefined, broken: [] as ReadonlyArray<Target>, afterFinish: 0, transmits: 0 }

  const requesterStep = (e: Dsync.Event) => {
    const out: Array<Dsync.Action> = []
    Dsync.step(s, e, out, sim.now())
    for (const a of out) {
      if (stats.finished !== undefined) stats.afterFinish++
      if (a._tag === "Transmit") {
        stats.transmits++
        const patterns = a.payload._tag === "ExcludePatterns" ? a.payload.patterns : undefined
        for (const m of members) if (!m.deaf) sim.post({ to: "member", member: m, nstate: a.nstate, seqno: a.seqno, patterns })
      } else if (a._tag === "Finished") (stats.finished = a.lost), (stats.broken = a.broken)
    }
  }

  /** The requester's answer to a DEL request of a member. */
  const answerDel = (d: Extract<Datagram, { to: "requester-del" }>) => {
    const reply = (state: number, records: ReadonlyArray<DelRecord> | undefined) =>
      sim.post({ to: "member-del", member: d.from, reqid: d.reqid, ack: { _tag: "Ack", from: "requester", state: state as RecvStateValue, records } })
    const key = `${d.from.target.address}:${d.reqid}`
    let a = answers.get(key)
    if (a === undefined) {
      if (!DelAnswer.opens(d.nstate)) return reply(unknownTransferReply(Opcode.DEL, d.nstate)!, undefined)
      answers.set(key, a = DelAnswer.make())
    }
    const step = (e: DelAnswer.Event) => {
      const out: Array<DelAnswer.Action> = []
      DelAnswer.step(a, e, out)
      for (const x of out) {
        if (x._tag === "Ack") reply(x.state, x.records)
        else if (x._tag === "Lookup") step({ _tag: "LookedUp", lacking: x.records.filter((r) => !requester.has(r.path)).map((r) => ({ value: 0, path: r.path })) })
        else if (x._tag === "Report") {
          const list = reported.get(d.from.target.host) ?? []
          reported.set(d.from.target.host, list)
          for (const r of x.records) if (r.value === 0) list.push(r.path)
        }
      }
    }
    step({ _tag: "Request", nstate: d.nstate, records: d.records })
  }

  const memberStep = (m: Member, e: DsyncMember.Event, request: { seqno: number }) => {
    const out: Array<DsyncMember.Action> = []
    DsyncMember.step(m.session!, e, out)
    for (const a of out) {
      switch (a._tag) {
        case "Ack":
          sim.post({ to: "requester", ack: { _tag: "Ack", from: m.target.address, state: a.state as RecvStateValue, seqno: a.seqno ?? request.seqno } })
          break
        case "Start": {
          m.startedWith = [...a.patterns]
          // the walk, in batches of two so that a member runs several DEL sessions
          const candidates = [...m.paths].filter((p) => !a.patterns.includes(p)).sort()
          for (let i = 0; i < candidates.length; i += 2) m.batches.push(candidates.slice(i, i + 2).map((path) => ({ value: 0o100644, path })))
          nextDel(m)
          break
        }
        case "Stop":
          m.del = undefined
          break
        case "Warn":
        case "TooMany":
        case "End":
          break
        default:
          a satisfies never
      }
    }
  }

  const nextDel = (m: Member) => {
    const batch = m.batches.shift()
    if (batch === undefined) {
      m.del = undefined
      return memberStep(m, { _tag: "WorkDone", complete: true }, { seqno: 0 })
    }
    m.del = Del.make(m.nextDelId++ as ReqId, DSYNC_ID, batch, { host: "requester", address: "requester", port: 5000 }, context, sim.now())
    delStep(m, { _tag: "Start" })
  }

  const delStep = (m: Member, e: Del.Event) => {
    const del = m.del
    if (del === undefined) return
    const out: Array<Del.Action> = []
    Del.step(del, e, out, sim.now())
    for (const a of out) {
      switch (a._tag) {
        case "Transmit":
          if (a.payload._tag === "DelRecords") sim.post({ to: "requester-del", from: m, reqid: del.reqid, nstate: a.nstate, records: a.payload.records })
          break
        case "Deadline":
          break
        case "Remove":
          delStep(m, { _tag: "Removed", results: a.paths.map((path) => {
            expect(del.records.map((r) => r.path)).toContain(path)
            if (!dryRun) m.paths.delete(path)
            return { value: 0, path }
          }) })
          break
        case "Finished":
          if (a.complete) nextDel(m)
          else (m.del = undefined), memberStep(m, { _tag: "WorkDone", complete: false }, { seqno: 0 })
          break
        default:
          a satisfies never
      }
    }
  }

  const deliver = (d: Datagram) => {
    switch (d.to) {
      case "requester":
        return requesterStep(d.ack)
      case "requester-del":
        return answerDel(d)
      case "member-del":
        if (d.member.del?.reqid === d.reqid) delStep(d.member, d.ack)
        return
      case "member": {
        const m = d.member
        if (m.session === undefined || m.session.ended) {
          if (!DsyncMember.opens(d.nstate)) {
            return sim.post({ to: "requester", ack: { _tag: "Ack", from: m.target.address, state: unknownTransferReply(Opcode.DSYNC, d.nstate)! as RecvStateValue, seqno: d.seqno } })
          }
          if (m.session !== undefined) return // a late OPEN of the session that ended
          m.session = DsyncMember.make()
        }
        return memberStep(m, { _tag: "Request", nstate: d.nstate, seqno: d.seqno, patterns: d.patterns }, d)
      }
    }
  }

  const machines = () => [s.deadline, ...members.map((m) => m.del?.deadline ?? Infinity)]
  const expire = () => {
    const now = sim.now()
    if (s.deadline <= now) requesterStep({ _tag: "Expired" })
    for (const m of members) if (m.del !== undefined && m.del.deadline <= now) delStep(m, { _tag: "Expired" })
  }
  requesterStep({ _tag: "Start" })
  const late = sim.run(deliver, () => Math.min(...machines()), expire, () => stats.finished !== undefined)
  for (const d of late) if (d.to === "requester") deliver(d)
  return { members, stats, reported, excludes, s }
}

const names = ["a", "b", "c", "d", "e", "f", "g"]
const subset = fc.subarray(names).map((xs) => new Set(xs))

describe("send --delete: every machine of DSYNC and DEL on a simulated network", () => {
  it.prop(
    "finishes; deaf members lost; the rest keep exactly what the requester has or excludes; each deletion reported once",
    [subset, fc.array(subset, { minLength: 1, maxLength: 3 }), fc.subarray(names, { maxLength: 2 }), fc.boolean(), fc.boolean(), networkSpecs],
    ([requester, trees, excluded, dryRun, deafOne, net]) => {
      const { members, stats, reported, excludes, s } = simulate(requester, trees, excluded, dryRun, deafOne, net)
      expect(stats.finished).toBeDefined()
      expect(stats.afterFinish).toBe(0)
      expect(s.done).toBe(true)
      expect(stats.finished!.map((t) => t.host)).toEqual(members.filter((m) => m.deaf).map((m) => m.target.host))
      for (const m of members) {
        if (m.deaf) {
          expect(m.paths).toEqual(m.initial)
          continue
        }
        expect(m.startedWith).toEqual(excludes)
        const doomed = [...m.initial].filter((p) => !requester.has(p) && !excluded.includes(p)).sort()
        const kept = [...m.initial].filter((p) => !doomed.includes(p))
        const deleted = [...m.initial].filter((p) => !m.paths.has(p)).sort()
        const said = [...(reported.get(m.target.host) ?? [])].sort()
        if (stats.broken.includes(m.target)) {
          // its scan broke off (one of its DEL sessions lost us): reported as such; what it did was right
          for (const p of kept) expect(m.paths).toContain(p)
          for (const p of said) expect(doomed).toContain(p)
          if (!dryRun) for (const p of deleted) expect(doomed).toContain(p)
          continue
        }
        expect([...m.paths].sort()).toEqual(dryRun ? [...m.initial].sort() : kept.sort())
        expect(said).toEqual(doomed)
      }
    },
    { fastCheck: { numRuns: 300 } }
  )

  it.prop(
    "on a perfect network: each request once, nothing retransmitted",
    [subset, fc.array(subset, { minLength: 1, maxLength: 3 }), fc.integer({ min: 1, max: 0x7fff_ffff })],
    ([requester, trees, seed]) => {
      const { s, stats } = simulate(requester, trees, ["a"], false, false, perfect(seed))
      // OPEN, two exclude batches, the terminator, CLOSE (and polls of members still at work)
      expect(s.rounds).toBeGreaterThanOrEqual(5)
      expect(stats.transmits).toBe(s.rounds)
      expect(s.phase).toBe(SendState.CLOSE)
    },
    { fastCheck: { numRuns: 100 } }
  )

  it.prop(
    "a member under exclude batches lost, duplicated and reordered (a makuosan requester acknowledges none): it starts only with every pattern, in order",
    [fc.array(fc.array(fc.string({ minLength: 1, maxLength: 3 }), { minLength: 1, maxLength: 3 }), { maxLength: 4 }), fc.array(fc.nat(), { maxLength: 12 }), fc.boolean()],
    ([batches, picks, inOrder]) => {
      const requests: Array<{ seqno: number; patterns: ReadonlyArray<string> }> = []
      let sent = 0
      for (const b of batches) requests.push({ seqno: (sent += b.length), patterns: b })
      requests.push({ seqno: sent + 1, patterns: [] })
      // in order: every request once; otherwise whatever the network makes of them
      const arrivals = inOrder || requests.length === 0 ? requests : picks.map((i) => requests[i % requests.length]!)
      const m = DsyncMember.make()
      const started: Array<ReadonlyArray<string>> = []
      for (const r of [{ nstate: SendState.OPEN, seqno: 0, patterns: undefined }, ...arrivals.map((a) => ({ nstate: SendState.DATA, ...a }))]) {
        const out: Array<DsyncMember.Action> = []
        DsyncMember.step(m, { _tag: "Request", ...r }, out)
        for (const a of out) if (a._tag === "Start") started.push([...a.patterns])
      }
      expect(started.length).toBeLessThanOrEqual(1)
      for (const p of started) expect(p).toEqual(batches.flat())
      if (inOrder) expect(started).toHaveLength(1)
    },
    { fastCheck: { numRuns: 500 } }
  )
})

describe("a member's scan broken off (the requester fell silent in one of its DEL sessions)", () => {
  it("answers every CLOSE with BREAK, and the requester reports it broken, not done", () => {
    const m = DsyncMember.make()
    const member = (e: DsyncMember.Event) => {
      const out: Array<DsyncMember.Action> = []
      DsyncMember.step(m, e, out)
      return out
    }
    member({ _tag: "Request", nstate: SendState.OPEN, seqno: 0, patterns: undefined })
    expect(member({ _tag: "Request", nstate: SendState.DATA, seqno: 1, patterns: [] }).map((a) => a._tag)).toEqual(["Start", "Ack"])
    expect(member({ _tag: "WorkDone", complete: false })).toEqual([])
    const close = { _tag: "Request", nstate: SendState.CLOSE, seqno: 0, patterns: undefined } as const
    for (let i = 0; i < 2; i++) expect(member(close)).toEqual([{ _tag: "Ack", state: RecvState.BREAK, unsolicited: false, seqno: undefined }])
    expect(m.ended).toBe(false)

    const target: Target = { host: "h2", address: "10.0.0.2", port: 5000 }
    const context: RoundContext = { maxWait: 500, timeout: 20_000, rtt: makeRttEstimator() }
    const s = Dsync.make(DSYNC_ID, { path: ".", recursive: true, dryRun: false, excludes: [] }, [target], context, 0)
    const finished: Array<Dsync.Action> = []
    const requester = (e: Dsync.Event) => {
      const out: Array<Dsync.Action> = []
      Dsync.step(s, e, out, 0)
      finished.push(...out.filter((a) => a._tag === "Finished"))
    }
    requester({ _tag: "Start" })
    requester({ _tag: "Ack", from: target.address, state: RecvState.OPEN, seqno: 0 })
    requester({ _tag: "Ack", from: target.address, state: RecvState.OPEN, seqno: 1 })
    expect(s.phase).toBe(SendState.CLOSE)
    requester({ _tag: "Ack", from: target.address, state: RecvState.BREAK, seqno: 0 })
    expect(finished).toEqual([{ _tag: "Finished", lost: [], broken: [target] }])
  })
})

describe("the requester's side of a DEL session", () => {
  it("late copies after CLOSE: OPEN and DATA neither reopen it nor report again; CLOSE is answered again", () => {
    const s = DelAnswer.make()
    const run = (e: DelAnswer.Event) => {
      const out: Array<DelAnswer.Action> = []
      DelAnswer.step(s, e, out)
      return out
    }
    const records = [{ value: 0o100644, path: "old.html" }]
    expect(run({ _tag: "Request", nstate: SendState.OPEN, records })).toEqual([{ _tag: "Lookup", records }])
    run({ _tag: "LookedUp", lacking: [{ value: 0, path: "old.html" }] })
    const deleted = [{ value: 0, path: "old.html" }]
    expect(run({ _tag: "Request", nstate: SendState.DATA, records: deleted }).map((a) => a._tag)).toEqual(["Report", "Ack"])
    expect(run({ _tag: "Request", nstate: SendState.CLOSE, records: undefined }).map((a) => a._tag)).toEqual(["Ack"])
    expect(run({ _tag: "Request", nstate: SendState.OPEN, records })).toEqual([])
    expect(run({ _tag: "Request", nstate: SendState.DATA, records: deleted })).toEqual([])
    expect(run({ _tag: "Request", nstate: SendState.CLOSE, records: undefined })).toEqual([{ _tag: "Ack", state: RecvState.CLOSE, records: undefined }])
  })
})

describe("a member's side of DSYNC under a flood of exclude patterns", () => {
  const run = (s: DsyncMember.DsyncReceiveSession, e: DsyncMember.Event) => {
    const out: Array<DsyncMember.Action> = []
    DsyncMember.step(s, e, out)
    return out
  }
  const data = (seqno: number, patterns: ReadonlyArray<string> | undefined): DsyncMember.Event => ({ _tag: "Request", nstate: SendState.DATA, seqno, patterns })

  it("holds MAX_PATTERNS patterns at most: beyond, the session is refused, drops them and never starts its walk", () => {
    const s = DsyncMember.make()
    run(s, { _tag: "Request", nstate: SendState.OPEN, seqno: 0, patterns: undefined })
    // batches of 341 one-byte patterns: what fits one datagram
    const batch = Array.from({ length: 341 }, (_, i) => String.fromCharCode(97 + (i % 26)))
    let seqno = 0
    const refusals: Array<DsyncMember.Action> = []
    for (let i = 0; i < 3000; i++) {
      seqno += batch.length
      for (const a of run(s, data(seqno, batch))) if (a._tag === "TooMany") refusals.push(a)
    }
    expect(refusals).toHaveLength(1)
    expect(s.patterns.length).toBe(0)
    expect(s.work).toBe("refused")
    // the terminator starts nothing; CLOSE ends the session
    expect(run(s, data(seqno + 1, [])).map((a) => a._tag)).toEqual(["Ack"])
    expect(run(s, { _tag: "Request", nstate: SendState.CLOSE, seqno: 0, patterns: undefined }).map((a) => a._tag)).toEqual(["End", "Ack"])
  })

  it("a long exclude list within the caps still starts the walk with every pattern", () => {
    const s = DsyncMember.make()
    const patterns = padding(DsyncMember.MAX_PATTERNS)
    for (let i = 0; i < patterns.length; i += 16) run(s, data(Math.min(i + 16, patterns.length), patterns.slice(i, i + 16)))
    const start = run(s, data(patterns.length + 1, []))
    expect(start.find((a) => a._tag === "Start")).toEqual({ _tag: "Start", patterns })
  })

  it("the bytes of the patterns are bounded too", () => {
    const s = DsyncMember.make()
    const long = "x".repeat(1000)
    let refused = false
    for (let i = 1; i <= 100; i++) refused ||= run(s, data(i, [long])).some((a) => a._tag === "TooMany")
    expect(refused).toBe(true)
    expect(s.patterns.length).toBe(0)
  })
})
