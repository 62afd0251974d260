/**
 * The sending machine against receiving machines, with no I/O at all: a simulated network between them drops,
 * duplicates, delays and reorders datagrams (chosen by fast-check), a simulated clock jumps to the next delivery or
 * deadline, file operations on the members succeed at once. What must hold whatever the network does:
 * - the transfer always finishes (no round waits forever), within the rounds' timeouts;
 * - a member that hears nothing is reported lost, and only such a member; every other one is `updated` and holds
 *   exactly the sender's bytes (nothing committed with holes);
 * - once finished, the machine never asks for anything again; blocks are only ever sent inside the file, after
 *   OPEN, and only when asked for room;
 * - on a perfect network no block is sent twice and no request is retransmitted.
 */
import { describe, expect, it } from "@effect/vitest"
import { FastCheck as fc } from "effect"
import { BLOCK_SIZE, RecvState, type RecvStateValue, SendState } from "../../../src/protocol/v7/constants.js"
import type { Header } from "../../../src/protocol/v7/message.js"
import { type Delivery, makePacer, type Pacer } from "../../../src/transfer/pacer.js"
import { DATA_SEGMENT } from "../../../src/protocol/v7/dataLayout.js"
import * as Receive from "../../../src/transfer/send/receiveMachine.js"
import * as Send from "../../../src/transfer/send/sendMachine.js"
import { type NetworkSpec, networkSpecs, perfect, simulation } from "../../support/simulation.js"
import { type Ipv4, type ReqId } from "../../../src/protocol/fields.js"
import { makeRttEstimator, type Target } from "../../../src/transfer/engine/rtt.js"

const REQID = 42 as ReqId
const header = (nstate: number, seqno: number): Header => ({
  opcode: 2, nstate, ostate: 0, flags: 0, reqid: REQID, seqno, maddr: "224.0.0.108" as Ipv4, mport: 5000, error: 0, hash: new Uint8Array(16)
})

interface Member {
  readonly target: Target
  session: Receive.Session | undefined
  readonly bytes: Uint8Array
  committed: boolean
  /** Hears nothing at all (dead, or cut off). */
  readonly deaf: boolean
}

type Datagram =
  | { readonly to: "sender"; readonly from: string; readonly ack: Send.Event & { _tag: "Ack" } }
  | { readonly to: string; readonly request: Header; readonly data: Uint8Array }
  /** The pump's turn (reliable: it is the sender's own). */
  | { readonly to: "room" }

const simulate = (size: number, receivers: number, deafOne: boolean, net: NetworkSpec) => {
  const sim = simulation<Datagram>(net)
  const content = new Uint8Array(size).map((_, i) => (i * 31 + 7) & 0xff)
  const mstat: Receive.Mstat = {
    _tag: "Mstat", mode: 0o100644, uid: 0, gid: 0, size, mtime: 1, ctime: 1, path: "f", linkTarget: "", rdevHigh: 0, rdevLow: 0
  }
  const members: Array<Member> = Array.from({ length: receivers }, (_, i) => ({
    target: { host: `h${i}`, address: `10.0.0.${i + 2}`, port: 5000 },
    session: undefined,
    bytes: new Uint8Array(size),
    committed: false,
    deaf: deafOne && i === receivers - 1
  }))
  // a long timeout: at these loss rates a live member is never silent for all of it
  const context: Send.SendContext = { maxWait: 500, timeout: 20_000, rtt: makeRttEstimator(), pacer: makePacer(undefined), burst: 4 }
  let event: Send.Event["_tag"] = "Start"
  const t = Send.make(REQID, mstat, 0, members.map((m) => m.target), context, 0)
  const post = (d: Datagram) => {
    if (d.to !== "sender" && members.find((m) => m.target.address === d.to)!.deaf) return
    sim.post(d)
  }
  const stats = { transmits: 0, probes: 0, blocksSent: 0, roomAsked: false, finished: undefined as ReadonlyArray<unknown> | undefined, afterFinish: 0 }
  const phases: Array<number> = []

  const perform = (actions: ReadonlyArray<Send.Action>) => {
    for (const a of actions) {
      if (stats.finished !== undefined) stats.afterFinish++
      switch (a._tag) {
        case "Transmit":
          // a MARK while blocks are still being sent is a probe, not a round
          if (a.nstate === SendState.MARK && t.phase === SendState.DATA) stats.probes++
          else {
            stats.transmits++
            if (phases.at(-1) !== a.nstate) phases.push(a.nstate)
          }
          for (const m of members) post({ to: m.target.address, request: header(a.nstate, 0), data: new Uint8Array(0) })
          break
        case "Deadline":
          expect(a.at).toBeGreaterThan(sim.now())
          break
        case "WantRoom":
          if (!stats.roomAsked) sim.schedule(0, { to: "room" })
          stats.roomAsked = true
          break
        case "Blocks":
          expect(event).toBe("Room")
          for (let i = 0; i < a.count; i++) {
            const block = t.chosen[i]!
            expect(block).toBeLessThan(t.blocks)
            const length = i === a.count - 1 ? a.lastLength : BLOCK_SIZE
            expect(length).toBe(Receive.blockLength(size, block))
            stats.blocksSent++
            for (const m of members) post({ to: m.target.address, request: header(SendState.DATA, block), data: content.subarray(block * BLOCK_SIZE, block * BLOCK_SIZE + length) })
          }
          break
        case "Verify":
          // the source never changes here: the sender's own answer, at once
          step({ _tag: "Verified" })
          break
        case "Finished":
          stats.finished = a.hosts
          break
      }
    }
  }
  const step = (e: Send.Event) => {
    const out: Array<Send.Action> = []
    event = e._tag
    Send.step(t, e, out, sim.now())
    perform(out)
  }

  const receive = (m: Member, request: Header, data: Uint8Array) => {
    if (m.session === undefined) {
      if (request.nstate !== SendState.STAT) return
      m.session = Receive.initial(request, mstat)
    }
    const queue: Array<Receive.Event> = [{ _tag: "Request", header: request, data }]
    while (queue.length > 0) {
      const out: Array<Receive.Action> = []
      Receive.step(m.session, queue.shift()!, out)
      for (const a of out) {
        switch (a._tag) {
          case "Reply":
            post({ to: "sender", from: m.target.address, ack: { _tag: "Ack", from: m.target.address, state: a.state, error: m.session.error, ranges: a.ranges } })
            break
          case "Echo":
            post({ to: "sender", from: m.target.address, ack: { _tag: "Ack", from: m.target.address, state: a.state, error: 0, ranges: undefined } })
            break
          case "Decide":
            queue.push({ _tag: "Decided", state: RecvState.UPDATE, error: 0 })
            break
          case "Open":
            queue.push({ _tag: "Opened", error: 0 })
            break
          case "Write":
            m.bytes.set(a.bytes, a.block * BLOCK_SIZE)
            break
          case "Commit":
            m.committed = true
            queue.push({ _tag: "Committed", error: 0 })
            break
          case "Discard":
            m.committed = false
            break
          case "End":
            break
        }
      }
    }
  }

  const deliver = (d: Datagram) => {
    if (d.to === "room") return (stats.roomAsked = false), step({ _tag: "Room" })
    if (d.to === "sender") return step((d as Extract<Datagram, { to: "sender" }>).ack)
    const r = d as Extract<Datagram, { request: Header }>
    receive(members.find((m) => m.target.address === r.to)!, r.request, r.data)
  }
  step({ _tag: "Start" })
  const late = sim.run(deliver, () => t.deadline, () => step({ _tag: "Expired" }), () => stats.finished !== undefined)
  // anything still arriving after the end changes nothing on the sender's side
  for (const d of late) if (d.to === "sender") deliver(d)
  return { t, members, stats, phases, content }
}

const sizes = fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 3 * BLOCK_SIZE }), fc.integer({ min: 20 * BLOCK_SIZE, max: 40 * BLOCK_SIZE }))

/** A 10-byte file to one member, nothing sent yet. */
const oneFile = () => {
  const context: Send.SendContext = { maxWait: 500, timeout: 5_000, rtt: makeRttEstimator(), pacer: makePacer(undefined), burst: 4 }
  const mstat: Receive.Mstat = { _tag: "Mstat", mode: 0o100644, uid: 0, gid: 0, size: 10, mtime: 1, ctime: 1, path: "f", linkTarget: "", rdevHigh: 0, rdevLow: 0 }
  return Send.make(REQID, mstat, 0, [{ host: "h", address: "10.0.0.2", port: 5000 }], context, 0)
}

describe("send state machine against receive state machines on a simulated network", () => {
  it.prop(
    "always finishes; a deaf member is lost and only it; every other one holds the sender's bytes",
    [sizes, fc.integer({ min: 1, max: 3 }), fc.boolean(), networkSpecs],
    ([size, receivers, deafOne, net]) => {
      const { members, stats, t, content } = simulate(size, receivers, deafOne, net)
      expect(stats.finished).toBeDefined()
      expect(stats.afterFinish).toBe(0)
      expect(t.done).toBe(true)
      const hosts = stats.finished as ReadonlyArray<{ host: string; outcome: string }>
      expect(hosts.map((h) => h.host)).toEqual(members.map((m) => m.target.host))
      for (const [i, m] of members.entries()) {
        if (m.deaf) {
          expect(hosts[i]!.outcome).toBe("lost")
          continue
        }
        // a live member is only lost when the network dropped everything for a whole timeout: not at these rates
        expect(hosts[i]!.outcome).toBe("updated")
        expect(m.committed).toBe(true)
        expect(Buffer.from(m.bytes).equals(Buffer.from(content))).toBe(true)
      }
    },
    { fastCheck: { numRuns: 150 } }
  )

  it.prop(
    "on a perfect network: STAT, OPEN, MARK, CLOSE, LAST once each, every block once, nothing retransmitted (probes aside)",
    [sizes, fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 0x7fff_ffff })],
    ([size, receivers, seed]) => {
      const { phases, stats, t } = simulate(size, receivers, false, perfect(seed))
      const dataPhases = size > 0 ? [SendState.MARK] : []
      expect(phases).toEqual([SendState.STAT, SendState.OPEN, ...dataPhases, SendState.CLOSE, SendState.LAST])
      expect(stats.transmits).toBe(phases.length)
      expect(stats.blocksSent).toBe(t.blocks)
    },
    { fastCheck: { numRuns: 100 } }
  )

  it("a cancelled transfer sends BREAK twice and nothing after", () => {
    const t = oneFile()
    const out: Array<Send.Action> = []
    Send.step(t, { _tag: "Start" }, out, 0)
    out.length = 0
    Send.step(t, { _tag: "Cancel" }, out, 1)
    expect(out.map((a) => (a._tag === "Transmit" ? a.nstate : a._tag))).toEqual([SendState.BREAK, SendState.BREAK])
    out.length = 0
    Send.step(t, { _tag: "Expired" }, out, 10_000)
    Send.step(t, { _tag: "Ack", from: "10.0.0.2", state: RecvState.UPDATE, error: 0, ranges: undefined }, out, 10_001)
    expect(out).toEqual([])
  })

  it("a source that cannot be read breaks the transfer off and reports it for every member", () => {
    const t = oneFile()
    const out: Array<Send.Action> = []
    Send.step(t, { _tag: "Start" }, out, 0)
    Send.step(t, { _tag: "Ack", from: "10.0.0.2", state: RecvState.UPDATE, error: 0, ranges: undefined }, out, 1)
    Send.step(t, { _tag: "Ack", from: "10.0.0.2", state: RecvState.OPEN, error: 0, ranges: undefined }, out, 2)
    out.length = 0
    Send.step(t, { _tag: "ReadFailed", detail: "EIO" }, out, 3)
    expect(out.map((a) => a._tag)).toEqual(["Transmit", "Transmit", "Finished"])
    expect(out.at(-1)).toMatchObject({ hosts: [{ host: "h", outcome: "failed", detail: "not sent: EIO" }], changed: false })
  })

  it("once every block has arrived, CLOSE waits until the source is known unchanged; a changed one is broken off, never committed", () => {
    const run = (answer: Send.Event) => {
      const t = oneFile()
      const out: Array<Send.Action> = []
      const ack = (state: RecvStateValue, at: number) =>
        Send.step(t, { _tag: "Ack", from: "10.0.0.2", state, error: 0, ranges: state === RecvState.MARK ? [] : undefined }, out, at)
      Send.step(t, { _tag: "Start" }, out, 0)
      ack(RecvState.UPDATE, 1)
      ack(RecvState.OPEN, 2)
      Send.step(t, { _tag: "Room" }, out, 3)
      Send.step(t, { _tag: "Room" }, out, 4)
      out.length = 0
      ack(RecvState.MARK, 5)
      expect(out.map((a) => a._tag)).toEqual(["Verify"])
      out.length = 0
      Send.step(t, answer, out, 6)
      return out.map((a) => (a._tag === "Transmit" ? a.nstate : a._tag === "Finished" ? a : a._tag))
    }
    expect(run({ _tag: "Verified" })).toEqual([SendState.CLOSE, "Deadline"])
    expect(run({ _tag: "Changed", detail: "modified during the transfer" })).toEqual([
      SendState.BREAK,
      SendState.BREAK,
      { _tag: "Finished", changed: true, hosts: [{ host: "h", address: "10.0.0.2", outcome: "failed", detail: "changed while it was sent (modified during the transfer)" }] }
    ])
  })

  describe("probes: MARKs sent during DATA for the pacer", () => {
    /** A 100-block file to one member, opened, bursts of 4; the points its answers give the pacer, recorded. */
    const opened = () => {
      const pacer = makePacer(undefined)
      const points: Array<Delivery> = []
      const recording: Pacer = { ...pacer, delivered: (member, point, now) => (points.push(point), pacer.delivered(member, point, now)) }
      const context: Send.SendContext = { maxWait: 500, timeout: 5_000, rtt: makeRttEstimator(), pacer: recording, burst: 4 }
      const size = 100 * BLOCK_SIZE
      const mstat: Receive.Mstat = { _tag: "Mstat", mode: 0o100644, uid: 0, gid: 0, size, mtime: 1, ctime: 1, path: "f", linkTarget: "", rdevHigh: 0, rdevLow: 0 }
      const t = Send.make(REQID, mstat, 0, [{ host: "h", address: "10.0.0.2", port: 5000 }], context, 0)
      const out: Array<Send.Action> = []
      const ack = (state: RecvStateValue, at: number, ranges?: ReadonlyArray<readonly [number, number]>) =>
        Send.step(t, { _tag: "Ack", from: "10.0.0.2", state, error: 0, ranges }, out, at)
      Send.step(t, { _tag: "Start" }, out, 0)
      ack(RecvState.UPDATE, 1)
      ack(RecvState.OPEN, 2)
      out.length = 0
      /** The blocks the next burst picks at `at`, and whether a probe went with them. */
      const room = (at: number) => {
        out.length = 0
        Send.step(t, { _tag: "Room" }, out, at)
        const blocks = out.find((a) => a._tag === "Blocks")
        return {
          blocks: blocks?._tag === "Blocks" ? t.chosen.slice(0, blocks.count) : [],
          probe: out.some((a) => a._tag === "Transmit" && a.nstate === SendState.MARK)
        }
      }
      return { t, out, ack, room, points }
    }

    it("a probe goes with new blocks, one at a time; its answer's losses are repaired, not the blocks not sent yet", () => {
      const { ack, room, t } = opened()
      expect(room(10)).toEqual({ blocks: [0, 1, 2, 3], probe: false })
      expect(room(20)).toEqual({ blocks: [4, 5, 6, 7], probe: true })
      // unanswered: no second probe
      expect(room(40)).toEqual({ blocks: [8, 9, 10, 11], probe: false })
      // the member lost block 2; from 4 on it counts everything as missing (its MARK tail), sent or not
      ack(RecvState.MARK, 41, [[2, 3], [4, 100]])
      expect(t.pending.ranges(10)).toEqual([[2, 3]])
      expect(room(60)).toEqual({ blocks: [2, 12, 13, 14], probe: false })
      expect(room(70)).toEqual({ blocks: [15, 16, 17, 18], probe: true })
    })

    it("an answer to a probe that went a burst after the member's last block is timed from the probe, not the block: no queue where there is none", () => {
      const { ack, points, room } = opened()
      // a low rate: one burst every 70 ms
      expect(room(10)).toEqual({ blocks: [0, 1, 2, 3], probe: false })
      expect(room(80)).toEqual({ blocks: [4, 5, 6, 7], probe: true })
      // the member has blocks 0-3 when the probe (sent before blocks 4-7) arrives, and answers at once
      ack(RecvState.MARK, 81, [[4, 100]])
      // the round trip is the probe's 1 ms: timed from block 3's send (10) it read as 70 ms, a queue over the
      // pacer's 20 ms at every answer, which held the rate at its floor (docs/performance.md)
      expect(points.map((p) => p.sentAt)).toEqual([80])
      expect(points[0]!.position).toBe(4 * DATA_SEGMENT)
    })

    it("the end-of-file MARK round waits for the probe's answer: a late one would pass for an answer to the round", () => {
      const { ack, out, room, t } = opened()
      room(10)
      room(20)
      for (let at = 21; t.next < t.blocks; at++) room(at)
      expect(room(200)).toEqual({ blocks: [], probe: false })
      expect(t.markRounds).toBe(0)
      // the probe's answer: the MARK round begins (asked for room again)
      out.length = 0
      ack(RecvState.MARK, 201, [[4, 100]])
      expect(out.map((a) => a._tag)).toEqual(["WantRoom"])
      room(202)
      expect(t.markRounds).toBe(1)
      expect(out.some((a) => a._tag === "Transmit" && a.nstate === SendState.MARK)).toBe(true)
    })

    it("a probe never answered holds the MARK round back only until it is given up", () => {
      const { out, room, t } = opened()
      room(10)
      room(20)
      for (let at = 21; t.next < t.blocks; at++) room(at)
      room(200)
      const deadline = out.find((a) => a._tag === "Deadline")
      expect(deadline).toEqual({ _tag: "Deadline", at: 20 + 200 })
      out.length = 0
      Send.step(t, { _tag: "Expired" }, out, 220)
      expect(out.map((a) => a._tag)).toEqual(["WantRoom"])
      room(221)
      expect(t.markRounds).toBe(1)
    })
  })
})
