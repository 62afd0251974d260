/** The bash completion script, run by bash: flags take no value, values complete by their kind, -t by the members' names. */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import { join } from "node:path"
import { tempDir } from "../../scripts/lib/loopbackCluster.js"
import { grammar } from "../../src/cli/main.js"
import { runCli } from "../support/runCli.js"

const script = (shell = "bash") =>
  Effect.map(runCli(["--completions", shell]), (r) => {
    expect(r.code).toBe(0)
    return r.out
  })

describe("makuo --completions bash", () => {
  it.scoped("completes as the command line is read", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const text = yield* script()
      expect(text).not.toContain("wizard")
      expect(yield* script("sh")).toBe(text)
      // @effect/cli's own, without --wizard
      for (const shell of ["zsh", "fish"]) {
        const other = yield* script(shell)
        expect(other).toContain("dry-run")
        expect(other).not.toContain("wizard")
      }
      const file = join(dir, "makuo.bash")
      fs.writeFileSync(file, text)
      fs.writeFileSync(join(dir, "index.html"), "")
      // stands in for makuo: what `makuo members --json` prints, with the --control it was given
      const fake = join(dir, "makuo")
      fs.writeFileSync(fake, `#!/bin/sh\n[ "$1 $2" = "members --json" ] || exit 1\nprintf '{"members":[{"host":"web1","address":"10.0.0.1"},{"host":"web2%s","address":"10.0.0.2"}]}\\n' "${"$"}{4:+-$4}"\n`, { mode: 0o755 })
      const complete = (...words: ReadonlyArray<string>) => {
        const r = spawnSync("bash", ["-c", `source ${file}; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _makuo; printf '%s\\n' "\${COMPREPLY[@]}"`, "_", fake, ...words], { cwd: dir, encoding: "utf8" })
        expect(r.status, r.stderr).toBe(0)
        return r.stdout.split("\n").filter((l) => l !== "").sort()
      }
      expect(complete("")).toEqual([...grammar.commands.keys(), "help", "--completions", "-h", "--help", "--version"].sort())
      expect(complete("help", "se")).toEqual(["send"])
      // a flag takes no value: what follows is a PATH
      expect(complete("send", "-r", "")).toEqual(["index.html", "makuo", "makuo.bash"])
      expect(complete("send", "-t", "")).toEqual(["web1", "web2"])
      expect(complete("send", "--control", "/run/x.sock", "--target", "w")).toEqual(["web1", "web2-/run/x.sock"])
      expect(complete("daemon", "--log-level", "")).toEqual(["debug", "error", "info", "warning"])
      expect(complete("send", "--parallel", "")).toEqual([])
      expect(complete("send", "--del")).toEqual(["--delete"])
      expect(complete("check", "--del")).toEqual([])
      expect(complete("--completions", "")).toEqual(["bash", "fish", "sh", "zsh"])
    }))
})
