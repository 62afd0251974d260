import { describe, expect, it } from "@effect/vitest"
import { FastCheck as fc } from "effect"
import { Flag, RecvState, SendState } from "../../../src/protocol/v7/constants.js"
import type { Header } from "../../../src/protocol/v7/message.js"
import { MAX_RANGES } from "../../../src/protocol/ranges.js"
import { type Action, type Event, initial, type Mstat, type Session, step } from "../../../src/transfer/send/receiveMachine.js"
import { type Ipv4, type ReqId } from "../../../src/protocol/fields.js"

const mstat = (size: number, mode = 0o100644): Mstat => ({
  _tag: "Mstat", mode, uid: 0, gid: 0, size, mtime: 1, ctime: 1, path: "f", linkTarget: "", rdevHigh: 0, rdevLow: 0
})
const header = (nstate: number, seqno = 0, flags = 0): Header => ({
  opcode: 2, nstate, ostate: 0, flags, reqid: 7 as ReqId, seqno, maddr: "224.0.0.108" as Ipv4, mport: 5000, error: 0,
  hash: new Uint8Array(16)
})
const req = (nstate: number, seqno = 0, data = new Uint8Array(0)): Event => ({ _tag: "Request", header: header(nstate, seqno), data })
const block = (n: number, size: number) => new Uint8Array(Math.min(1024, size - n * 1024))

/** Runs events through `step`, collecting the actions. */
const run = (s: Session, events: ReadonlyArray<Event>) => {
  const actions: Array<Action> = []
  for (const e of events) step(s, e, actions)
  return { s, actions }
}
const replies = (actions: ReadonlyArray<Action>) =>
  actions.flatMap((a) => (a._tag === "Reply" ? [{ state: a.state, seqno: a.seqno, ranges: a.ranges }] : []))

const opened = (size: number) =>
  run(initial(header(SendState.STAT), mstat(size)), [
    req(SendState.STAT), { _tag: "Decided", state: RecvState.UPDATE, error: 0 }, req(SendState.OPEN), { _tag: "Opened", error: 0 }
  ])

describe("receive state machine", () => {
  it("STAT asks for a decision once; duplicates are answered with it, never re-decided (makuosan-v7.md E23)", () => {
    const { s, actions } = opened(3000)
    expect(actions.map((a) => a._tag)).toEqual(["Decide", "Reply", "Open", "Reply"])
    expect(replies(actions).map((r) => r.state)).toEqual([RecvState.UPDATE, RecvState.OPEN])
    const dup = run(s, [req(SendState.STAT)])
    expect(replies(dup.actions)).toEqual([{ state: RecvState.UPDATE, seqno: 0, ranges: undefined }])
    expect(dup.s.phase).toBe("Open")
  })

  it("a peer sending every other block of a large file grows the missing set to MAX_RANGES, no further; the file still completes", () => {
    const size = 40_000 * 1024
    const { s } = opened(size)
    const written = new Set<number>()
    const feed = (blocks: Iterable<number>) => {
      for (const n of blocks) {
        const out: Array<Action> = []
        step(s, req(SendState.DATA, n, block(n, size)), out)
        for (const a of out) if (a._tag === "Write") written.add(a.block)
      }
    }
    feed(Array.from({ length: 20_000 }, (_, i) => 2 * i))
    expect(s.missing.count).toBe(MAX_RANGES)
    // repair passes as a sender makes them: MARK, then what the member names missing, in order
    for (let pass = 0; pass < 10 && s.missing.size + (s.blocks - s.expected) > 0; pass++) {
      step(s, req(SendState.MARK), [])
      feed(s.missing.ranges().flatMap(([l, h]) => Array.from({ length: h - l }, (_, k) => l + k)))
    }
    expect(s.missing.isEmpty).toBe(true)
    expect(written.size).toBe(40_000)
    expect(run(s, [req(SendState.CLOSE)]).actions.map((a) => a._tag)).toEqual(["Commit"])
  })

  it("a duplicate OPEN is re-acknowledged (makuosan-v7.md E10); OPEN to a skipped file gets no answer", () => {
    expect(replies(run(opened(10).s, [req(SendState.OPEN)]).actions)[0]?.state).toBe(RecvState.OPEN)
    const skipped = run(initial(header(0), mstat(10)), [req(SendState.STAT), { _tag: "Decided", state: RecvState.SKIP, error: 0 }]).s
    expect(run(skipped, [req(SendState.OPEN)]).actions).toEqual([])
  })

  it("in-order blocks are written; a gap is NAKed once with just that gap; a late block fills it", () => {
    const size = 5000
    const { s, actions } = run(opened(size).s, [req(SendState.DATA, 0, block(0, size)), req(SendState.DATA, 3, block(3, size))])
    expect(actions.filter((a) => a._tag === "Write").map((a) => a._tag === "Write" && a.block)).toEqual([0, 3])
    expect(replies(actions)).toEqual([{ state: RecvState.OPEN, seqno: 1, ranges: [[1, 3]] }])
    const later = run(s, [req(SendState.DATA, 1, block(1, size)), req(SendState.DATA, 1, block(1, size))])
    expect(later.actions.filter((a) => a._tag === "Write")).toHaveLength(1)
    expect(later.s.missing.ranges()).toEqual([[2, 3]])
  })

  it("MARK reports the missing ranges including the lost tail, then only missing blocks are written", () => {
    const size = 5000
    const { s, actions } = run(opened(size).s, [req(SendState.DATA, 0, block(0, size)), req(SendState.MARK)])
    expect(replies(actions)).toEqual([{ state: RecvState.MARK, seqno: 5, ranges: [[1, 5]] }])
    const repaired = run(s, [1, 2, 3, 4, 0].map((n) => req(SendState.DATA, n, block(n, size))))
    expect(repaired.actions.filter((a) => a._tag === "Write")).toHaveLength(4)
    expect(replies(run(repaired.s, [req(SendState.MARK)]).actions)).toEqual([{ state: RecvState.MARK, seqno: 5, ranges: [] }])
  })

  it("blocks beyond the end or of the wrong length are ignored", () => {
    const { actions } = run(opened(1500).s, [req(SendState.DATA, 2, block(0, 5000)), req(SendState.DATA, 1, new Uint8Array(1024))])
    expect(actions).toEqual([])
  })

  it("CLOSE commits a complete file, and refuses one with holes (makuosan-v7.md E15): CLOSEERROR and the temp file discarded", () => {
    const size = 2048
    const done = run(opened(size).s, [req(SendState.DATA, 0, block(0, size)), req(SendState.DATA, 1, block(1, size)), req(SendState.CLOSE)])
    expect(done.actions.at(-1)).toEqual({ _tag: "Commit" })
    const committed = run(done.s, [{ _tag: "Committed", error: 0 }, req(SendState.CLOSE)])
    expect(replies(committed.actions).map((r) => [r.state, r.seqno])).toEqual([[RecvState.CLOSE, 2], [RecvState.CLOSE, 2]])
    const holes = run(opened(size).s, [req(SendState.DATA, 1, block(1, size)), req(SendState.CLOSE)])
    expect(holes.actions.map((a) => a._tag)).toContain("Discard")
    expect(holes.actions).not.toContainEqual({ _tag: "Commit" })
    expect(replies(holes.actions).at(-1)?.state).toBe(RecvState.CLOSEERROR)
  })

  it("a write failure answers WRITEERROR and discards; later MARKs get no answer, CLOSE keeps the error", () => {
    const { s, actions } = run(opened(3000).s, [req(SendState.DATA, 0, block(0, 3000)), { _tag: "WriteFailed", error: 28 }])
    expect(actions.map((a) => a._tag)).toEqual(["Write", "Discard", "Reply"])
    expect(run(s, [req(SendState.MARK)]).actions).toEqual([])
    const closed = run(s, [req(SendState.CLOSE)])
    expect(closed.s).toMatchObject({ state: RecvState.CLOSE, ostate: RecvState.WRITEERROR, error: 28 })
  })

  it("dry run: OPEN is ignored, CLOSE answers CLOSE with ostate UPDATE, LAST echoes and releases", () => {
    const dry = initial(header(0, 0, Flag.DRYRUN), mstat(10))
    const { s, actions } = run(dry, [req(SendState.STAT), { _tag: "Decided", state: RecvState.UPDATE, error: 0 }, req(SendState.OPEN), req(SendState.CLOSE)])
    expect(actions.filter((a) => a._tag === "Open")).toEqual([])
    expect(s).toMatchObject({ state: RecvState.CLOSE, ostate: RecvState.UPDATE })
    const last = run(s, [req(SendState.LAST, 9)])
    expect(last.actions.map((a) => a._tag)).toEqual(["Echo", "End"])
  })

  it("BREAK discards a temp file and answers IGNORE", () => {
    const { actions } = run(opened(3000).s, [req(SendState.BREAK)])
    expect(actions.map((a) => a._tag)).toEqual(["Discard", "Echo", "End"])
    expect(actions[1]).toMatchObject({ state: RecvState.IGNORE })
  })
})

/**
 * Any order of requests, duplicated and late, with file-system results arriving as the shell would deliver them
 * (after the action that asked for them). What must hold: a commit only ever follows writes of every block (makuosan-v7.md E15,
 * no holes); blocks are written only inside the file and only while a temp file exists; a temp file that is
 * never committed is discarded once the session ends; the decision is asked for once (makuosan-v7.md E23); after End nothing.
 */
describe("receive state machine under any order of requests (property)", () => {
  const request = fc.oneof(
    fc.constantFrom(SendState.STAT, SendState.OPEN, SendState.MARK, SendState.CLOSE, SendState.LAST, SendState.BREAK).map((n) => ({ n, block: 0 })),
    fc.integer({ min: 0, max: 6 }).map((block) => ({ n: SendState.DATA, block }))
  )
  it.prop(
    "commits only complete files, writes only inside them, discards what it does not commit",
    [fc.integer({ min: 0, max: 6 * 1024 }), fc.array(request, { maxLength: 60 }), fc.boolean()],
    ([size, requests, failOpen]) => {
      const s = initial(header(SendState.STAT), mstat(size))
      const written = new Set<number>()
      let temp = false
      let committed = false
      let decides = 0
      let released = false
      const pending: Array<Event> = []
      const apply = (e: Event) => {
        const out: Array<Action> = []
        step(s, e, out)
        for (const a of out) {
          expect(released).toBe(false)
          switch (a._tag) {
            case "Decide":
              decides++
              pending.push({ _tag: "Decided", state: RecvState.UPDATE, error: 0 })
              break
            case "Open":
              pending.push({ _tag: "Opened", error: failOpen ? 13 : 0 })
              if (!failOpen) temp = true
              break
            case "Write":
              expect(temp).toBe(true)
              expect(a.block).toBeLessThan(s.blocks)
              written.add(a.block)
              break
            case "Commit":
              expect(written.size).toBe(s.blocks)
              committed = true
              temp = false
              pending.push({ _tag: "Committed", error: 0 })
              break
            case "Discard":
              temp = false
              break
            case "End":
              released = true
              break
          }
        }
      }
      for (const { n, block: b } of requests) {
        if (released) break
        // blocks past the end come too (empty): the machine must ignore them
        apply(n === SendState.DATA ? req(n, b, new Uint8Array(Math.max(0, Math.min(1024, size - b * 1024)))) : req(n))
        // the shell reports a file-system result after the action that asked for it, before the next request
        while (pending.length > 0 && !released) apply(pending.shift()!)
      }
      expect(decides).toBeLessThanOrEqual(1)
      if (released) expect(temp).toBe(false)
      if (committed) expect([...written].sort((a, b) => a - b)).toEqual(Array.from({ length: s.blocks }, (_, i) => i))
    },
    { fastCheck: { numRuns: 500 } }
  )
})
