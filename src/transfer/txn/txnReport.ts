/**
 * What a transaction amounted to, per file and host, in the terms every send reports (`HostOutcome`): a member
 * that committed took the entries it asked for (updated) and already had the others (skipped); a member that did
 * not commit took nothing: the entries it asked for are failed (with the errno of an entry its FAILED vote named,
 * else why the transaction aborted), the others it already had; a lost member is lost for every entry. Only
 * contents are asked for, so an entry whose metadata alone changed on a member counts as skipped there.
 */
import type { HostOutcome } from "../../domain/outcome.js"
import { describeErrno } from "../../protocol/errno.js"
import type { MemberOutcome } from "./senderMachine.js"
import type { TxnResult } from "./TxnSend.js"

export interface FileOutcome {
  readonly path: string
  /** A regular file's size. */
  readonly size: number | undefined
  readonly hosts: ReadonlyArray<HostOutcome>
}

/** Why nothing was committed anywhere, in a few words; undefined when the transaction committed. */
export const whyAborted = (result: TxnResult): string | undefined => {
  if (result.cancelled !== undefined) return `${result.cancelled.path} here ${result.cancelled.reason}`
  const failed = result.members.filter((m) => m.outcome === "failed" && m.errno === 0)
  if (failed.length > 0) return `${failed.map((m) => m.target.host).join(", ")} could not stage it`
  if (result.members.some((m) => m.outcome === "aborted")) return "a member was lost before COMMIT (--all-or-nothing)"
  return undefined
}

const hostOf = (m: MemberOutcome, needed: boolean, index: number, why: string | undefined): HostOutcome => {
  const host = { host: m.target.host, address: m.target.address }
  switch (m.outcome) {
    case "lost":
      return { ...host, outcome: "lost", detail: "no answer to the transaction" }
    case "committed":
      return { ...host, outcome: needed ? "updated" : "skipped" }
    case "failed": {
      // an entry whose metadata alone it could not stage (a refused path) failed too, though it asked for no contents
      const own = m.failures.find((f) => f.index === index)
      if (own !== undefined) return { ...host, outcome: "failed", errno: own.errno, detail: `staging failed: ${describeErrno(own.errno)}` }
      if (!needed) return { ...host, outcome: "skipped" }
      if (m.errno !== 0) return { ...host, outcome: "failed", errno: m.errno, detail: `switch failed and was rolled back: ${describeErrno(m.errno)}` }
      return { ...host, outcome: "failed", detail: `not committed: the transaction aborted (${why ?? "a member failed"})` }
    }
    case "aborted":
      return needed ? { ...host, outcome: "failed", detail: `not committed: the transaction aborted (${why ?? "aborted"})` } : { ...host, outcome: "skipped" }
  }
}

export const fileOutcomes = (result: TxnResult): Array<FileOutcome> => {
  const why = whyAborted(result)
  return result.entries.map(({ entry, needers }, index) => ({
    path: entry.path,
    size: entry.type === "file" ? entry.size : undefined,
    hosts: result.members.map((m) => hostOf(m, needers.includes(m.target.address), index, why))
  }))
}

/**
 * Under `--delete`, each path a member that committed removed in its switch, with every such host (reported as the
 * v7 `--delete` reports a deletion: `deleted`, the path once with its hosts). A member that did not commit
 * removed nothing; one whose scan failed is reported failed under `roots` (the paths sent).
 */
export const removalOutcomes = (result: TxnResult, roots: string): Array<FileOutcome> => {
  const byPath = new Map<string, Array<HostOutcome>>()
  const scanFailed: Array<HostOutcome> = []
  for (const m of result.members) {
    const scan = m.failures.find((f) => f.index === -1)
    if (scan !== undefined) {
      scanFailed.push({ host: m.target.host, address: m.target.address, outcome: "failed", errno: scan.errno, detail: `scan for removals failed: ${describeErrno(scan.errno)}` })
    }
    if (m.outcome !== "committed") continue
    for (const path of m.removals) {
      const hosts = byPath.get(path) ?? []
      hosts.push({ host: m.target.host, address: m.target.address, outcome: "deleted" })
      byPath.set(path, hosts)
    }
  }
  const removed = [...byPath].map(([path, hosts]): FileOutcome => ({ path, size: undefined, hosts }))
  // a failed scan is said under the paths sent, as a v7 delete scan broken off is
  return scanFailed.length === 0 ? removed : [{ path: roots, size: undefined, hosts: scanFailed }, ...removed]
}
