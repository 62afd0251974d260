/**
 * What the console writes, byte for byte as makuosan 1.3.6 does (makuosan-v7.md §5.5, §8.3; `vectors/console/`): progress
 * lines filtered by the connection's `loglevel`, `error:` lines always, and the fixed texts of `help`,
 * `members` and `status`. Progress lines of SEND end in CRLF, delete reports and everything else in LF.
 */
import type { Member } from "../domain/member.js"
import type { StatusInfo } from "../control/Protocol.js"
import { strerror } from "../protocol/errno.js"
import type { HostOutcome } from "../domain/outcome.js"
import type { SendEvent } from "../domain/job.js"
import type { Operation } from "../domain/operation.js"

export const PROMPT = "> "
export const PASSWORD_PROMPT = "password: \x1b]E"

export const helpText =
  "COMMAND:\n" +
  "  quit\n  exclude add PATTERN\n  exclude del PATTERN\n  exclude list\n  exclude clear\n" +
  "  send  [-r] [-t host] [-n] [path]\n  sync  [-r] [-t host] [-n] [path]\n  dsync [-r] [-t host] [-n] [path]\n" +
  "  check [-r] [-t host] [path]\n  alive on|off\n  loglevel num (0-9)\n  members\n  status\n  help\n"

/** One line per member sorted by host name (byte order), columns as wide as the widest entry. */
export const membersText = (members: ReadonlyArray<Member>): string => {
  const sorted = [...members].sort((a, b) => Buffer.compare(Buffer.from(a.host), Buffer.from(b.host)))
  const hostWidth = Math.max(0, ...sorted.map((m) => m.host.length))
  const addressWidth = Math.max(0, ...sorted.map((m) => m.address.length))
  const lines = sorted.map((m) => `${m.host.padEnd(hostWidth)} ${m.address.padEnd(addressWidth)} (Ver${m.version})\n`)
  return `${lines.join("")}Total: ${members.length} members\n`
}

const clock = (ms: number) => new Date(ms).toTimeString().slice(0, 8)

export interface ConsoleStatus {
  readonly status: StatusInfo
  readonly recvBufferSize: number
  readonly sendBufferSize: number
  /** Commands running on the other console connections. */
  readonly commands: ReadonlyArray<string>
}

export const statusText = ({ commands, recvBufferSize, sendBufferSize, status: s }: ConsoleStatus): string =>
  [
    `process : ${s.pid}`,
    `version : ${s.version}`,
    `basedir : ${s.base}/`,
    `mfalloc : ${s.outgoing.length + s.incoming.length}`,
    `recvsize: ${recvBufferSize}`,
    `sendsize: ${sendBufferSize}`,
    `command : ${commands.length}`,
    ...commands.map((c, i) => `  ${i}> ${c}`),
    `send op : ${s.outgoing.length}`,
    ...s.outgoing.map((o) =>
      `  (req) ${o.operation.toUpperCase()} ${o.path} (${Math.min(o.sent, o.blocks)}/${o.blocks}) ` +
      o.hosts.map((h) => `${h.host}=${h.state}`).join(" ")),
    `recv op : ${s.incoming.length}`,
    ...s.incoming.map((i) => `  SEND ${i.phase} ${clock(s.now)} ${i.path} (${i.blocks - i.missing}/${i.blocks}) ip=${i.from}`),
    ""
  ].join("\n")

interface Line {
  readonly level: number
  readonly text: string
}

const at = (level: number, text: string): Line => ({ level, text })

const place = (h: HostOutcome, path: string) => `${h.host}:${path}`

const lost = (h: HostOutcome) => at(0, `error: receive time out: ${h.address}(${h.host})\n`)

/** A failure on a member: glibc's text for its errno, as makuosan prints it, else our own words. */
const failure = (h: HostOutcome, path: string) =>
  at(0, `error: ${h.errno === undefined ? h.detail ?? "failed" : strerror(h.errno)} ${place(h, path)}\n`)

const sendLines = (h: HostOutcome, path: string, dry: string): ReadonlyArray<Line> => {
  switch (h.outcome) {
    case "updated":
    case "would-update":
      return [at(1, `${dry}update ${place(h, path)}\r\n`)]
    case "skipped":
      return [at(2, `${dry}skip   ${place(h, path)}\r\n`)]
    case "readonly":
      return [at(3, `${dry}skipro ${place(h, path)}\r\n`)]
    case "deleted":
    case "would-delete":
      return [at(1, `${dry}delete ${place(h, path)}\n`)]
    case "not-deleted":
      return []
    case "failed":
      // the member decided to update, then failed to: makuosan shows both
      return h.errno === undefined ? [failure(h, path)] : [at(1, `${dry}update ${place(h, path)}\r\n`), failure(h, path)]
    case "lost":
      return [lost(h)]
    default:
      return [failure(h, path)]
  }
}

const checkLines = (h: HostOutcome, path: string): ReadonlyArray<Line> => {
  switch (h.outcome) {
    case "same":
      return [at(1, `${h.host}: OK ${path}\r\n`)]
    case "different":
      return [at(0, `${h.host}: NG ${path}\r\n`)]
    case "missing":
      return [at(0, `error: ${strerror(2)} ${place(h, path)}\n`)]
    case "lost":
      return [lost(h)]
    default:
      // makuosan drops a member's read error silently; we report it
      return [failure(h, path)]
  }
}

/** DSYNC reports are always shown (level 0). */
const dsyncLines = (h: HostOutcome, path: string): ReadonlyArray<Line> => {
  switch (h.outcome) {
    case "deleted":
      return [at(0, `delete ${place(h, path)}\n`)]
    case "would-delete":
      return [at(0, `(dryrun) delete ${place(h, path)}\n`)]
    case "lost":
      return [lost(h)]
    default:
      return [at(0, `delete error (${h.errno === undefined ? h.detail ?? "failed" : strerror(h.errno)}) ${place(h, path)}\n`)]
  }
}

/** makuosan's dry run at level 0: one summary line per path that would change somewhere. */
const dryRunSummary = (hosts: ReadonlyArray<HostOutcome>, path: string): ReadonlyArray<Line> => {
  const update = hosts.some((h) => h.outcome === "would-update")
  const del = hosts.some((h) => h.outcome === "would-delete")
  return [
    ...(update ? [at(0, `(dryrun) [update:${path}]\n`)] : []),
    ...(del ? [at(0, `(dryrun) [delete:${path}]\n`)] : [])
  ]
}

export interface Verbosity {
  readonly operation: Operation
  readonly dryRun: boolean
  readonly level: number
}

/** The text one event of a console command produces at the connection's log level. */
export const eventText = (event: SendEvent, { dryRun, level, operation }: Verbosity): string => {
  // the console asks for no counts of skipped files (`countSkipped`): it lists them from level 2, as makuosan does
  if (event._tag === "Summary" || event._tag === "Progress" || event._tag === "Skipped") return ""
  if (event._tag === "SourceError") return `error: ${event.message} ${event.path}\n`
  const { hosts, path } = event
  const lines = hosts.flatMap((h) =>
    operation === "check" ? checkLines(h, path) : operation === "dsync" ? dsyncLines(h, path) : sendLines(h, path, dryRun ? "(dryrun) " : "")
  )
  const shown = dryRun && level === 0 && operation !== "dsync"
    ? [...lines.filter((l) => l.level === 0 && l.text.startsWith("error:")), ...dryRunSummary(hosts, path)]
    : lines.filter((l) => l.level <= level)
  return shown.map((l) => l.text).join("")
}
