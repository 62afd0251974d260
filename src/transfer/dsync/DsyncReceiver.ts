/**
 * A member's side of DSYNC (makuosan-v7.md §5.4): one `dsyncReceiveMachine` per session, run by the receiving driver
 * (`receiving.ts`).
 * Once the exclude patterns are complete, the work: we walk our own tree (never following a link, skipping
 * excluded paths and the temp files of transfers in flight) and, one DEL session (`delMachine`) per batch, ask
 * the requester which of our paths it lacks, delete exactly those (never outside the base, never the base
 * itself) and report the results. Synchronous: the walk is pulled one batch at a time, and a batch ends early
 * once a turn's entries have been looked at (`delBatches`; the rest waits for a later turn of the event loop),
 * so neither a large tree nor a long exclude list holds up the daemon. Sessions live in the daemon's one table of
 * received sessions.
 */
import { Context, Effect, Layer, Runtime } from "effect"
import { type RequestHandler, Wire } from "../../net/Wire.js"
import { Flag, MAX_PAYLOAD, Opcode, type RecvStateValue, SendState } from "../../protocol/v7/constants.js"
import { type DelRecord, emptyPayload, type Header } from "../../protocol/v7/message.js"
import { utf8Length } from "../../protocol/text.js"
import { makeExclude } from "../../store/exclude.js"
import { FileStore, type LocalEntry, StoreError } from "../../store/FileStore.js"
import { walk } from "../../store/scan.js"
import type { RoundTiming } from "../engine/rounds.js"
import { type Driven, Sessions } from "../engine/Sessions.js"
import { type Batch, batches } from "./delBatches.js"
import { ReceiveSessions } from "../ReceiveSessions.js"
import { rateLimitedLog } from "../rateLimitedLog.js"
import { type End, type ReceivedSession, receiving } from "../receiving.js"
import { yieldToEventLoop } from "../../yieldToEventLoop.js"
import * as Del from "./delMachine.js"
import * as Machine from "./dsyncReceiveMachine.js"

interface Session extends ReceivedSession<Machine.DsyncReceiveSession> {
  readonly path: string
  readonly flags: number
  /** The walk, once started; the DEL session of its current batch. */
  work: { readonly walk: Generator<DelRecord | undefined>; readonly next: () => Batch; del: Driven<Del.Event> | undefined } | undefined
  /** The terminator of the exclude patterns: the unsolicited CLOSE answers it. */
  terminator: Header | undefined
}

export interface DsyncReceiverShape {
  readonly handle: RequestHandler
}

export class DsyncReceiver extends Context.Tag("makuo/DsyncReceiver")<DsyncReceiver, DsyncReceiverShape>() {}

export const make = (options: { readonly readonly: boolean; readonly rounds: RoundTiming }) =>
  Effect.gen(function*() {
    const wire = yield* Wire
    const store = yield* FileStore
    const sessions = yield* Sessions
    const context = { ...options.rounds, rtt: sessions.rtt }
    const runFork = Runtime.runFork(yield* Effect.runtime<never>())
    const warn = (message: string) => void runFork(Effect.logWarning(message))
    // each deletion here, one line, as it happens (no fiber per file)
    const deleted = ((runSync) => (path: string, from: string) =>
      runSync(Effect.annotateLogs(Effect.logInfo(`deleted ${path}`), { from, by: "delete" })))(Runtime.runSync(yield* Effect.runtime<never>()))
    // a flood repeats these by the thousand
    const notice = rateLimitedLog<"order" | "patterns">(warn)

    const perform = (s: Session, a: Exclude<Machine.Action, End>, now: number) => {
      switch (a._tag) {
        case "Ack": {
          const to = a.unsolicited ? s.terminator! : s.request
          return driver.answer(s, a.state, a.seqno === undefined ? undefined : { seqno: a.seqno }, emptyPayload, to)
        }
        case "Start":
          s.terminator = s.request
          return start(s, a.patterns)
        case "Stop":
          return stop(s)
        case "Warn":
          return notice("order", `dsync of ${s.path} from ${s.from.address}: ${a.message}`, now)
        case "TooMany":
          wire.refused("refusedPatterns")
          return notice("patterns", `dsync of ${s.path} from ${s.from.address}: ${a.message}`, now)
        default:
          return a satisfies never
      }
    }

    /** What we have under the path, deepest first (a directory after its contents); `undefined` for an entry passed over. */
    function* candidates(s: Session, patterns: ReadonlyArray<string>): Generator<DelRecord | undefined> {
      const exclude = makeExclude(store.base, patterns)
      const recursive = (s.flags & Flag.RECURS) !== 0
      const record = (rel: string, entry: LocalEntry): DelRecord | undefined =>
        rel !== "." && 6 + utf8Length(rel) <= MAX_PAYLOAD ? { value: entry.mode, path: rel } : undefined
      for (const item of walk(store, { paths: [s.path], recursive, exclude })) {
        if (item._tag !== "Entry") {
          yield undefined
          continue
        }
        if (!recursive && item.entry.kind === "directory") {
          // without -r: the directory's own entries (never the temp file of a transfer in flight), then the directory
          const listed = store.listNow(item.rel)
          for (const { name, entry } of listed instanceof StoreError ? [] : listed) {
            const rel = `${item.rel}/${name}`
            yield !store.isLiveTemp(rel) && !exclude.excludes(rel, entry.kind === "directory") ? record(rel, entry) : undefined
          }
          yield exclude.excludes(item.rel, true) ? undefined : record(item.rel, item.entry)
        } else yield recursive || !exclude.excludes(item.rel, item.entry.kind === "directory") ? record(item.rel, item.entry) : undefined
      }
    }

    const remove = (s: Session, paths: ReadonlyArray<string>): Array<DelRecord> =>
      paths.map((path) => {
        if ((s.flags & Flag.DRYRUN) !== 0) return { value: 0, path }
        const removed = store.removeNow(path)
        if (removed === true) deleted(path, s.from.address)
        return { value: removed instanceof StoreError ? removed.errno : 0, path }
      })

    /** The next batch's DEL session, or the end of the work. */
    const nextDel = (s: Session) => {
      const work = s.work!
      const { records: batch, done: over } = work.next()
      if (batch.length === 0 && over) return done(s, true)
      // the turn's steps are spent on entries passed over: the walk goes on in a later turn (unless stopped)
      if (batch.length === 0) return void runFork(Effect.zipRight(yieldToEventLoop, Effect.sync(() => s.machine.work === "running" && nextDel(s))))
      const state = Del.make(wire.nextReqIdNow(), s.terminator!.reqid, batch, { host: s.from.address, address: s.from.address, port: s.from.port }, context, sessions.now())
      work.del = sessions.drive<Del.DelSession, Del.Event, Exclude<Del.Action, { _tag: "Transmit" | "Deadline" }>>({
        reqid: state.reqid,
        opcode: Opcode.DEL,
        flags: s.flags & (Flag.DRYRUN | Flag.RECURS),
        unicast: true,
        state,
        step: Del.step,
        ack: ({ from, message: { header, payload } }) => ({
          _tag: "Ack",
          from: from.address,
          state: header.nstate as RecvStateValue,
          records: payload._tag === "DelRecords" ? payload.records : undefined
        }),
        perform: (action, apply) => {
          if (action._tag === "Remove") return apply({ _tag: "Removed", results: remove(s, action.paths) })
          if (action.complete) return nextDel(s)
          warn(`dsync of ${s.path} for ${s.from.address}: no answer to DEL; stopped`)
          done(s, false)
        }
      })
    }

    const done = (s: Session, complete: boolean) => {
      if (s.work !== undefined) s.work.del = undefined
      driver.apply(s, { _tag: "WorkDone", complete }, sessions.now())
    }

    const start = (s: Session, patterns: ReadonlyArray<string>) => {
      if (options.readonly) return done(s, true)
      const walk = candidates(s, patterns)
      s.work = { walk, next: batches(walk), del: undefined }
      nextDel(s)
    }

    const stop = (s: Session) => {
      s.work?.del?.close()
      s.work?.walk.return(undefined)
    }

    const driver = receiving(wire, yield* ReceiveSessions, {
      kind: "dsync",
      opcode: Opcode.DSYNC,
      step: Machine.step,
      // the requester retransmits while it waits for us; our walk, while it runs, keeps the session
      policy: { flowing: () => false, busy: (s) => s.machine.work === "running", release: stop },
      opens: Machine.opens,
      open: ({ message: { header, payload } }) => {
        if (payload._tag !== "DsyncPath") return undefined
        const path = payload.path === "." ? "." : payload.path.replace(/^\.?\/+/, "")
        return {
          what: `dsync of ${path}`,
          make: (slot) => ({ ...slot, machine: Machine.make(), path, flags: header.flags, work: undefined, terminator: undefined })
        }
      },
      event: ({ message: { header, payload } }): Machine.Event | undefined => {
        if (header.nstate === SendState.DATA && payload._tag !== "ExcludePatterns") return undefined
        return { _tag: "Request", nstate: header.nstate, seqno: header.seqno, patterns: payload._tag === "ExcludePatterns" ? payload.patterns : undefined }
      },
      perform
    })

    return DsyncReceiver.of({ handle: driver.handle })
  })

export const layer = (options: Parameters<typeof make>[0]) => Layer.scoped(DsyncReceiver, make(options))
