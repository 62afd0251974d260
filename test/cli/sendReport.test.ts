import { describe, expect, it } from "@effect/vitest"
import { reportLines } from "../../src/cli/sendRender.js"
import { interruptedLine, makeTally } from "../../src/cli/sendTally.js"
import type { ControlEvent } from "../../src/control/Protocol.js"
import type { HostOutcome } from "../../src/domain/outcome.js"
import type { SendSummary } from "../../src/domain/summary.js"

const address: Record<string, string> = { h2: "127.0.0.3", h3: "127.0.0.4", h4: "127.0.0.5" }
const on = (host: string, outcome: HostOutcome["outcome"], more: Partial<HostOutcome> = {}): HostOutcome => ({
  host, address: address[host] ?? "127.0.0.9", outcome, ...more
})
const file = (path: string, hosts: ReadonlyArray<HostOutcome>, size?: number): ControlEvent => ({
  _tag: "File", path, hosts, ...(size === undefined ? {} : { size })
})
const zero: SendSummary = {
  files: 0, bytes: 0, hosts: 2, milliseconds: 1500, updated: 0, skipped: 0, readonly: 0, deleted: 0, same: 0,
  different: 0, missing: 0, failed: 0, lost: 0, sourceErrors: 0
}
const summary = (operation: "send" | "check", dryRun: boolean, s: Partial<SendSummary>): ControlEvent => ({
  _tag: "Summary", operation, dryRun, summary: { ...zero, ...s }
})

/** The report a pipe gets for these events. */
const report = (events: ReadonlyArray<ControlEvent>, listing = { quiet: false, verbose: false }) =>
  events.flatMap(reportLines(listing)).join("\n")

describe("the text report of send and check (golden)", () => {
  it("send: one line per file naming its hosts; unchanged files only in the summary", () => {
    const events = [
      file("htdocs/index.html", [on("h2", "updated"), on("h3", "updated")], 2048),
      file("htdocs/style.css", [on("h2", "skipped"), on("h3", "skipped")], 100),
      file("htdocs/big.iso", [on("h2", "updated", { missed: 3 }), on("h3", "updated", { missed: 80 })], 1024 * 1000),
      summary("send", false, { files: 3, bytes: 2048 + 1024 * 1000, updated: 4, skipped: 2 })
    ]
    expect(report(events)).toBe([
      "update   htdocs/index.html  h2 h3",
      // 3 of 1000 blocks is ordinary loss; 8% is worth a word
      "update   htdocs/big.iso  h2 h3 (resent: h3 8%)",
      "3 files to 2 hosts in 1.50 s, 1002.0 KiB at 0.7 MB/s: 4 updated, 2 unchanged"
    ].join("\n"))
    expect(report(events, { quiet: false, verbose: true }).split("\n")[1]).toBe("skip     htdocs/style.css  h2 h3")
  })

  it("send -n: what would change, no rate; unchanged everywhere: no rate either", () => {
    expect(report([
      file("htdocs/index.html", [on("h2", "would-update"), on("h3", "skipped")], 10),
      file("old.html", [on("h2", "would-delete"), on("h3", "would-delete")]),
      summary("send", true, { files: 2, bytes: 10, updated: 1, skipped: 1, deleted: 2 })
    ])).toBe([
      "(dryrun) update htdocs/index.html  h2",
      "(dryrun) delete old.html  h2 h3",
      "2 files to 2 hosts in 1.50 s (dry run): 1 would be updated, 1 unchanged, 2 would be deleted"
    ].join("\n"))
    expect(report([summary("send", false, { files: 1, hosts: 1, skipped: 1 })])).toBe("1 file to 1 host in 1.50 s: 1 unchanged")
  })

  it("send with mixed outcomes: a line per outcome where the hosts differ; the counts add up", () => {
    const events = [
      file("htdocs/index.html", [on("h2", "updated"), on("h3", "readonly"), on("h4", "updated")], 10),
      file("htdocs/up/x.png", [
        on("h2", "failed", { detail: "open failed: ENOSPC: no space left on device" }),
        on("h3", "readonly"),
        on("h4", "lost", { detail: "no answer; dropped from this transfer" })
      ], 10),
      { _tag: "SourceError", path: "htdocs/secret", message: "unreadable here: EACCES" },
      { _tag: "SourceError", path: "htdocs/img", message: "skipping directory (use -r)", directory: true },
      file("htdocs/a", [on("h2", "updated"), { host: "h2", address: "127.0.0.9", outcome: "lost" }]),
      summary("send", false, { files: 3, hosts: 3, bytes: 20, updated: 3, readonly: 2, failed: 1, lost: 2, sourceErrors: 2 })
    ] satisfies ReadonlyArray<ControlEvent>
    expect(report(events)).toBe([
      "update   htdocs/index.html  h2 h4",
      "readonly htdocs/index.html  h3",
      "error    htdocs/up/x.png  h2: open failed: ENOSPC: no space left on device",
      "readonly htdocs/up/x.png  h3",
      "lost     htdocs/up/x.png  h4: no answer; dropped from this transfer",
      "error    htdocs/secret: unreadable here: EACCES",
      "skipping directory htdocs/img (use -r)",
      // two hosts announce h2: each is named with its address
      "update   htdocs/a  h2 (127.0.0.3)",
      "lost     htdocs/a  h2 (127.0.0.9): no answer",
      "3 files to 3 hosts in 1.50 s, 20 B at 0.0 MB/s: 3 updated, 2 readonly (not taken), 1 failed, 2 lost, 2 not sent"
    ].join("\n"))
    expect(report(events, { quiet: true, verbose: false })).toBe([
      "error    htdocs/up/x.png  h2: open failed: ENOSPC: no space left on device",
      "lost     htdocs/up/x.png  h4: no answer; dropped from this transfer",
      "error    htdocs/secret: unreadable here: EACCES",
      "skipping directory htdocs/img (use -r)",
      "lost     htdocs/a  h2 (127.0.0.9): no answer",
      "3 files to 3 hosts in 1.50 s, 20 B at 0.0 MB/s: 3 updated, 2 readonly (not taken), 1 failed, 2 lost, 2 not sent"
    ].join("\n"))
  })

  const checked = [
    file("htdocs/index.html", [on("h2", "same"), on("h3", "same")]),
    file("htdocs/app.js", [on("h2", "same"), on("h3", "different")]),
    file("htdocs/new.css", [on("h2", "missing"), on("h3", "failed", { detail: "unreadable: EACCES: permission denied or path refused" })]),
    summary("check", false, { files: 3, milliseconds: 80, same: 3, different: 1, missing: 1, failed: 1 })
  ]

  it("check -r prints the differences", () => {
    expect(report(checked)).toBe([
      "DIFFERS  htdocs/app.js  h3",
      "MISSING  htdocs/new.css  h2",
      "error    htdocs/new.css  h3: unreadable: EACCES: permission denied or path refused",
      "3 files on 2 hosts in 0.08 s: 3 same, 1 differ, 1 missing, 1 failed"
    ].join("\n"))
  })

  it("check -r -v also the copies that are the same", () => {
    expect(report(checked, { quiet: false, verbose: true })).toBe([
      "ok       htdocs/index.html  h2 h3",
      "ok       htdocs/app.js  h2",
      "DIFFERS  htdocs/app.js  h3",
      "MISSING  htdocs/new.css  h2",
      "error    htdocs/new.css  h3: unreadable: EACCES: permission denied or path refused",
      "3 files on 2 hosts in 0.08 s: 3 same, 1 differ, 1 missing, 1 failed"
    ].join("\n"))
  })

  it("Ctrl-C: one line with what was done and what was broken off", () => {
    const tally = makeTally()
    expect(interruptedLine(tally, 200, false)).toBe("interrupted after 0.20 s: nothing done")
    tally.event(file("a", [on("h2", "updated"), on("h3", "updated")]))
    tally.event(file("b", [on("h2", "skipped"), on("h3", "failed", { detail: "x" })]))
    tally.event({
      _tag: "Progress", files: 2, bytes: 0, foundFiles: 9, foundBytes: 0, scanning: false,
      inFlight: ["c", "d", "e", "f", "g", "h"].map((path) => ({ path, blocks: 1, sent: 0, hosts: [] }))
    })
    expect(interruptedLine(tally, 3200, false)).toBe(
      "interrupted after 3.20 s: 2 files done (2 updated, 1 unchanged, 1 failed); broken off: c, d, e, f and 2 more"
    )
    // unchanged files counted by the daemon, not named (the text report's `countSkipped`): each a file, on each host
    tally.event({ _tag: "Skipped", files: 500, hosts: [on("h2", "skipped"), on("h3", "skipped")] })
    expect(tally.files()).toBe(502)
    expect(tally.hosts().get("h3")).toMatchObject({ updated: 1, skipped: 500, failed: 1 })
    expect(interruptedLine(tally, 3300, false)).toMatch(/^interrupted after 3\.30 s: 502 files done \(2 updated, 1001 unchanged, 1 failed\)/)
  })
})
