/**
 * What a transaction amounted to, per file and host, in the terms every send reports (`HostOutcome`). A send: a
 * member that committed took the entries its `Needs` said change there, contents or metadata alone (updated), and
 * had the others already (skipped); a member that did not commit took nothing: the entries it would have changed
 * are failed (with the errno of an entry its FAILED vote named, else why the sender refused it or why the
 * transaction aborted), the others it already had; a lost member is lost for every entry. A dry run: what each
 * member would change (would-update), what it could not look up (failed, with the errno its vote named). In both,
 * what a `--readonly` member would not take is readonly. A check, as v7's: the same, different or missing
 * contents, or why the member could not read its copy.
 */
import type { HostOutcome } from "../../domain/outcome.js"
import { describeErrno, EROFS } from "../../protocol/errno.js"
import type { Failure } from "./messages.js"
import type { MemberOutcome } from "./senderMachine.js"
import type { SentEntry, TxnResult } from "./TxnSend.js"

export interface FileOutcome {
  readonly path: string
  /** A regular file's size. */
  readonly size: number | undefined
  readonly hosts: ReadonlyArray<HostOutcome>
}

/**
 * A `--readonly` member's vote names EROFS for what it would change (`MAX_FAILURES` of them at most; the rest are
 * counted only), and for its scan for removals: nothing else.
 */
const readOnly = (m: MemberOutcome) => m.failures.length > 0 && m.failures.every((f) => f.errno === EROFS)

/** Why a member that did not switch failed: the sender refused it, it is `--readonly`, or its staging failed. */
const becauseFailed = (m: MemberOutcome) => m.refused ?? (readOnly(m) ? "is --readonly" : "could not stage it")

/** Why nothing was committed anywhere, in a few words; undefined when the transaction committed. */
export const whyAborted = (result: TxnResult): string | undefined => {
  if (result.cancelled !== undefined) return `${result.cancelled.path} here ${result.cancelled.reason}`
  const failed = result.members.filter((m) => m.outcome === "failed" && m.errno === 0)
  if (failed.length > 0) return failed.map((m) => `${m.target.host} ${becauseFailed(m)}`).join("; ")
  if (result.members.some((m) => m.outcome === "aborted")) return "a member was lost before COMMIT (--all-or-nothing)"
  return undefined
}

/**
 * An entry a `--readonly` member does not take, named EROFS or beyond its vote's list: v7 reports it READONLY, in
 * a send and a dry run alike, not as a failure. An entry named with another errno failed.
 */
const declined = (m: MemberOutcome, own: Failure | undefined, changed: boolean) =>
  own !== undefined ? own.errno === EROFS : changed && readOnly(m)

const switchFailed = (errno: number) =>
  `its switch failed part way (${describeErrno(errno)}): the steps it could do are done, nothing is undone; its log names the one that failed`

const sent = (m: MemberOutcome, changed: boolean, index: number, why: string | undefined): HostOutcome => {
  const host = { host: m.target.host, address: m.target.address }
  switch (m.outcome) {
    case "lost":
      return { ...host, outcome: "lost", detail: "no answer to the transaction" }
    case "committed":
      return { ...host, outcome: changed ? "updated" : "skipped" }
    case "failed": {
      // an entry whose metadata alone it could not stage (a refused path) failed too, though it changes nothing else
      const own = m.failures.find((f) => f.index === index)
      if (declined(m, own, changed)) return { ...host, outcome: "readonly" }
      if (own !== undefined) return { ...host, outcome: "failed", errno: own.errno, detail: `staging failed: ${describeErrno(own.errno)}` }
      if (!changed) return { ...host, outcome: "skipped" }
      if (m.errno !== 0) return { ...host, outcome: "failed", errno: m.errno, detail: switchFailed(m.errno) }
      // its answer was bad input: it was failed alone, whatever the others did
      if (m.refused !== undefined) return { ...host, outcome: "failed", detail: `not committed here: it ${m.refused}, which the sender refused` }
      return { ...host, outcome: "failed", detail: `not committed: the transaction aborted (${why ?? "a member failed"})` }
    }
    case "aborted":
      return changed ? { ...host, outcome: "failed", detail: `not committed: the transaction aborted (${why ?? "aborted"})` } : { ...host, outcome: "skipped" }
  }
}

/** A dry run's or a check's answer of one member for one entry (nothing was staged: its vote only names errnos). */
const looked = (result: TxnResult, m: MemberOutcome, e: SentEntry, index: number): HostOutcome => {
  const host = { host: m.target.host, address: m.target.address }
  const check = result.purpose === "check"
  if (m.outcome === "lost") return { ...host, outcome: "lost", detail: check ? "no answer; dropped from this check" : "no answer to the transaction" }
  const own = m.failures.find((f) => f.index === index)
  const changed = e.changers.includes(m.target.address)
  if (!check && declined(m, own, changed)) return { ...host, outcome: "readonly" }
  if (own !== undefined) {
    return { ...host, outcome: "failed", errno: own.errno, detail: `${check ? "unreadable" : "cannot be looked up"}: ${describeErrno(own.errno)}` }
  }
  if (!check) return { ...host, outcome: changed ? "would-update" : "skipped" }
  return { ...host, outcome: e.needers.includes(m.target.address) ? "different" : changed ? "missing" : "same" }
}

export const fileOutcomes = (result: TxnResult): Array<FileOutcome> => {
  const why = whyAborted(result)
  const named = new Set(result.members.flatMap((m) => m.failures.map((f) => f.index)))
  /**
   * A send's entry that no vote named has outcomes that depend only on the members it changes (`sent`, at an index
   * past the manifest's, which no vote names): one array shared by every such entry with the same `changers` (the
   * sender shares those arrays too), not one per entry and host (a tree of many files, changed or not).
   */
  const alike = new Map<ReadonlyArray<string>, ReadonlyArray<HostOutcome>>()
  const sharedHosts = (e: SentEntry) => {
    let hosts = alike.get(e.changers)
    if (hosts === undefined) {
      hosts = result.members.map((m) => sent(m, e.changers.includes(m.target.address), result.entries.length, why))
      alike.set(e.changers, hosts)
    }
    return hosts
  }
  return result.entries.map((e, index) => ({
    path: e.entry.path,
    size: e.entry.type === "file" ? e.entry.size : undefined,
    hosts: result.purpose === undefined
      ? named.has(index) ? result.members.map((m) => sent(m, e.changers.includes(m.target.address), index, why)) : sharedHosts(e)
      : result.members.map((m) => looked(result, m, e, index))
  }))
}

/**
 * Under `--delete`, each path a member removed in its switch, with every such host (reported as the v7 `--delete`
 * reports a deletion: `deleted`, the path once with its hosts); in a dry run each path a member that voted PREPARED
 * listed (`would-delete`). A member whose switch failed part way did every other step: its removals are reported
 * `failed` with that errno, as its files are (which step failed only its log says). A member that did not commit
 * removed nothing; one whose scan failed is reported failed under `roots` (the paths sent).
 */
export const removalOutcomes = (result: TxnResult, roots: string): Array<FileOutcome> => {
  const byPath = new Map<string, Array<HostOutcome>>()
  const scanFailed: Array<HostOutcome> = []
  const dryRun = result.purpose === "dryRun"
  for (const m of result.members) {
    const host = { host: m.target.host, address: m.target.address }
    const scan = m.failures.find((f) => f.index === -1)
    if (scan !== undefined) {
      // a --readonly member removes nothing (its scan is refused with EROFS): as v7's DELETE, readonly
      scanFailed.push(
        scan.errno === EROFS
          ? { ...host, outcome: "readonly", detail: "removes nothing" }
          : { ...host, outcome: "failed", errno: scan.errno, detail: `scan for removals failed: ${describeErrno(scan.errno)}` }
      )
    }
    const outcome: HostOutcome | undefined = m.outcome === "committed"
      ? { ...host, outcome: "deleted" }
      : m.outcome === "failed" && m.errno !== 0
      ? { ...host, outcome: "failed", errno: m.errno, detail: switchFailed(m.errno) }
      : dryRun && m.outcome === "aborted"
      ? { ...host, outcome: "would-delete" }
      : undefined
    if (outcome === undefined) continue
    for (const path of m.removals) {
      const hosts = byPath.get(path) ?? []
      hosts.push(outcome)
      byPath.set(path, hosts)
    }
  }
  const removed = [...byPath].map(([path, hosts]): FileOutcome => ({ path, size: undefined, hosts }))
  // a failed scan is said under the paths sent, as a v7 delete scan broken off is
  return scanFailed.length === 0 ? removed : [{ path: roots, size: undefined, hosts: scanFailed }, ...removed]
}
