/**
 * The receiving side of one SEND transfer (makuosan-v7.md §5.2.3–5.2.6) as a state machine without I/O (the
 * engine's `Machine`): requests and the results of file-system work are events; replies and file-system work
 * are actions, carried out by the shell (`FileReceiver.ts`) in order. A session is mutated in place — DATA
 * alone is a million events a GiB — and owns its block bookkeeping (`expected`, `missing`).
 *
 * Fixed makuosan bugs: a duplicate STAT never re-opens the decision (makuosan-v7.md E23); CLOSE commits only a complete file —
 * a receiver that missed blocks answers CLOSEERROR instead of committing holes (makuosan-v7.md E15).
 */
import type { Machine } from "../engine/machine.js"
import { BLOCK_SIZE, Flag, RecvState, type RecvStateValue, SendState } from "../../protocol/v7/constants.js"
import type { BlockRange, Header, PayloadOf } from "../../protocol/v7/message.js"
import { MAX_RANGES, RangeSet } from "../../protocol/ranges.js"
import { kindOf } from "../../store/listing.js"

export type Mstat = PayloadOf<"Mstat">

/** What the receiver will do with this entry, once decided. */
export type Phase =
  | "New" // STAT seen, decision pending
  | "Deciding"
  | "Decided" // UPDATE / SKIP / READONLY / DELETE* / OPENERROR, waiting for OPEN or CLOSE
  | "Opening"
  | "Open" // receiving data
  | "Committing"
  | "Closed"

export interface Session {
  phase: Phase
  /** The state we answer with. */
  state: RecvStateValue
  /** What STAT decided; duplicate STATs are answered with it. */
  decision: RecvStateValue | undefined
  ostate: number
  error: number
  readonly mstat: Mstat
  readonly flags: number
  readonly blocks: number
  /** The next block in sequence. */
  expected: number
  /** Missing blocks. */
  readonly missing: RangeSet
  /** After the first MARK only missing blocks are written. */
  lick: boolean
  /** A temp file or a placed entry exists that must be discarded if we do not commit. */
  hasTemp: boolean
}

export type Event =
  | { readonly _tag: "Request"; readonly header: Header; readonly data: Uint8Array }
  /** A DATA request as the hot path sees it: block number and bytes, the rest of its header unread. */
  | { readonly _tag: "Block"; readonly block: number; readonly data: Uint8Array }
  | { readonly _tag: "Decided"; readonly state: RecvStateValue; readonly error: number }
  | { readonly _tag: "Opened"; readonly error: number } // 0 = success
  | { readonly _tag: "WriteFailed"; readonly error: number }
  | { readonly _tag: "Committed"; readonly error: number }

export type Action =
  | { readonly _tag: "Reply"; readonly state: RecvStateValue; readonly seqno: number; readonly ranges?: ReadonlyArray<BlockRange> }
  /** Reply with the request's own header (LAST, BREAK): reqid, seqno and ostate echoed. */
  | { readonly _tag: "Echo"; readonly request: Header; readonly state: RecvStateValue }
  | { readonly _tag: "Decide" }
  | { readonly _tag: "Open" }
  | { readonly _tag: "Write"; readonly block: number; readonly bytes: Uint8Array }
  | { readonly _tag: "Commit" }
  | { readonly _tag: "Discard" }
  /** The session is over: forget it, dropping what it holds. */
  | { readonly _tag: "End" }

export const isRegular = (mode: number) => kindOf(mode) === "file"

export const blockCount = (size: number) => Math.ceil(size / BLOCK_SIZE)

/** Length of block `n` of a file of `size` bytes. */
export const blockLength = (size: number, n: number) => Math.min(BLOCK_SIZE, size - n * BLOCK_SIZE)

/** Ranges in one NAK or MARK answer (makuosan's bound). */
const RANGES_PER_REPLY = 128

/** A session opens on STAT only. */
export const opens = (nstate: number) => nstate === SendState.STAT

export const initial = (header: Header, mstat: Mstat): Session => ({
  phase: "New",
  state: RecvState.NONE,
  decision: undefined,
  ostate: 0,
  error: 0,
  mstat,
  flags: header.flags,
  blocks: isRegular(mstat.mode) ? blockCount(mstat.size) : 0,
  expected: 0,
  missing: new RangeSet(MAX_RANGES),
  lick: false,
  hasTemp: false
})

const reply = (s: Session, seqno: number, out: Array<Action>, ranges?: ReadonlyArray<BlockRange>): void =>
  void out.push(ranges === undefined ? { _tag: "Reply", state: s.state, seqno } : { _tag: "Reply", state: s.state, seqno, ranges })

const isDryRun = (s: Session) => (s.flags & Flag.DRYRUN) !== 0

const onData = (s: Session, block: number, data: Uint8Array, out: Array<Action>): void => {
  if (block >= s.blocks || data.length !== blockLength(s.mstat.size, block)) return
  if (s.lick || block < s.expected) {
    if (s.missing.delete(block)) out.push({ _tag: "Write", block, bytes: data })
    return
  }
  if (block > s.expected) {
    // a gap: NAK it at once so the sender repairs it before sending new blocks. Only the new gap: repeating the
    // older ones (as makuosan does) makes the sender repair again what is already on its way.
    const gapStart = s.expected
    s.missing.add(gapStart, block, s.blocks)
    out.push({ _tag: "Reply", state: RecvState.OPEN, seqno: gapStart, ranges: [[gapStart, block]] })
  }
  s.expected = block + 1
  out.push({ _tag: "Write", block, bytes: data })
}

const onBlock = (s: Session, block: number, data: Uint8Array, out: Array<Action>): void => {
  if (s.phase === "Open" && s.state === RecvState.OPEN) onData(s, block, data, out)
}

/** LAST or BREAK: the session is over, whatever it holds is dropped; the answer echoes the request. */
const end = (s: Session, request: Header, state: RecvStateValue, out: Array<Action>): void => {
  if (s.hasTemp) (s.hasTemp = false), out.push({ _tag: "Discard" })
  s.phase = "Closed"
  out.push({ _tag: "Echo", request, state }, { _tag: "End" })
}

const onRequest = (s: Session, header: Header, data: Uint8Array, out: Array<Action>): void => {
  switch (header.nstate) {
    case SendState.STAT:
      if (s.phase === "New") return (s.phase = "Deciding"), void out.push({ _tag: "Decide" })
      if (s.decision !== undefined) out.push({ _tag: "Reply", state: s.decision, seqno: 0 })
      return
    case SendState.OPEN:
      if (s.phase === "Decided" && s.state === RecvState.UPDATE && !isDryRun(s)) {
        s.phase = "Opening"
        s.ostate = RecvState.UPDATE
        return void out.push({ _tag: "Open" })
      }
      // the sender missed our answer (makuosan-v7.md E10): say it again
      if (s.phase === "Open" || (s.phase === "Decided" && s.state === RecvState.OPENERROR && s.ostate === RecvState.UPDATE)) reply(s, 0, out)
      return
    case SendState.DATA:
      return onBlock(s, header.seqno, data, out)
    case SendState.MARK:
      if (s.phase !== "Open" || s.state !== RecvState.OPEN) return
      s.missing.add(s.expected, s.blocks, s.blocks)
      s.expected = s.blocks
      s.lick = true
      return void out.push({ _tag: "Reply", state: RecvState.MARK, seqno: s.expected, ranges: s.missing.ranges(RANGES_PER_REPLY) })
    case SendState.CLOSE:
      if (s.phase === "Closed") return reply(s, s.expected, out)
      if (s.phase === "Open" && s.state === RecvState.OPEN) {
        if (s.expected < s.blocks || !s.missing.isEmpty) {
          s.phase = "Closed"
          s.state = RecvState.CLOSEERROR
          s.ostate = RecvState.OPEN
          s.hasTemp = false
          out.push({ _tag: "Discard" })
          return reply(s, s.expected, out)
        }
        s.phase = "Committing"
        return void out.push({ _tag: "Commit" })
      }
      if (s.phase !== "Decided" && s.phase !== "Open") return
      // nothing to commit (skip, dry run, read-only, an earlier error): acknowledge, keep the error
      if (s.hasTemp) out.push({ _tag: "Discard" })
      s.phase = "Closed"
      s.ostate = s.state
      s.state = RecvState.CLOSE
      s.hasTemp = false
      return reply(s, s.expected, out)
    case SendState.LAST:
      return end(s, header, RecvState.LAST, out)
    case SendState.BREAK:
      return end(s, header, RecvState.IGNORE, out)
  }
}

export const step = ((s, event, out) => {
  switch (event._tag) {
    case "Request":
      return onRequest(s, event.header, event.data, out)
    case "Block":
      return onBlock(s, event.block, event.data, out)
    case "Decided":
      s.phase = "Decided"
      s.state = event.state
      s.decision = event.state
      s.error = event.error
      return reply(s, 0, out)
    case "Opened":
      if (event.error !== 0) (s.phase = "Decided"), (s.state = RecvState.OPENERROR), (s.error = event.error)
      else (s.phase = "Open"), (s.state = RecvState.OPEN), (s.hasTemp = isRegular(s.mstat.mode))
      return reply(s, 0, out)
    case "WriteFailed":
      s.phase = "Open"
      s.state = RecvState.WRITEERROR
      s.error = event.error
      s.hasTemp = false
      out.push({ _tag: "Discard" })
      return reply(s, s.expected, out)
    case "Committed":
      s.phase = "Closed"
      s.state = event.error === 0 ? RecvState.CLOSE : RecvState.CLOSEERROR
      s.ostate = RecvState.OPEN
      s.error = event.error
      s.hasTemp = false
      return reply(s, s.expected, out)
    default:
      return event satisfies never
  }
}) satisfies Machine<Session, Event, Action>
