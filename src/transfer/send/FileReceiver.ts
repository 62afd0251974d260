/**
 * Receive sessions of SEND transfers driven by other daemons: one `receiveMachine` per session, run by the
 * receiving driver (`receiving.ts`), whose actions on the FileStore are carried out here, and the DATA hot path,
 * which writes the blocks of a batch a run at a time. Its sessions live in the daemon's one table of received sessions (`ReceiveSessions`): bounded in
 * number and descriptors, collected with their temp files when silent.
 */
import { Context, Duration, Effect, Layer, Option, Runtime } from "effect"
import { type DataDatagram, type Received, type RequestHandler, Wire } from "../../net/Wire.js"
import { BLOCK_SIZE, Flag, HEADER_SIZE, Opcode, RecvState, SendState } from "../../protocol/v7/constants.js"
import { dataBlock, dataReqId } from "../../protocol/v7/dataLayout.js"
import { emptyPayload } from "../../protocol/v7/message.js"
import { FileStore, MAX_RUN, type Parent, StoreError, type TempFile } from "../../store/FileStore.js"
import { kindOf } from "../../store/listing.js"
import { decide } from "./decide.js"
import { rateLimitedLog } from "../rateLimitedLog.js"
import { ReceiveSessions, HALF_OPEN_TIMEOUT } from "../ReceiveSessions.js"
import type { KindPolicy } from "../sessionTable.js"
import { type End, type ReceivedSession, receiving } from "../receiving.js"
import { type Action, type Event, initial, isRegular, type Mstat, opens, type Session, step } from "./receiveMachine.js"
import { EMFILE, ENOTSUP } from "../../protocol/errno.js"

export interface ReceiverConfig {
  /** makuosan's `-r`: answer READONLY and change nothing. */
  readonly readonly: boolean
  /** Silence after which a session with data flowing is collected (`--session-timeout`). */
  readonly idleTimeout: Duration.Duration
  /** Silence after which a half-open session (STAT without OPEN, OPEN without DATA, MD5, DSYNC, DEL) is collected. */
  readonly halfOpenTimeout: Duration.Duration
  /** Received sessions of every kind at once. */
  readonly maxSessions: number
  /** Sessions one peer may hold at once: a flood of forged requests from one host must not take every slot. */
  readonly maxSessionsPerPeer: number
  /** Apply the setuid/setgid bits a peer sends on regular files (makuosan does); stripped otherwise. */
  readonly keepSetId: boolean
  /**
   * Temp files open at once, two descriptors each (the file and its directory): twice this is the budget of
   * every descriptor received sessions hold (a parent directory held from STAT to OPEN, a file being hashed: one
   * each); an OPEN or MD5 hash beyond it gets EMFILE.
   */
  readonly maxTempFiles: number
}

export const receiverDefaults: ReceiverConfig = {
  readonly: false,
  idleTimeout: Duration.seconds(180),
  halfOpenTimeout: HALF_OPEN_TIMEOUT,
  maxSessions: 4096,
  maxSessionsPerPeer: 512,
  keepSetId: false,
  maxTempFiles: 1024
}

const SETID = 0o6000

/**
 * What this member applies of a peer's metadata. Protocol v7 authenticates nobody: anyone who can reach the
 * group could otherwise plant a setuid-root program under the base (makuosan copies the bits blindly). So the
 * setuid and setgid bits of regular files are dropped unless the operator keeps them (`--keep-setid`); the file
 * then compares equal to what was sent, so it is not sent again and again. (A directory's setgid bit only passes
 * its group on to new entries: kept.)
 */
const accepted = (m: Mstat, keepSetId: boolean): Mstat =>
  keepSetId || !isRegular(m.mode) || (m.mode & SETID) === 0 ? m : { ...m, mode: m.mode & ~SETID }

/** Consecutive blocks received and not yet written: one `pwritev` when the batch ends. */
interface WriteRun {
  readonly offset: number
  end: number
  readonly buffers: Array<Uint8Array>
}

interface Entry extends ReceivedSession<Session> {
  temp: TempFile | undefined
  /** The parent directory kept open from the decision to the temp file's creation (files to update only). */
  parent: Parent | undefined
  run: WriteRun | undefined
}

export interface FileReceiverShape {
  /**
   * Handles one SEND request, synchronously (file-system work included: each step is a few system calls, and the
   * receive path stays in order without an Effect per request); false when no session exists for it (the router
   * answers).
   */
  readonly handle: RequestHandler
  /** The hot path: one SEND DATA datagram; its block joins the session's run of consecutive blocks. */
  readonly data: (datagram: DataDatagram, now: number) => void
  /** Writes the blocks `data` collected (the router calls it when a batch of datagrams ends, at `now`). */
  readonly flush: (now: number) => void
  readonly sessions: Effect.Effect<ReadonlyArray<{ readonly path: string; readonly from: string; readonly phase: string; readonly blocks: number; readonly missing: number }>>
}

export class FileReceiver extends Context.Tag("makuo/FileReceiver")<FileReceiver, FileReceiverShape>() {}

const sameMstat = (a: Mstat, b: Mstat) =>
  a.path === b.path && a.mode === b.mode && a.size === b.size && a.mtime === b.mtime && a.ctime === b.ctime &&
  a.uid === b.uid && a.gid === b.gid && a.linkTarget === b.linkTarget

export const make = (config: ReceiverConfig) =>
  Effect.gen(function*() {
    const wire = yield* Wire
    const store = yield* FileStore
    const runFork = Runtime.runFork(yield* Effect.runtime<never>())
    const warn = (message: string) => void runFork(Effect.logWarning(message))
    // what changed here, one line per file, said before the next datagram is handled (no fiber per file)
    const changed = ((runSync) => (message: string, annotations: Record<string, unknown>) =>
      runSync(Effect.annotateLogs(Effect.logInfo(message), annotations)))(Runtime.runSync(yield* Effect.runtime<never>()))
    const root = process.geteuid?.() === 0
    const receive = yield* ReceiveSessions
    const table = receive.table
    const notice = rateLimitedLog<"path" | "setid" | "world-writable" | "disk" | "open" | "write" | "commit">(warn)
    /** ENOSPC or EDQUOT: the disk (or the quota) under the base is full. */
    const noteFailure = (kind: "open" | "write" | "commit", entry: Entry, failed: StoreError, now: number) => {
      const full = failed.code === "ENOSPC" || failed.code === "EDQUOT"
      if (full) wire.refused("diskFull")
      notice(full ? "disk" : kind, `receive ${entry.machine.mstat.path} from ${entry.from.address}: ${failed.message}`, now)
    }

    /**
     * The session holding a temp file for each target (its path as the store resolved it). A new transfer of a
     * target ends the older session holding one at once: that transfer broke off (its sender cut off from us, or
     * gone) or is overtaken, and its temp file, left until the session is collected, would be removed after the
     * new file was committed, changing the directory's mtime the new transfer's job had set.
     */
    const tempHolders = new Map<string, Entry>()

    // descriptors in the table's budget: a temp file two (the file and its directory), a held parent one
    const takeTemp = (entry: Entry): TempFile | undefined => {
      const t = entry.temp
      entry.temp = undefined
      if (t !== undefined) {
        table.drop(entry, 2)
        if (tempHolders.get(t.rel) === entry) tempHolders.delete(t.rel)
      }
      return t
    }
    const takeParent = (entry: Entry): Parent | undefined => {
      const p = entry.parent
      entry.parent = undefined
      if (p !== undefined) table.drop(entry, 1)
      return p
    }

    const meta = (m: Mstat) => ({ mode: m.mode, uid: m.uid, gid: m.gid, mtime: m.mtime })

    const decision = (entry: Entry): Event => {
      const { mstat: m, flags } = entry.machine
      if (config.readonly) return { _tag: "Decided", state: RecvState.READONLY, error: 0 }
      if ((flags & Flag.SYNC) !== 0) {
        // a dry run only looks
        const found = (flags & Flag.DRYRUN) !== 0 ? store.inspectNow(m.path) : undefined
        const done = found === undefined ? store.removeNow(m.path) : Option.isOption(found) ? Option.isSome(found) : found
        if (found === undefined && done === true) changed(`deleted ${m.path}`, { from: entry.from.address, by: "sync" })
        return done instanceof StoreError
          ? { _tag: "Decided", state: RecvState.DELETENG, error: done.errno }
          : { _tag: "Decided", state: done ? RecvState.DELETEOK : RecvState.DELETENG, error: 0 }
      }
      const local = store.inspectHoldingNow(m.path)
      // a refused path (absolute, '..', a symlink parent) is an error the sender reports, before any OPEN
      if (local instanceof StoreError) {
        wire.refused("refusedPaths")
        notice("path", `refused ${m.path} from ${entry.from.address}: ${local.message}`, entry.lastSeen)
        return { _tag: "Decided", state: RecvState.OPENERROR, error: local.errno }
      }
      const state = decide(m, local.found, root)
      // a file to update keeps its parent open for its temp file (OPEN follows at once), if the budget has room:
      // else OPEN opens it again
      if (local.parent !== undefined) {
        if (state === RecvState.UPDATE && isRegular(m.mode) && (flags & Flag.DRYRUN) === 0 && table.hold(entry, 1)) entry.parent = local.parent
        else store.releaseParent(local.parent)
      }
      return { _tag: "Decided", state, error: 0 }
    }

    const open = (entry: Entry): Event => {
      const m = entry.machine.mstat
      const kind = kindOf(m.mode)
      let failed: StoreError | undefined
      if (kind === "file" && !receive.hold(entry, entry.parent === undefined ? 2 : 1, entry.lastSeen, `receive ${m.path}`)) {
        // no descriptors for a flood of half-open sessions: a clear error for this one, the others go on
        const parent = takeParent(entry)
        if (parent !== undefined) store.releaseParent(parent)
        failed = new StoreError({ op: "open", path: m.path, code: "EMFILE", errno: EMFILE, detail: `${config.maxTempFiles} files are being received already (--max-temp-files)` })
      } else if (kind === "file") {
        // the parent's descriptor, if held, is now the temp file's directory: two in all
        const parent = entry.parent
        entry.parent = undefined
        const t = store.createTempNow(m.path, parent, m.size)
        if (t instanceof StoreError) (failed = t), table.drop(entry, 2)
        else holdTemp(entry, t)
      } else if (kind === "directory") failed = store.ensureDirectoryNow(m.path, meta(m)) ?? undefined
      else if (kind !== "symlink") {
        failed = new StoreError({ op: "open", path: m.path, code: "ENOTSUP", errno: ENOTSUP, detail: "device nodes, FIFOs and sockets are not supported" })
      }
      if (failed !== undefined) noteFailure("open", entry, failed, entry.lastSeen)
      return { _tag: "Opened", error: failed?.errno ?? 0 }
    }

    const commit = (entry: Entry): Event => {
      const m = entry.machine.mstat
      const kind = kindOf(m.mode)
      let failed: StoreError | undefined
      if (kind === "file") {
        const t = takeTemp(entry)
        failed = t === undefined ? undefined : store.commitNow(t, meta(m), m.size) ?? undefined
      } else if (kind === "directory") failed = store.finishDirectoryNow(m.path, meta(m)) ?? undefined
      else failed = store.placeSymlinkNow(m.path, m.linkTarget, meta(m)) ?? undefined
      if (failed !== undefined) noteFailure("commit", entry, failed, entry.lastSeen)
      else changed(`received ${m.path}`, isRegular(m.mode) ? { from: entry.from.address, bytes: m.size } : { from: entry.from.address })
      return { _tag: "Committed", error: failed?.errno ?? 0 }
    }

    /** Drops what the session holds: its temp file, unwritten blocks, a parent kept open since the decision. */
    const discard = (entry: Entry) => {
      const t = takeTemp(entry)
      const parent = takeParent(entry)
      entry.run = undefined
      if (t !== undefined) store.discardNow(t)
      if (parent !== undefined) store.releaseParent(parent)
    }

    /**
     * Ends a session without a word to its sender: should it speak again, its requests are for a transfer we do
     * not know, and the router answers them so (its transfer did not complete here).
     */
    const drop = (entry: Entry) => {
      discard(entry)
      table.remove(entry.key)
    }

    const holdTemp = (entry: Entry, t: TempFile) => {
      entry.temp = t
      const older = tempHolders.get(t.rel)
      tempHolders.set(t.rel, entry)
      if (older === undefined) return
      drop(older)
      runFork(Effect.logDebug(`receive ${t.rel} from ${entry.from.address}: ended the older transfer of it from ${older.from.address} (${older.machine.phase}), its temp file removed`))
    }

    /** Blocks have arrived: the sender is sending, and only a long silence means it is gone. */
    const flowing = (e: Entry) => e.machine.phase === "Open" && e.machine.expected > 0
    const policy: KindPolicy<Entry> = {
      flowing,
      busy: () => false,
      release: (e) => {
        if (flowing(e)) runFork(Effect.logInfo(`collected idle transfer of ${e.machine.mstat.path} from ${e.from.address}`))
        discard(e)
      }
    }

    // == blocks are written a run at a time

    const dirty = new Set<Entry>()

    /** Writes the entry's run; true when the write failed (and the session has been told). */
    const writeRun = (entry: Entry, now: number): boolean => {
      const run = entry.run
      const t = entry.temp
      entry.run = undefined
      if (run === undefined || t === undefined) return false
      const failed = store.writevNow(t, run.offset, run.buffers)
      if (failed === undefined) return false
      noteFailure("write", entry, failed, now)
      driver.apply(entry, { _tag: "WriteFailed", error: failed.errno }, now)
      return true
    }

    const flush = (now: number) => {
      for (const entry of dirty) writeRun(entry, now)
      dirty.clear()
    }

    /** Adds a block to the entry's run; a block that does not continue the run writes the run first. */
    const collect = (entry: Entry, offset: number, bytes: Uint8Array, now: number) => {
      const run = entry.run
      if (run !== undefined && run.end === offset && run.buffers.length < MAX_RUN) {
        run.buffers.push(bytes)
        run.end += bytes.length
        return
      }
      if (run !== undefined && writeRun(entry, now)) return
      entry.run = { offset, end: offset + bytes.length, buffers: [bytes] }
      dirty.add(entry)
    }

    const perform = (entry: Entry, action: Exclude<Action, End>, now: number): void => {
      switch (action._tag) {
        case "Reply": {
          const { ostate, error } = entry.machine
          const ranges = action.state === RecvState.OPEN || action.state === RecvState.MARK ? action.ranges ?? [] : undefined
          return driver.answer(entry, action.state, { seqno: action.seqno, ostate, error }, ranges === undefined ? emptyPayload : { _tag: "Ranges", ranges })
        }
        case "Echo":
          return driver.answer(entry, action.state, undefined, emptyPayload, action.request)
        case "Decide":
          return driver.apply(entry, decision(entry), now)
        case "Open":
          return driver.apply(entry, open(entry), now)
        case "Write":
          if (entry.temp !== undefined) collect(entry, action.block * BLOCK_SIZE, action.bytes, now)
          return
        case "Commit":
          if (writeRun(entry, now)) return
          return driver.apply(entry, commit(entry), now)
        case "Discard":
          return discard(entry)
        default:
          return action satisfies never
      }
    }

    const driver = receiving<Session, Event, Action, Entry>(wire, receive, {
      kind: "send",
      opcode: Opcode.SEND,
      step,
      policy,
      opens,
      open: ({ from, message: { header, payload } }, now) => {
        if (payload._tag !== "Mstat") return undefined
        const mstat = accepted(payload, config.keepSetId)
        return {
          what: payload.path,
          make: (slot) => {
            if (mstat !== payload) {
              wire.refused("setidDropped")
              notice("setid", `${payload.path} from ${from.address}: setuid/setgid bits dropped (mode ${(payload.mode & 0o7777).toString(8)} → ${(mstat.mode & 0o7777).toString(8)}; --keep-setid applies them)`, now)
            }
            if (kindOf(mstat.mode) !== "symlink" && (mstat.mode & 0o002) !== 0) {
              notice("world-writable", `${payload.path} from ${from.address} is world-writable (mode ${(mstat.mode & 0o7777).toString(8)})`, now)
            }
            return { ...slot, machine: initial(header, mstat), temp: undefined, parent: undefined, run: undefined }
          }
        }
      },
      event: ({ message: { header, payload } }): Event => ({ _tag: "Request", header, data: payload._tag === "DataBlock" ? payload.bytes : new Uint8Array(0) }),
      perform
    })

    const handle = (received: Received, now: number): boolean => {
      const { from, message: { header, payload } } = received
      if (header.opcode !== Opcode.SEND) return false
      const entry = header.nstate === SendState.STAT && payload._tag === "Mstat" ? table.get<Entry>("send", from, header.reqid) : undefined
      // same (source, reqid) but another file: a restarted sender reusing reqids (makuosan-v7.md E16) starts afresh
      if (entry !== undefined && payload._tag === "Mstat" && !sameMstat(entry.machine.mstat, accepted(payload, config.keepSetId))) drop(entry)
      // DATA of a transfer we hold no session for is dropped unanswered
      return driver.handle(received, now) || header.nstate === SendState.DATA
    }

    // consecutive blocks mostly belong to one transfer: its entry is found once
    let last: { from: Received["from"]; reqid: number; entry: Entry } | undefined

    const data = ({ bytes, from }: DataDatagram, now: number) => {
      const reqid = dataReqId(bytes)
      let entry: Entry | undefined
      if (last !== undefined && last.reqid === reqid && last.from === from && table.has(last.entry)) entry = last.entry
      else {
        entry = table.get<Entry>("send", from, reqid)
        if (entry === undefined) return
        last = { from, reqid, entry }
      }
      entry.lastSeen = now
      driver.apply(entry, { _tag: "Block", block: dataBlock(bytes), data: bytes.subarray(HEADER_SIZE) }, now)
    }

    return FileReceiver.of({
      handle,
      data,
      flush,
      sessions: Effect.sync(() =>
        [...table.values<Entry>("send")].map((e) => ({
          path: e.machine.mstat.path,
          from: e.from.address,
          phase: e.machine.phase,
          blocks: e.machine.blocks,
          missing: e.machine.missing.size + Math.max(0, e.machine.blocks - e.machine.expected)
        }))
      )
    })
  })

export const layer = (config: ReceiverConfig) => Layer.scoped(FileReceiver, make(config))
