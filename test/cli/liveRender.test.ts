import { describe, expect, it } from "@effect/vitest"
import { makeLive } from "../../src/cli/liveRender.js"
import { textLines } from "../../src/cli/sendRender.js"
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
  _tag: "File", path, hosts: hosts.map(([host, outcome]) => ({ host, address: "127.0.0.1", outcome }))
})
const progress = (files: number, inFlight: number, scanning: boolean): ControlEvent => ({
  _tag: "Progress", files, bytes: files * 1024 * 1024, foundFiles: 4, foundBytes: 4 * 1024 * 1024, scanning,
  inFlight: Array.from({ length: inFlight }, (_, i) => ({
    path: `site/very/long/directory/name/file-${i}.bin`, blocks: 1024, sent: 512, hosts: [{ host: "web2", state: "OPEN" }, { host: "web3", state: "MARK" }]
  }))
})

describe("the live display on a terminal", () => {
  it("file lines scroll above a footer redrawn in place; at the end only the lines and the summary stay", () => {
    let out = ""
    let t = 0
    const live = makeLive({ write: (s) => void (out += s), columns: 60 }, () => t)
    const show = (e: ControlEvent) => live.event(e, textLines(e))
    t = 1000
    show(progress(0, 1, true))
    expect(screen(out)).toEqual([
      "  site/very/long/directory/name/file-0.bin 50%  web2 OPEN,…",
      "0/4+ files  512.0 KiB/4.0 MiB+  0.5 MB/s  scanning"
    ])
    show(file("a.html", ["web2", "updated"], ["web3", "updated"]))
    t = 2000
    show(progress(1, 6, false))
    const during = screen(out)
    expect(during.slice(0, 2)).toEqual(["update   web2:a.html", "update   web3:a.html"])
    expect(during).toContain("  … and 2 more in flight")
    // 1 MiB finished and 6 × 512 KiB on their way in 2 s; 4 MiB - 4 MiB left
    expect(during.at(-1)).toBe("1/4 files  4.0 MiB/4.0 MiB  2.1 MB/s  web2 1 ok  web3 1 ok")
    for (const l of during) expect(l.length).toBeLessThanOrEqual(59)
    show(file("b.bin", ["web2", "lost"], ["web3", "failed"]))
    show({ _tag: "Summary", dryRun: false, operation: "send", summary: { files: 2, bytes: 0, updated: 2, skipped: 0, readonly: 0, deleted: 0, same: 0, different: 0, missing: 0, failed: 1, lost: 1, sourceErrors: 0, hosts: 2, milliseconds: 2000 } })
    live.end()
    expect(screen(out)).toEqual([
      "update   web2:a.html",
      "update   web3:a.html",
      "lost     web2:b.bin (no answer)",
      "error    web3:b.bin",
      "2 files, 0 B to 2 hosts in 2.00 s (0.0 MB/s): 2 updated, 0 skipped, 1 failed, 1 lost"
    ])
  })

  it("an ETA once the scan is complete; broken off (Ctrl-C), the footer is erased", () => {
    let out = ""
    let t = 0
    const live = makeLive({ write: (s) => void (out += s), columns: 200 }, () => t)
    t = 4000
    live.event(progress(1, 0, false), [])
    // 1 MiB in 4 s, 3 MiB left: 12 s
    expect(screen(out)).toEqual(["1/4 files  1.0 MiB/4.0 MiB  0.3 MB/s  ETA 0:12"])
    live.end()
    expect(screen(out)).toEqual([])
  })
})
