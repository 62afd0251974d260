/**
 * A member's side of DSYNC (spec §5.4): the requester names a path and its exclude patterns; once the patterns
 * are complete we scan our own tree (never following a link, skipping excluded paths and the temp files of
 * transfers in flight), ask the requester in DEL batches which of our paths it lacks, delete exactly those
 * (never outside the base, never the base itself) and report the results. Then an unsolicited DSYNC CLOSE ACK
 * says we are done; CLOSE requests are answered OPEN until then.
 */
import { Clock, Context, Duration, Effect, Fiber, Layer, Stream } from "effect"
import { Peer } from "../net/Transport.js"
import { type Received, Wire } from "../net/Wire.js"
import { Flag, MAX_PAYLOAD, Opcode, RecvState, SendState } from "../protocol/constants.js"
import { type DelRecord, emptyPayload, type Header } from "../protocol/message.js"
import { utf8Length } from "../protocol/text.js"
import { makeExclude } from "../store/exclude.js"
import { FileStore, StoreError } from "../store/FileStore.js"
import { scan } from "../store/scan.js"
import { Acks } from "./Acks.js"
import { withExchange, type RoundSettings, type RoundTiming } from "./exchange.js"
import { Timers } from "./Timers.js"
import { collectIdle } from "./idleSessions.js"

interface Session {
  readonly from: Received["from"]
  readonly path: string
  readonly flags: number
  readonly patterns: Array<string>
  /** Patterns received so far, as numbered by the requester's `seqno`. */
  count: number
  work: Fiber.RuntimeFiber<void> | undefined
  done: boolean
  request: Header
  lastSeen: number
}

export interface DsyncReceiverShape {
  readonly handle: (received: Received) => Effect.Effect<boolean>
}

export class DsyncReceiver extends Context.Tag("makuo/DsyncReceiver")<DsyncReceiver, DsyncReceiverShape>() {}

/** Records cut into DEL batches that fit one payload. */
const batches = (records: ReadonlyArray<DelRecord>): ReadonlyArray<ReadonlyArray<DelRecord>> => {
  const out: Array<Array<DelRecord>> = []
  let size = MAX_PAYLOAD
  for (const r of records) {
    const n = 6 + utf8Length(r.path)
    if (size + n > MAX_PAYLOAD || out.at(-1)!.length >= 16) out.push([]), (size = 0)
    out.at(-1)!.push(r)
    size += n
  }
  return out
}

export const make = (options: { readonly readonly: boolean; readonly idleTimeout: Duration.Duration; readonly rounds: RoundTiming }) =>
  Effect.gen(function*() {
    const wire = yield* Wire
    const store = yield* FileStore
    const acks = yield* Acks
    const rounds: RoundSettings = { ...options.rounds, timers: yield* Timers }
    const sessions = new Map<string, Session>()
    const scope = yield* Effect.scope

    const ack = (s: Session, header: Header, state: number, seqno = header.seqno) =>
      wire.send(Peer(s.from), { header: { ...wire.ack(header, state), seqno }, payload: emptyPayload })

    const unreadableAsEmpty = (names: ReadonlyArray<string> | StoreError) => (names instanceof StoreError ? [] : names)

    /** What we have under the path, deepest first (a directory after its contents). */
    const candidates = (s: Session) =>
      Effect.gen(function*() {
        const exclude = makeExclude(store.base, s.patterns)
        const recursive = (s.flags & Flag.RECURS) !== 0
        const items = recursive
          ? scan(store, { paths: [s.path], recursive: true, exclude })
          : Stream.flatMap(scan(store, { paths: [s.path], recursive: false, exclude }), (item) =>
            item._tag === "Entry" && item.entry.kind === "directory"
              ? Stream.concat(
                Stream.flatMap(Stream.fromIterable(unreadableAsEmpty(store.readdirNow(item.rel))), (name) =>
                  scan(store, { paths: [`${item.rel}/${name}`], recursive: false, exclude })),
                Stream.make(item)
              )
              : Stream.make(item))
        const records: Array<DelRecord> = []
        yield* Stream.runForEach(items, (item) =>
          Effect.sync(() => {
            if (item._tag !== "Entry" || item.rel === ".") return
            if (!recursive && exclude.excludes(item.rel, item.entry.kind === "directory")) return
            if (6 + utf8Length(item.rel) <= MAX_PAYLOAD) records.push({ value: item.entry.mode, path: item.rel })
          }))
        return records
      })

    /** One DEL batch: list, learn what the requester lacks, delete exactly that, report, close. */
    const batch = (s: Session, records: ReadonlyArray<DelRecord>) =>
      Effect.gen(function*() {
        let lacks: ReadonlyArray<DelRecord> = []
        return yield* withExchange(wire, acks, rounds, {
          opcode: Opcode.DEL,
          flags: s.flags & (Flag.DRYRUN | Flag.RECURS),
          targets: [{ host: s.from.address, address: s.from.address, port: s.from.port }],
          unicast: true,
          onAck: (_, { message: { header, payload } }, phase) => {
            if (phase === SendState.OPEN && header.nstate === RecvState.OPEN && payload._tag === "DelRecords") lacks = payload.records
            return phase === SendState.CLOSE ? header.nstate === RecvState.CLOSE : header.nstate === RecvState.OPEN
          }
        }, (x) =>
          Effect.gen(function*() {
            const seqno = s.request.reqid
            const all = () => true
            yield* x.round(SendState.OPEN, all, { _tag: "DelRecords", records }, seqno)
            if ([...x.peers.values()].some((p) => p.lost)) return false
            // only paths we listed ourselves: the requester cannot name anything else for deletion
            const listed = new Set(records.map((r) => r.path))
            const results: Array<DelRecord> = []
            for (const r of lacks) {
              if (!listed.has(r.path)) continue
              const removed = (s.flags & Flag.DRYRUN) !== 0 ? Effect.succeed(true) : store.remove(r.path)
              const errno = yield* removed.pipe(Effect.as(0), Effect.catchAll((e) => Effect.succeed(e.errno)))
              results.push({ value: errno, path: r.path })
            }
            if (results.length > 0) yield* x.round(SendState.DATA, all, { _tag: "DelRecords", records: results }, seqno)
            yield* x.round(SendState.CLOSE, all, { _tag: "DelRecords", records: [] }, seqno)
            return ![...x.peers.values()].some((p) => p.lost)
          })
        )
      })

    const work = (s: Session) =>
      Effect.gen(function*() {
        if (!options.readonly) {
          for (const b of batches(yield* candidates(s))) if (!(yield* batch(s, b))) return
        }
        s.done = true
        yield* ack(s, s.request, RecvState.CLOSE, s.count)
      }).pipe(
        Effect.catchAllCause((cause) => Effect.logWarning(`dsync of ${s.path} for ${s.from.address} failed`, cause)),
        Effect.ensuring(Effect.sync(() => (s.work = undefined)))
      )

    const handle = ({ from, message: { header, payload } }: Received) =>
      Effect.gen(function*() {
        const key = `${from.address}:${from.port}:${header.reqid}`
        const now = yield* Clock.currentTimeMillis
        let s = sessions.get(key)
        switch (header.nstate) {
          case SendState.OPEN: {
            if (payload._tag !== "DsyncPath") return false
            if (s === undefined) {
              const path = payload.path === "." ? "." : payload.path.replace(/^\.?\/+/, "")
              s = { from, path, flags: header.flags, patterns: [], count: 0, work: undefined, done: false, request: header, lastSeen: now }
              sessions.set(key, s)
            }
            s.lastSeen = now
            yield* ack(s, header, RecvState.OPEN)
            return true
          }
          case SendState.DATA: {
            if (s === undefined || payload._tag !== "ExcludePatterns") return false
            s.lastSeen = now
            const patterns = payload.patterns
            if (patterns.length > 0) {
              if (header.seqno === s.count + patterns.length) (s.patterns.push(...patterns), (s.count = header.seqno))
              else if (header.seqno > s.count) {
                // a batch before this one never arrived: we would scan without its excludes (E13); wait for it
                return yield* Effect.as(Effect.logWarning(`dsync from ${from.address}: exclude patterns missing before #${header.seqno}`), true)
              }
            } else if (header.seqno !== s.count + 1) {
              return yield* Effect.as(Effect.logWarning(`dsync from ${from.address}: terminator before all exclude patterns; not deleting`), true)
            } else if (s.work === undefined && !s.done) {
              s.request = header
              s.work = yield* Effect.forkIn(work(s), scope)
            }
            yield* ack(s, header, RecvState.OPEN)
            return true
          }
          case SendState.CLOSE: {
            if (s === undefined) return false
            s.lastSeen = now
            const busy = s.work !== undefined
            if (!busy) sessions.delete(key)
            yield* ack(s, header, busy ? RecvState.OPEN : RecvState.CLOSE)
            return true
          }
          case SendState.BREAK: {
            if (s === undefined) return false
            sessions.delete(key)
            if (s.work !== undefined) yield* Fiber.interrupt(s.work)
            yield* ack(s, header, RecvState.BREAK)
            return true
          }
          default:
            return false
        }
      })

    yield* collectIdle(sessions, options.idleTimeout, undefined, (s) => s.work !== undefined)

    return DsyncReceiver.of({
      handle: (r) => (r.message.header.opcode === Opcode.DSYNC ? handle(r) : Effect.succeed(false))
    })
  })

export const layer = (options: Parameters<typeof make>[0]) => Layer.scoped(DsyncReceiver, make(options))
