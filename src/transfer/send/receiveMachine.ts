/**
 * The receiving side of one SEND transfer (makuosan-v7.md §5.2.3–5.2.6) as a step function without I/O:
 * `step(session, event) → { session, actions }`. Requests and the results of file-system work are events;
 * replies and file-system work are actions, carried out by the shell (`FileReceiver.ts`) in order. A session owns
 * its block bookkeeping (`expected`, `missing`): DATA, a million events a GiB, updates it in place instead of
 * copying the session; every other transition returns a new session.
 *
 * Fixed makuosan bugs: a duplicate STAT never re-opens the decision (makuosan-v7.md E23); CLOSE commits only a complete file —
 * a receiver that missed blocks answers CLOSEERROR instead of committing holes (makuosan-v7.md E15).
 */
import { BLOCK_SIZE, Flag, RecvState, type RecvStateValue, SendState } from "../../protocol/constants.js"
import type { BlockRange, Header, PayloadOf } from "../../protocol/message.js"
import { MAX_RANGES, RangeSet } from "../../protocol/ranges.js"

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
  readonly phase: Phase
  /** The state we answer with. */
  readonly state: RecvStateValue
  /** What STAT decided; duplicate STATs are answered with it. */
  readonly decision: RecvStateValue | undefined
  readonly ostate: number
  readonly error: number
  readonly mstat: Mstat
  readonly flags: number
  readonly blocks: number
  /** The next block in sequence (mutated in place by `step` on the DATA path, like `missing`). */
  expected: number
  /** Missing blocks (mutated in place by `step`: the session owns it). */
  readonly missing: RangeSet
  /** After the first MARK only missing blocks are written. */
  readonly lick: boolean
  /** A temp file or a placed entry exists that must be discarded if we do not commit. */
  readonly hasTemp: boolean
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
  | { readonly _tag: "Release" }

export interface Step {
  readonly session: Session
  readonly actions: ReadonlyArray<Action>
}

const S_IFMT = 0o170000
export const S_IFREG = 0o100000
export const S_IFDIR = 0o040000
export const S_IFLNK = 0o120000

export const isRegular = (mode: number) => (mode & S_IFMT) === S_IFREG

export const blockCount = (size: number) => Math.ceil(size / BLOCK_SIZE)

/** Length of block `n` of a file of `size` bytes. */
export const blockLength = (size: number, n: number) => Math.min(BLOCK_SIZE, size - n * BLOCK_SIZE)

/** Ranges in one NAK or MARK answer (makuosan's bound). */
const RANGES_PER_REPLY = 128

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

const same = (s: Session): Step => ({ session: s, actions: [] })
const reply = (s: Session, seqno: number, ranges?: ReadonlyArray<BlockRange>): Action =>
  ranges === undefined ? { _tag: "Reply", state: s.state, seqno } : { _tag: "Reply", state: s.state, seqno, ranges }

const isDryRun = (s: Session) => (s.flags & Flag.DRYRUN) !== 0

const onData = (s: Session, block: number, data: Uint8Array): Step => {
  if (block >= s.blocks || data.length !== blockLength(s.mstat.size, block)) return same(s)
  if (s.lick || block < s.expected) {
    return s.missing.delete(block) ? { session: s, actions: [{ _tag: "Write", block, bytes: data }] } : same(s)
  }
  const write: Action = { _tag: "Write", block, bytes: data }
  if (block === s.expected) {
    s.expected = block + 1
    return { session: s, actions: [write] }
  }
  // a gap: NAK it at once so the sender repairs it before sending new blocks. Only the new gap: repeating the
  // older ones (as makuosan does) makes the sender repair again what is already on its way.
  const gapStart = s.expected
  s.missing.add(gapStart, block, s.blocks)
  s.expected = block + 1
  return { session: s, actions: [reply({ ...s, state: RecvState.OPEN }, gapStart, [[gapStart, block]]), write] }
}

const onBlock = (s: Session, block: number, data: Uint8Array): Step =>
  s.phase === "Open" && s.state === RecvState.OPEN ? onData(s, block, data) : same(s)

const onRequest = (s: Session, header: Header, data: Uint8Array): Step => {
  switch (header.nstate) {
    case SendState.STAT:
      if (s.phase === "New") return { session: { ...s, phase: "Deciding" }, actions: [{ _tag: "Decide" }] }
      return s.decision === undefined ? same(s) : { session: s, actions: [{ _tag: "Reply", state: s.decision, seqno: 0 }] }
    case SendState.OPEN:
      if (s.phase === "Decided" && s.state === RecvState.UPDATE && !isDryRun(s)) {
        return { session: { ...s, phase: "Opening", ostate: RecvState.UPDATE }, actions: [{ _tag: "Open" }] }
      }
      // the sender missed our answer (makuosan-v7.md E10): say it again
      if (s.phase === "Open" || (s.phase === "Decided" && s.state === RecvState.OPENERROR && s.ostate === RecvState.UPDATE)) {
        return { session: s, actions: [reply(s, 0)] }
      }
      return same(s)
    case SendState.DATA:
      return onBlock(s, header.seqno, data)
    case SendState.MARK: {
      if (s.phase !== "Open" || s.state !== RecvState.OPEN) return same(s)
      s.missing.add(s.expected, s.blocks, s.blocks)
      const next: Session = { ...s, expected: s.blocks, lick: true }
      return { session: next, actions: [{ _tag: "Reply", state: RecvState.MARK, seqno: next.expected, ranges: next.missing.ranges(RANGES_PER_REPLY) }] }
    }
    case SendState.CLOSE: {
      if (s.phase === "Closed") return { session: s, actions: [reply(s, s.expected)] }
      if (s.phase === "Open" && s.state === RecvState.OPEN) {
        if (s.expected < s.blocks || !s.missing.isEmpty) {
          const failed: Session = { ...s, phase: "Closed", state: RecvState.CLOSEERROR, ostate: RecvState.OPEN, hasTemp: false }
          return { session: failed, actions: [{ _tag: "Discard" }, reply(failed, s.expected)] }
        }
        return { session: { ...s, phase: "Committing" }, actions: [{ _tag: "Commit" }] }
      }
      if (s.phase !== "Decided" && s.phase !== "Open") return same(s)
      // nothing to commit (skip, dry run, read-only, an earlier error): acknowledge, keep the error
      const closed: Session = { ...s, phase: "Closed", state: RecvState.CLOSE, ostate: s.state, hasTemp: false }
      return { session: closed, actions: [...(s.hasTemp ? [{ _tag: "Discard" } as const] : []), reply(closed, s.expected)] }
    }
    case SendState.LAST:
      return {
        session: { ...s, hasTemp: false },
        actions: [...(s.hasTemp ? [{ _tag: "Discard" } as const] : []), { _tag: "Echo", request: header, state: RecvState.LAST }, { _tag: "Release" }]
      }
    case SendState.BREAK:
      return {
        session: { ...s, hasTemp: false },
        actions: [...(s.hasTemp ? [{ _tag: "Discard" } as const] : []), { _tag: "Echo", request: header, state: RecvState.IGNORE }, { _tag: "Release" }]
      }
    default:
      return same(s)
  }
}

export const step = (s: Session, event: Event): Step => {
  switch (event._tag) {
    case "Request":
      return onRequest(s, event.header, event.data)
    case "Block":
      return onBlock(s, event.block, event.data)
    case "Decided": {
      const next: Session = { ...s, phase: "Decided", state: event.state, decision: event.state, error: event.error }
      return { session: next, actions: [reply(next, 0)] }
    }
    case "Opened": {
      if (event.error !== 0) {
        const failed: Session = { ...s, phase: "Decided", state: RecvState.OPENERROR, error: event.error }
        return { session: failed, actions: [reply(failed, 0)] }
      }
      const open: Session = { ...s, phase: "Open", state: RecvState.OPEN, hasTemp: isRegular(s.mstat.mode) }
      return { session: open, actions: [reply(open, 0)] }
    }
    case "WriteFailed": {
      const failed: Session = { ...s, phase: "Open", state: RecvState.WRITEERROR, error: event.error, hasTemp: false }
      return { session: failed, actions: [{ _tag: "Discard" }, reply(failed, s.expected)] }
    }
    case "Committed": {
      const closed: Session = {
        ...s,
        phase: "Closed",
        state: event.error === 0 ? RecvState.CLOSE : RecvState.CLOSEERROR,
        ostate: RecvState.OPEN,
        error: event.error,
        hasTemp: false
      }
      return { session: closed, actions: [reply(closed, s.expected)] }
    }
    default:
      return event satisfies never
  }
}
