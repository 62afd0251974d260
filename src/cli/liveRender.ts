/**
 * `makuo send|sync|check` on a terminal: each file's lines scroll by above a footer redrawn in place — the
 * transfers in flight, in the user's words (`sending 41%`, `resending to h3`, `waiting for h3 (12 s)`), and a
 * line of totals: files done of found, bytes, rate, ETA once the scan is complete, and the counts per host in
 * the summary's words (one line for all hosts when they agree). The footer is erased before anything else is
 * printed and at the end, so what stays on the screen is what a pipe gets. Plain TypeScript over a `Terminal`
 * (tests give it a fake one).
 */
import type { ControlEvent } from "../control/Protocol.js"
import type { InFlight } from "../domain/job.js"
import { displayName } from "../protocol/text.js"
import { countsText, human } from "./sendRender.js"
import { NAMED, type Tally } from "./sendTally.js"

export interface Terminal {
  readonly write: (text: string) => void
  /** Width in columns; footer lines are cut to fit, so that none wraps and each can be erased. */
  readonly columns: number | undefined
}

/** A member's state in a transfer (as `status` names it) while this side waits for its answer. */
const answering = new Set(["NONE", "UPDATE", "OPEN"])

const clock = (seconds: number) => {
  const s = Math.max(0, Math.round(seconds))
  return s >= 3600 ? `${Math.floor(s / 3600)}:${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}:${String(s % 60).padStart(2, "0")}` : `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`
}

export interface Live {
  /** One event of the job, already in `tally`; `lines` are what it prints (already filtered for -q / -v). */
  readonly event: (event: ControlEvent, lines: ReadonlyArray<string>) => void
  /** The job is over (or broken off): the footer goes; `lines` are printed in its place. */
  readonly end: (lines?: ReadonlyArray<string>) => void
}

export const makeLive = (term: Terminal, now: () => number, tally: Tally, dryRun: boolean): Live => {
  const started = now()
  /** When each transfer was first seen with all its blocks out: what it has been waiting for since. */
  const waitingSince = new Map<string, number>()
  let drawn = 0

  const erase = () => (drawn === 0 ? "" : `\r\x1b[${drawn}A\x1b[J`)
  const fit = (line: string) => {
    // a pseudo-terminal without a size says 0
    const width = Math.max(20, (term.columns || 80) - 1)
    return line.length <= width ? line : `${line.slice(0, width - 1)}…`
  }

  const phase = (f: InFlight): string => {
    if (f.sent < f.blocks) {
      waitingSince.delete(f.path)
      return `sending ${Math.floor((100 * f.sent) / f.blocks)}%`
    }
    const resending = f.hosts.filter((h) => h.state === "MARK").map((h) => h.host)
    if (resending.length > 0) return `resending to ${resending.join(" ")}`
    const waiting = f.hosts.filter((h) => answering.has(h.state)).map((h) => h.host)
    if (waiting.length === 0) return "finishing"
    const since = waitingSince.get(f.path) ?? now()
    waitingSince.set(f.path, since)
    return `waiting for ${waiting.join(" ")} (${Math.floor((now() - since) / 1000)} s)`
  }

  const perHost = (): string => {
    const hosts = [...tally.hosts()].map(([host, counts]) => ({ host, text: countsText(counts, dryRun) }))
    if (hosts.length === 0) return ""
    // the hosts that agree share one entry
    return hosts.every((h) => h.text === hosts[0]!.text)
      ? `${hosts.map((h) => h.host).join(" ")}: ${hosts[0]!.text}`
      : hosts.map((h) => `${h.host}: ${h.text}`).join("  ")
  }

  const footer = (): ReadonlyArray<string> => {
    const p = tally.progress()
    if (p === undefined) return []
    const inFlight = new Set(p.inFlight.map((f) => f.path))
    for (const path of waitingSince.keys()) if (!inFlight.has(path)) waitingSince.delete(path)
    const flying = p.inFlight.slice(0, NAMED).map((f) => `  ${displayName(f.path)}  ${phase(f)}`)
    if (p.inFlight.length > NAMED) flying.push(`  … and ${p.inFlight.length - NAMED} more in flight`)
    // bytes of files finished, and of the blocks sent of those in flight: the rate moves with a single big file
    const moving = p.inFlight.reduce((n, f) => n + Math.min(f.sent, f.blocks) * 1024, 0)
    const seconds = (now() - started) / 1000
    const rate = seconds > 0 ? (p.bytes + moving) / seconds : 0
    const left = p.foundBytes - p.bytes - moving
    const eta = p.scanning ? "scanning" : rate > 0 && left > 0 ? `ETA ${clock(left / rate)}` : ""
    // files reported, so that they agree with the counts beside them
    const files = `${tally.files()}/${Math.max(p.foundFiles, tally.files())}${p.scanning ? "+" : ""} files`
    const bytes = `${human(p.bytes + moving)}/${human(p.foundBytes)}${p.scanning ? "+" : ""}`
    return [...flying, [files, bytes, `${(rate / 1_000_000).toFixed(1)} MB/s`, eta, perHost()].filter((x) => x !== "").join("  ")]
  }

  const redraw = (lines: ReadonlyArray<string>, final: boolean) => {
    const below = final ? [] : footer().map(fit)
    const out = erase() + lines.map((l) => `${l}\n`).join("") + below.map((l) => `${l}\n`).join("")
    drawn = below.length
    if (out !== "") term.write(out)
  }

  return {
    event: (event, lines) => redraw(lines, event._tag === "Summary"),
    end: (lines = []) => redraw(lines, true)
  }
}
