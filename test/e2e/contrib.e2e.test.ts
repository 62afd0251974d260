/** What contrib/ ships works as written: the sample config file parses, the unit's command line uses real flags. */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import { join } from "node:path"
import { makuo, tempDir } from "../../scripts/lib/loopbackCluster.js"
import { hasCommand } from "../../scripts/lib/processes.js"

const contrib = join(import.meta.dirname, "..", "..", "contrib")

describe("contrib/", () => {
  it.scopedLive("makuo.conf is a valid config file; makuo.service starts the daemon with flags it has and passes systemd-analyze", () =>
    Effect.gen(function*() {
      // --print-config checks the settings as the daemon would: the sample's base must exist, so a copy serves this one
      const dir = yield* tempDir
      const sample = fs.readFileSync(join(contrib, "makuo.conf"), "utf8")
      expect(sample).toMatch(/^base = \/var\/www$/m)
      const conf = join(dir, "makuo.conf")
      fs.writeFileSync(conf, sample.replace(/^base = \/var\/www$/m, `base = ${dir}`))
      const printed = yield* makuo(["daemon", "--config", conf, "--print-config"])
      expect(printed.code, printed.stderr).toBe(0)
      expect(printed.stdout).toMatch(new RegExp(`^base = ${dir} +# from .*makuo\\.conf:\\d+$`, "m"))

      const unit = fs.readFileSync(join(contrib, "makuo.service"), "utf8")
      const exec = /^ExecStart=(.*)$/m.exec(unit)![1]!.split(/\s+/)
      expect(exec.slice(0, 3)).toEqual(["/usr/bin/env", "makuo", "daemon"])
      const help = (yield* makuo(["daemon", "--help"])).stdout
      for (const flag of exec.filter((a) => a.startsWith("--"))) expect(help).toContain(flag)
      // the config file the unit names is the one the daemon reads by default, and the sample's place
      expect(exec).toContain("/etc/makuo/makuo.conf")

      if (hasCommand("systemd-analyze")) {
        const copy = join(dir, "makuo.service")
        fs.writeFileSync(copy, unit.replace("/usr/bin/env makuo", "/bin/true"))
        // it exits 0 on a directive it cannot parse: what it prints is the verdict
        const verify = spawnSync("systemd-analyze", ["verify", copy], { encoding: "utf8" })
        expect([verify.status, verify.stdout + verify.stderr]).toEqual([0, ""])
      }
    }), 30_000)
})
