/** The config file as an operator uses it: a daemon started from the file alone, precedence shown by --print-config. */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import { join } from "node:path"
import { BIN, eventually, freePort, makuo, tempDir } from "../../scripts/lib/loopbackCluster.js"
import { stopChild } from "../../scripts/lib/processes.js"

describe("makuo daemon --config", () => {
  it.scopedLive("a daemon runs from its config file alone; --print-config shows flag over environment over file", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const port = yield* freePort(["127.0.0.2"])
      const base = join(dir, "base")
      fs.mkdirSync(base)
      const control = join(dir, "ctl", "makuo.sock")
      const conf = join(dir, "makuo.conf")
      fs.writeFileSync(conf, [
        "# loopback only: this test must not touch a real interface",
        `base = ${base}`,
        "bind = 127.0.0.2",
        "interface = 127.0.0.1",
        `port = ${port}`,
        `control = ${control}`,
        "name = from-file",
        "member-timeout = 5m"
      ].join("\n") + "\n")
      const daemon = yield* Effect.acquireRelease(
        Effect.sync(() => spawn(process.execPath, [BIN, "daemon", "--config", conf], { stdio: ["ignore", "ignore", "pipe"] })),
        (child) => stopChild(child, "SIGKILL")
      )
      let log = ""
      daemon.stderr!.on("data", (d: Buffer) => void (log += d.toString()))
      const up = Effect.map(makuo(["status", "--json", "--control", control]), (r) => r.code === 0 && JSON.parse(r.stdout).host === "from-file")
      expect(yield* eventually(up, "5 seconds"), log).toBe(true)

      // clients find the socket the file names, through MAKUO_CONFIG (or /etc/makuo/makuo.conf): no --control
      const client = yield* makuo(["status", "--json"], 20_000, { env: { MAKUO_CONFIG: conf } })
      expect(client.code, client.stderr).toBe(0)
      expect(JSON.parse(client.stdout).host).toBe("from-file")
      // and the daemon reads the same variable when it gets no --config
      const viaEnv = yield* makuo(["daemon", "--print-config"], 20_000, { env: { MAKUO_CONFIG: conf } })
      expect(viaEnv.stdout).toMatch(/^name = from-file +# from .*makuo\.conf:7$/m)

      const printed = yield* makuo(["daemon", "--config", conf, "--print-config", "--ttl", "2"], 20_000, { env: { MAKUO_NAME: "from-env", MAKUO_TTL: "3" } })
      expect(printed.code, printed.stderr).toBe(0)
      expect(printed.stdout).toMatch(new RegExp(`^# makuo daemon settings \\(config file ${conf}\\)$`, "m"))
      expect(printed.stdout).toMatch(/^name = from-env +# from MAKUO_NAME$/m)
      expect(printed.stdout).toMatch(/^ttl = 2 +# from --ttl$/m)
      expect(printed.stdout).toMatch(new RegExp(`^member-timeout = 5m +# from ${conf}:8$`, "m"))
      expect(printed.stdout).toMatch(/^session-timeout = 180s +# default$/m)

      fs.appendFileSync(conf, "membr-timeout = 1m\n")
      const unknown = yield* makuo(["daemon", "--config", conf])
      expect([unknown.code, unknown.stderr.trim()]).toEqual([2, `makuo: ${conf}:9: unknown setting 'membr-timeout' (the names are the daemon's flags: makuo daemon --help)`])
      const bad = yield* makuo(["daemon", "--base", base, "--bind", "127.0.0.2", "--interface", "127.0.0.1", "--control", join(dir, "s2")], 20_000, { env: { MAKUO_PORT: "70000" } })
      expect(bad.stderr.trim()).toBe("makuo: --port 70000: must be between 1 and 65535 (set in MAKUO_PORT)")
    }), 30_000)
})
