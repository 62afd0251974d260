/** How `makuo send` reports: a line per file and host as it happens, then a summary; or JSON lines. */
import type { ControlEvent } from "../control/Protocol.js"
import type { ClientOperation } from "../domain/operation.js"
import { memberLabel, sharedNames } from "../domain/member.js"
import type { SendSummary } from "../domain/summary.js"
import { displayName } from "../protocol/text.js"
import { JSON_VERSION, jsonLine, pathFields } from "./jsonEvents.js"

type Outcome = Extract<ControlEvent, { _tag: "File" }>["hosts"][number]

const label: Record<Outcome["outcome"], string> = {
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

export const summaryLine = (s: SendSummary, dryRun: boolean, operation: ClientOperation): string => {
  const seconds = s.milliseconds / 1000
  if (operation === "check") {
    const parts = [`${s.same} same`, `${s.different} differ`, `${s.missing} missing`, `${s.failed} failed`, `${s.lost} lost`]
    if (s.sourceErrors > 0) parts.push(`${s.sourceErrors} not checked`)
    return `${s.files} files on ${s.hosts} host${s.hosts === 1 ? "" : "s"} in ${seconds.toFixed(2)} s: ${parts.join(", ")}`
  }
  const rate = seconds > 0 ? (s.bytes / 1_000_000 / seconds).toFixed(1) : "-"
  const parts = [`${s.updated} ${dryRun ? "would update" : "updated"}`, `${s.skipped} skipped`]
  if (s.readonly > 0) parts.push(`${s.readonly} not taken (readonly member)`)
  if (s.deleted > 0) parts.push(`${s.deleted} ${dryRun ? "would delete" : "deleted"}`)
  parts.push(`${s.failed} failed`, `${s.lost} lost`)
  if (s.sourceErrors > 0) parts.push(`${s.sourceErrors} not sent`)
  return `${s.files} files, ${human(s.bytes)} to ${s.hosts} host${s.hosts === 1 ? "" : "s"} in ${seconds.toFixed(2)} s (${rate} MB/s): ${parts.join(", ")}`
}

/** Lines for one event (human form). */
export const textLines = (e: ControlEvent): ReadonlyArray<string> => {
  switch (e._tag) {
    case "File": {
      const shared = sharedNames(e.hosts)
      return e.hosts.map((h) => {
        const line = `${label[h.outcome].padEnd(8)} ${memberLabel(h, shared)}:${displayName(e.path)}`
        if (h.outcome === "lost") return `${line} (${h.detail ?? "no answer"})`
        if (h.missed !== undefined) return `${line} (${h.missed} blocks missed and repaired)`
        return h.detail === undefined ? line : `${line}: ${h.detail}`
      })
    }
    case "SourceError":
      return [`error    ${displayName(e.path)}: ${displayName(e.message)}`]
    case "Summary":
      return [summaryLine(e.summary, e.dryRun, e.operation)]
    default:
      return []
  }
}

/** JSON lines: one object per file and host, per source error, and the summary (`jsonEvents`, the README). */
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
