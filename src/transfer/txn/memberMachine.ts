/**
 * A member's side of a native tree transaction (docs/transactions.md), one per transaction and sender, as a
 * state machine without I/O. Each manifest batch is looked up by the driver (`Lookup` → `LookedUp`: per entry
 * nothing, its metadata, or its contents) and answered with a `Needs` bitmap; the blocks of the bundle stream
 * it needs are written to temps (`Write`) and each entry complete is checked (`Stage` → `Staged`); `Prepare` is
 * answered with the blocks still missing, `Busy`, or the vote, which also goes unsolicited once the last entry
 * is staged (and, under `--delete`, the driver's scan has listed what to remove: `Scan` → `Scanned`).
 * `Commit` after `Prepared` switches everything at once (`Switch` → `Switched`); `Abort`, or a
 * `Commit` it did not vote for, discards everything. Duplicates get the same answer and change nothing.
 * A dry run or a check (the manifest's `purpose`) stages nothing: each batch is answered with what would change
 * (a check: `Verify` → `Verified`, each file compared by its SHA-256), the vote names the entries that could not be
 * looked up, and it never switches.
 */
import { removalBatches } from "../../protocol/native/budget.js"
import type { Machine } from "../engine/machine.js"
import {
  bitmapFor,
  blocksOf,
  type Entry,
  type Failure,
  type FileDigest,
  hasBit,
  type Purpose,
  MAX_DIGEST_ASKS,
  MAX_FAILURES,
  MAX_SPANS,
  type Scope,
  setBit,
  type Span,
  type ToMember,
  type ToSender,
  type TxnId
} from "./messages.js"
import { EINVAL } from "../../protocol/errno.js"
import { sha256 } from "../../sha256.js"

/**
 * What an entry of the manifest takes here: nothing, its metadata only (staged locally), its contents; or its
 * metadata staged again though the same now (a directory: a rename under it changes its times), not a change.
 */
export type Need = "none" | "metadata" | "contents" | "reapply"

/** A check's finding for a file: the same contents here, other contents, no file, or the errno that kept it unread. */
export type Finding = "same" | "differs" | "missing" | { readonly errno: number }

/** A batch's answer: the contents it needs, and every entry it changes (those included). */
interface Answer {
  readonly bitmap: Uint8Array
  readonly changes: Uint8Array
}

/** Blocks whose bits fit a number's bitwise operations: a file of ~40 KiB at the default MTU, no bitmap allocated for it. */
const BITS = 31

const isHeld = (n: Needed, b: number) => (n.held === undefined ? ((n.bits >>> b) & 1) === 1 : hasBit(n.held, b))
const markHeld = (n: Needed, b: number) => void (n.held === undefined ? (n.bits |= 1 << b) : setBit(n.held, b))

const RECEIVING = 0
const STAGING = 1
const STAGED = 2
const FAILED = 3

/** One entry this member needs: ~50 bytes besides the manifest's entry object it refers to. */
interface Needed {
  readonly index: number
  readonly entry: Entry
  /** Blocks not yet written. */
  lacking: number
  /** The blocks written, a bit each: in `bits` for an entry of up to `BITS` blocks (every small file), else in `held`. */
  bits: number
  readonly held: Uint8Array | undefined
  /**
   * The SHA-256 its staged contents must have: the manifest's, or the sender's `Digests` after its data (undefined
   * until then: the entry is not staged without it). Only for contents.
   */
  digest: Uint8Array | undefined
  state: typeof RECEIVING | typeof STAGING | typeof STAGED | typeof FAILED
}

export type State = "receiving" | "prepared" | "failed" | "switching" | "committed" | "aborted"

export interface MemberSession {
  readonly txn: TxnId
  /** Bytes of a block of the bundle stream. */
  readonly block: number
  state: State
  /** The `Needs` bitmaps of every batch looked up, by batch: sent again for a duplicate batch. */
  readonly answers: Map<number, Answer>
  /** The batches whose lookup is out. */
  readonly looking: Map<number, { readonly first: number; readonly entries: ReadonlyArray<Entry> }>
  readonly needed: Map<number, Needed>
  /**
   * The entries of `needed` still receiving: the vote waits for none, told without a walk over `needed` (each
   * repair staged after a `Prepare` asks, and a walk each time would be quadratic in the transaction's entries).
   */
  receiving: number
  /** `Stage` actions not yet answered. */
  staging: number
  readonly failures: Array<Failure>
  failedCount: number
  /** The manifest's last batch, once seen. */
  lastBatch: number | undefined
  /** A dry run or a check: nothing is staged, nothing switched. Absent: a send. */
  purpose: Purpose | undefined
  /** `--checksum`: the lookup compares contents by SHA-256. */
  checksum: boolean
  /** The highest batch answered: with `answers.size`, tells whether every batch up to the last is in. */
  highestBatch: number
  /** `--delete`: the driver scans for removals once every batch is looked up. */
  deleting: boolean
  scan: "none" | "scanning" | "done"
  /** Paths to remove in the switch. */
  removals: ReadonlyArray<string>
  /** What the manifest's first batch says to scan (`--delete`). */
  scope: Scope | undefined
  /** The removals as the `Removals` datagrams sent before each `Prepared`. */
  reports: ReadonlyArray<ToSender>
  /** A `Prepare` came: the vote goes as soon as it is ready. */
  asked: boolean
  /** The switch's errno. */
  errno: number
  /** Bytes of Data contents received (needed or not, repeats included): what a `Progress` reports. */
  received: number
}

export type Event =
  | { readonly _tag: "Message"; readonly message: ToMember }
  /**
   * The driver's answer to `Lookup`, one need per entry of the batch; `errnos` (a dry run): the errno of each
   * entry that could not be looked up (0: none), which a send would find at `Stage`.
   */
  | { readonly _tag: "LookedUp"; readonly batch: number; readonly needs: ReadonlyArray<Need>; readonly errnos?: ReadonlyArray<number> }
  /** The driver's answer to `Verify`, one finding per entry of the batch. */
  | { readonly _tag: "Verified"; readonly batch: number; readonly findings: ReadonlyArray<Finding> }
  | { readonly _tag: "Staged"; readonly index: number; readonly errno: number }
  /** The driver's answer to `Scan`: the paths to remove, or the errno that broke the scan off. */
  | { readonly _tag: "Scanned"; readonly removals: ReadonlyArray<string>; readonly errno: number }
  /**
   * The session timeout passed with no word from the sender (it died): a transaction not switched is discarded,
   * and the driver forgets it.
   */
  | { readonly _tag: "Expired" }
  /**
   * 0, or the errno of a step of the switch that failed (the others done); `kept`: paths listed for removal that
   * the switch left (a directory something came into after the scan).
   */
  | { readonly _tag: "Switched"; readonly errno: number; readonly kept?: ReadonlyArray<string> }

export type Action =
  | { readonly _tag: "Reply"; readonly message: ToSender }
  /** What each entry takes here; `checksum`: a file's contents compared by SHA-256 rather than size and mtime. */
  | { readonly _tag: "Lookup"; readonly batch: number; readonly entries: ReadonlyArray<Entry>; readonly checksum: boolean }
  /** A check: compare each file here with the entry (size, then SHA-256), changing nothing. */
  | { readonly _tag: "Verify"; readonly batch: number; readonly entries: ReadonlyArray<Entry> }
  /** Write these bytes at `offset` of the entry's temp beside its target (creating it): nothing visible. */
  | { readonly _tag: "Write"; readonly index: number; readonly entry: Entry; readonly offset: number; readonly bytes: Uint8Array }
  /**
   * The entry's temp is complete (or it needs only its metadata): check size and SHA-256 (`digest`, the sender's
   * for these contents), apply the metadata.
   */
  | { readonly _tag: "Stage"; readonly index: number; readonly entry: Entry; readonly digest?: Uint8Array }
  /**
   * Every batch is looked up (`--delete`): list what is here under the scope's roots that the manifest lacks
   * (its excludes spared), without removing anything; no scope (the first batch lacked it) fails the scan.
   */
  | { readonly _tag: "Scan"; readonly scope: Scope | undefined }
  /** Journal the renames and removals outside the base, then put every staged entry in place and remove at once. */
  | { readonly _tag: "Switch"; readonly entries: ReadonlyArray<Entry>; readonly removals: ReadonlyArray<string> }
  /** Remove the temps of these entries. */
  | { readonly _tag: "Discard"; readonly entries: ReadonlyArray<Entry> }

/** A session opens on a `Manifest` only; anything else of a transaction it does not hold is answered `Unknown`. */
export const opens = (message: ToMember) => message._tag === "Manifest"

export const make = (txn: TxnId, block: number): MemberSession => ({
  txn,
  block,
  state: "receiving",
  answers: new Map(),
  looking: new Map(),
  needed: new Map(),
  receiving: 0,
  staging: 0,
  failures: [],
  failedCount: 0,
  lastBatch: undefined,
  purpose: undefined,
  checksum: false,
  highestBatch: -1,
  deleting: false,
  scan: "none",
  removals: [],
  scope: undefined,
  reports: [],
  asked: false,
  errno: 0,
  received: 0
})

type Out = Array<Action>

const reply = (_: MemberSession, out: Out, message: ToSender) => void out.push({ _tag: "Reply", message })

const stage = (s: MemberSession, n: Needed, out: Out) => {
  n.state = STAGING
  s.receiving--
  s.staging++
  out.push(n.digest === undefined ? { _tag: "Stage", index: n.index, entry: n.entry } : { _tag: "Stage", index: n.index, entry: n.entry, digest: n.digest })
}

/** An empty file's contents need no data and no `Digests`: their SHA-256 is known. */
const EMPTY = sha256(new Uint8Array(0))

const needs = (s: MemberSession, batch: number, answer: Answer): ToSender => ({ _tag: "Needs", txn: s.txn, batch, ...answer })

const onManifest = (s: MemberSession, m: Extract<ToMember, { _tag: "Manifest" }>, out: Out) => {
  const answer = s.answers.get(m.batch)
  if (answer !== undefined) return reply(s, out, needs(s, m.batch, answer))
  // a batch beyond the last (only a buggy sender's) would stage, after the scan, what it may have listed for removal
  if (s.state !== "receiving" || s.looking.has(m.batch) || (s.lastBatch !== undefined && m.batch > s.lastBatch)) return
  if (m.last) s.lastBatch = m.batch
  s.deleting = m.delete
  // the scope travels in batch 0 (docs/transactions.md): one on another batch (a buggy sender's) would widen what is removed
  if (m.batch === 0 && m.scope !== undefined) s.scope = m.scope
  s.purpose = m.purpose
  s.checksum = m.checksum === true
  s.looking.set(m.batch, { first: m.first, entries: m.entries })
  out.push(
    s.purpose === "check"
      ? { _tag: "Verify", batch: m.batch, entries: m.entries }
      : { _tag: "Lookup", batch: m.batch, entries: m.entries, checksum: s.checksum }
  )
}

/** The batch a lookup answers, taken off the lookups out, with its bitmaps to fill; undefined for a late or unknown answer. */
const lookedUp = (s: MemberSession, batch: number) => {
  const b = s.looking.get(batch)
  if (b === undefined || s.state !== "receiving") return undefined
  s.looking.delete(batch)
  return { ...b, answer: { bitmap: bitmapFor(b.entries.length), changes: bitmapFor(b.entries.length) } }
}

/** The batch is answered: its `Needs` goes out (and the vote, asked for already, when nothing else is left). */
const answered = (s: MemberSession, batch: number, answer: Answer, out: Out) => {
  s.answers.set(batch, answer)
  s.highestBatch = Math.max(s.highestBatch, batch)
  reply(s, out, needs(s, batch, answer))
  if (s.asked) ready(s, out)
}

const onLookedUp = (s: MemberSession, e: Extract<Event, { _tag: "LookedUp" }>, out: Out) => {
  const batch = lookedUp(s, e.batch)
  if (batch === undefined) return
  const { bitmap, changes } = batch.answer
  batch.entries.forEach((entry, i) => {
    const need = e.needs[i] ?? "none"
    if (need === "none") return
    if (need !== "reapply") setBit(changes, i)
    if (need === "contents") setBit(bitmap, i)
    const index = batch.first + i
    // a dry run stages nothing: an entry that cannot be looked up fails now, as its Stage would
    if (s.purpose !== undefined) return void ((e.errnos?.[i] ?? 0) !== 0 && fail(s, index, e.errnos![i]!))
    const contents = need === "contents" && entry.type === "file"
    const blocks = contents ? blocksOf(entry.size, s.block) : 0
    const digest = contents ? entry.digest ?? (entry.size === 0 ? EMPTY : undefined) : undefined
    const n: Needed = { index, entry, lacking: blocks, bits: 0, held: blocks > BITS ? bitmapFor(blocks) : undefined, digest, state: RECEIVING }
    // an index a batch named already (only a buggy sender's overlapping batches) replaces its entry: counted once
    if (s.needed.get(index)?.state === RECEIVING) s.receiving--
    s.needed.set(n.index, n)
    s.receiving++
    if (blocks === 0 && (!contents || digest !== undefined)) stage(s, n, out)
  })
  answered(s, e.batch, batch.answer, out)
  if (!s.deleting || s.scan !== "none" || s.lastBatch === undefined) return
  if (s.highestBatch > s.lastBatch) {
    // a batch beyond the last (a buggy sender): no telling what the manifest is, so nothing is removed
    s.scan = "done"
    // a manifest with a batch beyond its last: the scan for removals fails with it
    fail(s, -1, EINVAL)
    if (s.asked) ready(s, out)
  } else if (s.answers.size === s.lastBatch + 1) {
    // every batch 0…last: a scan with one missing would list its paths for removal
    s.scan = "scanning"
    out.push({ _tag: "Scan", scope: s.scope })
  }
}

const onVerified = (s: MemberSession, e: Extract<Event, { _tag: "Verified" }>, out: Out) => {
  const batch = lookedUp(s, e.batch)
  if (batch === undefined) return
  const { bitmap, changes } = batch.answer
  batch.entries.forEach((_, i) => {
    const finding = e.findings[i] ?? "same"
    if (finding === "same") return
    setBit(changes, i)
    // an unreadable file is not known to be the same: it differs, and the vote says why
    if (finding !== "missing") setBit(bitmap, i)
    if (typeof finding === "object") fail(s, batch.first + i, finding.errno)
  })
  answered(s, e.batch, batch.answer, out)
}

const onData = (s: MemberSession, m: Extract<ToMember, { _tag: "Data" }>, out: Out) => {
  if (s.state !== "receiving") return
  for (let i = 0; i < m.pieces.length; i++) {
    const p = m.pieces[i]!
    s.received += p.bytes.length
    const n = s.needed.get(p.index)
    // a block of the entry, whole: none past its end (an empty piece at its size would count as a block)
    if (n === undefined || n.state !== RECEIVING || p.offset % s.block !== 0 || p.offset >= n.entry.size) continue
    const b = p.offset / s.block
    if (p.bytes.length !== Math.min(s.block, n.entry.size - p.offset)) continue
    // written already (it may wait for its digest): a copy is no news
    if (isHeld(n, b)) continue
    markHeld(n, b)
    out.push({ _tag: "Write", index: n.index, entry: n.entry, offset: p.offset, bytes: p.bytes })
    if (--n.lacking === 0 && n.digest !== undefined) stage(s, n, out)
  }
  if (s.asked) ready(s, out)
}

/**
 * The sender's digests of files whose data went out: the first for an entry counts (a copy is the same), and an entry
 * whose blocks are all in is staged. One for an entry not received here changes nothing.
 */
const onDigests = (s: MemberSession, entries: ReadonlyArray<FileDigest>, out: Out) => {
  if (s.state !== "receiving") return
  for (const { digest, index } of entries) {
    const n = s.needed.get(index)
    if (n === undefined || n.state !== RECEIVING || n.digest !== undefined) continue
    n.digest = digest
    if (n.lacking === 0) stage(s, n, out)
  }
  if (s.asked) ready(s, out)
}

/** The entries whose blocks are all in and whose digest is not, `MAX_DIGEST_ASKS` at most. */
const digestsLacking = (s: MemberSession): Array<number> => {
  const indices: Array<number> = []
  for (const n of s.needed.values()) {
    if (n.state === RECEIVING && n.lacking === 0 && indices.push(n.index) >= MAX_DIGEST_ASKS) break
  }
  return indices
}

/** The blocks still lacking, in runs, `MAX_SPANS` at most. */
const missing = (s: MemberSession): Array<Span> => {
  const spans: Array<Span> = []
  for (const n of s.needed.values()) {
    if (n.state !== RECEIVING || n.lacking === 0) continue
    const { size } = n.entry
    const blocks = blocksOf(size, s.block)
    for (let b = 0; b < blocks && spans.length < MAX_SPANS; b++) {
      if (isHeld(n, b)) continue
      let end = b + 1
      while (end < blocks && !isHeld(n, end)) end++
      spans.push({ index: n.index, offset: b * s.block, length: Math.min(end * s.block, size) - b * s.block })
      b = end
    }
    if (spans.length >= MAX_SPANS) break
  }
  return spans
}

const vote = (s: MemberSession, out: Out) => {
  if (s.state === "failed") return reply(s, out, { _tag: "Failed", txn: s.txn, failures: s.failures, count: s.failedCount })
  // the sender counts a PREPARED under --delete only once it holds every removal: they go first, each time
  for (const r of s.reports) reply(s, out, r)
  reply(s, out, { _tag: "Prepared", txn: s.txn })
}

/** Votes once every entry it needs is staged or failed (unsolicited: the sender asked already). */
const ready = (s: MemberSession, out: Out) => {
  if (s.state !== "receiving" || s.receiving > 0 || s.staging > 0 || s.looking.size > 0 || (s.deleting && s.scan !== "done")) return
  s.state = s.failedCount > 0 ? "failed" : "prepared"
  vote(s, out)
}

const onPrepare = (s: MemberSession, m: Extract<ToMember, { _tag: "Prepare" }>, out: Out) => {
  switch (s.state) {
    case "receiving": {
      const again = s.asked
      s.asked = true
      let answered = true
      for (let b = 0; b < m.batches; b++) answered &&= s.answers.has(b)
      const lacking = missing(s)
      if (answered && lacking.length > 0) return reply(s, out, { _tag: "Missing", txn: s.txn, spans: lacking })
      // the blocks are in, a digest is not (its Digests was lost): asked for once the blocks no longer are
      const digests = answered ? digestsLacking(s) : []
      if (digests.length > 0) return reply(s, out, { _tag: "Missing", txn: s.txn, spans: [], digests })
      // the first PREPARE is answered by the vote, unsolicited, once staging is done; a later one proves us alive
      if (!answered || s.staging > 0 || s.scan === "scanning") return again ? reply(s, out, { _tag: "Busy", txn: s.txn }) : undefined
      return ready(s, out)
    }
    case "prepared":
    case "failed":
      return vote(s, out)
    case "switching":
    case "committed":
    case "aborted":
      // a late copy: the decision is out
      return
  }
}

const entries = (s: MemberSession) => [...s.needed.values()].map((n) => n.entry)

const discard = (s: MemberSession, out: Out, answer = true) => {
  out.push({ _tag: "Discard", entries: entries(s) })
  s.needed.clear()
  s.receiving = 0
  s.looking.clear()
  s.state = "aborted"
  if (answer) reply(s, out, { _tag: "Aborted", txn: s.txn })
}

const onCommit = (s: MemberSession, out: Out) => {
  switch (s.state) {
    case "prepared":
      // a dry run or a check never switches (its sender ends it with ABORT)
      if (s.purpose !== undefined) return discard(s, out)
      s.state = "switching"
      return void out.push({ _tag: "Switch", entries: entries(s), removals: s.removals })
    case "switching":
      return
    case "committed":
      return committed(s, out)
    case "aborted":
      return reply(s, out, { _tag: "Aborted", txn: s.txn })
    case "receiving":
    case "failed":
      // it did not vote PREPARED (the sender counted it lost): it never switches part of a job
      return discard(s, out)
  }
}

const onAbort = (s: MemberSession, out: Out) => {
  switch (s.state) {
    case "receiving":
    case "prepared":
    case "failed":
      return discard(s, out)
    case "aborted":
      return reply(s, out, { _tag: "Aborted", txn: s.txn })
    case "switching":
    case "committed":
      // cannot happen: a sender decides once
      return
  }
}

const fail = (s: MemberSession, index: number, errno: number) => {
  if (s.failedCount++ < MAX_FAILURES) s.failures.push({ index, errno })
}

const onStaged = (s: MemberSession, e: Extract<Event, { _tag: "Staged" }>, out: Out) => {
  const n = s.needed.get(e.index)
  if (n === undefined || n.state !== STAGING) return
  s.staging--
  if (e.errno === 0) n.state = STAGED
  else (n.state = FAILED), fail(s, e.index, e.errno)
  if (s.asked) ready(s, out)
}

/** The `Removals` datagrams that list `removals`. */
const reportsOf = (s: MemberSession, removals: ReadonlyArray<string>): Array<ToSender> => {
  let first = 0
  return removalBatches(removals).map((paths) => {
    const r: ToSender = { _tag: "Removals", txn: s.txn, total: removals.length, first, paths }
    first += paths.length
    return r
  })
}

/** After the switch: what it removed, when that is less than it listed (sent before each `Committed`). */
const committed = (s: MemberSession, out: Out) => {
  for (const r of s.reports) reply(s, out, r)
  reply(s, out, { _tag: "Committed", txn: s.txn, errno: s.errno })
}

const onScanned = (s: MemberSession, e: Extract<Event, { _tag: "Scanned" }>, out: Out) => {
  if (s.scan !== "scanning" || s.state !== "receiving") return
  s.scan = "done"
  if (e.errno === 0) {
    s.removals = e.removals
    s.reports = reportsOf(s, e.removals)
  } else fail(s, -1, e.errno)
  if (s.asked) ready(s, out)
}

export const step = ((s, event, out) => {
  switch (event._tag) {
    case "Message": {
      const m = event.message
      if (m.txn !== s.txn) return
      switch (m._tag) {
        case "Manifest":
          return onManifest(s, m, out)
        case "Data":
          return onData(s, m, out)
        case "Digests":
          return onDigests(s, m.entries, out)
        case "Prepare":
          return onPrepare(s, m, out)
        case "Commit":
          return onCommit(s, out)
        case "Abort":
          return onAbort(s, out)
        case "Probe":
          // everything sent before it has come (or is lost): how far the stream got, while there is one
          return s.state === "receiving" ? reply(s, out, { _tag: "Progress", txn: s.txn, seq: m.seq, received: s.received }) : undefined
        default:
          return m satisfies never
      }
    }
    case "LookedUp":
      return onLookedUp(s, event, out)
    case "Verified":
      return onVerified(s, event, out)
    case "Staged":
      return onStaged(s, event, out)
    case "Scanned":
      return onScanned(s, event, out)
    case "Expired":
      if (s.state === "receiving" || s.state === "prepared" || s.state === "failed") discard(s, out, false)
      return
    case "Switched": {
      if (s.state !== "switching") return
      s.state = "committed"
      s.errno = event.errno
      s.needed.clear()
      const kept = new Set(event.kept ?? [])
      s.reports = kept.size === 0 ? [] : reportsOf(s, s.removals.filter((p) => !kept.has(p)))
      s.removals = []
      return committed(s, out)
    }
    default:
      return event satisfies never
  }
}) satisfies Machine<MemberSession, Event, Action>
