/**
 * How `makuo send|sync|check` reports: a line per file naming its hosts (`update   htdocs/index.html  h2 h3`),
 * split by outcome only where the hosts differ, then a summary whose counts (one per file and host) add up; or
 * JSON lines.
 */
import type { ControlEvent } from "../control/Protocol.js"
import type { ClientOperation } from "../domain/operation.js"
import { memberLabel, sharedNames } from "../domain/member.js"
import type { HostOutcome, Outcome } from "../domain/outcome.js"
import type { SendSummary } from "../domain/summary.js"
import { displayName } from "../protocol/text.js"
import { JSON_VERSION, jsonLine, pathFields } from "./jsonEvents.js"

type FileEvent = Extract<ControlEvent, { _tag: "File" }>

const label: Record<Outcome, string> = {
  updated: "update",
  skipped: "skip",
  "would-update": "(dryrun) update",
  readonly: "readonly",
  deleted: "delete",
  "would-delete": "(dryrun) delete",
  "not-deleted": "absent",
  same: "ok",
  different: "DIFFERS",
  missing: "MISSING",
  failed: "error",
  lost: "lost"
}

export const human = (n: number) =>
  n >= 1 << 30 ? `${(n / (1 << 30)).toFixed(2)} GiB` : n >= 1 << 20 ? `${(n / (1 << 20)).toFixed(1)} MiB` : n >= 1024 ? `${(n / 1024).toFixed(1)} KiB` : `${n} B`

const plural = (n: number, one: string) => `${n} ${one}${n === 1 ? "" : "s"}`

/** Counts per outcome (one per file and host), as the summary and the live footer both word them. */
export type Counts = Readonly<Record<keyof typeof countWords, number>>

const countWords = {
  updated: "updated",
  skipped: "unchanged",
  readonly: "readonly (not taken)",
  deleted: "deleted",
  same: "same",
  different: "differ",
  missing: "missing",
  failed: "failed",
  lost: "lost",
  sourceErrors: "not sent"
} as const

/** The count an outcome adds to (a dry run's "would" outcomes count as what they would be). */
export const countOf = (o: Outcome): keyof Counts =>
  o === "would-update" ? "updated" : o === "would-delete" || o === "not-deleted" ? "deleted" : o

export const noCounts: Counts = {
  updated: 0, skipped: 0, readonly: 0, deleted: 0, same: 0, different: 0, missing: 0, failed: 0, lost: 0, sourceErrors: 0
}

/** `3 updated, 1 unchanged` (only what is not 0); `nothing` when all are. */
export const countsText = (c: Counts, dryRun: boolean): string => {
  const parts = (Object.keys(countWords) as Array<keyof Counts>).filter((k) => c[k] > 0).map((k) => {
    const word = countWords[k]
    return `${c[k]} ${dryRun && (k === "updated" || k === "deleted") ? `would be ${word}` : word}`
  })
  return parts.length === 0 ? "nothing" : parts.join(", ")
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(2)} s`

export const summaryLine = (s: SendSummary, dryRun: boolean, operation: ClientOperation): string => {
  const counts = countsText(s, dryRun)
  if (operation === "check") return `${plural(s.files, "file")} on ${plural(s.hosts, "host")} in ${seconds(s.milliseconds)}: ${counts}`
  // a rate only when data went out: a dry run and a send of unchanged files move none
  const moved = !dryRun && s.bytes > 0 && s.milliseconds > 0
    ? `, ${human(s.bytes)} at ${(s.bytes / 1_000 / s.milliseconds).toFixed(1)} MB/s`
    : ""
  return `${plural(s.files, "file")} to ${plural(s.hosts, "host")} in ${seconds(s.milliseconds)}${moved}${dryRun ? " (dry run)" : ""}: ${counts}`
}

/** A share of blocks sent again below this is ordinary multicast loss, not worth a word. */
const REPAIR_WORTH_SAYING = 0.01

/** `h3 4%`: the hosts that needed a notable share of the file's blocks again. */
const repairs = (e: FileEvent, shared: ReadonlyMap<string, unknown>): string => {
  const blocks = Math.ceil((e.size ?? 0) / 1024)
  const notable = e.hosts.filter((h) => h.missed !== undefined && (blocks === 0 || h.missed / blocks >= REPAIR_WORTH_SAYING))
  if (notable.length === 0) return ""
  const share = (missed: number) => (blocks === 0 ? plural(missed, "block") : `${Math.min(100, Math.round((100 * missed) / blocks))}%`)
  return ` (resent: ${notable.map((h) => `${memberLabel(h, shared)} ${share(h.missed!)}`).join(", ")})`
}

const byName = (a: string, b: string) => a.localeCompare(b, "en", { numeric: true })

/**
 * One line per outcome (and detail) with the hosts that share it: a file every host took is one line. Only the
 * hosts `shown` are listed, each named as among all of the file's hosts.
 */
const fileLines = (e: FileEvent, shown: (h: HostOutcome) => boolean): ReadonlyArray<string> => {
  const shared = sharedNames(e.hosts)
  const groups = new Map<string, { outcome: Outcome; detail: string | undefined; hosts: Array<HostOutcome> }>()
  for (const h of e.hosts.filter(shown)) {
    const detail = h.outcome === "lost" ? (h.detail ?? "no answer") : h.detail
    const key = `${h.outcome}\u0000${detail ?? ""}`
    const group = groups.get(key) ?? { outcome: h.outcome, detail, hosts: [] }
    group.hosts.push(h)
    groups.set(key, group)
  }
  return [...groups.values()].map(({ detail, hosts, outcome }) => {
    // in the order of their names, whichever answered first
    const names = hosts.map((h) => memberLabel(h, shared)).sort(byName).join(" ")
    const line = `${label[outcome].padEnd(8)} ${displayName(e.path)}  ${names}${repairs({ ...e, hosts }, shared)}`
    return detail === undefined ? line : `${line}: ${displayName(detail)}`
  })
}

/** Lines for one event (human form); of a file, the hosts `shown`. */
export const textLines = (e: ControlEvent, shown: (h: HostOutcome) => boolean = () => true): ReadonlyArray<string> => {
  switch (e._tag) {
    case "File":
      return fileLines(e, shown)
    case "SourceError":
      return e.directory === true
        ? [`skipping directory ${displayName(e.path)} (use -r)`]
        : [`error    ${displayName(e.path)}: ${displayName(e.message)}`]
    case "Summary":
      return [summaryLine(e.summary, e.dryRun, e.operation)]
    default:
      return []
  }
}

/** What went wrong somewhere: shown even with --quiet. */
const bad = new Set<Outcome>(["failed", "lost", "different", "missing"])
/** What is as it should be: listed only with -v (`check -r` prints the differences). */
const fine = new Set<Outcome>(["skipped", "same"])

/** The text report as the user asked for it: -q only what went wrong, -v also what is as it should be. */
export const reportLines = (listing: { readonly quiet: boolean; readonly verbose: boolean }) => (e: ControlEvent): ReadonlyArray<string> =>
  textLines(e, (h) => (listing.quiet ? bad.has(h.outcome) : listing.verbose || !fine.has(h.outcome)))

/** JSON lines: one object per file and host, per source error, and the summary (`jsonEvents`, docs/commands.md). */
export const jsonLines = (e: ControlEvent): ReadonlyArray<string> => {
  switch (e._tag) {
    case "File":
      return e.hosts.map((h) => jsonLine({ v: JSON_VERSION, event: "outcome", ...pathFields(e.path), ...h }))
    case "SourceError":
      return [jsonLine({ v: JSON_VERSION, event: "source-error", ...pathFields(e.path), message: e.message })]
    case "Summary":
      return [jsonLine({ v: JSON_VERSION, event: "summary", operation: e.operation, dryRun: e.dryRun, ...e.summary })]
    default:
      return []
  }
}
