/**
 * The sender's driver of a native tree transaction (docs/transactions.md): one `senderMachine` per job, fed with
 * the scan's entries in manifest batches (`fillBatch`), each file's version looked at (hashed only when a member
 * needs its digest to decide: `--checksum`, `check`) when its batch is formed; the members'
 * answers come from the router (`reply`, by transaction id); its deadline is one timer of the daemon's `Timers`.
 *
 * The machine asks for the contents of a whole batch at once (`TransmitData`, one per `Data` datagram, and
 * `TransmitRun` for a file's full blocks in a row, when there are `MIN_RUN_BLOCKS` of them): they
 * are queued as spans (the full blocks of one entry in a row as one run, so a big file costs one queue item, not
 * one per block) and a pump sends them at the pacer's rate, reporting each `Sent` to the machine, which asks for
 * the vote only once everything is out. A run goes out in bursts, as v7 DATA does: up to `BURST` blocks read
 * with one positioned read straight into their Data messages laid out in one buffer, sealed as one run and
 * handed to the socket as one send; the bundle stream's Data (small files, whole blocks and all, and a file's last
 * block) in bursts as well, each Data laid out in place as long as its pieces make it, sealed as one run and
 * handed over as one send with their lengths (one `sendmmsg`: a stretch of one length a GSO group, the rest a
 * message each). At most one burst's bytes are in
 * memory, in one buffer reused. What is read is checked against the
 * version the manifest describes (size, mtime and ctime of the open descriptor) before the pump lets anything
 * else run: a file changed since is never committed, the transaction is cancelled naming it. A file no member
 * needs is never opened. A send hashes each file from the bytes of its first sending, in order, as they are read
 * (one read serves both), and sends its digest after its last Data (`Digests`, several to a datagram); a member
 * that lost it asks again in its `Missing` (docs/transactions.md, "Digests").
 */
import { Context, Deferred, Duration, Effect, Either, Exit, FiberId, Layer } from "effect"
import { type Destination, Group, Peer } from "../../net/Transport.js"
import { Wire } from "../../net/Wire.js"
import { type Budget, budgetFor, DEFAULT_MTU, fillBatch } from "../../protocol/native/budget.js"
import { createHash, type Hash } from "node:crypto"
import {
  DATA_FIXED,
  DATA_HEADER,
  DIGESTS_ENTRY,
  DIGESTS_FIXED,
  entryBytes,
  MANIFEST_FIXED,
  MAX_DIGESTS,
  PIECE_HEADER,
  writeDataFixed,
  writeDataHeader,
  writePieceHeader
} from "../../protocol/native/transfer.js"
import { BURST } from "../send/SendEngine.js"
import { FileStore, type FileStoreShape, type LocalEntry, type Reader, StoreError } from "../../store/FileStore.js"
import { yieldToEventLoop } from "../../yieldToEventLoop.js"
import { type WholeFile, type WholeRead, type WholeReader, wholeReaderFor } from "../../store/wholeFiles.js"
import { Sessions } from "../engine/Sessions.js"
import type { Pacer } from "../pacer.js"
import { changedSince } from "../send/sourceVersion.js"
import { Timers } from "../Timers.js"
import type { Entry, Purpose, Scope, Span, ToMember, ToSender, TxnId } from "./messages.js"
import { scopeBytes, TransferType } from "../../protocol/native/transferMessage.js"
import { hasBit } from "./messages.js"
import * as Machine from "./senderMachine.js"
import { SHA256_BYTES, sha256 } from "../../sha256.js"
import { makeDigestStore } from "./digestStore.js"
import { prepare, prepareNow, type SourceEntry } from "./sourceEntry.js"
import { MAX_WAIT_MS, type RttEstimator, type Target } from "../engine/rtt.js"

/** Manifest batches unanswered at once: enough to hide a round trip behind ~100 small entries. */
export const WINDOW = 8
/** No member (yet): shared by every record, replaced when a member asks. */
const NOBODY: ReadonlyArray<string> = []
/** Bytes of the bundle stream (its files opened and read one by one) the pump sends before it lets the event loop run when the pacer does not make it wait. */
const TURN_BYTES = 64 * 1024
/**
 * A run's bursts (one read, one seal, one send each: ~0.4 ms of CPU) the pump sends before it lets the event loop
 * run: a turn (the pump's resume through the runtime, the version's fstat) cost ~0.7 s/GiB paid per burst, and
 * answers wait ~2 ms at most.
 */
const RUN_TURN_BURSTS = 4
/** How often, while the data flows, the members are asked how far they have got (`Probe`): v7's MARK spacing. */
export const PROBE_MS = 10
/** Probes remembered for their answers: an answer to an older one is too late to be news. */
const PROBES_KEPT = 64

export interface TxnSendJob {
  readonly targets: ReadonlyArray<Target>
  /** Each member by unicast (`-t`) instead of the group. */
  readonly unicast: boolean
  readonly allOrNothing: boolean
  /** A dry run or a check (no data, nothing committed); absent: a send. */
  readonly purpose?: Purpose
  /** `--checksum`: members compare a file's contents by SHA-256 rather than size and mtime. */
  readonly checksum?: boolean
  /** Silence (ms) after which a member owing an answer is lost. */
  readonly timeout: number
  readonly pacer: Pacer
  /**
   * The scan's next entry to send, or a path under the roots it could not read (handed to `problem`); undefined
   * once the scan is over (paths missing are the caller's to report).
   */
  readonly next: () => { readonly rel: string; readonly entry: LocalEntry } | { readonly rel: string; readonly problem: string } | undefined
  /**
   * `--delete`: members remove what they have under these roots that the manifest lacks, the excludes spared. A path
   * here that cannot go in the manifest (unreadable, changed while hashed, a FIFO) would read as gone: the
   * transaction is cancelled instead. `sync` (`named`): they remove the roots themselves, gone here.
   */
  readonly scope?: Scope
  /** An entry that cannot be sent (unreadable, changed while hashed, a kind not sent): not in the manifest. */
  readonly problem: (rel: string, message: string) => void
  /** Called once the transaction is under way, with a view of it (the progress line, the test's memory check). */
  readonly started?: (view: TxnView) => void
}

/**
 * What the report needs of an entry of the manifest: the manifest's full entry (its digest, mtime, owner) lives only
 * while its batch is in the window, so that a transaction of many entries holds little per entry until it ends.
 */
export type SentSummary = Pick<Entry, "path" | "type" | "size">

/** An entry of the manifest, with the members that asked for its contents, and those it changes. */
export interface SentEntry {
  readonly entry: SentSummary
  /** Addresses of the members whose `Needs` asked for its contents. */
  readonly needers: ReadonlyArray<string>
  /** Addresses of the members whose `Needs` said it changes there (its needers among them). */
  readonly changers: ReadonlyArray<string>
}

export interface TxnResult {
  /** The job's purpose: what the members' answers mean. */
  readonly purpose: Purpose | undefined
  readonly entries: ReadonlyArray<SentEntry>
  /** One outcome per target; empty when the manifest was empty (no transaction). */
  readonly members: ReadonlyArray<Machine.MemberOutcome>
  /** The source file whose change (or read failure) cancelled the transaction. */
  readonly cancelled: { readonly path: string; readonly reason: string } | undefined
}

export interface TxnView {
  readonly progress: () => Machine.Progress
  /** What the pump holds now: queue items, the bytes they name, and the bytes read into memory (one burst). */
  readonly held: () => { readonly items: number; readonly queuedBytes: number; readonly bufferBytes: number }
}

/** What the driver needs of the daemon: injected, so that tests run it on a simulated network. */
export interface TxnDeps {
  readonly store: FileStoreShape
  /** Reads a burst's small files whole; the store's (`wholeReaderFor`) by default. */
  readonly readWhole?: WholeReader
  /** What one datagram carries at the daemon's MTU. */
  readonly budget: Budget
  readonly send: (to: Destination, message: ToMember) => void
  /**
   * Sends Data messages of one piece laid out back to back in `bodies` (`writeDataHeader`), `segment` bytes each:
   * a burst, sealed as one batch. `bodies` are the driver's again once it returns.
   */
  readonly sendData: (to: Destination, bodies: Uint8Array, segment: number) => void
  /**
   * Sends Data messages laid out back to back in `bodies`, `lengths[i]` bytes the i-th: a burst of the bundle
   * stream, sealed as one batch. `bodies` and `lengths` are the driver's again once it returns.
   */
  readonly sendBundle: (to: Destination, bodies: Uint8Array, lengths: Uint32Array) => void
  readonly now: () => number
  readonly after: (ms: number, f: () => void) => () => void
  readonly rtt: RttEstimator
  readonly nextTxn: () => TxnId
}

export interface TxnSenderShape {
  /** Runs the job as one transaction; interrupted, it aborts the transaction (one `Abort` to the members). */
  readonly run: (job: TxnSendJob) => Effect.Effect<TxnResult>
  /** A member's answer, from the router. */
  readonly reply: (from: string, message: ToSender) => void
  /** Since the daemon started: bytes of Data contents sent more than once (repairs), of ended transactions. */
  readonly resentBytes: () => number
}

export class TxnSender extends Context.Tag("makuo/TxnSender")<TxnSender, TxnSenderShape>() {}

/** Full blocks of one entry in a row (one `Data` each), or the spans of one `Data`. */
type Run = { readonly index: number; offset: number; end: number }
type Item = Run | { readonly spans: ReadonlyArray<Span> }

/** The source file at fault, and why: what cancels the transaction. */
type Problem = { readonly path: string; readonly reason: string }

/** Wakes one waiting fiber, or the next that waits. */
const makeSignal = () => {
  let resume: (() => void) | undefined
  let pending = false
  return {
    notify: () => {
      if (resume === undefined) return void (pending = true)
      const r = resume
      resume = undefined
      r()
    },
    wait: Effect.async<void>((cb) => {
      if (pending) return void ((pending = false), cb(Effect.void))
      resume = () => cb(Effect.void)
      return Effect.sync(() => void (resume = undefined))
    })
  }
}

export const makeDriver = (deps: TxnDeps): TxnSenderShape => {
  const running = new Map<TxnId, (from: string, message: ToSender) => void>()
  let resentBytes = 0

  const run = (job: TxnSendJob): Effect.Effect<TxnResult> =>
    Effect.suspend(() => {
      const txn = deps.nextTxn()
      const { block } = deps.budget
      /**
       * Every entry of the manifest so far, for the report at the end: its summary, a file's version (what the pump
       * checks a read against; dropped once its batch is answered and no member needs it), and who needs or
       * changes it (`joined`: one array shared by every entry with the same members).
       */
      const records: Array<{
        readonly entry: SentSummary
        file: SourceEntry["file"]
        needers: ReadonlyArray<string>
        changers: ReadonlyArray<string>
      }> = []
      /** A send's: the SHA-256 of the bytes of each file's first sending, once they are all out (`Digests`). */
      const digests = makeDigestStore()
      /** `list` and `from` after it: the same array for every entry whose members answered alike (one per entry was most of what a record held). */
      const joins = new Map<ReadonlyArray<string>, Map<string, ReadonlyArray<string>>>()
      const joined = (list: ReadonlyArray<string>, from: string): ReadonlyArray<string> => {
        let after = joins.get(list)
        if (after === undefined) joins.set(list, after = new Map())
        let both = after.get(from)
        if (both === undefined) after.set(from, both = list.concat(from))
        return both
      }
      /** The first entry of each batch. */
      const firsts: Array<number> = []
      const done = Deferred.unsafeMake<TxnResult>(FiberId.none)
      let s: Machine.SenderSession | undefined
      let cancelled: TxnResult["cancelled"]
      let cancelTimer: (() => void) | undefined
      const wanted = makeSignal()
      const dataReady = makeSignal()
      const queue: Array<Item> = []
      /** One burst of Data laid out (a segment each), its blocks read straight in (`slots`); a bundle's Data too (`lengths`). */
      const segment = deps.budget.body
      /** A small file has fewer full blocks than a run (`MIN_RUN_BLOCKS`): it is read whole (`readSmallFiles`). */
      const smallBelow = Machine.MIN_RUN_BLOCKS * block
      /**
       * The burst's Data (`buffer`), then the small files read whole (`whole`): one array, so that a piece goes
       * from the one to the other by `copyWithin`, with no view made per piece.
       */
      const area = new Uint8Array(2 * BURST * segment + 2 * smallBelow)
      const buffer = area.subarray(0, BURST * segment)
      const wholeAt = buffer.length
      // bounded to the burst's Data: a write past them throws, where it would overwrite the small files read whole
      const layout = new DataView(area.buffer, 0, buffer.length)
      const slots = Array.from({ length: BURST }, (_, i) => buffer.subarray(i * segment + DATA_HEADER, (i + 1) * segment))
      const lengths = new Uint32Array(BURST)
      let open: { readonly index: number; readonly reader: Reader } | undefined
      const readWhole = deps.readWhole ?? wholeReaderFor(deps.store)

      /** The entry whose blocks were read since its version was last checked (the open reader's). */
      let unchecked: number | undefined

      /**
       * A member needs a digest to decide (`--checksum`, `check`): the manifest carries them. Otherwise a send hashes
       * what it sends (`hashSent`) and sends the digests after the data.
       */
      const manifestDigests = job.purpose === "check" || job.checksum === true
      const sendsDigests = job.purpose === undefined && !manifestDigests
      /** The file being hashed as its first sending is read, and how far. */
      let hashing: { readonly index: number; readonly hash: Hash; at: number } | undefined
      /** Entries whose digest is known and not yet sent. */
      const digested: Array<number> = []
      const perDigests = Math.min(MAX_DIGESTS, Math.floor((deps.budget.body - DIGESTS_FIXED) / DIGESTS_ENTRY))

      const closeReader = () => {
        open?.reader.closeNow()
        open = undefined
        unchecked = undefined
      }

      /** Bytes of Data contents sent in the transaction, repairs included: what a member has received, less its loss. */
      let contentsSent = 0
      const finish = (members: ReadonlyArray<Machine.MemberOutcome>) => {
        cancelTimer?.()
        queue.length = 0
        closeReader()
        running.delete(txn)
        // every entry someone needed went out once in full; whatever was sent beyond that was a repair
        resentBytes += Math.max(0, contentsSent - records.reduce((sum, r) => sum + (r.needers.length > 0 ? r.entry.size : 0), 0))
        Deferred.unsafeDone(done, Exit.succeed({
          purpose: job.purpose,
          entries: records,
          members,
          cancelled
        }))
      }

      const destinations = (): ReadonlyArray<Destination> =>
        !job.unicast || s === undefined ? [Group] : [...s.members.values()].filter((m) => !m.lost).map((m) => Peer(m.target))

      /**
       * Where the bundle stream stood (the pacer's count) when each manifest batch first went out: a member's
       * `Needs` for it says it has taken the stream that far (it reads in order), a delivery point for the pacer.
       */
      const batchPoints = new Map<number, { readonly position: number; readonly at: number }>()

      const transmit = (message: ToMember, only?: ReadonlyArray<Target>) => {
        if (message._tag === "Manifest" && !batchPoints.has(message.batch)) batchPoints.set(message.batch, { position: job.pacer.sent(), at: deps.now() })
        for (const to of only === undefined ? destinations() : only.map((t) => Peer(t))) deps.send(to, message)
      }

      /** Full blocks of entry `index` from `offset` to `end`: one run, or the tail of the last one. */
      const enqueueRun = (index: number, offset: number, end: number) => {
        const last = queue.at(-1)
        if (last !== undefined && "end" in last && last.index === index && last.end === offset) last.end = end
        else queue.push({ index, offset, end })
        dataReady.notify()
      }

      const enqueue = (spans: ReadonlyArray<Span>) => {
        queue.push({ spans })
        dataReady.notify()
      }

      /** The machine's next `Expired` at `at`: a timer that rings early (whole milliseconds) waits again. */
      const arm = (at: number) => {
        cancelTimer?.()
        cancelTimer = deps.after(Math.max(0, Math.ceil(at - deps.now())), () => (deps.now() >= at ? apply({ _tag: "Expired" }) : arm(at)))
      }

      const apply = (event: Machine.Event) => {
        if (s === undefined || s.phase === "done") return
        const out: Array<Machine.Action> = []
        Machine.step(s, event, out, deps.now())
        let dataEnd = false
        for (const a of out) {
          switch (a._tag) {
            case "Transmit":
              transmit(a.message, a.to)
              break
            case "TransmitData":
              enqueue(a.spans)
              break
            case "TransmitRun":
              enqueueRun(a.index, a.offset, a.offset + a.blocks * block)
              break
            case "DataEnd":
              flushDigests(true)
              dataEnd = true
              break
            case "TransmitDigests":
              sendDigests(a.indices)
              break
            case "NextBatch":
              wanted.notify()
              break
            case "Deadline":
              arm(a.at)
              break
            case "Finished":
              finish(a.members)
              break
            default:
              a satisfies never
          }
        }
        // once the actions are out (not within them: the cancel steps the machine again)
        const unhashed = dataEnd ? undigested() : undefined
        if (unhashed !== undefined) cancel(unhashed.path, unhashed.reason)
      }

      /** Stops sending data and aborts: the source at `path` is not what the members would check it against. */
      const cancel = (path: string, reason: string) => {
        cancelled ??= { path, reason }
        queue.length = 0
        digested.length = 0
        closeReader()
        apply({ _tag: "Cancel" })
      }

      /** Where the bundle stream's last datagram ended in the pacer's count, and when it was sent. */
      let streamEnd = { position: 0, at: 0 }
      /** The probes out: where the stream stood in the pacer's count and in `contentsSent` when each was sent. */
      const probes = new Map<number, { readonly position: number; readonly at: number; readonly contents: number }>()
      let probeSeq = 0
      let probedAt = Number.NEGATIVE_INFINITY
      /** Per member, the bytes of the stream it has lost as told to the pacer so far: each loss is news once. */
      const toldLost = new Map<string, number>()

      /**
       * The pacer's news during the data (docs/transactions.md, "Pacing"): every `PROBE_MS` of sending the pump
       * sends a `Probe` behind the data; a member answers it once it has taken what was sent before it, with the
       * bytes of contents it has received. That is a delivery point (the stream's position when the probe went,
       * and its send time: the member's queue) and what it lost of the stream since (the growth of what was sent
       * less what it received), as a v7 member's MARK answer is. A lost probe or answer costs one point: the
       * next probe goes `PROBE_MS` later whatever came back.
       */
      const probe = (now: number) => {
        if (now - probedAt < PROBE_MS) return
        probedAt = now
        const seq = probeSeq
        probeSeq = (probeSeq + 1) >>> 0
        probes.set(seq, { position: job.pacer.sent(), at: now, contents: contentsSent })
        if (probes.size > PROBES_KEPT) probes.delete(probes.keys().next().value!)
        transmit({ _tag: "Probe", txn, seq })
      }

      /** `missing` bytes of the stream a member has not received: what of them the pacer has not heard yet. */
      const newlyLost = (from: string, missing: number) => {
        const told = toldLost.get(from) ?? 0
        if (missing <= told) return 0
        toldLost.set(from, missing)
        return missing - told
      }

      /**
       * A member's answer after the data (its `Missing`, its vote) says it has taken the stream up to its end, less
       * what it names missing: a delivery point for the pacer, as a v7 member's MARK answer is.
       */
      const deliveredTo = (from: string, point: { readonly position: number; readonly at: number }, lost: number) =>
        job.pacer.delivered(from, { position: point.position, sentAt: point.at, lost }, deps.now())

      /** What a member's answer tells the pacer: how far it has taken the stream, and what it lost of it. */
      const delivery = (from: string, message: ToSender) => {
        switch (message._tag) {
          case "Needs": {
            const point = batchPoints.get(message.batch)
            return point === undefined ? undefined : deliveredTo(from, point, 0)
          }
          case "Progress": {
            const point = probes.get(message.seq)
            return point === undefined ? undefined : deliveredTo(from, point, newlyLost(from, point.contents - message.received))
          }
          case "Missing":
            return deliveredTo(from, streamEnd, newlyLost(from, message.spans.reduce((n, sp) => n + sp.length, 0)))
          case "Prepared":
          case "Failed":
            return streamEnd.position > 0 ? deliveredTo(from, streamEnd, 0) : undefined
        }
      }

      const reply = (from: string, message: ToSender) => {
        if (s === undefined) return
        // a member asking for what cannot be sent, or for what it did not say it needs (nobody may have needed it: a
        // read of a file changed since would cancel every member's transaction), is at fault itself: it fails, its
        // spans never reach a read
        const refused = message._tag === "Missing" ? missingFault(from, message) : undefined
        if (refused !== undefined) return apply({ _tag: "Refuse", from, reason: `asked for ${refused}` })
        if (s.members.has(from)) delivery(from, message)
        if (message._tag === "Removals" && spared.size > 0) wouldRemoveSpared(from, message.paths)
        const taken = message._tag === "Needs" ? takeNeeds(s, from, message) : undefined
        apply({ _tag: "Reply", from, message })
        // every member has answered the batch (the machine let it go): a file none of them needs is never read
        if (taken !== undefined && !s.batches.has(taken.batch)) {
          for (let i = taken.first; i < taken.end; i++) if (records[i]!.needers.length === 0) records[i]!.file = undefined
        }
      }

      /** A member's Needs the machine takes, marked on its batch's entries: the batch and its entries' range; else undefined. */
      const takeNeeds = (session: Machine.SenderSession, from: string, message: Extract<ToSender, { _tag: "Needs" }>) => {
        const first = firsts[message.batch]
        if (first === undefined || !Machine.takesNeeds(session, from, message)) return undefined
        const end = firsts[message.batch + 1] ?? records.length
        for (let i = first; i < end; i++) {
          const r = records[i]!
          const contents = hasBit(message.bitmap, i - first)
          if (contents && !r.needers.includes(from)) r.needers = joined(r.needers, from)
          if ((contents || hasBit(message.changes, i - first)) && !r.changers.includes(from)) r.changers = joined(r.changers, from)
        }
        return { batch: message.batch, first, end }
      }

      // == the manifest: entries prepared (files hashed) one batch ahead of what the machine asks for

      const pending: Array<SourceEntry> = []
      let scanned = false
      let formed = 0
      /** The first batch carries the scope (`--delete`). */
      const scopeReserved = job.scope === undefined ? 0 : scopeBytes(job.scope)
      const reserved = () => (formed === 0 ? scopeReserved : 0)
      const fill = () => fillBatch(pending.map((p) => p.entry), 0, deps.budget, reserved())
      /** What the entries prepared add to a Manifest's body (`entryBytes`), kept as they come: no pass over them per entry. */
      let pendingBytes = 0
      /**
       * More is prepared than one manifest batch carries: the batch is known. As `fillBatch` counts: the bytes only
       * grow, so the batch is full once they all pass the body with more than one entry (or after a scope).
       */
      const full = () =>
        pending.length > 0xffff || (MANIFEST_FIXED + reserved() + pendingBytes > deps.budget.body && (pending.length > 1 || reserved() > 0))
      /**
       * Under `--delete`, the paths that stayed out of the manifest (unreadable, a FIFO, changed while hashed, a
       * directory that cannot be listed): a member that has one, or anything below one, would remove it. It is
       * reported, and the rest goes on; only a member's list of removals naming such a path (before its vote counts)
       * cancels the transaction, so that no member removes what is here.
       */
      const spared = new Set<string>()
      const leftOut = (rel: string, problem: string) => {
        job.problem(rel, problem)
        if (job.scope !== undefined && job.scope.named !== true) spared.add(rel)
      }
      const wouldRemoveSpared = (from: string, paths: ReadonlyArray<string>) => {
        for (const path of paths) {
          for (let at = path.length; at > 0; at = path.lastIndexOf("/", at - 1)) {
            const here = path.slice(0, at)
            if (!spared.has(here)) continue
            const host = s?.members.get(from)?.target.host ?? from
            return cancel(here, `could not go in the manifest, and under --delete ${host} would have removed ${here === path ? "it" : path}`)
          }
        }
      }
      const formBatch = Effect.gen(function*() {
        while (!scanned && !full()) {
          const item = job.next()
          if (item === undefined) {
            scanned = true
            break
          }
          if ("problem" in item) {
            leftOut(item.rel, item.problem)
            continue
          }
          // only a large file to hash runs as an Effect, with turns between its chunks
          const p = prepareNow(deps.store, item.rel, item.entry, manifestDigests) ?? (yield* prepare(deps.store, item.rel, item.entry, true))
          if ("problem" in p) leftOut(item.rel, p.problem)
          else (pending.push(p), (pendingBytes += entryBytes(p.entry)))
        }
        const n = pending.length === 0 ? 0 : fill()
        formed++
        const batch = pending.splice(0, n)
        for (const p of batch) pendingBytes -= entryBytes(p.entry)
        return { batch, last: scanned && pending.length === 0 }
      })

      const producer = Effect.gen(function*() {
        while (true) {
          const { batch, last } = yield* formBatch
          if (s === undefined) {
            // nothing to send (and under --delete nothing to remove by), or cancelled: no transaction at all
            if ((batch.length === 0 && job.scope === undefined) || cancelled !== undefined) return finish([])
            s = Machine.make(txn, job.targets, {
              window: WINDOW,
              block,
              datagram: deps.budget.pieces,
              allOrNothing: job.allOrNothing,
              delete: job.scope !== undefined,
              ...(job.scope === undefined ? {} : { scope: job.scope }),
              ...(job.purpose !== undefined ? { purpose: job.purpose } : {}),
              checksum: job.checksum === true,
              maxWait: MAX_WAIT_MS,
              timeout: job.timeout,
              rtt: deps.rtt
            }, deps.now())
            running.set(txn, reply)
            job.started?.({ progress: () => Machine.progress(s!), held })
            apply({ _tag: "Start" })
          }
          yield* wanted.wait
          if (s.phase !== "manifest") return
          firsts.push(records.length)
          for (const { entry: { path, size, type }, file } of batch) records.push({ entry: { path, type, size }, file, needers: NOBODY, changers: NOBODY })
          apply({ _tag: "Batch", entries: batch.map((p) => p.entry), last })
          if (last) return
        }
      })

      // == the data: a burst per run of blocks, one datagram per bundle, read from the version the manifest describes

      /** The open reader's file against the version the manifest describes, if it was read since it was last checked. */
      const verify = (): Problem | undefined => {
        if (open === undefined || unchecked !== open.index) return undefined
        unchecked = undefined
        const r = records[open.index]!
        const now = open.reader.versionNow()
        if (now instanceof StoreError) return { path: r.entry.path, reason: now.message }
        const changed = changedSince(r.file!.version, now)
        return changed === undefined ? undefined : { path: r.entry.path, reason: `changed after it was scanned: ${changed}` }
      }

      /**
       * Why entry `index` has no bytes `offset`…`offset + length` to send, or undefined: checked before every read
       * and first when a member's `Missing` comes in, so that a bad one fails its member, not the transaction: a
       * piece past the file on disk would read short and blame the source.
       */
      const spanFault = (index: number, offset: number, length: number): string | undefined => {
        const r = records[index]
        if (r === undefined) return `entry ${index}, beyond the ${records.length} of the manifest`
        if (r.entry.type !== "file") return `${r.entry.path}, a ${r.entry.type} (no contents)`
        return offset + length > r.entry.size ? `bytes ${offset}-${offset + length} of ${r.entry.path}, past its end (${r.entry.size} bytes)` : undefined
      }

      /** Why `from` may not ask for entry `index` (a known one): its `Needs` did not ask for its contents. */
      const notNeeded = (from: string, index: number): string | undefined =>
        records[index]!.needers.includes(from) ? undefined : `${records[index]!.entry.path}, which its Needs did not ask for`

      /** Why entry `index` has no digest to send again: none was sent (no such file, or its digest was the manifest's). */
      const digestFault = (index: number): string | undefined => {
        const r = records[index]
        if (r === undefined) return `the digest of entry ${index}, beyond the ${records.length} of the manifest`
        return digests.known(index) ? undefined : `the digest of ${r.entry.path}, which was never sent`
      }

      /** What of a member's `Missing` cannot be sent, or it did not need: the first, or undefined. */
      const missingFault = (from: string, m: Extract<ToSender, { _tag: "Missing" }>): string | undefined => {
        for (const p of m.spans) {
          const fault = spanFault(p.index, p.offset, p.length) ?? notNeeded(from, p.index)
          if (fault !== undefined) return fault
        }
        for (const index of m.digests ?? []) {
          const fault = digestFault(index) ?? notNeeded(from, index)
          if (fault !== undefined) return fault
        }
        return undefined
      }

      /**
       * The digests of these entries (known: `digestFault`), `perDigests` to a datagram, each once: a member's request
       * naming one entry many times gets it once, not a datagram's worth of copies sent to the group.
       */
      const sendDigests = (asked: ReadonlyArray<number>) => {
        const indices = [...new Set(asked)]
        for (let at = 0; at < indices.length; at += perDigests) {
          transmit({ _tag: "Digests", txn, entries: indices.slice(at, at + perDigests).map((index) => ({ index, digest: digests.get(index) })) })
        }
      }

      /** The digests known go out once a datagram's worth is known, or all of them (`all`: before the vote is asked). */
      const flushDigests = (all: boolean) => {
        if (digested.length < (all ? 1 : perDigests)) return
        sendDigests(digested)
        digested.length = 0
      }

      /**
       * Every Data of the first sending is out (`DataEnd`): each file a member needed must have its digest by now, the
       * hash of all its bytes as they went out. One that has none was not read whole and in order the first time
       * (`hashSent`): the members would wait for a digest that never comes, so the transaction is cancelled naming it.
       */
      const undigested = (): Problem | undefined => {
        if (!sendsDigests) return undefined
        for (let index = 0; index < records.length; index++) {
          const r = records[index]!
          if (digests.known(index) || r.file === undefined || r.entry.size === 0 || r.needers.length === 0) continue
          const hashed = hashing?.index === index ? hashing.at : 0
          return { path: r.entry.path, reason: `its first sending was not read in order (${hashed} of its ${r.entry.size} bytes hashed): no digest to send` }
        }
        return undefined
      }

      /** Entry `index`'s digest, of all its bytes as they went out: known, to go out in the next `Digests`. */
      const know = (index: number, digest: Uint8Array) => {
        digests.put(index, digest)
        digests.know(index)
        digested.push(index)
      }

      /**
       * A send hashes what it reads for a file's first sending, in order, the very bytes that go out (one read for
       * both); at its last byte the digest is known. A repair, read from disk again later, is not hashed: should
       * the file have changed in between, its bytes differ from those the digest is of, and the member's check
       * before its vote fails it (docs/transactions.md, "Digests").
       */
      const hashSent = (index: number, offset: number, into: ReadonlyArray<Uint8Array>) => {
        const r = records[index]!
        if (!sendsDigests || digests.known(index)) return
        const size = r.entry.size
        if (offset === 0 && into.length === 1 && into[0]!.length === size) return know(index, sha256(into[0]!))
        if (offset === 0) hashing = { index, hash: createHash("sha256"), at: 0 }
        // a first sending reads each file's bytes once, in order: anything else is not one
        if (hashing === undefined || hashing.index !== index || hashing.at !== offset) return
        for (const b of into) (hashing.hash.update(b), (hashing.at += b.length))
        if (hashing.at < size) return
        know(index, hashing.hash.digest())
        hashing = undefined
      }

      /**
       * Reads `length` bytes at `offset` of entry `index` into `into` (one positioned read), hashing a first sending;
       * undefined, or the file at fault and why. With `defer`, the version is checked later (`verify`): before the
       * pump lets anything else run, so a file changed since it was scanned still cancels before any answer or vote
       * is heard, at one fstat per turn instead of one per read. A deferred read is never a file's last (a run's
       * last burst is checked at once): no digest is known before its bytes are checked.
       */
      const readInto = (index: number, offset: number, length: number, into: ReadonlyArray<Uint8Array>, defer: boolean): Problem | undefined => {
        const r = records[index]
        const fault = spanFault(index, offset, length)
        if (r?.file === undefined || fault !== undefined) return { path: r?.entry.path ?? `entry ${index}`, reason: `cannot send ${fault ?? "a file no member needed"}` }
        const path = r.entry.path
        if (open?.index !== index) {
          const problem = verify()
          if (problem !== undefined) return problem
          closeReader()
          const reader = deps.store.openReaderNow(path, r.file.identity)
          if (reader instanceof StoreError) return { path, reason: reader.message }
          open = { index, reader }
        }
        const n = open.reader.readvNow(offset, into)
        if (n instanceof StoreError) return { path, reason: n.message }
        if (n !== length) return { path, reason: `changed after it was scanned: read ${n} bytes at ${offset}, expected ${length}` }
        unchecked = index
        const problem = defer ? undefined : verify()
        if (problem === undefined) hashSent(index, offset, into)
        return problem
      }

      /**
       * The small files of the next burst of the bundle stream, read whole at once into `whole` (`wholeFiles.ts`: one
       * addon call for them all): by entry, where each lies there and its digest, or the file at fault and why. A
       * small file has no run (`MIN_RUN_BLOCKS`): all its bytes go in the bundle stream, and a burst holds its pieces
       * and at most the rest of one file at either end, so `whole` has room for them all.
       */
      const whole = area.subarray(wholeAt)
      /** Where a small file lies in `whole`, and whether its digest was put (`digests`) as it was read. */
      type Whole = { readonly at: number; readonly digest: boolean } | Problem
      const wholeRead = new Map<number, Whole>()
      /** The digests of the small files read by a call (`readWhole`), grown as a call needs. */
      let wholeDigests = new Uint8Array(64 * SHA256_BYTES)
      const toRead: Array<WholeFile> = []
      const toReadIndices: Array<number> = []
      /** A small file as read: where it lies in `whole`, or why it cannot be sent as the manifest describes it. */
      const wholeOf = (index: number, i: number, f: WholeFile, read: WholeRead): Whole => {
        if (read instanceof StoreError) return { path: f.rel, reason: read.message }
        if (read.read !== f.version.size) return { path: f.rel, reason: `changed after it was scanned: read ${read.read} bytes at 0, expected ${f.version.size}` }
        const changed = changedSince(f.version, read.after)
        if (changed !== undefined) return { path: f.rel, reason: `changed after it was scanned: ${changed}` }
        if (read.hashed) digests.put(index, wholeDigests, i * SHA256_BYTES)
        return { at: f.at, digest: read.hashed }
      }
      /**
       * The small file whose pieces go on in the next burst, kept at the start of `whole` (read once, its digest of
       * that read), and the offset its next piece must have.
       */
      let carried: { readonly index: number; readonly read: Whole; readonly next: number } | undefined
      const readSmallFiles = () => {
        wholeRead.clear()
        toRead.length = 0
        toReadIndices.length = 0
        let room = 0
        const first = queue[0] !== undefined && "spans" in queue[0] ? queue[0].spans[0] : undefined
        if (carried !== undefined && first?.index === carried.index && first.offset === carried.next) {
          wholeRead.set(carried.index, carried.read)
          room = records[carried.index]!.entry.size
        }
        carried = undefined
        for (let q = 0; q < BURST && q < queue.length; q++) {
          const head = queue[q]!
          if (!("spans" in head)) break
          for (const span of head.spans) {
            const r = records[span.index]
            if (r?.file === undefined || r.entry.size >= smallBelow || wholeRead.has(span.index) || room + r.entry.size > whole.length) continue
            toRead.push({ rel: r.entry.path, identity: r.file.identity, version: r.file.version, at: room, hash: sendsDigests && !digests.known(span.index) })
            toReadIndices.push(span.index)
            wholeRead.set(span.index, { at: room, digest: false })
            room += r.entry.size
          }
        }
        if (toRead.length === 0) return
        if (toRead.length * SHA256_BYTES > wholeDigests.length) wholeDigests = new Uint8Array(toRead.length * SHA256_BYTES)
        const reads = readWhole(toRead, whole, wholeDigests)
        for (let i = 0; i < toRead.length; i++) wholeRead.set(toReadIndices[i]!, wholeOf(toReadIndices[i]!, i, toRead[i]!, reads[i]!))
      }

      /** The last piece laid out: its small file, if more of it is to come, is kept for the next burst (`carried`). */
      const carry = (span: Span) => {
        const read = wholeRead.get(span.index)
        const size = records[span.index]!.entry.size
        if (read === undefined || "path" in read || span.offset + span.length >= size) return
        whole.copyWithin(0, read.at, read.at + size)
        carried = { index: span.index, read: { at: 0, digest: read.digest }, next: span.offset + span.length }
      }

      /**
       * A piece of a small file read whole, copied into its Data at `p`: undefined, or the file at fault and why. Its
       * last piece of a first sending makes its digest known (a send's: `Digests` after the data).
       */
      const copyWhole = (span: Span, read: Whole, p: number): Problem | undefined => {
        if ("path" in read) return read
        const fault = spanFault(span.index, span.offset, span.length)
        const r = records[span.index]!
        if (fault !== undefined) return { path: r.entry.path, reason: `cannot send ${fault}` }
        // the packer lays no piece past the burst's Data; one that did would overwrite the small files read whole
        if (p + span.length > buffer.length) throw new RangeError(`a piece of ${r.entry.path} laid out past the burst (${p} + ${span.length} > ${buffer.length})`)
        area.copyWithin(p, wholeAt + read.at + span.offset, wholeAt + read.at + span.offset + span.length)
        if (read.digest && !digests.known(span.index) && span.offset + span.length === r.entry.size) (digests.know(span.index), digested.push(span.index))
        return undefined
      }

      /**
       * Lays out the Data of the bundle stream at the head of the queue (up to `BURST` of them) in the buffer, their
       * pieces copied from their small files read whole (`readSmallFiles`), a larger file's read straight in, as
       * `encode` would write them (`lengths`): how many, their bytes and their contents, or the file at fault and why.
       * A small file's digest is known once its last piece is laid out: the hash of the very bytes read for it.
       */
      const readBundle = (): { readonly count: number; readonly end: number; readonly contents: number } | Problem => {
        readSmallFiles()
        let count = 0
        let at = 0
        let contents = 0
        for (let head = queue[0]; count < BURST && head !== undefined && "spans" in head; head = queue[0]) {
          queue.shift()
          writeDataFixed(layout, at, txn, head.spans.length)
          let p = at + DATA_FIXED
          for (const span of head.spans) {
            writePieceHeader(layout, p, span.index, span.offset, span.length)
            p += PIECE_HEADER
            const read = wholeRead.get(span.index)
            const problem = read === undefined
              ? readInto(span.index, span.offset, span.length, [buffer.subarray(p, p + span.length)], false)
              : copyWhole(span, read, p)
            if (problem !== undefined) return problem
            p += span.length
            contents += span.length
          }
          lengths[count++] = p - at
          at = p
          if (count === BURST || queue[0] === undefined || !("spans" in queue[0])) carry(head.spans.at(-1)!)
        }
        return { count, end: at, contents }
      }

      /**
       * Reads the run's next blocks (up to `BURST`) straight into their Data laid out in the buffer: how many, or
       * the file at fault and why. A run that goes on is checked later (`readInto`); its last burst at once.
       */
      const readBurst = (run: Run): number | Problem => {
        const count = Math.min(BURST, (run.end - run.offset) / block)
        const problem = readInto(run.index, run.offset, count * block, count === BURST ? slots : slots.slice(0, count), run.offset + count * block < run.end)
        if (problem !== undefined) return problem
        for (let i = 0; i < count; i++) writeDataHeader(layout, i * segment, txn, run.index, run.offset + i * block, block)
        run.offset += count * block
        if (run.offset >= run.end) queue.shift()
        return count
      }

      /** Sends what the pump read, reports it to the machine and the pacer: the wait before the next send (ms). */
      const sent = (count: number, bytes: number) => {
        apply({ _tag: "Sent", count })
        const now = deps.now()
        const wait = job.pacer.take(bytes, now)
        contentsSent += bytes
        streamEnd = { position: job.pacer.sent(), at: now }
        probe(now)
        return wait
      }

      /**
       * One burst of a run, or one burst of the bundle stream: the share of a turn it took (`RUN_TURN_BURSTS`,
       * `TURN_BYTES`) and the wait after, or the problem.
       */
      const sendNext = (): { readonly share: number; readonly wait: number } | Problem => {
        const head = queue[0]!
        if (!("spans" in head)) {
          const count = readBurst(head)
          if (typeof count !== "number") return count
          for (const to of destinations()) deps.sendData(to, buffer.subarray(0, count * segment), segment)
          flushDigests(false)
          return { share: 1 / RUN_TURN_BURSTS, wait: sent(count, count * block) }
        }
        const bundle = readBundle()
        if ("path" in bundle) return bundle
        for (const to of destinations()) deps.sendBundle(to, buffer.subarray(0, bundle.end), lengths.subarray(0, bundle.count))
        flushDigests(false)
        return { share: bundle.contents / TURN_BYTES, wait: sent(bundle.count, bundle.contents) }
      }

      const pump = Effect.gen(function*() {
        let turn = 0
        while (true) {
          if (queue.length === 0) {
            turn = 0
            yield* dataReady.wait
            continue
          }
          const next = sendNext()
          if ("path" in next) {
            cancel(next.path, next.reason)
            continue
          }
          const { share, wait } = next
          turn += share
          if (wait <= 0 && turn < 1) continue
          const problem = verify()
          if (problem !== undefined) {
            cancel(problem.path, problem.reason)
            continue
          }
          turn = 0
          if (wait > 0) yield* Effect.sleep(Duration.millis(wait))
          else yield* yieldToEventLoop
        }
      })

      const held = () => ({
        items: queue.length,
        queuedBytes: queue.reduce((sum, q) => sum + ("spans" in q ? q.spans.reduce((t, p) => t + p.length, 0) : q.end - q.offset), 0),
        bufferBytes: buffer.length
      })

      return Effect.scoped(Effect.gen(function*() {
        yield* Effect.forkScoped(producer)
        yield* Effect.forkScoped(pump)
        return yield* Deferred.await(done)
      })).pipe(
        // broken off (the client went away): the members hear ABORT once; those that miss it discard at their timeout
        Effect.onInterrupt(() =>
          Effect.sync(() => {
            if (s !== undefined && s.phase !== "done") {
              apply({ _tag: "Cancel" })
              cancelTimer?.()
            }
            queue.length = 0
            closeReader()
            running.delete(txn)
          })
        )
      )
    })

  return {
    run,
    reply: (from, message) => running.get(message.txn)?.(from, message),
    resentBytes: () => resentBytes
  }
}

export const make = (mtu: number = DEFAULT_MTU) => Effect.gen(function*() {
  const budget = budgetFor(mtu)
  if (Either.isLeft(budget)) return yield* Effect.dieMessage(`--mtu ${budget.left}`)
  const wire = yield* Wire
  const store = yield* FileStore
  const timers = yield* Timers
  const sessions = yield* Sessions
  const seal = wire.sendNativeNow
  const sealData = wire.sendNativeSegmentsNow
  const sealBundle = wire.sendNativeEachNow
  return TxnSender.of(makeDriver({
    store,
    budget: budget.right,
    send: (to, message) => void seal?.(to, message),
    sendData: (to, bodies, segment) => sealData?.(to, TransferType.DATA, bodies, segment),
    sendBundle: (to, bodies, lengths) => sealBundle?.(to, TransferType.DATA, bodies, lengths),
    now: sessions.now,
    after: timers.after,
    rtt: sessions.rtt,
    // request ids start at random and never repeat within a run: unique per sender epoch, below 2^53
    nextTxn: () => wire.nextReqIdNow() as number as TxnId
  }))
})

/** `mtu` was checked with the daemon's settings (`--mtu`). */
export const layer = (mtu?: number) => Layer.effect(TxnSender, make(mtu))
