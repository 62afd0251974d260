/**
 * A member's side of DSYNC (makuosan-v7.md §5.4) for one session, as a state machine without I/O: OPEN names the path,
 * DATA brings the exclude patterns in batches numbered by the patterns sent so far, then an empty terminator
 * numbered one more; only then does the work (`Start`: the walk and its DEL sessions, carried out by the driver)
 * begin — never with a batch missing (makuosan-v7.md E13: makuosan scans with whatever patterns happened to arrive). CLOSE is
 * answered OPEN while the work runs, CLOSE once it is over (when it completes, an unsolicited CLOSE says so at
 * once), BREAK when it was broken off; BREAK stops it. A session is mutated in place.
 *
 * The patterns come from any peer, and every path of the walk is matched against every one of them: a session
 * takes `MAX_PATTERNS` patterns of `MAX_PATTERN_BYTES` bytes in all at most. Beyond, it is refused (`TooMany`):
 * its patterns are dropped and it deletes nothing — never a walk with part of the excludes.
 */
import { RecvState, SendState } from "../../protocol/v7/constants.js"
import type { Machine } from "../engine/machine.js"
import { utf8Length } from "../../protocol/text.js"

/** More than any real exclude list (makuosan's msync sends each pattern as one console command). */
export const MAX_PATTERNS = 1024
export const MAX_PATTERN_BYTES = 64 * 1024

/** `refused`: too many exclude patterns; nothing is done for it. */
export type Work = "waiting" | "running" | "done" | "stopped" | "refused"

export interface DsyncReceiveSession {
  readonly patterns: Array<string>
  /** Patterns received so far, as numbered by the requester's `seqno`. */
  count: number
  /** Their bytes. */
  bytes: number
  work: Work
  ended: boolean
}

export type Event =
  | {
    readonly _tag: "Request"
    readonly nstate: number
    readonly seqno: number
    /** What a DATA request carries (empty: the terminator). */
    readonly patterns: ReadonlyArray<string> | undefined
  }
  /** The work is over: `complete` unless the requester fell silent during it. */
  | { readonly _tag: "WorkDone"; readonly complete: boolean }

export type Action =
  /** Answer the request just stepped with `state`; `unsolicited`: answer the terminator again, numbered `seqno`. */
  | { readonly _tag: "Ack"; readonly state: number; readonly unsolicited: boolean; readonly seqno: number | undefined }
  /** Walk the tree with these excludes and hold the DEL sessions; step `WorkDone` when over. */
  | { readonly _tag: "Start"; readonly patterns: ReadonlyArray<string> }
  | { readonly _tag: "Stop" }
  /** A batch arrived out of order: the work waits for the missing one. */
  | { readonly _tag: "Warn"; readonly message: string }
  /** The exclude list exceeds the caps: the session is refused. */
  | { readonly _tag: "TooMany"; readonly message: string }
  | { readonly _tag: "End" }

/** A session opens on DSYNC OPEN only. */
export const opens = (nstate: number) => nstate === SendState.OPEN

export const make = (): DsyncReceiveSession => ({ patterns: [], count: 0, bytes: 0, work: "waiting", ended: false })

const ack = (state: number, out: Array<Action>): void => void out.push({ _tag: "Ack", state, unsolicited: false, seqno: undefined })

const onData = (s: DsyncReceiveSession, seqno: number, patterns: ReadonlyArray<string>, out: Array<Action>) => {
  if (patterns.length > 0) {
    if (seqno === s.count + patterns.length) {
      if (s.work === "waiting") {
        const bytes = patterns.reduce((n, p) => n + utf8Length(p), s.bytes)
        if (seqno > MAX_PATTERNS || bytes > MAX_PATTERN_BYTES) {
          s.work = "refused"
          s.patterns.length = 0
          out.push({ _tag: "TooMany", message: `more than ${MAX_PATTERNS} exclude patterns or ${MAX_PATTERN_BYTES} bytes of them; refused, deleting nothing` })
        } else s.patterns.push(...patterns), (s.bytes = bytes)
      }
      s.count = seqno
    } else if (seqno > s.count) {
      // a batch before this one never arrived: the work would go without its excludes (makuosan-v7.md E13); wait for it
      return void out.push({ _tag: "Warn", message: `exclude patterns missing before #${seqno}` })
    }
  } else if (seqno !== s.count + 1) {
    return void out.push({ _tag: "Warn", message: "terminator before all exclude patterns; not deleting" })
  } else if (s.work === "waiting") {
    s.work = "running"
    out.push({ _tag: "Start", patterns: s.patterns })
  }
  ack(RecvState.OPEN, out)
}

export const step = ((s, event, out) => {
  if (s.ended) return
  if (event._tag === "WorkDone") {
    if (s.work !== "running") return
    s.work = event.complete ? "done" : "stopped"
    if (event.complete) out.push({ _tag: "Ack", state: RecvState.CLOSE, unsolicited: true, seqno: s.count })
    return
  }
  switch (event.nstate) {
    case SendState.OPEN:
      return ack(RecvState.OPEN, out)
    case SendState.DATA:
      if (event.patterns !== undefined) onData(s, event.seqno, event.patterns, out)
      return
    case SendState.CLOSE: {
      // a walk broken off (the requester fell silent in one of its DEL sessions) is no success: BREAK says so,
      // again to every CLOSE, for the session is kept — an ended one would be answered CLOSE (done)
      if (s.work === "stopped") return ack(RecvState.BREAK, out)
      const busy = s.work === "running"
      if (!busy) (s.ended = true), out.push({ _tag: "End" })
      return ack(busy ? RecvState.OPEN : RecvState.CLOSE, out)
    }
    case SendState.BREAK:
      if (s.work === "running") (s.work = "stopped"), out.push({ _tag: "Stop" })
      s.ended = true
      out.push({ _tag: "End" })
      return ack(RecvState.BREAK, out)
  }
}) satisfies Machine<DsyncReceiveSession, Event, Action>
