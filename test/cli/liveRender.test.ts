import { describe, expect, it } from "@effect/vitest"
import { makeLive } from "../../src/cli/liveRender.js"
import { textLines } from "../../src/cli/sendRender.js"
import { makeTally } from "../../src/cli/sendTally.js"
import type { ControlEvent } from "../../src/control/Protocol.js"

/** What a terminal shows after `output`: enough of a VT100 for the footer (CR, LF, cursor up, erase below). */
const screen = (output: string): Array<string> => {
  const lines: Array<string> = [""]
  let row = 0
  for (let i = 0; i < output.length; i++) {
    const esc = /^\x1b\[(\d*)([AJ])/.exec(output.slice(i))
    if (esc !== null) {
      if (esc[2] === "A") row = Math.max(0, row - Number(esc[1] || 1))
      else lines.splice(row, lines.length - row, "")
      i += esc[0].length - 1
      continue
    }
    const c = output[i]!
    if (c === "\r") lines[row] = lines[row] ?? ""
    else if (c === "\n") {
      row++
      if (lines[row] === undefined) lines[row] = ""
    } else lines[row] = (lines[row] ?? "") + c
  }
  return lines.filter((l, i) => i < lines.length - 1 || l !== "")
}

const file = (path: string, ...hosts: Array<[string, "updated" | "skipped" | "failed" | "lost"]>): ControlEvent => ({
  _tag: "File", path, hosts: hosts.map(([host, outcome]) => ({ host, address: `127.0.0.${host.slice(1)}`, outcome }))
})
type Flying = { readonly sent: number; readonly states: readonly [string, string] }
const progress = (files: number, scanning: boolean, ...flying: Array<Flying>): ControlEvent => ({
  _tag: "Progress", files, bytes: files * 1024 * 1024, foundFiles: 4, foundBytes: 4 * 1024 * 1024, scanning,
  inFlight: flying.map((f, i) => ({
    path: `site/very/long/directory/name/file-${i}.bin`, blocks: 1024, sent: f.sent, hosts: [{ host: "h2", state: f.states[0] }, { host: "h3", state: f.states[1] }]
  }))
})
const sending: Flying = { sent: 512, states: ["OPEN", "OPEN"] }

const setup = (columns: number) => {
  let out = ""
  const clock = { t: 0 }
  const tally = makeTally()
  const live = makeLive({ write: (s) => void (out += s), columns }, () => clock.t, tally, false)
  const show = (e: ControlEvent) => (tally.event(e), live.event(e, textLines(e)))
  return { clock, live, show, screen: () => screen(out) }
}

describe("the live display on a terminal (golden)", () => {
  it("file lines scroll above a footer redrawn in place; at the end only the lines and the summary stay", () => {
    const { clock, live, screen, show } = setup(70)
    clock.t = 1000
    show(progress(0, true, sending))
    expect(screen()).toEqual([
      "  site/very/long/directory/name/file-0.bin  sending 50%",
      "0/4+ files  512.0 KiB/4.0 MiB+  0.5 MB/s  scanning"
    ])
    show(file("a.html", ["h2", "updated"], ["h3", "updated"]))
    clock.t = 2000
    show(progress(1, false, ...Array.from({ length: 6 }, () => sending)))
    const during = screen()
    expect(during[0]).toBe("update   a.html  h2 h3")
    expect(during).toContain("  … and 2 more in flight")
    // 1 MiB finished and 6 × 512 KiB on their way in 2 s; 4 MiB - 4 MiB left; the hosts agree: one entry
    expect(during.at(-1)).toBe("1/4 files  4.0 MiB/4.0 MiB  2.1 MB/s  h2 h3: 1 updated")
    for (const l of during) expect(l.length).toBeLessThanOrEqual(69)
    show(file("b.bin", ["h2", "lost"], ["h3", "failed"]))
    show(progress(2, false))
    // where the hosts differ, each has its counts, in the summary's words (cut to the terminal's width)
    expect(screen().at(-1)).toBe("2/4 files  2.0 MiB/4.0 MiB  1.0 MB/s  ETA 0:02  h2: 1 updated, 1 los…")
    show({ _tag: "Summary", dryRun: false, operation: "send", summary: { files: 2, bytes: 0, updated: 2, skipped: 0, readonly: 0, deleted: 0, same: 0, different: 0, missing: 0, failed: 1, lost: 1, sourceErrors: 0, hosts: 2, milliseconds: 2000 } })
    live.end()
    expect(screen()).toEqual([
      "update   a.html  h2 h3",
      "lost     b.bin  h2: no answer",
      "error    b.bin  h3",
      "2 files to 2 hosts in 2.00 s: 2 updated, 1 failed, 1 lost"
    ])
  })

  it("a transfer's state in the user's words: sending, resending to a host, waiting for a host (and how long)", () => {
    const { clock, screen, show } = setup(200)
    const footer = () => screen().slice(0, -1)
    clock.t = 1000
    show(progress(0, false, sending, { sent: 1024, states: ["CLOSE", "MARK"] }, { sent: 1100, states: ["CLOSE", "OPEN"] }, { sent: 1024, states: ["CLOSE", "CLOSE"] }))
    expect(footer()).toEqual([
      "  site/very/long/directory/name/file-0.bin  sending 50%",
      "  site/very/long/directory/name/file-1.bin  resending to h3",
      "  site/very/long/directory/name/file-2.bin  waiting for h3 (0 s)",
      "  site/very/long/directory/name/file-3.bin  finishing"
    ])
    clock.t = 13_000
    show(progress(0, false, sending, { sent: 1024, states: ["CLOSE", "MARK"] }, { sent: 1100, states: ["CLOSE", "OPEN"] }))
    expect(footer()[2]).toBe("  site/very/long/directory/name/file-2.bin  waiting for h3 (12 s)")
    for (const l of screen()) expect(l).not.toMatch(/OPEN|MARK|NONE|CLOSE/)
  })

  it("an ETA once the scan is complete; broken off (Ctrl-C), the footer gives way to the line that says so", () => {
    const { clock, live, screen, show } = setup(200)
    clock.t = 4000
    show(progress(1, false))
    // 1 MiB in 4 s, 3 MiB left: 12 s
    expect(screen()).toEqual(["0/4 files  1.0 MiB/4.0 MiB  0.3 MB/s  ETA 0:12"])
    live.end(["interrupted after 4.00 s: nothing done"])
    expect(screen()).toEqual(["interrupted after 4.00 s: nothing done"])
  })
})
