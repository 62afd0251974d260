/**
 * A member's side of DSYNC (makuosan-v7.md §5.4): one `dsyncReceiveMachine` per session, found by requester and request id.
 * Once the exclude patterns are complete, the work: we walk our own tree (never following a link, skipping
 * excluded paths and the temp files of transfers in flight) and, one DEL session (`delMachine`) per batch, ask
 * the requester which of our paths it lacks, delete exactly those (never outside the base, never the base
 * itself) and report the results. Synchronous: the walk is pulled one batch at a time, and a batch ends early
 * once a turn's entries have been looked at (`delBatches`; the rest waits for a later turn of the event loop),
 * so neither a large tree nor a long exclude list holds up the daemon. Sessions live in the daemon's one table of
 * received sessions.
 */
import { Context, Effect, Layer, Runtime } from "effect"
import { Peer } from "../../net/Transport.js"
import { type Received, type RequestHandler, Wire } from "../../net/Wire.js"
import { Flag, MAX_PAYLOAD, Opcode, type RecvStateValue, SendState } from "../../protocol/constants.js"
import { type DelRecord, emptyPayload, type Header } from "../../protocol/message.js"
import { utf8Length } from "../../protocol/text.js"
import { makeExclude } from "../../store/exclude.js"
import { FileStore, type LocalEntry, StoreError } from "../../store/FileStore.js"
import { walk } from "../../store/scan.js"
import type { RoundTiming } from "../engine/rounds.js"
import { type Driven, Sessions } from "../engine/Sessions.js"
import { type Batch, batches } from "./delBatches.js"
import { ReceiveSessions } from "../ReceiveSessions.js"
import { rateLimitedLog } from "../rateLimitedLog.js"
import type { KindPolicy, Slot } from "../sessionTable.js"
import { yieldToEventLoop } from "../../yieldToEventLoop.js"
import * as Del from "./delMachine.js"
import * as Machine from "./dsyncReceiveMachine.js"

interface Session extends Slot {
  readonly machine: Machine.DsyncReceiveSession
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
    const receive = yield* ReceiveSessions
    const table = receive.table
    const context = { ...options.rounds, rtt: sessions.rtt }
    const runFork = Runtime.runFork(yield* Effect.runtime<never>())
    const warn = (message: string) => void runFork(Effect.logWarning(message))
    // each deletion here, one line, as it happens (no fiber per file)
    const deleted = ((runSync) => (path: string, from: string) =>
      runSync(Effect.annotateLogs(Effect.logInfo(`deleted ${path}`), { from, by: "delete" })))(Runtime.runSync(yield* Effect.runtime<never>()))
    // a flood repeats these by the thousand
    const notice = rateLimitedLog<"order" | "patterns">(warn)

    const apply = (s: Session, header: Header, event: Machine.Event, now: number) => {
      const out: Array<Machine.Action> = []
      Machine.step(s.machine, event, out)
      for (const a of out) {
        switch (a._tag) {
          case "Ack": {
            const to = a.unsolicited ? s.terminator! : header
            wire.sendNow(Peer(s.from), { header: { ...wire.ack(to, a.state), seqno: a.seqno ?? to.seqno }, payload: emptyPayload })
            break
          }
          case "Start":
            s.terminator = header
            start(s, a.patterns)
            break
          case "Stop":
            stop(s)
            break
          case "Warn":
            notice("order", `dsync of ${s.path} from ${s.from.address}: ${a.message}`, now)
            break
          case "TooMany":
            wire.refused("refusedPatterns")
            notice("patterns", `dsync of ${s.path} from ${s.from.address}: ${a.message}`, now)
            break
          case "End":
            table.remove(s.key)
            break
          default:
            a satisfies never
        }
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
      apply(s, s.terminator!, { _tag: "WorkDone", complete }, sessions.now())
    }

    const start = (s: Session, patterns: ReadonlyArray<string>) => {
      if (options.readonly) return done(s, true)
      const walk = candidates(s, patterns)
      s.work = { walk, next: batches(walk), del: undefined }
      nextDel(s)
    }

    // the requester retransmits while it waits for us; our walk, while it runs, keeps the session
    const policy: KindPolicy<Session> = { flowing: () => false, busy: (s) => s.machine.work === "running", release: (s) => stop(s) }

    const stop = (s: Session) => {
      s.work?.del?.close()
      s.work?.walk.return(undefined)
    }

    const handle = ({ from, message: { header, payload } }: Received, now: number): boolean => {
      if (header.opcode !== Opcode.DSYNC) return false
      let s = table.get<Session>("dsync", from, header.reqid)
      if (s === undefined) {
        if (!Machine.opens(header.nstate) || payload._tag !== "DsyncPath") return false
        const path = payload.path === "." ? "." : payload.path.replace(/^\.?\/+/, "")
        s = receive.admit("dsync", policy, from, header.reqid, now, `dsync of ${path}`, (slot) => ({
          ...slot,
          machine: Machine.make(),
          path,
          flags: header.flags,
          work: undefined,
          terminator: undefined
        }))
        if (s === undefined) return true
      }
      if (header.nstate === SendState.DATA && payload._tag !== "ExcludePatterns") return false
      s.lastSeen = now
      apply(s, header, { _tag: "Request", nstate: header.nstate, seqno: header.seqno, patterns: payload._tag === "ExcludePatterns" ? payload.patterns : undefined }, now)
      return true
    }


    return DsyncReceiver.of({ handle })
  })

export const layer = (options: Parameters<typeof make>[0]) => Layer.scoped(DsyncReceiver, make(options))
