/** The built CLI: a refused command line exits 2 before any daemon hears of it; `--exclude=PATTERN` reaches the request. */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { makuo, tempDir } from "../../scripts/lib/loopbackCluster.js"
import { fakeControl } from "../support/fakeControl.js"

describe("makuo's command line, end to end", () => {
  it.scopedLive("send -r --bogus -n x exits 2 naming --bogus; --exclude='*.log' is an exclusion, not a PATH", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const control = yield* fakeControl(dir)
      const bogus = yield* makuo(["send", "-r", "--bogus", "-n", "x", "--control", control.path])
      expect(bogus.code).toBe(2)
      expect(bogus.stderr.trim()).toBe("makuo: unknown option --bogus for 'makuo send'")
      expect(control.requests).toEqual([])

      const sent = yield* makuo(["send", "-r", "--delete", "--exclude=*.log", "logs", `--control=${control.path}`])
      expect(sent.code, sent.stderr).toBe(0)
      expect(control.requests).toMatchObject([{ _tag: "Send", paths: ["logs"], recursive: true, delete: true, excludes: ["*.log"] }])
    }))
})
