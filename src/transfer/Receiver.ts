/**
 * Receive sessions of SEND transfers driven by other daemons: finds the session of each request by
 * (source address, port, reqid), runs the pure `receiveMachine` and carries out its actions on the FileStore and
 * the wire. Sessions idle for 180 s are collected with their temp files (makuosan's GC, but on a timer: E35).
 */
import { Clock, Context, Duration, Effect, Layer, Option } from "effect"
import { Peer } from "../net/Transport.js"
import { type DataDatagram, type Received, Wire } from "../net/Wire.js"
import { BLOCK_SIZE, Flag, HEADER_SIZE, Opcode, RecvState, SendState } from "../protocol/constants.js"
import { dataBlock, dataReqId } from "../protocol/dataLayout.js"
import { emptyPayload, type Header } from "../protocol/message.js"
import { FileStore, StoreError, type TempFile } from "../store/FileStore.js"
import { decide } from "./decide.js"
import { collectIdle } from "./idleSessions.js"
import { type Action, type Event, initial, isRegular, type Mstat, S_IFDIR, S_IFLNK, type Session, step } from "./receiveMachine.js"

export interface ReceiverConfig {
  /** makuosan's `-r`: answer READONLY and change nothing. */
  readonly readonly: boolean
  readonly idleTimeout: Duration.Duration
  readonly maxSessions: number
}

export const receiverDefaults: ReceiverConfig = { readonly: false, idleTimeout: Duration.seconds(180), maxSessions: 4096 }

/** Consecutive blocks received and not yet written: one `pwritev` when the batch ends. */
interface WriteRun {
  readonly offset: number
  end: number
  readonly buffers: Array<Uint8Array>
}

/** Blocks per write at most (the kernel takes 1024 buffers per `writev`). */
const MAX_RUN = 256

interface Entry {
  readonly key: string
  session: Session
  temp: TempFile | undefined
  run: WriteRun | undefined
  lastSeen: number
  readonly from: Received["from"]
  /** The latest request, whose header our replies are built on. */
  request: Header
}

export interface ReceiverShape {
  /** Handles one SEND request; returns false when no session exists for it (the router answers). */
  readonly handle: (received: Received) => Effect.Effect<boolean>
  /**
   * The hot path: one SEND DATA datagram, handled synchronously; its block joins the session's run of
   * consecutive blocks, written by `flush`. Returns the Effect of what must follow (a NAK, a write failure), or
   * undefined when nothing does.
   */
  readonly data: (datagram: DataDatagram, now: number) => Effect.Effect<void> | undefined
  /** Writes the blocks `data` collected (the router calls it when a batch of datagrams ends); failures follow. */
  readonly flush: () => Effect.Effect<void> | undefined
  readonly sessions: Effect.Effect<ReadonlyArray<{ readonly path: string; readonly from: string; readonly phase: string; readonly blocks: number; readonly missing: number }>>
}

export class Receiver extends Context.Tag("makuo/Receiver")<Receiver, ReceiverShape>() {}

const S_IFMT = 0o170000
const ENOTSUP = 95
const errnoOf = (e: StoreError) => e.errno

const sameMstat = (a: Mstat, b: Mstat) =>
  a.path === b.path && a.mode === b.mode && a.size === b.size && a.mtime === b.mtime && a.ctime === b.ctime &&
  a.uid === b.uid && a.gid === b.gid && a.linkTarget === b.linkTarget

export const make = (config: ReceiverConfig) =>
  Effect.gen(function*() {
    const wire = yield* Wire
    const store = yield* FileStore
    const root = process.geteuid?.() === 0
    const sessions = new Map<string, Entry>()

    const meta = (m: Mstat) => ({ mode: m.mode, uid: m.uid, gid: m.gid, mtime: m.mtime })

    const decision = (m: Mstat, flags: number): Effect.Effect<Event> => {
      if (config.readonly) return Effect.succeed({ _tag: "Decided", state: RecvState.READONLY, error: 0 })
      if ((flags & Flag.SYNC) !== 0) {
        const removal = (flags & Flag.DRYRUN) !== 0 ? Effect.map(store.inspect(m.path), Option.isSome) : store.remove(m.path)
        return removal.pipe(
          Effect.map((done): Event => ({ _tag: "Decided", state: done ? RecvState.DELETEOK : RecvState.DELETENG, error: 0 })),
          Effect.catchAll((e) => Effect.succeed<Event>({ _tag: "Decided", state: RecvState.DELETENG, error: errnoOf(e) }))
        )
      }
      return store.inspect(m.path).pipe(
        Effect.map((local): Event => ({ _tag: "Decided", state: decide(m, local, root), error: 0 })),
        // a refused path (absolute, '..', a symlink parent) is an error the sender reports, before any OPEN
        Effect.catchAll((e) => Effect.succeed<Event>({ _tag: "Decided", state: RecvState.OPENERROR, error: errnoOf(e) }))
      )
    }

    const open = (entry: Entry): Effect.Effect<Event> => {
      const m = entry.session.mstat
      const type = m.mode & S_IFMT
      const opened = isRegular(m.mode)
        ? Effect.map(store.createTemp(m.path, m.mode), (t) => void (entry.temp = t))
        : type === S_IFDIR
        ? store.ensureDirectory(m.path, meta(m))
        : type === S_IFLNK
        ? Effect.void
        : Effect.fail(
          new StoreError({ op: "open", path: m.path, code: "ENOTSUP", errno: ENOTSUP, detail: "device nodes, FIFOs and sockets are not supported" })
        )
      return opened.pipe(
        Effect.as<Event>({ _tag: "Opened", error: 0 }),
        Effect.catchAll((e) => Effect.succeed<Event>({ _tag: "Opened", error: errnoOf(e) }))
      )
    }

    const commit = (entry: Entry): Effect.Effect<Event> => {
      const m = entry.session.mstat
      const type = m.mode & S_IFMT
      const committed = isRegular(m.mode)
        ? Effect.suspend(() => {
          const t = entry.temp
          entry.temp = undefined
          return t === undefined ? Effect.void : store.commit(t, meta(m), m.size)
        })
        : type === S_IFDIR
        ? store.finishDirectory(m.path, meta(m))
        : store.placeSymlink(m.path, m.linkTarget, meta(m))
      return committed.pipe(
        Effect.as<Event>({ _tag: "Committed", error: 0 }),
        Effect.tapError((e) => Effect.logWarning(`receive ${m.path}: ${e.message}`)),
        Effect.catchAll((e) => Effect.succeed<Event>({ _tag: "Committed", error: errnoOf(e) }))
      )
    }

    const discard = (entry: Entry) =>
      Effect.suspend(() => {
        const t = entry.temp
        entry.temp = undefined
        entry.run = undefined
        return t === undefined ? Effect.void : store.discard(t)
      })

    // == the DATA hot path: blocks are written a run at a time

    const dirty = new Set<Entry>()

    const writeRun = (entry: Entry): Effect.Effect<void> | undefined => {
      const run = entry.run
      const t = entry.temp
      entry.run = undefined
      if (run === undefined || t === undefined) return undefined
      const failed = store.writevNow(t, run.offset, run.buffers)
      return failed === undefined ? undefined : advance(entry, { _tag: "WriteFailed", error: failed.errno })
    }

    const flush = (): Effect.Effect<void> | undefined => {
      let follow: Array<Effect.Effect<void>> | undefined
      for (const entry of dirty) {
        const e = writeRun(entry)
        if (e !== undefined) (follow ??= []).push(e)
      }
      dirty.clear()
      return follow === undefined ? undefined : Effect.all(follow, { discard: true })
    }

    /** Adds a block to the entry's run; a block that does not continue the run writes the run first. */
    const collect = (entry: Entry, offset: number, bytes: Uint8Array): Effect.Effect<void> | undefined => {
      const run = entry.run
      if (run !== undefined && run.end === offset && run.buffers.length < MAX_RUN) {
        run.buffers.push(bytes)
        run.end += bytes.length
        return undefined
      }
      const failed = run === undefined ? undefined : writeRun(entry)
      entry.run = { offset, end: offset + bytes.length, buffers: [bytes] }
      dirty.add(entry)
      return failed
    }

    const send = (entry: Entry, header: Header, ranges: ReadonlyArray<readonly [number, number]> | undefined) =>
      wire.send(Peer(entry.from), {
        header,
        payload: header.nstate === RecvState.OPEN || header.nstate === RecvState.MARK
          ? { _tag: "Ranges", ranges: ranges ?? [] }
          : emptyPayload
      })

    const perform = (entry: Entry, action: Action): Effect.Effect<void> => {
      switch (action._tag) {
        case "Reply": {
          const s = entry.session
          const header = { ...wire.ack(entry.request, action.state), seqno: action.seqno, ostate: s.ostate, error: s.error }
          return send(entry, header, action.ranges)
        }
        case "Echo":
          return send(entry, wire.ack(action.request, action.state), undefined)
        case "Decide":
          return Effect.flatMap(decision(entry.session.mstat, entry.session.flags), (e) => advance(entry, e))
        case "Open":
          return Effect.flatMap(open(entry), (e) => advance(entry, e))
        case "Write": {
          const t = entry.temp
          if (t === undefined) return Effect.void
          return store.write(t, action.block * BLOCK_SIZE, action.bytes).pipe(
            Effect.catchAll((e) => advance(entry, { _tag: "WriteFailed", error: errnoOf(e) }))
          )
        }
        case "Commit":
          return Effect.suspend(() => writeRun(entry) ?? Effect.flatMap(commit(entry), (e) => advance(entry, e)))
        case "Discard":
          return discard(entry)
        case "Release":
          return Effect.sync(() => void sessions.delete(entry.key))
        default:
          return action satisfies never
      }
    }

    /** Steps the session's machine with `event`, then carries out its actions in order. */
    const advance = (entry: Entry, event: Event): Effect.Effect<void> =>
      Effect.suspend(() => {
        const next = step(entry.session, event)
        entry.session = next.session
        return Effect.forEach(next.actions, (a) => perform(entry, a), { discard: true })
      })

    const handle = ({ from, message }: Received) =>
      Effect.gen(function*() {
        const { header, payload } = message
        const key = `${from.address}:${from.port}:${header.reqid}`
        const now = yield* Clock.currentTimeMillis
        let entry = sessions.get(key)
        if (header.nstate === SendState.STAT && payload._tag === "Mstat") {
          // same (source, reqid) but another file: a restarted sender reusing reqids (E16) starts afresh
          if (entry !== undefined && !sameMstat(entry.session.mstat, payload)) {
            yield* discard(entry)
            sessions.delete(key)
            entry = undefined
          }
          if (entry === undefined) {
            if (sessions.size >= config.maxSessions) {
              yield* Effect.logWarning(`receive table full (${config.maxSessions} sessions); ignoring ${payload.path} from ${from.address}`)
              return true
            }
            entry = { key, session: initial(header, payload), temp: undefined, run: undefined, lastSeen: now, from, request: header }
            sessions.set(key, entry)
          }
        }
        if (entry === undefined) return header.nstate === SendState.DATA
        entry.lastSeen = now
        entry.request = header
        const data = payload._tag === "DataBlock" ? payload.bytes : new Uint8Array(0)
        yield* advance(entry, { _tag: "Request", header, data })
        return true
      })

    // consecutive blocks mostly belong to one transfer: its entry is found once
    let last: { from: Received["from"]; reqid: number; entry: Entry } | undefined

    const data = ({ bytes, from }: DataDatagram, now: number): Effect.Effect<void> | undefined => {
      const reqid = dataReqId(bytes)
      let entry: Entry | undefined
      if (last !== undefined && last.reqid === reqid && last.from === from && sessions.get(last.entry.key) === last.entry) entry = last.entry
      else {
        entry = sessions.get(`${from.address}:${from.port}:${reqid}`)
        if (entry === undefined) return undefined
        last = { from, reqid, entry }
      }
      entry.lastSeen = now
      const next = step(entry.session, { _tag: "Block", block: dataBlock(bytes), data: bytes.subarray(HEADER_SIZE) })
      entry.session = next.session
      let follow: Array<Effect.Effect<void>> | undefined
      for (const action of next.actions) {
        const e = action._tag === "Write"
          ? entry.temp === undefined ? undefined : collect(entry, action.block * BLOCK_SIZE, action.bytes)
          : perform(entry, action)
        if (e !== undefined) (follow ??= []).push(e)
      }
      return follow === undefined ? undefined : Effect.all(follow, { discard: true })
    }

    yield* collectIdle(sessions, config.idleTimeout, (e) =>
      Effect.zipRight(discard(e), Effect.logInfo(`collected idle transfer of ${e.session.mstat.path} from ${e.from.address}`)))
    yield* Effect.addFinalizer(() => Effect.forEach([...sessions.values()], discard, { discard: true }))

    return Receiver.of({
      handle: (r) => (r.message.header.opcode === Opcode.SEND ? handle(r) : Effect.succeed(false)),
      data,
      flush,
      sessions: Effect.sync(() =>
        [...sessions.values()].map((e) => ({
          path: e.session.mstat.path,
          from: e.from.address,
          phase: e.session.phase,
          blocks: e.session.blocks,
          missing: e.session.missing.size + Math.max(0, e.session.blocks - e.session.expected)
        }))
      )
    })
  })

export const layer = (config: ReceiverConfig) => Layer.scoped(Receiver, make(config))
