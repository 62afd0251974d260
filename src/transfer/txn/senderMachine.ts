/**
 * The sender of a native tree transaction (docs/transactions.md), one per job, as a state machine without I/O:
 * manifest batches in a window, each answered by every live member's `Needs`; the union of the needs goes out
 * as a bundle stream of blocks packed into `Data` datagrams (the driver sends each file's digest after its data);
 * `Prepare` collects one vote per member, `Missing` answers (blocks, or digests lost) are repaired at once (one asking for what cannot be sent fails its member, `Refuse`); then one `Commit`
 * or `Abort`. A member silent for `timeout` while it owes an
 * answer is lost for this transaction, as in `engine/rounds.ts`. The session is mutated in place and holds only
 * the batches of its window: nothing per entry outlives its batch.
 */
import type { Machine } from "../engine/machine.js"
import { type Entry, type Failure, hasBit, type Purpose, type Scope, type Span, type ToMember, type ToSender, type TxnId } from "./messages.js"
import { type RttEstimator, type Target } from "../engine/rtt.js"

export interface Config {
  /** Manifest batches unanswered at most. */
  readonly window: number
  /** Bytes of a block of the bundle stream. */
  readonly block: number
  /** Bytes of pieces (each with `PIECE_OVERHEAD`) a `Data` datagram holds at most. */
  readonly datagram: number
  readonly allOrNothing: boolean
  /** `--delete`: members remove, in the same switch, what they have under the job and the manifest lacks. */
  readonly delete: boolean
  /** Under `--delete`: what the members scan, carried by the manifest's first batch. */
  readonly scope?: Scope
  /** A dry run or a check: no data goes out, and once everyone has voted the transaction ends with `Abort`. */
  readonly purpose?: Purpose
  /** `--checksum`: members compare a file's contents by SHA-256. */
  readonly checksum?: boolean
  /** The longest wait before a request is sent again. */
  readonly maxWait: number
  /** Silence after which a member owing an answer is lost. */
  readonly timeout: number
  readonly rtt: RttEstimator
}

/** What the codec spends on a piece's header (entry index, offset, length). */
export const PIECE_OVERHEAD = 16

/**
 * The fewest full blocks that go as a run (read in place, sent as one burst of equal datagrams). Fewer — a small
 * file's — go as Data of their own in the bundle stream, where the Data of many files make one burst and one send.
 */
export const MIN_RUN_BLOCKS = 8

export type Outcome = "committed" | "failed" | "aborted" | "lost"

export interface MemberOutcome {
  readonly target: Target
  readonly outcome: Outcome
  /** The failed entries its FAILED vote named (the first `MAX_FAILURES`), and how many failed in all. */
  readonly failures: ReadonlyArray<Failure>
  readonly failedCount: number
  /** Its switch's errno (a step failed: the others were done, nothing undone); 0 otherwise. */
  readonly errno: number
  /** Blocks it reported missing and received again. */
  readonly missed: number
  /** Under `--delete`, the paths it listed to remove in the switch (removed only if it committed). */
  readonly removals: ReadonlyArray<string>
  /** Why the sender failed it without its vote: an answer that asked for what cannot be sent (`Refuse`). */
  readonly refused?: string
}

interface Member {
  readonly target: Target
  lost: boolean
  /** Answers it owes (a batch's Needs, the phase's answer): its silence counts only while it owes one. */
  owed: number
  /** When it last spoke, or was first asked after owing nothing. */
  heard: number
  vote: "prepared" | "failed" | undefined
  failures: ReadonlyArray<Failure>
  failedCount: number
  final: "committed" | "aborted" | undefined
  errno: number
  missed: number
  /** Under `--delete`: its `Removals` so far, by position, and how many it announced. */
  removals: Array<string>
  removalTotal: number | undefined
  removalsHeld: number
  /** After its switch it listed again what it removed: less than it listed with its vote (it kept some). */
  relisted: boolean
  refused: string | undefined
  /** Bytes of the files its `Needs` asked for. */
  needed: number
  /**
   * What its `Missing` got in the vote's round `askRound` (`SenderSession.voteRound`; `inRound` starts them anew):
   * the digests sent again, each at most once a round, and the bytes repaired, at most `needed` a round — so that a
   * member repeating its ask (or asking for whole files again and again) cannot make the sender flood the group.
   */
  askRound: number
  digestsAnswered: Set<number>
  repaired: number
}

/** A request repeated until everyone it waits for answered. */
interface Request {
  readonly message: ToMember
  readonly waiting: Set<Member>
  readonly sentAt: number
  wait: number
  due: number
}

interface Batch extends Request {
  readonly number: number
  readonly entries: ReadonlyArray<Entry>
  readonly first: number
  /** The union of the members' needs. */
  readonly needs: Uint8Array
}

export type Phase = "manifest" | "voting" | "committing" | "aborting" | "done"

export interface SenderSession {
  readonly txn: TxnId
  readonly config: Config
  readonly members: ReadonlyMap<string, Member>
  phase: Phase
  readonly batches: Map<number, Batch>
  batchCount: number
  entryCount: number
  /** A `NextBatch` is out. */
  asking: boolean
  lastSeen: boolean
  /** Prepare, Commit or Abort. */
  request: Request | undefined
  /** The bundle stream's datagram being filled. */
  readonly stream: Packing
  /**
   * `TransmitData` the driver has not reported `Sent` yet: the vote is asked for only once the data is out, so a
   * paced driver's PREPARE never overtakes its data (members would report it all missing) and the members' silence
   * is not counted while the sender itself is still sending.
   */
  unsent: number
  deadline: number
  /** How many times `Prepare` has gone out (first and again): a member's asks for digests count per round. */
  voteRound: number
}

export type Event =
  | { readonly _tag: "Start" }
  | { readonly _tag: "Expired" }
  /** The driver's answer to `NextBatch`. */
  | { readonly _tag: "Batch"; readonly entries: ReadonlyArray<Entry>; readonly last: boolean }
  | { readonly _tag: "Reply"; readonly from: string; readonly message: ToSender }
  /** The driver handed `count` `Data` datagrams of `TransmitData` actions to the network. */
  | { readonly _tag: "Sent"; readonly count: number }
  /**
   * The driver cannot go on (a source file changed after it was scanned or hashed, or cannot be read): before the decision
   * the transaction aborts everywhere; after it, nothing changes.
   */
  | { readonly _tag: "Cancel" }
  /**
   * The driver refused a member's `Missing` instead of replying it (it names an entry without contents, bytes past
   * an entry's end, or an entry its `Needs` did not ask for: `reason`): the member is at fault, not the source. It counts as a FAILED vote of that
   * member alone: the others commit, unless all or nothing.
   */
  | { readonly _tag: "Refuse"; readonly from: string; readonly reason: string }

export type Action =
  /**
   * To the group (or each live member by unicast, `-t`); `to`: only to these members (a vote asked again of those
   * that owe it, so that members that voted do not send their vote and list of removals again each round).
   */
  | { readonly _tag: "Transmit"; readonly message: ToMember; readonly to?: ReadonlyArray<Target> }
  /** Read these spans and send them to the group as one `Data`. */
  | { readonly _tag: "TransmitData"; readonly spans: ReadonlyArray<Span> }
  /**
   * Send `blocks` full blocks of entry `index` from `offset`, each a `Data` of its own (a full block fills its
   * datagram): a big file's run is one action, not one object per block (a GiB was ~780 000 of them at once).
   */
  | { readonly _tag: "TransmitRun"; readonly index: number; readonly offset: number; readonly blocks: number }
  /**
   * Every Data of the first sending is out, and the vote is asked next: the driver sends the digests it holds
   * (`Digests`) first. Only a send whose manifest carries none.
   */
  | { readonly _tag: "DataEnd" }
  /** Send the digests of these entries again (`Digests`): a member's `Missing` asked for them. */
  | { readonly _tag: "TransmitDigests"; readonly indices: ReadonlyArray<number> }
  /** Step the next batch of the manifest (`Batch`). */
  | { readonly _tag: "NextBatch" }
  | { readonly _tag: "Deadline"; readonly at: number }
  | { readonly _tag: "Finished"; readonly members: ReadonlyArray<MemberOutcome> }

export const make = (txn: TxnId, targets: ReadonlyArray<Target>, config: Config, now: number): SenderSession => ({
  txn,
  config,
  members: new Map(targets.map((target) => [target.address, {
    target,
    lost: false,
    owed: 0,
    heard: now,
    vote: undefined,
    failures: [],
    failedCount: 0,
    final: undefined,
    errno: 0,
    missed: 0,
    removals: [],
    removalTotal: undefined,
    removalsHeld: 0,
    relisted: false,
    refused: undefined,
    needed: 0,
    askRound: 0,
    digestsAnswered: new Set(),
    repaired: 0
  }])),
  phase: "manifest",
  batches: new Map(),
  batchCount: 0,
  entryCount: 0,
  asking: false,
  lastSeen: false,
  request: undefined,
  stream: { spans: [], bytes: 0 },
  unsent: 0,
  deadline: Infinity,
  voteRound: 0
})

type Out = Array<Action>

const live = (s: SenderSession) => [...s.members.values()].filter((m) => !m.lost)

const owe = (m: Member, now: number) => {
  if (m.owed++ === 0) m.heard = now
}

const request = (s: SenderSession, message: ToMember, now: number, out: Out): Request => {
  const waiting = new Set(live(s))
  for (const m of waiting) owe(m, now)
  const wait = s.config.rtt.rto(s.config.maxWait)
  out.push({ _tag: "Transmit", message })
  return { message, waiting, sentAt: now, wait, due: now + wait }
}

/** `m` answered `r`; true when it was the last one waited for. */
const answered = (s: SenderSession, r: Request, m: Member, now: number): boolean => {
  if (!r.waiting.delete(m)) return false
  m.owed--
  s.config.rtt.sample(now - r.sentAt)
  return r.waiting.size === 0
}

/** Spans being packed into one `Data` datagram. */
interface Packing {
  spans: Array<Span>
  bytes: number
}

/** Cuts a span into blocks and packs them greedily into `Data` datagrams of at most `datagram` bytes. */
const pack = (s: SenderSession, p: Packing, index: number, offset: number, length: number, out: Out) => {
  const { block, datagram } = s.config
  const end = offset + length
  let at = offset
  // nothing shares a datagram with a full block: the full blocks in a row go as one run, when there are enough
  const full = datagram - block - PIECE_OVERHEAD <= PIECE_OVERHEAD ? Math.floor(length / block) : 0
  const blocks = full >= MIN_RUN_BLOCKS ? full : 0
  if (blocks > 0) {
    flush(s, p, out)
    s.unsent += blocks
    out.push({ _tag: "TransmitRun", index, offset, blocks })
    at += blocks * block
  }
  for (; at < end; at += block) {
    const piece = Math.min(block, end - at)
    if (p.bytes + piece + PIECE_OVERHEAD > datagram) flush(s, p, out)
    p.spans.push({ index, offset: at, length: piece })
    p.bytes += piece + PIECE_OVERHEAD
  }
}

const flush = (s: SenderSession, p: Packing, out: Out) => {
  if (p.spans.length > 0) (s.unsent++, out.push({ _tag: "TransmitData", spans: p.spans }))
  p.spans = []
  p.bytes = 0
}

/**
 * A batch answered by everyone: the contents anyone needs join the bundle stream, and the batch is forgotten.
 * A datagram not yet full waits for the next batch's contents while batches are in flight (they come within a
 * round trip): small files of consecutive batches share datagrams.
 */
const completeBatch = (s: SenderSession, b: Batch, now: number, out: Out) => {
  s.batches.delete(b.number)
  b.entries.forEach((e, i) => {
    if (s.config.purpose === undefined && hasBit(b.needs, i) && e.type === "file" && e.size > 0) pack(s, s.stream, b.first + i, 0, e.size, out)
  })
  if (s.batches.size === 0) flush(s, s.stream, out)
  fill(s, now, out)
}

/** Asks for the next batch while the window has room; once the last is answered, the vote. */
const fill = (s: SenderSession, now: number, out: Out) => {
  if (s.phase !== "manifest") return
  if (!s.lastSeen) {
    if (!s.asking && s.batches.size < s.config.window) (s.asking = true), out.push({ _tag: "NextBatch" })
    return
  }
  if (s.batches.size > 0 || s.unsent > 0) return
  s.phase = "voting"
  if (s.config.purpose === undefined && s.config.checksum !== true) out.push({ _tag: "DataEnd" })
  s.voteRound++
  round(s, { _tag: "Prepare", txn: s.txn, batches: s.batchCount }, now, out)
}

const round = (s: SenderSession, message: ToMember, now: number, out: Out) => {
  s.request = request(s, message, now, out)
  if (s.request.waiting.size === 0) roundComplete(s, now, out)
}

const roundComplete = (s: SenderSession, now: number, out: Out) => {
  switch (s.phase) {
    case "voting":
      return decide(s, now, out)
    case "committing":
    case "aborting":
      return finish(s, out)
  }
}

/**
 * Every live member has voted. Those that voted PREPARED switch, and a member that voted FAILED discards on the
 * same COMMIT (it never switches part of a job): makuosan's rule, nobody waits for a member that cannot take the
 * job. With all or nothing one FAILED vote aborts everywhere (a member lost has aborted already); with no PREPARED
 * vote there is nothing to commit. A dry run or a check has nothing to commit: it ends with ABORT.
 */
const decide = (s: SenderSession, now: number, out: Out) => {
  const votes = [...s.members.values()].map((m) => m.vote)
  if (s.config.purpose !== undefined || !votes.includes("prepared") || (s.config.allOrNothing && votes.includes("failed"))) return abort(s, now, out)
  s.phase = "committing"
  round(s, { _tag: "Commit", txn: s.txn }, now, out)
}

const abort = (s: SenderSession, now: number, out: Out) => {
  for (const b of s.batches.values()) for (const m of b.waiting) m.owed--
  s.batches.clear()
  if (s.request !== undefined) for (const m of s.request.waiting) m.owed--
  s.phase = "aborting"
  round(s, { _tag: "Abort", txn: s.txn }, now, out)
}

const finish = (s: SenderSession, out: Out) => {
  s.phase = "done"
  s.request = undefined
  s.deadline = Infinity
  out.push({ _tag: "Finished", members: [...s.members.values()].map(outcomeOf) })
}

const outcomeOf = (m: Member): MemberOutcome => {
  const base = {
    target: m.target,
    missed: m.missed,
    failures: m.failures,
    failedCount: m.failedCount,
    errno: m.errno,
    removals: m.removals,
    ...(m.refused === undefined ? {} : { refused: m.refused })
  }
  if (m.lost) return { ...base, outcome: "lost" }
  // a member refused that switched all the same (its ABORT lost, what it lacked came in another's repair) committed
  if ((m.vote === "failed" && m.final !== "committed") || m.errno !== 0) return { ...base, outcome: "failed" }
  return { ...base, outcome: m.final === "committed" ? "committed" : "aborted" }
}

/** `m` is lost for this transaction: nothing waits for it any more. */
const lose = (s: SenderSession, m: Member, now: number, out: Out) => {
  m.lost = true
  m.owed = 0
  if (s.config.allOrNothing && (s.phase === "manifest" || s.phase === "voting")) {
    s.request?.waiting.delete(m)
    for (const b of s.batches.values()) b.waiting.delete(m)
    return abort(s, now, out)
  }
  if (live(s).length === 0 && s.phase === "manifest") return finish(s, out)
  for (const b of [...s.batches.values()]) {
    if (s.phase !== "manifest") break
    if (b.waiting.delete(m) && b.waiting.size === 0) completeBatch(s, b, now, out)
  }
  const r = s.request
  if (r !== undefined && r.waiting.delete(m) && r.waiting.size === 0) roundComplete(s, now, out)
}

const onBatch = (s: SenderSession, e: Extract<Event, { _tag: "Batch" }>, now: number, out: Out) => {
  if (!s.asking || s.phase !== "manifest") return
  s.asking = false
  s.lastSeen = e.last
  const { purpose, checksum } = s.config
  const message: ToMember = {
    _tag: "Manifest",
    txn: s.txn,
    batch: s.batchCount,
    first: s.entryCount,
    entries: e.entries,
    last: e.last,
    delete: s.config.delete,
    ...(s.batchCount === 0 && s.config.delete && s.config.scope !== undefined ? { scope: s.config.scope } : {}),
    ...(purpose !== undefined ? { purpose } : {}),
    ...(checksum === true ? { checksum } : {})
  }
  const b: Batch = Object.assign(request(s, message, now, out), {
    number: s.batchCount,
    entries: e.entries,
    first: s.entryCount,
    needs: new Uint8Array((e.entries.length + 7) >> 3)
  })
  s.batches.set(s.batchCount++, b)
  s.entryCount += e.entries.length
  if (b.waiting.size === 0) completeBatch(s, b, now, out)
  else fill(s, now, out)
}

/**
 * Whether the machine takes `message` into its batch's needs: from a member not lost, of this transaction, for a batch
 * still waiting for that member's answer. What the shell records of a `Needs` (who needs a file, so who must get its
 * digest) follows this, not the arrival: a lost member's late `Needs` names files nobody queues.
 */
export const takesNeeds = (s: SenderSession, from: string, message: Extract<ToSender, { _tag: "Needs" }>): boolean => {
  const m = s.members.get(from)
  const b = s.batches.get(message.batch)
  return m !== undefined && !m.lost && message.txn === s.txn && s.phase === "manifest" && b !== undefined && b.waiting.has(m)
}

const onReply = (s: SenderSession, from: string, message: ToSender, now: number, out: Out) => {
  const m = s.members.get(from)
  if (m === undefined || m.lost || message.txn !== s.txn) return
  m.heard = now
  const r = s.request
  switch (message._tag) {
    case "Needs": {
      if (!takesNeeds(s, from, message)) return
      const b = s.batches.get(message.batch)!
      for (let i = 0; i < b.needs.length; i++) b.needs[i] = b.needs[i]! | (message.bitmap[i] ?? 0)
      for (let i = 0; i < b.entries.length; i++) if (hasBit(message.bitmap, i)) m.needed += b.entries[i]!.size
      if (answered(s, b, m, now)) completeBatch(s, b, now, out)
      return
    }
    case "Missing": {
      if (s.phase !== "voting" || m.vote !== undefined) return
      inRound(s, m)
      if (message.digests !== undefined) {
        const indices = notAnsweredYet(m, message.digests)
        if (indices.length > 0) out.push({ _tag: "TransmitDigests", indices })
      }
      const repair: Packing = { spans: [], bytes: 0 }
      for (const span of message.spans) {
        if (m.repaired + span.length > m.needed) break
        m.repaired += span.length
        pack(s, repair, span.index, span.offset, span.length, out)
        m.missed += Math.ceil(span.length / s.config.block)
      }
      return flush(s, repair, out)
    }
    case "Busy":
    case "Progress":
      // alive; how far it got is the pacer's news (the driver's)
      return
    case "Removals":
      if (s.phase === "voting" && m.vote === undefined) holdRemovals(m, message)
      else if (s.phase === "committing" && m.final === undefined) relist(m, message)
      return
    case "Prepared":
    case "Failed":
      if (s.phase !== "voting" || r === undefined || !r.waiting.has(m)) return
      // its removals are part of its vote: one lost, the next PREPARE brings them all again
      if (message._tag === "Prepared" && s.config.delete && (m.removalTotal === undefined || m.removalsHeld < m.removalTotal)) return
      m.vote = message._tag === "Prepared" ? "prepared" : "failed"
      if (message._tag === "Failed") (m.failures = message.failures), (m.failedCount = message.count)
      if (answered(s, r, m, now)) roundComplete(s, now, out)
      return
    case "Committed":
    case "Aborted":
      if ((s.phase !== "committing" && s.phase !== "aborting") || r === undefined || !r.waiting.has(m)) return
      // what it removed, relisted after its switch, is part of its answer: one datagram lost, the next COMMIT brings it
      if (m.relisted && m.removalsHeld < (m.removalTotal ?? 0)) return
      m.final = message._tag === "Committed" ? "committed" : "aborted"
      if (message._tag === "Committed") m.errno = message.errno
      if (answered(s, r, m, now)) finish(s, out)
      return
    case "Unknown":
      // it restarted and forgot the transaction: it will never answer
      return lose(s, m, now, out)
    default:
      return message satisfies never
  }
}

/**
 * `Refuse`: the member's `Missing` was bad input, heard where a `Missing` counts (while it owes its vote). It is
 * told to discard at once (an ABORT to it alone): what it lacks may yet come in another member's repair, and a
 * member that staged everything would switch on the COMMIT the others get.
 */
const onRefuse = (s: SenderSession, from: string, reason: string, now: number, out: Out) => {
  const m = s.members.get(from)
  const r = s.request
  if (m === undefined || m.lost || s.phase !== "voting" || m.vote !== undefined || r === undefined) return
  m.vote = "failed"
  m.refused = reason
  m.heard = now
  out.push({ _tag: "Transmit", message: { _tag: "Abort", txn: s.txn }, to: [m.target] })
  if (answered(s, r, m, now)) roundComplete(s, now, out)
}

/** `m`'s asks counted for the vote's current round: nothing asked yet in a round that has just begun. */
const inRound = (s: SenderSession, m: Member) => {
  if (m.askRound !== s.voteRound) (m.askRound = s.voteRound), m.digestsAnswered.clear(), (m.repaired = 0)
}

/** Of the digests `m` asks for, those it has not been sent again in this round of the vote; they count as sent now. */
const notAnsweredYet = (m: Member, asked: ReadonlyArray<number>): ReadonlyArray<number> =>
  asked.filter((index) => !m.digestsAnswered.has(index) && (m.digestsAnswered.add(index), true))

const holdRemovals = (m: Member, message: Extract<ToSender, { _tag: "Removals" }>) => {
  m.removalTotal ??= message.total
  if (message.total !== m.removalTotal) return
  message.paths.forEach((path, i) => {
    if (m.removals[message.first + i] === undefined) (m.removals[message.first + i] = path), m.removalsHeld++
  })
}

/**
 * A member's list after its switch (`Removals` before `Committed`): what it removed, when it kept some of what it
 * listed with its vote. A late copy of the vote's list (its total) changes nothing.
 */
const relist = (m: Member, message: Extract<ToSender, { _tag: "Removals" }>) => {
  if (!m.relisted) {
    if (message.total === m.removalTotal) return
    m.relisted = true
    m.removals = []
    m.removalTotal = message.total
    m.removalsHeld = 0
  }
  holdRemovals(m, message)
}

const resend = (s: SenderSession, r: Request, now: number, out: Out) => {
  if (r.waiting.size === 0 || now < r.due) return
  r.wait = Math.min(s.config.maxWait, r.wait * 2)
  r.due = now + r.wait
  if (r.message._tag === "Prepare") s.voteRound++
  out.push(r.message._tag === "Prepare"
    ? { _tag: "Transmit", message: r.message, to: [...r.waiting].map((m) => m.target) }
    : { _tag: "Transmit", message: r.message })
}

const onExpired = (s: SenderSession, now: number, out: Out) => {
  for (const m of s.members.values()) {
    if (!m.lost && m.owed > 0 && now - m.heard >= s.config.timeout) lose(s, m, now, out)
    if (s.phase === "done") return
  }
  for (const b of s.batches.values()) resend(s, b, now, out)
  if (s.request !== undefined) resend(s, s.request, now, out)
}

/** The next `Expired`: a request due again, or a member's silence reaching `timeout`. */
const rearm = (s: SenderSession, out: Out) => {
  if (s.phase === "done") return
  let at = Infinity
  for (const b of s.batches.values()) at = Math.min(at, b.due)
  if (s.request !== undefined && s.request.waiting.size > 0) at = Math.min(at, s.request.due)
  for (const m of s.members.values()) if (!m.lost && m.owed > 0) at = Math.min(at, m.heard + s.config.timeout)
  if (at !== s.deadline) {
    s.deadline = at
    if (at !== Infinity) out.push({ _tag: "Deadline", at })
  }
}

/** What the job is doing, for its progress line: its phase, the entries sent so far, who it is waiting for. */
export interface Progress {
  readonly phase: Phase
  readonly entries: number
  readonly awaiting: ReadonlyArray<Target>
}

export const progress = (s: SenderSession): Progress => ({
  phase: s.phase,
  entries: s.entryCount,
  awaiting: [...s.members.values()].filter((m) => !m.lost && m.owed > 0).map((m) => m.target)
})

export const step = ((s, event, out, now) => {
  if (s.phase === "done") return
  switch (event._tag) {
    case "Start":
      fill(s, now, out)
      break
    case "Batch":
      onBatch(s, event, now, out)
      break
    case "Reply":
      onReply(s, event.from, event.message, now, out)
      break
    case "Expired":
      if (now >= s.deadline) onExpired(s, now, out)
      break
    case "Sent":
      s.unsent = Math.max(0, s.unsent - event.count)
      fill(s, now, out)
      break
    case "Cancel":
      if (s.phase === "manifest" || s.phase === "voting") abort(s, now, out)
      break
    case "Refuse":
      onRefuse(s, event.from, event.reason, now, out)
      break
    default:
      return event satisfies never
  }
  rearm(s, out)
}) satisfies Machine<SenderSession, Event, Action>
