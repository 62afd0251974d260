/**
 * A member's side of DSYNC (spec §5.4) for one session, as a state machine without I/O: OPEN names the path,
 * DATA brings the exclude patterns in batches numbered by the patterns sent so far, then an empty terminator
 * numbered one more; only then does the work (`Start`: the walk and its DEL sessions, carried out by the driver)
 * begin — never with a batch missing (E13: makuosan scans with whatever patterns happened to arrive). CLOSE is
 * answered OPEN while the work runs, CLOSE once it is over (when it completes, an unsolicited CLOSE says so at
 * once); BREAK stops it. A session is mutated in place.
 */
import { RecvState, SendState } from "../../protocol/constants.js"

export type Work = "waiting" | "running" | "done" | "stopped"

export interface DsyncReceiveSession {
  readonly patterns: Array<string>
  /** Patterns received so far, as numbered by the requester's `seqno`. */
  count: number
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
  | { readonly _tag: "Warn"; readonly message: string }
  | { readonly _tag: "End" }

/** A session opens on DSYNC OPEN only. */
export const opens = (nstate: number) => nstate === SendState.OPEN

export const make = (): DsyncReceiveSession => ({ patterns: [], count: 0, work: "waiting", ended: false })

const ack = (state: number, out: Array<Action>): void => void out.push({ _tag: "Ack", state, unsolicited: false, seqno: undefined })

const onData = (s: DsyncReceiveSession, seqno: number, patterns: ReadonlyArray<string>, out: Array<Action>) => {
  if (patterns.length > 0) {
    if (seqno === s.count + patterns.length) (s.patterns.push(...patterns), (s.count = seqno))
    else if (seqno > s.count) {
      // a batch before this one never arrived: the work would go without its excludes (E13); wait for it
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

export const step = (s: DsyncReceiveSession, event: Event, out: Array<Action>): void => {
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
}
