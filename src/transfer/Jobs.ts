/**
 * Runs jobs (`makuo send|sync|check`, or a console command) on the daemon's engine: send and sync hand the scan
 * of the tree to `SendEngine`, `--parallel` files at a time, each directory after everything inside it; check
 * hashes each file here and runs its check session, `--parallel` at a time; `--delete` and dsync run the DSYNC
 * sessions first. Per-host outcomes are reported as they happen, then a summary.
 */
import { Clock, Context, Duration, Effect, Layer, Option, Schedule, Stream } from "effect"
import { Members } from "../members/Members.js"
import { Wire } from "../net/Wire.js"
import { Flag } from "../protocol/v7/constants.js"
import { makeExclude, patternsForMembers } from "../store/exclude.js"
import { FileStore, type LocalEntry, StoreError } from "../store/FileStore.js"
import { utf8Length } from "../protocol/text.js"
import { splitRelative } from "../store/paths.js"
import { kindOf } from "../store/listing.js"
import { scan, type ScanItem, walk } from "../store/scan.js"
import { AllOrNothingUnavailable, AmbiguousTarget, InvalidPath, NoMembers, NothingToSend, PathOutsideBase, ScopeTooLarge, type SendRefused, UnknownTarget } from "./errors.js"
import { isRegular, type Mstat } from "./send/receiveMachine.js"
import { type RoundContext, type RoundTiming } from "./engine/rounds.js"
import { Sessions } from "./engine/Sessions.js"
import { makePacer } from "./pacer.js"
import { DelReceiver } from "./dsync/DelReceiver.js"
import { type DeleteReport, dsync } from "./dsync/dsync.js"
import { describeErrno } from "../protocol/errno.js"
import { DEFAULT_TIMEOUT, PROGRESS_EVERY, type SendEvent, type SendJob } from "../domain/job.js"
import type { HostOutcome, Outcome } from "../domain/outcome.js"
import { hostStates, type Progress } from "./progress.js"
import type { SendContext } from "./send/sendMachine.js"
import { checkFile } from "./check/checkFile.js"
import { makeChecksumPass, type Tracked } from "./checksumPass.js"
import { BURST, End, type FileToSend, type RunningJob, SendEngine } from "./send/SendEngine.js"
import { makePathsInFlight } from "./send/pathsInFlight.js"
import { MAX_PAYLOAD, MSTAT_FIXED } from "../protocol/v7/constants.js"
import { mapEffectUnordered } from "../mapEffectUnordered.js"
import { TxnSender, type TxnView } from "./txn/TxnSend.js"
import { fileOutcomes, removalOutcomes } from "./txn/txnReport.js"
import { MAX_WAIT_MS, type Target } from "./engine/rtt.js"
import type { Scope } from "./txn/messages.js"
import { MAX_SCOPE_BYTES, scopeBytes } from "../protocol/native/transferMessage.js"

/**
 * Why this job cannot run as one tree transaction (undefined: it can): the transaction needs a keyed daemon (its
 * messages travel sealed). A send (also with -n, --checksum, -r --delete, -n --delete), sync (also -n) and check
 * can; --delete without -r cannot: the member would remove a named directory's entries that the manifest lacks,
 * and without -r the manifest holds none of them, whether this server has them or not (the v7 DSYNC asks the
 * sender path by path). It runs as protocol v7 transfers (sealed too on a keyed daemon).
 */
export const notTransactional = (job: SendJob, keyed: boolean): string | undefined =>
  !keyed
    ? "this daemon runs unkeyed (protocol v7): transactions need a keyed daemon (--key-file)"
    : job.operation !== "send" && job.operation !== "sync" && job.operation !== "check"
    ? `${job.operation} does not run as a transaction yet`
    : job.delete && !job.recursive
    ? "--delete without -r does not run as a transaction yet"
    : undefined

/**
 * A transaction's scope must fit the manifest's first batch (`MAX_SCOPE_BYTES`): one that does not is refused
 * naming what to shorten, never carried by v7 transfers (which would remove outside the transaction).
 */
const scopeTooLarge = (job: SendJob, scope: Scope | undefined): ScopeTooLarge | undefined =>
  scope === undefined || scopeBytes(scope) <= MAX_SCOPE_BYTES ? undefined : new ScopeTooLarge({
    what: job.operation === "sync" ? "the sync's PATHs gone here" : "the --delete PATHs and --exclude patterns",
    bytes: scopeBytes(scope),
    limit: MAX_SCOPE_BYTES
  })

/**
 * What the members of a transaction remove by: under `send --delete` what they have under the paths sent that the
 * manifest lacks, the excludes spared as the sender's walk skipped them; under `sync` the named paths gone here,
 * each whole (`gone`); nothing otherwise.
 */
const scopeOf = (job: SendJob, base: string, rels: ReadonlyArray<string>, gone: ReadonlyArray<string>): Scope | undefined =>
  job.operation === "sync"
    ? (gone.length === 0 ? undefined : { roots: gone, excludes: [], named: true })
    : job.delete
    ? { roots: rels, excludes: patternsForMembers(base, job.excludes) }
    : undefined

export interface Activity {
  readonly active: ReadonlyArray<Progress>
  /** Since the daemon started: DATA blocks sent again after a NAK or MARK (protocol v7). */
  readonly retransmittedBlocks: number
  /** Since the daemon started: bytes of native Data sent again after a member's `Missing`. */
  readonly resentBytes: number
  /** Since the daemon started: members dropped from a transfer for silence. */
  readonly membersLost: number
}

export interface JobsShape {
  readonly activity: Effect.Effect<Activity>
  readonly run: (job: SendJob) => Stream.Stream<SendEvent, SendRefused>
}

export class Jobs extends Context.Tag("makuo/Jobs")<Jobs, JobsShape>() {}

/** Times a file that changed while it was sent is sent again before it is given up. */
export const MAX_RESENDS = 3

/** A SourceError's message for a named path that is not here (the control socket adds where it looked). */
export const NOT_FOUND = "no such file or directory"

/** makuosan's retransmission every 500 ms, and its 60 s (120 retries) before a member is given up. */
export const roundTiming: RoundTiming = { maxWait: MAX_WAIT_MS, timeout: Duration.toMillis(DEFAULT_TIMEOUT) }

const toMstat = (rel: string, e: LocalEntry): Mstat | string => {
  if (MSTAT_FIXED + utf8Length(rel) + utf8Length(e.linkTarget) > MAX_PAYLOAD) {
    return `path and link target exceed the ${MAX_PAYLOAD - MSTAT_FIXED} bytes protocol v7 allows`
  }
  const u32 = (x: number) => Math.max(0, Math.min(0xffff_ffff, x))
  return {
    _tag: "Mstat",
    mode: e.mode,
    uid: e.uid & 0xffff,
    gid: e.gid & 0xffff,
    size: e.size,
    mtime: u32(e.mtime),
    ctime: u32(e.ctime),
    path: rel,
    linkTarget: e.linkTarget,
    rdevHigh: Math.floor(e.rdev / 0x1_0000_0000),
    rdevLow: e.rdev % 0x1_0000_0000
  }
}

const absent = (rel: string): Mstat => ({
  _tag: "Mstat", mode: 0, uid: 0, gid: 0, size: 0, mtime: 0, ctime: 0, path: rel, linkTarget: "", rdevHigh: 0, rdevLow: 0
})

/** Paths given by the user, relative to the base (an absolute one must lie inside it). */
export const relativePaths = (base: string, paths: ReadonlyArray<string>) =>
  Effect.forEach(paths, (p): Effect.Effect<string, PathOutsideBase | InvalidPath> => {
    const inside = p.startsWith("/") ? (p === base ? "." : p.startsWith(base + "/") ? p.slice(base.length + 1) : undefined) : p
    if (inside === undefined) return Effect.fail(new PathOutsideBase({ path: p, base }))
    const parts = splitRelative(inside === "" ? "." : inside)
    return parts._tag === "Left"
      ? Effect.fail(new InvalidPath({ path: p, reason: parts.left.reason }))
      : Effect.succeed(parts.right.length === 0 ? "." : parts.right.join("/"))
  })

export const make = Effect.gen(function*() {
  const wire = yield* Wire
  const store = yield* FileStore
  const members = yield* Members
  const active = new Set<Progress>()
  const lifetime = { membersLost: 0 }
  /** Runs one check with its progress visible in `status` while it lasts (sends are the engine's to show). */
  const tracked: Tracked = (path, operation, f) =>
    Effect.flatMap(Clock.currentTimeMillis, (startedAt) => {
      const p: Progress = { path, operation, startedAt, blocks: 0, sent: 0, peers: undefined }
      active.add(p)
      return f(p).pipe(Effect.ensuring(Effect.sync(() => active.delete(p))))
    })
  const deletions = yield* DelReceiver
  const engine = yield* SendEngine
  const sessions = yield* Sessions
  const checksumPass = yield* makeChecksumPass(tracked)
  const txn = yield* TxnSender
  // the daemon's DATA rate: it learns its path once for every job
  const pacer = makePacer(undefined)

  /** Nothing at `rel` here (an unreadable path is not gone). */
  const isGone = (rel: string) => {
    const found = store.inspectNow(rel)
    return !(found instanceof StoreError) && Option.isNone(found)
  }

  /**
   * `-t` names a member by its address, or by its name when exactly one member announces it and it is not this
   * daemon's own: a name two hosts announce could pick the wrong one (anyone may announce any name).
   */
  const resolveTargets = (job: SendJob) =>
    Effect.flatMap(members.list, (list) => {
      if (job.targets.length === 0) return Effect.succeed(list.map((m): Target => m))
      const chosen = Effect.forEach(job.targets, (target): Effect.Effect<Target, UnknownTarget | AmbiguousTarget> => {
        const byAddress = list.find((x) => x.address === target)
        if (byAddress !== undefined) return Effect.succeed(byAddress)
        const named = list.filter((x) => x.host === target)
        const ownName = target === members.self.host
        if (named.length > 1 || (named.length === 1 && ownName)) {
          return Effect.fail(new AmbiguousTarget({ host: target, addresses: named.map((x) => x.address), ownName }))
        }
        return named.length === 1 ? Effect.succeed(named[0]!) : Effect.fail(new UnknownTarget({ host: target, members: list.map((x) => x.host) }))
      })
      // a member named twice (by name and by address) is sent to once
      return Effect.map(chosen, (targets) => [...new Map(targets.map((t) => [t.address, t])).values()])
    })

  const run = (job: SendJob): Stream.Stream<SendEvent, SendRefused> =>
    Stream.unwrap(
      Effect.gen(function*() {
        const rels = yield* relativePaths(store.base, job.paths)
        if (rels.length === 0 && !job.recursive) return yield* Effect.fail(new NothingToSend())
        // `sync`: the named paths gone here are removed on the members
        const gone = job.operation === "sync" ? rels.filter((rel) => rel !== "." && isGone(rel)) : []
        const scope = scopeOf(job, store.base, rels, gone)
        const oldPath = notTransactional(job, wire.sendNativeNow !== undefined)
        if (job.allOrNothing === true && oldPath !== undefined) return yield* Effect.fail(new AllOrNothingUnavailable({ reason: oldPath }))
        const tooLarge = oldPath === undefined ? scopeTooLarge(job, scope) : undefined
        if (tooLarge !== undefined) return yield* Effect.fail(tooLarge)
        const initial = yield* resolveTargets(job)
        if (initial.length === 0) return yield* Effect.fail(new NoMembers())
        const started = yield* Clock.currentTimeMillis
        const lostHosts = new Set<string>()
        const totals = {
          files: 0, bytes: 0, updated: 0, skipped: 0, readonly: 0, deleted: 0, same: 0, different: 0, missing: 0, failed: 0, lost: 0, sourceErrors: 0
        }
        const rounds: RoundContext = { maxWait: MAX_WAIT_MS, timeout: Duration.toMillis(job.timeout), rtt: sessions.rtt }
        const context: Omit<SendContext, "rtt"> = {
          maxWait: rounds.maxWait,
          timeout: rounds.timeout,
          burst: BURST,
          // `--rate` caps this job's own pacer; it starts from what the daemon has learned of its path
          pacer: job.rateMbit === undefined ? pacer : makePacer((job.rateMbit * 1_000_000) / 8 / 1000, pacer.rate())
        }
        const flags = (job.dryRun ? Flag.DRYRUN : 0)

        const targetsNowSync = () => initial.filter((t) => !lostHosts.has(t.address) && members.at(t.address) !== undefined)
        const targetsNow = Effect.sync(targetsNowSync)

        const unicast = job.targets.length > 0
        const checksum = job.checksum && oldPath !== undefined
          ? checksumPass({ operation: job.operation, dryRun: job.dryRun, parallel: job.parallel, targets: initial, rounds, context })
          : undefined

        /** Counts the outcomes; the event to report, if any (for a file every host skipped only a count, or nothing, unless asked). */
        const account = (rel: string, hosts: ReadonlyArray<HostOutcome>, bytes: number): SendEvent | undefined => {
          totals.files++
          countOutcomes(hosts)
          if (hosts.some((h) => h.outcome === "updated")) totals.bytes += bytes
          if (!job.reportSkipped && hosts.length > 0 && hosts.every((h) => h.outcome === "skipped")) {
            return job.countSkipped === true ? { _tag: "Skipped", files: 1, hosts } : undefined
          }
          return { _tag: "File", path: rel, hosts, ...(bytes > 0 ? { size: bytes } : {}) }
        }

        const countOutcomes = (hosts: ReadonlyArray<HostOutcome>) => {
          for (const h of hosts) {
            if (h.outcome === "lost") (lostHosts.add(h.address), totals.lost++, lifetime.membersLost++)
            else if (h.outcome === "failed") totals.failed++
            else if (h.outcome === "skipped") totals.skipped++
            else if (h.outcome === "readonly") totals.readonly++
            else if (h.outcome === "updated" || h.outcome === "would-update") totals.updated++
            else if (h.outcome === "deleted" || h.outcome === "would-delete") totals.deleted++
            else if (h.outcome === "same" || h.outcome === "different" || h.outcome === "missing") totals[h.outcome]++
          }
        }

        const check = (rel: string) =>
          Effect.gen(function*() {
            const digest = yield* Effect.either(store.digest(rel))
            if (digest._tag === "Left") return sourceError(rel, `unreadable here: ${digest.left.message}`)
            const targets = yield* targetsNow
            const hosts = yield* tracked(rel, "check", (p) =>
              checkFile(sessions, rounds, { reqid: wire.nextReqIdNow(), path: rel, digest: digest.right, targets, unicast }, p))
            return account(rel, hosts, 0)
          })

        const sourceError = (path: string, message: string, directory?: true): SendEvent => {
          totals.sourceErrors++
          return { _tag: "SourceError", path, message, ...(directory ? { directory } : {}) }
        }
        const skippedDirectory = (path: string) => sourceError(path, "skipping directory (use -r)", true)
        /** What a scanned entry that is no regular file amounts to in a check: as v7's check says (a recursive scan: nothing). */
        const notCompared = (rel: string, kind: LocalEntry["kind"]) =>
          job.recursive ? undefined : kind === "directory" ? skippedDirectory(rel) : sourceError(rel, "not a regular file: nothing to compare")

        /** `--delete`: members delete what we lack under each path before anything is sent. */
        const deleteFirst = Stream.fromIterableEffect(Effect.gen(function*() {
          const events: Array<SendEvent | undefined> = []
          // a transaction's removals are its own (`sendTransaction`)
          if (!(job.delete && job.operation === "send" && oldPath !== undefined) && job.operation !== "dsync") return []
          for (const rel of rels.length === 0 ? ["."] : rels) {
            const reports: Array<DeleteReport> = []
            const { broken, lost } = yield* dsync(sessions, deletions, rounds, {
              reqid: wire.nextReqIdNow(),
              path: rel,
              recursive: job.recursive,
              dryRun: job.dryRun,
              excludes: patternsForMembers(store.base, job.excludes),
              targets: yield* targetsNow,
              unicast
            }, (r) => void reports.push(r))
            // a path counts once, with every host that deleted it (the summary's files add up)
            const byPath = new Map<string, Array<HostOutcome>>()
            for (const r of reports) {
              const outcome: Outcome = r.errno !== 0 ? "failed" : job.dryRun ? "would-delete" : "deleted"
              const detail = r.errno !== 0 ? { detail: `delete failed: ${describeErrno(r.errno)}`, errno: r.errno } : {}
              byPath.set(r.path, [...(byPath.get(r.path) ?? []), { host: r.host, address: r.address, outcome, ...detail }])
            }
            for (const [path, hosts] of byPath) events.push(account(path, hosts, 0))
            for (const t of lost) events.push(account(rel, [{ host: t.host, address: t.address, outcome: "lost", detail: "no answer to the delete scan" }], 0))
            for (const t of broken) {
              events.push(account(rel, [{ host: t.host, address: t.address, outcome: "failed", detail: "delete scan broken off: this host heard no answer from us" }], 0))
            }
          }
          return events.filter((e): e is SendEvent => e !== undefined)
        }))

        /** What a scanned item amounts to: a file to send, or an event reported at once (undefined: nothing). */
        const fileOf = (item: ScanItem): FileToSend | SendEvent | undefined => {
          if (item._tag === "Missing") {
            // `sync PATH` of a path that is gone here: delete it on the members (makuosan-v7.md §5.2.7)
            return job.operation === "sync"
              ? { mstat: absent(item.rel), flags: flags | Flag.SYNC, targets: [], identity: undefined }
              : sourceError(item.rel, NOT_FOUND)
          }
          if (item._tag === "Problem") return sourceError(item.rel, item.message)
          if (item.entry.kind === "other") return sourceError(item.rel, "skipped: not a regular file, directory or symlink")
          if (item.entry.kind === "directory" && !job.recursive && job.skipDirectories === true) return skippedDirectory(item.rel)
          const mstat = toMstat(item.rel, item.entry)
          return typeof mstat === "string" ? sourceError(item.rel, mstat) : { mstat, flags, targets: [], identity: item.entry.identity }
        }

        /**
         * send and sync: the scan feeds the daemon's transfer engine, `--parallel` files at a time; a directory waits
         * (held, while the files after it go on) until nothing below it is in flight.
         */
        const sendAll = Stream.asyncPush<SendEvent>((emit) => {
          const exclude = makeExclude(store.base, job.excludes)
          const items = walk(store, { paths: rels, recursive: job.recursive, exclude })
          const inFlight = makePathsInFlight()
          const held: Array<FileToSend> = []
          // files that changed while they were sent, scanned again, and how often each was sent again
          const again: Array<FileToSend> = []
          const resent = new Map<string, number>()
          // for a live display: what the scan found so far, what has finished
          const found = { files: 0, bytes: 0, scanning: true }
          const done = { files: 0, bytes: 0 }
          const starting = (f: FileToSend): FileToSend => ({ ...f, targets: targetsNowSync() })
          const next = (): FileToSend | undefined | typeof End => {
            const retry = again.shift()
            if (retry !== undefined) return starting(retry)
            for (let i = 0; i < held.length; i++) {
              if (!inFlight.busyBelow(held[i]!.mstat.path)) return starting(held.splice(i, 1)[0]!)
            }
            while (true) {
              const item = items.next()
              if (item.done === true) {
                found.scanning = false
                // a file still in flight may yet be sent again (it changed while it was sent)
                return held.length === 0 && inFlight.isEmpty() ? End : undefined
              }
              const f = fileOf(item.value)
              if (f === undefined) continue
              if ("_tag" in f) {
                emit.single(f)
                continue
              }
              found.files++
              if (isRegular(f.mstat.mode)) found.bytes += f.mstat.size
              inFlight.add(f.mstat.path)
              if (kindOf(f.mstat.mode) === "directory" && inFlight.busyBelow(f.mstat.path)) held.push(f)
              else return starting(f)
            }
          }
          /**
           * A file that changed while it was sent reached no member (the transfer was broken off before they
           * commit): the file as it is now is sent again, `MAX_RESENDS` times at most, and each host's failure is
           * reported. Undefined when it is sent again, else the hosts to report as the file's outcome.
           */
          const resendChanged = (rel: string, hosts: ReadonlyArray<HostOutcome>): ReadonlyArray<HostOutcome> | undefined => {
            const noted = (what: string) =>
              hosts.map((h): HostOutcome => (h.outcome === "failed" ? { ...h, detail: `${h.detail}; ${what}` } : h))
            const times = resent.get(rel) ?? 0
            const now = times < MAX_RESENDS ? fileOf(walk(store, { paths: [rel], recursive: false, exclude }).next().value!) : undefined
            if (now !== undefined && !("_tag" in now)) {
              resent.set(rel, times + 1)
              again.push(now)
              // each host's failure counts; the file counts once, when its last attempt is reported
              const failures = noted("sent again")
              countOutcomes(failures)
              emit.single({ _tag: "File", path: rel, hosts: failures })
              return undefined
            }
            // gone or unreadable now: that is reported too
            if (now !== undefined) emit.single(now)
            resent.delete(rel)
            return noted("not sent")
          }
          const running = Effect.acquireRelease(
            Effect.sync(() =>
              engine.start({
                operation: job.operation,
                unicast,
                window: Math.max(1, job.parallel),
                context,
                next,
                finished: (file, reported, changed) => {
                  if (!changed) resent.delete(file.mstat.path)
                  const hosts = changed ? resendChanged(file.mstat.path, reported) : reported
                  if (hosts === undefined) return
                  inFlight.remove(file.mstat.path)
                  done.files++
                  if (isRegular(file.mstat.mode)) done.bytes += file.mstat.size
                  if (checksum?.hold({ file, hosts }) === true) return
                  const e = account(file.mstat.path, hosts, isRegular(file.mstat.mode) ? file.mstat.size : 0)
                  if (e !== undefined) emit.single(e)
                },
                ended: () => emit.end()
              })
            ),
            (job) => Effect.sync(job.cancel)
          )
          const report = (job: RunningJob): SendEvent => ({
            _tag: "Progress",
            files: done.files,
            bytes: done.bytes,
            foundFiles: found.files,
            foundBytes: found.bytes,
            scanning: found.scanning,
            inFlight: job.inFlight().map((p) => ({ path: p.path, blocks: p.blocks, sent: p.sent, hosts: hostStates(p) }))
          })
          return job.progress
            ? Effect.flatMap(running, (r) => Effect.forkScoped(Effect.repeat(Effect.sync(() => emit.single(report(r))), Schedule.spaced(PROGRESS_EVERY))))
            : running
        }, { bufferSize: "unbounded" })

        /**
         * A keyed daemon's send or check: the scan runs as one transaction (a dry run and a check stage nothing and
         * end with ABORT); each file's outcome per host is known once every member has voted and the transaction
         * committed or aborted.
         */
        const sendTransaction = Stream.asyncPush<SendEvent>((emit) => {
          const items = walk(store, { paths: rels, recursive: job.recursive, exclude: makeExclude(store.base, job.excludes) })
          const checking = job.operation === "check"
          const next = () => {
            for (let item = items.next(); item.done !== true; item = items.next()) {
              const v = item.value
              if (v._tag === "Missing") {
                // a named path gone here that `sync` removes on the members is no error
                if (!gone.includes(v.rel)) emit.single(sourceError(v.rel, NOT_FOUND))
              } else if (v._tag === "Problem") return { rel: v.rel, problem: v.message }
              else if (checking && v.entry.kind !== "file") {
                // check compares regular files; in a recursive scan the rest is simply not compared
                const e = notCompared(v.rel, v.entry.kind)
                if (e !== undefined) emit.single(e)
              } else if (v.entry.kind === "directory" && !job.recursive && job.skipDirectories === true) emit.single(skippedDirectory(v.rel))
              else return { rel: v.rel, entry: v.entry }
            }
            return undefined
          }
          let view: TxnView | undefined
          // the live display: the entries in the manifest so far, the phase, the members it waits for
          const progress = Effect.repeat(
            Effect.sync(() => {
              if (view === undefined) return
              const p = view.progress()
              emit.single({
                _tag: "Progress",
                files: 0,
                bytes: 0,
                foundFiles: p.entries,
                foundBytes: 0,
                scanning: p.phase === "manifest",
                inFlight: [{ path: `(transaction: ${p.phase})`, blocks: 0, sent: 0, hosts: p.awaiting.map((t) => ({ host: t.host, state: "awaited" })) }]
              })
            }),
            Schedule.spaced(PROGRESS_EVERY)
          )
          return Effect.gen(function*() {
            if (job.progress) yield* Effect.forkScoped(progress)
            // `status` shows the transaction as one transfer in flight, named by the paths sent
            const sentPaths = rels.length === 0 ? "." : rels.join(" ")
            const result = yield* tracked(`(transaction) ${sentPaths}`, checking ? "check" : "send", () =>
              txn.run({
                targets: targetsNowSync(),
                unicast,
                allOrNothing: job.allOrNothing === true,
                ...(checking ? { purpose: "check" as const } : job.dryRun ? { purpose: "dryRun" as const } : {}),
                checksum: job.checksum,
                timeout: rounds.timeout,
                pacer: context.pacer,
                next,
                ...(scope === undefined ? {} : { scope }),
                problem: (rel, message) => emit.single(sourceError(rel, message)),
                started: (v) => void (view = v)
              }))
            if (result.cancelled !== undefined) {
              emit.single(sourceError(result.cancelled.path, `${result.cancelled.reason}: the transaction was aborted on every member`))
            }
            // removals first, as the v7 --delete reports them before what it sends; emitted as one array, not an
            // emit (a queue offer and a wake-up) per file
            const events: Array<SendEvent> = []
            for (const outcomes of [removalOutcomes(result, sentPaths), fileOutcomes(result)]) {
              for (const f of outcomes) {
                // a check moves no bytes
                const e = account(f.path, f.hosts, checking ? 0 : f.size ?? 0)
                if (e !== undefined) events.push(e)
              }
            }
            emit.array(events)
            emit.end()
          }).pipe(Effect.forkScoped)
        }, { bufferSize: "unbounded" })

        const compareSkipped = checksum === undefined ? Stream.empty : checksum.compared.pipe(
          Stream.map(({ file, hosts }) => account(file.mstat.path, hosts, file.mstat.size)),
          Stream.filter((e): e is SendEvent => e !== undefined)
        )

        const checkAll = scan(store, { paths: rels, recursive: job.recursive, exclude: makeExclude(store.base, job.excludes) }).pipe(
          mapEffectUnordered(Math.max(1, job.parallel), (item) => {
            if (item._tag === "Missing") return Effect.succeed(sourceError(item.rel, NOT_FOUND))
            if (item._tag === "Problem") return Effect.succeed(sourceError(item.rel, item.message))
            // check compares regular files; in a recursive scan the rest is simply not compared
            if (item.entry.kind === "file") return check(item.rel)
            return Effect.succeed(notCompared(item.rel, item.entry.kind))
          }),
          Stream.filter((e): e is SendEvent => e !== undefined)
        )

        const events = job.operation === "dsync"
          ? Stream.empty
          : oldPath === undefined
          ? sendTransaction
          : job.operation === "check"
          ? checkAll
          : Stream.concat(sendAll, compareSkipped)
        const summary = Effect.map(Clock.currentTimeMillis, (now): SendEvent => ({
          _tag: "Summary",
          summary: { ...totals, hosts: initial.length, milliseconds: now - started }
        }))
        return Stream.concat(Stream.concat(deleteFirst, events), Stream.fromEffect(summary))
      })
    )

  return Jobs.of({
    activity: Effect.sync(() => {
      const sends = engine.activity()
      return {
        active: [...active, ...sends.active],
        retransmittedBlocks: sends.retransmittedBlocks,
        resentBytes: txn.resentBytes(),
        membersLost: lifetime.membersLost
      }
    }),
    run
  })
})

export const layer = Layer.effect(Jobs, make)


