/**
 * A daemon's command line read without @effect/cli (`readDaemonArgv`): every option of the settings' table and the
 * command's own, in both forms, gives what @effect/cli gives for it; whatever it might read otherwise is left to it.
 */
import { describe, expect, it } from "@effect/vitest"
import { CliConfig, Options } from "@effect/cli"
import * as NodeContext from "@effect/platform-node/NodeContext"
import { Effect } from "effect"
import * as fs from "node:fs"
import { join } from "node:path"
import { tempDir } from "../../scripts/lib/loopbackCluster.js"
import { daemonOptions } from "../../src/cli/daemonCli.js"
import { readDaemonArgv } from "../../src/cli/daemonArgv.js"
import { commandRows } from "../../src/cli/daemonCommand.js"
import { settingRows } from "../../src/cli/daemonSettings.js"

const byEffectCli = (args: ReadonlyArray<string>) =>
  Options.processCommandLine(Options.all(daemonOptions), [...args], CliConfig.defaultConfig).pipe(
    Effect.map(([, leftover, flags]) => ({ leftover, flags })),
    Effect.provide(NodeContext.layer)
  )

/** A value for each option that takes one, of its kind. */
const sample = (dir: string): Record<string, string> => {
  const password = join(dir, "password")
  fs.writeFileSync(password, "secret\n")
  return {
    base: dir, multicast: "224.0.0.109", port: "5001", interface: "127.0.0.1", bind: "127.0.0.2", ttl: "2", name: "h9",
    "member-timeout": "5m", "session-timeout": "3m", control: join(dir, "c.sock"), "control-group": "wheel", user: "nobody",
    group: "nogroup", "recv-buffer": "1000", "send-buffer": "0002000", "max-sessions": "10", "max-sessions-per-peer": "5",
    "max-temp-files": "20", console: "tcp:127.0.0.1:5000", "console-password-file": password, "key-file": join(dir, "k"),
    "journal-dir": "j", mtu: "9000", "log-level": "debug", config: join(dir, "makuo.conf")
  }
}

describe("makuo daemon's options read without @effect/cli", () => {
  it.scoped("every option, in both forms, alone and all together, gives what @effect/cli gives", () =>
    Effect.gen(function*() {
      const values = sample(yield* tempDir)
      const rows = [...settingRows, ...commandRows]
      const forms = rows.map((row) =>
        row.kind._tag === "boolean" ? [[`--${row.name}`]] : [[`--${row.name}`, values[row.name]!], [`--${row.name}=${values[row.name]!}`]])
      expect(rows.filter((row) => row.kind._tag !== "boolean" && values[row.name] === undefined).map((row) => row.name), "without a sample").toEqual([])
      for (const args of [[], ...forms.flat(), forms.flatMap((f) => f[0]!), forms.flatMap((f) => f.at(-1)!).reverse()]) {
        const read = readDaemonArgv(args)
        expect(read, args.join(" ")).toBeDefined()
        expect({ leftover: [], flags: read }, args.join(" ")).toEqual(yield* byEffectCli(args))
      }
    }))

  it.scoped("leaves to the CLI what it might read otherwise: help, built-ins, short, unknown, repeated options, odd values", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      // a stat that fails otherwise than "no such file" (a symlink loop, a name too long) is doubt, not a crash
      fs.symlinkSync("loop", join(dir, "loop"))
      const leftToTheCli = [
        ["--console-password-file", join(dir, "loop")], ["--console-password-file", "x".repeat(5000)],
        ["--help"], ["-h"], ["--version"], ["--completions", "bash"], ["--wizard"], ["-r"], ["--bogus"], ["PATH"], ["--"],
        ["--port", "abc"], ["--port", "-1"], ["--port=+5"], ["--port", "99999999999999999999"], ["--log-level", "loud"],
        ["--readonly=yes"], ["--readonly", "--readonly"], ["--port", "1", "--port", "2"], ["--name="], ["--name"],
        ["--name", "--base"], ["--console-password-file", join(dir, "none")], ["--console-password-file", dir], ["--base", "/x", "extra"]
      ]
      for (const args of leftToTheCli) expect(readDaemonArgv(args), args.join(" ")).toBeUndefined()
    }))
})
