/**
 * Log lines for the systemd journal. systemd sets `JOURNAL_STREAM` to the device and inode of the stream it
 * connected to stderr; when stderr is that stream, each line starts with its syslog priority in angle brackets
 * (`<3>` error, `<4>` warning, `<6>` info, `<7>` debug — sd-daemon(3)) and carries no timestamp and no fiber id:
 * the journal records the time, and the priority is what `journalctl -p` filters on. Elsewhere (a terminal, a
 * file) the daemon keeps logfmt lines with their own timestamps.
 */
import { Cause, HashMap, List, Logger, LogLevel } from "effect"
import * as fs from "node:fs"

/** Whether stderr is the journal stream systemd announced: `JOURNAL_STREAM` is `<dev>:<ino>` of that stream. */
export const stderrIsJournal = (env: NodeJS.ProcessEnv = process.env, stderrFd = 2): boolean => {
  const announced = env.JOURNAL_STREAM
  if (announced === undefined) return false
  const [dev, ino] = announced.split(":")
  try {
    const st = fs.fstatSync(stderrFd, { bigint: true })
    return String(st.dev) === dev && String(st.ino) === ino
  } catch {
    return false
  }
}

const priority = (level: LogLevel.LogLevel): number =>
  level._tag === "Fatal" ? 2 : level._tag === "Error" ? 3 : level._tag === "Warning" ? 4 : level._tag === "Info" ? 6 : 7

const text = (m: unknown): string => typeof m === "string" ? m : m instanceof Error ? m.message : JSON.stringify(m) ?? String(m)

/** A value as logfmt writes it: bare when it has no space, quote or `=`, quoted otherwise. */
const quoted = (value: string) => /^[^\s"=]+$/.test(value) ? value : JSON.stringify(value)

/** One line per entry: `<priority>message key=value ...`; a cause follows on the same line. */
export const journalLine = (options: Logger.Logger.Options<unknown>): string => {
  const messages = Array.isArray(options.message) ? options.message : [options.message]
  let line = `<${priority(options.logLevel)}>${messages.map(text).join(" ")}`
  for (const [key, value] of HashMap.toEntries(options.annotations)) line += ` ${key}=${quoted(text(value))}`
  for (const span of List.toArray(options.spans)) line += ` ${span.label}=${options.date.getTime() - span.startTime}ms`
  if (!Cause.isEmpty(options.cause)) line += ` cause=${quoted(Cause.pretty(options.cause).replace(/\n\s*/g, " | "))}`
  return line
}

export const journalLogger = Logger.make(journalLine)

/** The daemon's logger: journal lines when stderr is the journal, logfmt otherwise; to stderr either way. */
export const daemonLogger = (journal: boolean) =>
  Logger.replace(Logger.defaultLogger, Logger.withConsoleError(journal ? journalLogger : Logger.logfmtLogger))
