/**
 * The check machine against members' check machines on a simulated network (drops, duplicates, delays,
 * reorders; hashes that take longer than a poll interval, or fail). What must hold whatever the network does:
 * - the check always finishes, and asks for nothing after it has;
 * - a member that hears nothing is reported lost, and only such a member; every other one is reported as its
 *   file is: same, different, missing, unreadable, or a read error;
 * - a member hashes its file at most once per session, never after the session has ended, and a session that
 *   ends (CLOSE) stops its hash;
 * - on a perfect network with instant hashes: one OPEN and one CLOSE, nothing retransmitted.
 */
import { describe, expect, it } from "@effect/vitest"
import { FastCheck as fc } from "effect"
import { type RecvStateValue, SendState } from "../../../src/protocol/v7/constants.js"
import { unknownTransferReply } from "../../../src/daemon/Router.js"
import { type RoundContext } from "../../../src/transfer/engine/rounds.js"
import * as Check from "../../../src/transfer/check/checkMachine.js"
import * as Member from "../../../src/transfer/check/checkReceiveMachine.js"
import { type NetworkSpec, networkSpecs, perfect, simulation } from "../../support/simulation.js"
import { type ReqId } from "../../../src/protocol/fields.js"
import { makeRttEstimator, type Target } from "../../../src/transfer/engine/rtt.js"

const WANT = new Uint8Array(16).fill(7)
const OTHER = new Uint8Array(16).fill(9)

type FileHere = "same" | "different" | "missing" | "unreadable" | "directory" | "readFails"
const expected: Record<FileHere, string> = {
  same: "same", different: "different", missing: "missing", unreadable: "failed", directory: "failed", readFails: "failed"
}

interface Node {
  readonly target: Target
  readonly file: FileHere
  readonly deaf: boolean
  readonly hashTime: number
  session: Member.CheckReceiveSession | undefined
  /** Which hash is current: a stopped one that completes later is ignored. */
  generation: number
  hashes: number
  hashAfterEnd: number
  /** A hash is running for the current session. */
  running: boolean
}

type Datagram =
  | { readonly to: "sender"; readonly ack: Extract<Check.Event, { _tag: "Ack" }> }
  | { readonly to: "member"; readonly node: Node; readonly nstate: number }
  | { readonly to: "hashed"; readonly node: Node; readonly generation: number }

const simulate = (files: ReadonlyArray<FileHere>, deafOne: boolean, hashTimes: ReadonlyArray<number>, net: NetworkSpec) => {
  const sim = simulation<Datagram>(net)
  const nodes: Array<Node> = files.map((file, i) => ({
    target: { host: `h${i}`, address: `10.0.0.${i + 2}`, port: 5000 },
    file,
    deaf: deafOne && i === files.length - 1,
    hashTime: hashTimes[i % hashTimes.length]!,
    session: undefined,
    generation: 0,
    hashes: 0,
    hashAfterEnd: 0,
    running: false
  }))
  const context: RoundContext = { maxWait: 500, timeout: 20_000, rtt: makeRttEstimator() }
  const s = Check.make(1 as ReqId, "f", WANT, nodes.map((n) => n.target), context, 0)
  const stats = { opens: 0, closes: 0, finished: undefined as ReadonlyArray<{ host: string; outcome: string }> | undefined, afterFinish: 0 }

  const ack = (n: Node, state: number, error: number) =>
    sim.post({ to: "sender", ack: { _tag: "Ack", from: n.target.address, state: state as RecvStateValue, error } })

  const step = (e: Check.Event) => {
    const out: Array<Check.Action> = []
    Check.step(s, e, out, sim.now())
    for (const a of out) {
      if (stats.finished !== undefined) stats.afterFinish++
      if (a._tag === "Transmit") {
        if (a.nstate === SendState.OPEN) stats.opens++
        if (a.nstate === SendState.CLOSE) stats.closes++
        for (const n of nodes) if (!n.deaf) sim.post({ to: "member", node: n, nstate: a.nstate })
      } else if (a._tag === "Deadline") expect(a.at).toBeGreaterThan(sim.now())
      else if (a._tag === "Finished") stats.finished = a.hosts
    }
  }

  const member = (n: Node, e: Member.Event) => {
    const out: Array<Member.Action> = []
    Member.step(n.session!, e, out)
    for (const a of out) {
      switch (a._tag) {
        case "Reply":
          ack(n, a.state, a.error)
          break
        case "Inspect": {
          const error = n.file === "missing" ? 2 : n.file === "unreadable" ? 13 : n.file === "directory" ? 21 : 0
          member(n, { _tag: "Inspected", error })
          break
        }
        case "Hash":
          n.hashes++
          n.running = true
          if (n.session!.ended) n.hashAfterEnd++
          sim.schedule(n.hashTime, { to: "hashed", node: n, generation: n.generation })
          break
        case "StopHash":
          n.running = false
          n.generation++
          break
        case "End":
          break
        default:
          a satisfies never
      }
    }
  }

  const deliver = (d: Datagram) => {
    if (d.to === "sender") return step(d.ack)
    const n = d.node
    if (d.to === "hashed") {
      if (d.generation !== n.generation || n.session === undefined) return
      n.running = false
      return member(n, n.file === "readFails" ? { _tag: "HashFailed", error: 5 } : { _tag: "Hashed", digest: n.file === "same" ? WANT : OTHER })
    }
    if (n.session === undefined || n.session.ended) {
      // a new session only on OPEN; what else comes for none is answered as makuosan answers an unknown transfer
      if (!Member.opens(d.nstate)) return ack(n, unknownTransferReply(3, d.nstate)!, 0)
      n.session = Member.make("f", WANT)
      n.running = false
      n.generation++
    }
    member(n, { _tag: "Request", nstate: d.nstate })
  }

  step({ _tag: "Start" })
  const late = sim.run(deliver, () => s.deadline, () => step({ _tag: "Expired" }), () => stats.finished !== undefined)
  for (const d of late) if (d.to === "sender") deliver(d)
  return { nodes, stats, s }
}

const files = fc.array(fc.constantFrom<FileHere>("same", "different", "missing", "unreadable", "directory", "readFails"), { minLength: 1, maxLength: 4 })
const hashTimes = fc.array(fc.constantFrom(0, 5, 300, 1_200, 3_000), { minLength: 1, maxLength: 4 })

describe("check state machine against members' check machines on a simulated network", () => {
  it.prop(
    "always finishes; a deaf member is lost and only it; every other one is reported as its file is; one hash per session",
    [files, fc.boolean(), hashTimes, networkSpecs],
    ([files, deafOne, times, net]) => {
      const { nodes, stats, s } = simulate(files, deafOne, times, net)
      expect(stats.finished).toBeDefined()
      expect(stats.afterFinish).toBe(0)
      expect(s.done).toBe(true)
      const hosts = stats.finished!
      expect(hosts.map((h) => h.host)).toEqual(nodes.map((n) => n.target.host))
      for (const [i, n] of nodes.entries()) {
        expect(hosts[i]!.outcome).toBe(n.deaf ? "lost" : expected[n.file])
        expect(n.hashAfterEnd).toBe(0)
        if (n.session?.ended === true) expect(n.running).toBe(false)
      }
    },
    { fastCheck: { numRuns: 300 } }
  )

  it.prop(
    "on a perfect network with instant hashes: one OPEN, one CLOSE",
    [files, fc.integer({ min: 1, max: 0x7fff_ffff })],
    ([files, seed]) => {
      const { stats } = simulate(files, false, [0], perfect(seed))
      expect(stats.opens).toBe(1)
      expect(stats.closes).toBe(1)
    },
    { fastCheck: { numRuns: 100 } }
  )

  it("a member still hashing is polled, and its late result ends the poll at once", () => {
    const { stats, nodes } = simulate(["same", "different"], false, [0, 1_200], perfect(1))
    expect(stats.finished!.map((h) => h.outcome)).toEqual(["same", "different"])
    // OPEN, then polls every 500 ms until the 1.2 s hash is done: two more OPENs at most
    expect(stats.opens).toBeGreaterThan(1)
    expect(stats.opens).toBeLessThanOrEqual(3)
    expect(nodes.map((n) => n.hashes)).toEqual([1, 1])
  })

  it.prop(
    "a member's session under any order of requests and hash results: one hash, stopped when the session ends, silent after",
    [fc.array(fc.oneof(
      fc.record({ _tag: fc.constant("Request" as const), nstate: fc.constantFrom(SendState.OPEN, SendState.CLOSE, SendState.DATA) }),
      fc.record({ _tag: fc.constant("Inspected" as const), error: fc.constantFrom(0, 2, 13) }),
      fc.constant<Member.Event>({ _tag: "Hashed", digest: WANT }),
      fc.constant<Member.Event>({ _tag: "HashFailed", error: 5 })
    ), { maxLength: 30 })],
    ([events]) => {
      const m = Member.make("f", WANT)
      let running = 0
      let hashes = 0
      for (const e of events) {
        const wasEnded = m.ended
        const out: Array<Member.Action> = []
        Member.step(m, e, out)
        if (wasEnded) expect(out).toEqual([])
        for (const a of out) {
          if (a._tag === "Hash") (hashes++, running++)
          if (a._tag === "StopHash") running--
        }
        if ((e._tag === "Hashed" || e._tag === "HashFailed") && running > 0) running--
        expect(hashes).toBeLessThanOrEqual(1)
        if (m.ended) expect(running).toBe(0)
      }
    },
    { fastCheck: { numRuns: 500 } }
  )
})
