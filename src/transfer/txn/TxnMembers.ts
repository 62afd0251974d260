/**
 * The member's driver of native tree transactions (docs/transactions.md): one `memberMachine` session per
 * transaction and sender, held in the daemon's one table of received sessions (kind "txn": the same global cap,
 * per-peer share and descriptor budget as every received session; collected after `--session-timeout` of
 * silence, which tells the machine `Expired` so it discards what it staged). It carries out the machine's
 * actions on the disk through `store/staging.ts` and answers the sender with sealed unicast messages. A message
 * of a transaction it does not hold, other than a `Manifest`, is answered `Unknown` (the daemon restarted, or
 * forgot the transaction) and counted as an unknown transfer.
 *
 * Kept apart from `receiving.ts`, the driver of the v7 roles: that one keys sessions by request id and answers
 * with v7 ACK headers built on the last request; here the key is the transaction id and every answer is a whole
 * native message the machine builds, so nothing of it would be shared but the table, which both use.
 */
import { Context, Effect, Either, Layer, Option, Runtime } from "effect"
import { randomUUID } from "node:crypto"
import * as fs from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { type Endpoint, Peer } from "../../net/Transport.js"
import { type TransferReceived, Wire } from "../../net/Wire.js"
import { budgetFor, DEFAULT_MTU } from "../../protocol/native/budget.js"
import { FileStore, StoreError } from "../../store/FileStore.js"
import { makeExclude } from "../../store/exclude.js"
import { rollForwardNow } from "../../store/journal.js"
import { normalRelative } from "../../store/paths.js"
import { scanRemovalsNow } from "../../store/removals.js"
import * as Staging from "../../store/staging.js"
import { describeErrno, EINVAL, EROFS } from "../../protocol/errno.js"
import { rateLimitedLog } from "../rateLimitedLog.js"
import { ReceiveSessions } from "../ReceiveSessions.js"
import type { KindPolicy, Slot } from "../sessionTable.js"
import { compareFile, sameContents } from "./memberCompare.js"
import * as Member from "./memberMachine.js"
import { isToSender, type Scope, type ToMember, type ToSender } from "./messages.js"

/** A manifest path as the scan spells it (`store/removals.ts`); one the store refuses as it is (never staged). */
const normalized = (path: string) => Either.getOrElse(normalRelative(path), () => path)

export interface TxnMembersConfig {
  /** `--readonly`: every entry fails with EROFS (the member votes FAILED), nothing here changes. */
  readonly readonly: boolean
  readonly keepSetId: boolean
  /** Where switches are journaled (`--journal-dir`, outside the base); a private temp directory when undefined (tests). */
  readonly journalDir: string | undefined
  /** `--mtu`, the same on every daemon: the sender's blocks are `budgetFor(mtu).block` bytes. 1500 when absent. */
  readonly mtu?: number | undefined
}

interface TxnSession extends Slot {
  readonly machine: Member.MemberSession
  readonly staging: Staging.Staging
  /** Under `--delete`, every path of the manifest until the scan for removals has run. */
  readonly manifest: Set<string>
}

export interface TxnStatus {
  readonly txn: number
  readonly from: string
  readonly phase: Member.State
}

export interface TxnMembersShape {
  /**
   * A transaction's message: true when it is member-bound (Manifest, Data, Prepare, Commit, Abort) and handled
   * here, answered `Unknown` included; false for the sender's messages, which are not ours.
   */
  readonly handle: (received: TransferReceived, now: number) => boolean
  /** The transactions held, with their phase. */
  readonly sessions: () => ReadonlyArray<TxnStatus>
  /** The journal directory in use. */
  readonly journalDir: string
}

export class TxnMembers extends Context.Tag("makuo/TxnMembers")<TxnMembers, TxnMembersShape>() {}

/** The blocks of the bundle stream at `mtu` (checked with the daemon's settings): the sender's `budgetFor(mtu).block`. */
const blockAt = (mtu: number) => Either.getOrThrow(budgetFor(mtu)).block

/** What every transaction this daemon receives may hold of small files in memory, together (`Staging.heldBudget`). */
const HELD_BYTES = 32 * 1024 * 1024

/** The blocks at the default MTU. */
export const BLOCK = blockAt(DEFAULT_MTU)

export const make = (config: TxnMembersConfig) =>
  Effect.gen(function*() {
    const block = config.mtu === undefined ? BLOCK : blockAt(config.mtu)
    const wire = yield* Wire
    const store = yield* FileStore
    const receive = yield* ReceiveSessions
    // made when a transaction first needs it (a new directory staged, a switch), removed with the layer
    const journalDir = config.journalDir ?? (yield* Effect.acquireRelease(
      Effect.sync(() => join(tmpdir(), `makuo-journal-${randomUUID()}`)),
      (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
    ))
    let clock = 0
    const held = Staging.heldBudget(HELD_BYTES)
    const runFork = Runtime.runFork(yield* Effect.runtime<never>())
    const notice = rateLimitedLog<"refusedPaths" | "setidDropped" | "notStaged">((message) => void runFork(Effect.logWarning(message)))

    const send = (to: Endpoint, message: ToSender) => void wire.sendNativeNow?.(Peer(to), message)

    /**
     * The sessions whose staging is in a pass: the messages of one wake-up (a receive batch, handed over
     * synchronously) share their walks to each directory; the pass ends in a microtask, before the event loop turns.
     */
    const inPass = new Set<TxnSession>()
    const endPasses = () => {
      for (const s of inPass) s.staging.endPassNow()
      inPass.clear()
    }
    const passing = (s: TxnSession) => {
      if (inPass.has(s)) return
      if (inPass.size === 0) queueMicrotask(endPasses)
      inPass.add(s)
      s.staging.beginPassNow()
    }

    /**
     * The actions' arrays, one per depth of `apply` (an action's answer is applied while its array is walked):
     * reused, so that a Data allocates none.
     */
    const outs: Array<Array<Member.Action>> = []
    let depth = 0
    const apply = (s: TxnSession, event: Member.Event): void => {
      const out = (outs[depth] ??= [])
      depth++
      try {
        Member.step(s.machine, event, out)
        // one pass on the disk per event: a batch's lookups, an arrival's writes share their walks to each
        // directory; a message's event is in the pass of its wake-up (`passing`) already
        if (inPass.has(s)) performAll(s, out)
        else s.staging.passNow(() => performAll(s, out))
      } finally {
        // popped: `length = 0` is a call into the runtime (~50 ns a Data), `pop` is inlined
        while (out.length > 0) out.pop()
        depth--
      }
    }

    const performAll = (s: TxnSession, out: ReadonlyArray<Member.Action>) => {
      for (let i = 0; i < out.length; i++) perform(s, out[i]!)
    }

    const perform = (s: TxnSession, a: Member.Action): void => {
      switch (a._tag) {
        case "Reply":
          return send(s.from, a.message)
        case "Lookup":
          // as staging resolves it (`w/./f` is `w/f`): a path spelled otherwise would read as lacking, and the
          // switch would remove what it has just put in place
          if (s.machine.deleting) for (const e of a.entries) s.manifest.add(normalized(e.path))
          return a.checksum ? void runFork(lookUpByContents(s, a)) : apply(s, lookUp(s, a, () => undefined))
        case "Verify":
          // hashed off the event loop's turn, a chunk at a time: the answer comes when the batch is done
          return void runFork(Effect.map(
            Effect.forEach(a.entries, (e) => compareFile(store, e, descriptors(s))),
            (findings) => apply(s, { _tag: "Verified", batch: a.batch, findings })
          ))
        case "Write":
          return config.readonly ? undefined : s.staging.writeNow(a.entry, a.offset, a.bytes)
        case "Stage": {
          const errno = config.readonly ? EROFS : s.staging.stageNow(a.entry, a.digest)
          // the sender hears only the entry's index and errno: the path is said here
          if (errno !== 0 && !config.readonly) {
            notice("notStaged", `transaction ${s.machine.txn} from ${s.from.address}: ${a.entry.path} not staged: ${describeErrno(errno)}`, clock)
          }
          return apply(s, { _tag: "Staged", index: a.index, errno })
        }
        case "Scan": {
          const found = scan(s, a.scope)
          s.manifest.clear()
          if (found instanceof StoreError) {
            notice("notStaged", `transaction ${s.machine.txn} from ${s.from.address}: the scan for removals failed: ${found.message}`, clock)
          }
          return apply(s, found instanceof StoreError ? { _tag: "Scanned", removals: [], errno: found.errno } : { _tag: "Scanned", removals: found, errno: 0 })
        }
        case "Switch": {
          const failed = s.staging.switchNow(s.machine.txn, a.entries, a.removals, { whole: s.machine.scope?.named === true })
          // a directory that something came into after the scan stays: the sender hears what was removed
          const kept = a.removals.filter((rel) => {
            const found = store.inspectNow(rel)
            return !(found instanceof StoreError) && Option.isSome(found)
          })
          const what = `transaction ${s.machine.txn} from ${s.from.address}: ${a.entries.length} entries switched` +
            (a.removals.length > 0 ? `, ${a.removals.length - kept.length} paths removed` : "") +
            (kept.length > 0 ? `, ${kept.length} kept (not empty: something came into them after the scan)` : "")
          // the sender hears only the errno: the step that failed is named here
          runFork(failed === undefined ? Effect.logInfo(what) : Effect.logWarning(`${what}, but one step failed: ${failed.message}`))
          return apply(s, { _tag: "Switched", errno: failed?.errno ?? 0, kept })
        }
        case "Discard":
          return s.staging.discardNow()
        default:
          return a satisfies never
      }
    }

    /**
     * What the member removes under `--delete` (`store/removals.ts`): the temps of every transfer in flight here are
     * spared, a v7 transfer's and every transaction's. A `--readonly` member removes nothing: EROFS; in a dry run it
     * would remove nothing, which is no failure.
     */
    const scan = (s: TxnSession, scope: Scope | undefined) => {
      if (config.readonly && s.machine.purpose !== undefined) return []
      if (config.readonly) return new StoreError({ op: "scan", path: ".", errno: EROFS, code: "EROFS", detail: "this member is --readonly" })
      // a manifest under `--delete` whose first batch had no scope: nothing to scan by
      if (scope === undefined) return new StoreError({ op: "scan", path: ".", errno: EINVAL, code: "EINVAL", detail: "the manifest named no roots to scan" })
      const temps = new Set<string>()
      for (const other of receive.table.values<TxnSession>("txn")) for (const t of other.staging.tempsNow()) temps.add(t)
      return scanRemovalsNow(store, {
        roots: scope.roots,
        named: scope.named === true,
        exclude: makeExclude(store.base, scope.excludes),
        inManifest: (rel) => s.manifest.has(rel),
        isTemp: (rel) => temps.has(rel) || store.isLiveTemp(rel)
      })
    }

    /** One descriptor of the session's budget while a file here is hashed. */
    const descriptors = (s: TxnSession) => ({
      take: () => receive.hold(s, 1, clock, `transaction ${s.machine.txn}`),
      give: () => receive.table.drop(s, 1)
    })

    /**
     * A batch looked up (`same`: `--checksum`'s comparison of each file). `--readonly` takes nothing: a send's
     * every entry fails at `Stage` with EROFS; a dry run says what would change, each refused with EROFS.
     */
    const lookUp = (s: TxnSession, a: Extract<Member.Action, { _tag: "Lookup" }>, same: (i: number) => boolean | undefined): Member.Event => {
      const dry = s.machine.purpose !== undefined
      if (config.readonly && !dry) return { _tag: "LookedUp", batch: a.batch, needs: a.entries.map(() => "metadata") }
      const needs = s.staging.lookupAllNow(a.entries, same)
      if (!dry) return { _tag: "LookedUp", batch: a.batch, needs }
      const errnos = needs.map((need, i) => (config.readonly && need !== "none" && need !== "reapply" ? EROFS : s.staging.refusalOf(a.entries[i]!)))
      return { _tag: "LookedUp", batch: a.batch, needs, errnos }
    }

    /** `--checksum`: every file of the batch hashed first (a chunk at a time), then looked up. */
    const lookUpByContents = (s: TxnSession, a: Extract<Member.Action, { _tag: "Lookup" }>) =>
      Effect.map(
        Effect.forEach(a.entries, (e) => sameContents(store, e, descriptors(s))),
        (same) => apply(s, lookUp(s, a, (i) => same[i]))
      )

    const policy: KindPolicy<TxnSession> = {
      // an outcome is kept for the whole session timeout, so that a sender's late copy gets the same answer
      flowing: () => true,
      busy: () => false,
      release: (s) => apply(s, { _tag: "Expired" })
    }

    const open = (received: TransferReceived, m: ToMember, now: number): TxnSession | undefined =>
      receive.admit("txn", policy, received.from, m.txn, now, `transaction ${m.txn}`, (slot) => {
        const session: TxnSession = {
          ...slot,
          machine: Member.make(m.txn, block),
          manifest: new Set(),
          staging: Staging.make(store, {
            keepSetId: config.keepSetId,
            journalDir,
            take: () => receive.hold(session, 1, clock, `transaction ${m.txn}`),
            notice: (kind, message) => {
              wire.refused(kind)
              notice(kind, `transaction ${m.txn} from ${received.from.address}: ${message}`, clock)
            },
            give: () => receive.table.drop(session, 1),
            held
          })
        }
        return session
      })

    const handle = (received: TransferReceived, now: number): boolean => {
      const m = received.message
      if (isToSender(m)) return false
      clock = now
      let s = receive.table.get<TxnSession>("txn", received.from, m.txn)
      if (s === undefined) {
        if (!Member.opens(m)) {
          wire.refused("unknownTransfers")
          send(received.from, { _tag: "Unknown", txn: m.txn })
          return true
        }
        s = open(received, m, now)
        if (s === undefined) return true
      }
      s.lastSeen = now
      passing(s)
      apply(s, { _tag: "Message", message: m })
      return true
    }

    const sessions = () =>
      [...receive.table.values<TxnSession>("txn")].map((s) => ({ txn: s.machine.txn, from: s.from.address, phase: s.machine.state }))

    return TxnMembers.of({ handle, sessions, journalDir })
  })

export const layer = (config: TxnMembersConfig) => Layer.scoped(TxnMembers, make(config))

/**
 * Carries out the switches a killed daemon left journaled in `journalDir`, before the stale temp sweep removes
 * the temps they rename, and removes the new directories staged by transactions that never switched; logs what
 * it did.
 */
export const rollForward = (journalDir: string) =>
  Effect.gen(function*() {
    const store = yield* FileStore
    const { lines } = rollForwardNow(journalDir, store)
    for (const line of lines) yield* Effect.logWarning(line)
  })
