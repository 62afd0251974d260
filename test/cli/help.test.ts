/**
 * The help as a pipe gets it, through `main` as the binary runs it: each option's own words and default, the
 * built-ins once, `makuo COMMAND ...` in the usage, lines within 80 columns, `makuo help X` = `makuo X --help`;
 * errors say `makuo:` and name the option.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { grammar } from "../../src/cli/main.js"
import { runCli as run } from "../support/runCli.js"
import { DEFAULT_PARALLEL } from "../../src/domain/job.js"



const commands = [...grammar.commands.keys()]

describe("help", () => {
  it.effect("every command's help: no parser boilerplate, no --wizard, one --log-level, `makuo COMMAND` usage, 80 columns", () =>
    Effect.gen(function*() {
      expect([...commands].sort()).toEqual(["check", "daemon", "doctor", "keygen", "members", "send", "status", "sync"])
      for (const args of [[], ["--help"], ...commands.map((c) => [c, "--help"])]) {
        const help = yield* run(args)
        expect([help.code, help.err], args.join(" ")).toEqual([0, ""])
        expect(help.out).not.toMatch(/This setting is optional|may be repeated zero or more times|--wizard|A user-defined piece of text|A true or false value|An integer\./)
        expect(help.out).not.toContain("\x1b[")
        expect((help.out.match(/^ *--log-level/gm) ?? []).length).toBeLessThanOrEqual(1)
        for (const line of help.out.split("\n")) {
          // an example line may be longer: it is shown as typed
          if (!/^ {4}makuo /.test(line)) expect(line.length, line).toBeLessThanOrEqual(80)
        }
        if (args.length === 2) expect(help.out).toMatch(new RegExp(`^USAGE\\n  makuo ${args[0]}( |$)`, "m"))
      }
    }))

  it.effect("the overview lists every command with its summary, and the options every command has", () =>
    Effect.gen(function*() {
      const help = (yield* run(["--help"])).out
      for (const c of commands) expect(help).toMatch(new RegExp(`^  ${c} +\\S`, "m"))
      expect(help).toMatch(/^ {2}send +Push files to every live member at once: .*\n {11}\S/m)
      for (const o of ["-h, --help", "--version", "--completions"]) expect(help).toContain(`\n  ${o}`)
      expect((yield* run([])).out).toBe(help)
      expect((yield* run(["help"])).out).toBe(help)
    }))

  it.effect("`makuo help COMMAND` is `makuo COMMAND --help`; -h anywhere before -- asks for it", () =>
    Effect.gen(function*() {
      for (const c of commands) {
        const help = (yield* run(["help", c])).out
        expect(help).toBe((yield* run([c, "--help"])).out)
        expect(help).toBe((yield* run([c, "a", "-h"])).out)
      }
      expect(yield* run(["help", "sned"])).toMatchObject({ code: 2, err: expect.stringMatching(/^makuo: help: no command 'sned'/) })
    }))

  it.effect("options with a default say it, at the end of their description", () =>
    Effect.gen(function*() {
      const send = (yield* run(["send", "--help"])).out
      const daemon = (yield* run(["daemon", "--help"])).out
      const describe = (help: string, option: string) => new RegExp(`^  ${option}.*\\n((?: {6}.*\\n)+)`, "m").exec(`${help}\n`)![1]!.replace(/\s+/g, " ").trim()
      expect(describe(send, "--parallel")).toMatch(new RegExp(`Default: ${DEFAULT_PARALLEL}\\.$`))
      expect(describe(send, "--timeout")).toMatch(/Default: 60s\.$/)
      expect(describe(send, "--rate")).toMatch(/Default: no cap\.$/)
      expect(describe(daemon, "--port")).toMatch(/Default: 5000\.$/)
      expect(describe(daemon, "--log-level")).toMatch(/Default: info\.$/)
      expect(describe(daemon, "--log-level")).not.toContain("One of the following")
    }))

  it.effect("a bad value is refused by `makuo:` naming the option; so is what @effect/cli itself refuses", () =>
    Effect.gen(function*() {
      expect(yield* run(["daemon", "--port", "abc"])).toMatchObject({ code: 2, err: "makuo: --port abc: not an integer" })
      expect(yield* run(["send", "--rate=fast", "a"])).toMatchObject({ code: 2, err: "makuo: --rate fast: not a number" })
      expect(yield* run(["daemon", "--log-level", "loud"])).toMatchObject({ code: 2, err: "makuo: --log-level loud: not one of debug, info, warning, error" })
      expect(yield* run(["--completions", "tcsh"])).toMatchObject({ code: 2, err: "makuo: --completions tcsh: not one of sh, bash, fish, zsh" })
      expect(yield* run(["--wizard"])).toMatchObject({ code: 2, err: "makuo: unknown option --wizard for 'makuo'" })
      expect(yield* run(["send", "--wizard"])).toMatchObject({ code: 2, err: "makuo: unknown option --wizard for 'makuo send'" })
      expect(yield* run(["keygen", "a", "b"])).toMatchObject({ code: 2, err: "makuo: Received unknown argument: 'b'" })
    }))
})
