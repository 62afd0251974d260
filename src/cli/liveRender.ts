/**
 * `makuo send|sync|check` on a terminal: each file's lines scroll by above a footer redrawn in place — the
 * transfers in flight and a line of totals (files done of found, bytes, rate, ETA once the scan is complete, and
 * per host how many files were updated, skipped, failed or lost). The footer is erased before anything else is
 * printed and at the end, so what stays on the screen is what a pipe gets. Plain TypeScript over a `Terminal`
 * (tests give it a fake one).
 */
import type { ControlEvent } from "../control/Protocol.js"
import type { JobProgress } from "../domain/job.js"
import type { Outcome } from "../domain/outcome.js"
import { displayName } from "../protocol/text.js"
import { human } from "./sendRender.js"

export interface Terminal {
  readonly write: (text: string) => void
  /** Width in columns; footer lines are cut to fit, so that none wraps and each can be erased. */
  readonly columns: number | undefined
}

/** Transfers listed in the footer; the rest are counted. */
const SHOWN = 4

type Tally = Record<"updated" | "skipped" | "failed" | "lost", number>
const tallyOf = (o: Outcome): keyof Tally | undefined =>
  o === "updated" || o === "would-update" || o === "deleted" || o === "would-delete" || o === "same"
    ? "updated"
    : o === "skipped" || o === "not-deleted" || o === "readonly"
    ? "skipped"
    : o === "failed" || o === "different" || o === "missing"
    ? "failed"
    : o === "lost"
    ? "lost"
    : undefined

const clock = (seconds: number) => {
  const s = Math.max(0, Math.round(seconds))
  return s >= 3600 ? `${Math.floor(s / 3600)}:${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}:${String(s % 60).padStart(2, "0")}` : `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`
}

export interface Live {
  /** One event of the job; `lines` are what it prints (already filtered for -q / -v). */
  readonly event: (event: ControlEvent, lines: ReadonlyArray<string>) => void
  /** The job is over (or broken off): the footer goes. */
  readonly end: () => void
}

export const makeLive = (term: Terminal, now: () => number): Live => {
  const started = now()
  const hosts = new Map<string, Tally>()
  let progress: JobProgress | undefined
  let drawn = 0

  const erase = () => (drawn === 0 ? "" : `\r\x1b[${drawn}A\x1b[J`)
  const fit = (line: string) => {
    // a pseudo-terminal without a size says 0
    const width = Math.max(20, (term.columns || 80) - 1)
    return line.length <= width ? line : `${line.slice(0, width - 1)}…`
  }

  const footer = (): ReadonlyArray<string> => {
    if (progress === undefined) return []
    const p = progress
    const flying = p.inFlight.slice(0, SHOWN).map((f) => {
      const share = f.blocks === 0 ? "" : ` ${Math.min(100, Math.floor((100 * Math.min(f.sent, f.blocks)) / f.blocks))}%`
      return `  ${displayName(f.path)}${share}  ${f.hosts.map((h) => `${h.host} ${h.state}`).join(", ")}`
    })
    if (p.inFlight.length > SHOWN) flying.push(`  … and ${p.inFlight.length - SHOWN} more in flight`)
    // bytes of files finished, and of the blocks sent of those in flight: the rate moves with a single big file
    const moving = p.inFlight.reduce((n, f) => n + Math.min(f.sent, f.blocks) * 1024, 0)
    const seconds = (now() - started) / 1000
    const rate = seconds > 0 ? (p.bytes + moving) / seconds : 0
    const left = p.foundBytes - p.bytes - moving
    const eta = p.scanning ? "scanning" : rate > 0 && left > 0 ? `ETA ${clock(left / rate)}` : ""
    const files = `${p.files}/${p.foundFiles}${p.scanning ? "+" : ""} files`
    const bytes = `${human(p.bytes + moving)}/${human(p.foundBytes)}${p.scanning ? "+" : ""}`
    const perHost = [...hosts].map(([host, t]) =>
      `${host} ${t.updated} ok${t.skipped > 0 ? ` ${t.skipped} skip` : ""}${t.failed > 0 ? ` ${t.failed} FAILED` : ""}${t.lost > 0 ? ` ${t.lost} LOST` : ""}`)
    return [...flying, [files, bytes, `${(rate / 1_000_000).toFixed(1)} MB/s`, eta, ...perHost].filter((x) => x !== "").join("  ")]
  }

  const redraw = (lines: ReadonlyArray<string>, final: boolean) => {
    const below = final ? [] : footer().map(fit)
    const out = erase() + lines.map((l) => `${l}\n`).join("") + below.map((l) => `${l}\n`).join("")
    drawn = below.length
    if (out !== "") term.write(out)
  }

  return {
    event: (event, lines) => {
      switch (event._tag) {
        case "Progress":
          progress = event
          return redraw([], false)
        case "File":
          for (const h of event.hosts) {
            const kind = tallyOf(h.outcome)
            if (kind === undefined) continue
            const t = hosts.get(h.host) ?? { updated: 0, skipped: 0, failed: 0, lost: 0 }
            t[kind]++
            hosts.set(h.host, t)
          }
          return redraw(lines, false)
        case "Summary":
          return redraw(lines, true)
        default:
          return redraw(lines, false)
      }
    },
    end: () => redraw([], true)
  }
}
