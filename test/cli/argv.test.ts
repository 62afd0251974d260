/**
 * Every command line goes through `main`, as the binary's does: the request a client command sends reaches a
 * fake control socket, the daemon's settings show in `--print-config`. Every option of every command, in both
 * `--opt value` and `--opt=value` forms, before and after the PATHs; unknown options, typos and misuse exit 2
 * before anything reaches a daemon.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as fs from "node:fs"
import { dirname, join } from "node:path"
import { tempDir } from "../../scripts/lib/loopbackCluster.js"
import { grammar } from "../../src/cli/main.js"
import { runCli as run } from "../support/runCli.js"
import { fakeControl } from "../support/fakeControl.js"
import { idleStatus } from "../support/status.js"



const reply = (request: Record<string, unknown>): ReadonlyArray<object> => {
  switch (request["_tag"]) {
    case "Send":
      return [{ _tag: "File", path: "a", hosts: [{ host: "h2", address: "127.0.0.2", outcome: "updated" }] }]
    case "Members":
      return [{ _tag: "MemberList", members: [], now: 0 }]
    case "Status":
      return [{ _tag: "Status", status: idleStatus }]
    default:
      return []
  }
}

const transfers = ["send", "sync", "check"] as const
type Transfer = (typeof transfers)[number]

/** One option of the transfer commands: the ways to write it, and what it does to the request or the output. */
interface Case {
  readonly option: string
  readonly commands: ReadonlyArray<Transfer>
  readonly forms: ReadonlyArray<ReadonlyArray<string>>
  readonly request?: Record<string, unknown>
  readonly output?: (out: string) => boolean
}

const excludeFile = (dir: string) => {
  const file = join(dir, "excludes")
  fs.writeFileSync(file, "cache/\n")
  return file
}

const transferCases = (dir: string): ReadonlyArray<Case> => {
  const file = excludeFile(dir)
  return [
    { option: "--recursive", commands: transfers, forms: [["--recursive"], ["-r"]], request: { recursive: true } },
    { option: "--dry-run", commands: ["send", "sync"], forms: [["--dry-run"], ["-n"]], request: { dryRun: true } },
    { option: "--target", commands: transfers, forms: [["--target", "h2"], ["--target=h2"], ["-t", "h2"]], request: { targets: ["h2"] } },
    { option: "--delete", commands: ["send"], forms: [["--delete"]], request: { delete: true } },
    { option: "--checksum", commands: ["send", "sync"], forms: [["--checksum"], ["-c"]], request: { checksum: true } },
    { option: "--exclude", commands: transfers, forms: [["--exclude", "*.log"], ["--exclude=*.log"]], request: { excludes: ["*.log"] } },
    { option: "--exclude-from", commands: transfers, forms: [["--exclude-from", file], [`--exclude-from=${file}`]], request: { excludes: ["cache/"] } },
    { option: "--all-or-nothing", commands: ["send"], forms: [["--all-or-nothing"]], request: { allOrNothing: true } },
    { option: "--parallel", commands: transfers, forms: [["--parallel", "3"], ["--parallel=3"]], request: { parallel: 3 } },
    { option: "--rate", commands: ["send", "sync"], forms: [["--rate", "2.5"], ["--rate=2.5"]], request: { rateMbit: 2.5 } },
    { option: "--timeout", commands: transfers, forms: [["--timeout", "5s"], ["--timeout=5s"]], request: { timeoutMs: 5000 } },
    // the text report always asks for unchanged files, counted (it counts them per host), and lists them with -v;
    // JSON asks for them only with -v, listed
    { option: "--verbose", commands: transfers, forms: [["--verbose", "--json"], ["-v", "--json"]], request: { progress: false, reportSkipped: true, countSkipped: false } },
    { option: "--quiet", commands: transfers, forms: [["--quiet"], ["-q"]], output: (out) => out === "" },
    {
      option: "--json",
      commands: transfers,
      forms: [["--json"]],
      request: { progress: false, countSkipped: false },
      output: (out) => out !== "" && out.split("\n").every((l) => l.startsWith("{"))
    }
  ]
}

const longOptions = (command: string) => grammar.commands.get(command)!.options.map((o) => o.long).sort()

describe("the command line: every option of every command, in both forms, anywhere before --", () => {
  it.scoped("send, sync, check: each option reaches the request (or the output), before and after the PATH", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const control = yield* fakeControl(dir, reply)
      const cases = transferCases(dir)
      for (const command of transfers) {
        // every option the command declares is in the table (--control is in every run below)
        expect(longOptions(command)).toEqual([...cases.filter((c) => c.commands.includes(command)).map((c) => c.option), "--control"].sort())
      }
      const plain = { paths: ["a"], recursive: false, dryRun: false, delete: false, checksum: false, targets: [], excludes: [], parallel: 32, reportSkipped: false, countSkipped: true, rateMbit: null, timeoutMs: 60_000, allOrNothing: false, cwd: process.cwd() }
      for (const c of cases) {
        for (const command of c.commands) {
          for (const form of c.forms) {
            for (const args of [[command, ...form, "--control", control.path, "a"], [command, "a", ...form, `--control=${control.path}`]]) {
              control.requests.length = 0
              const r = yield* run(args)
              expect(r.code, `${args.join(" ")}: ${r.err}`).toBe(0)
              expect(control.requests, args.join(" ")).toEqual([{ _tag: "Send", ...plain, operation: command, progress: true, ...c.request }])
              if (c.output !== undefined) expect(c.output(r.out), `${args.join(" ")}: ${r.out}`).toBe(true)
            }
          }
        }
      }
      // without --quiet and --json the file's line is text
      const text = yield* run(["send", "a", "--control", control.path])
      expect(text.out).toMatch(/^update +a {2}h2$/m)
      // -v in text: unchanged files listed, not only counted
      control.requests.length = 0
      yield* run(["send", "-v", "a", "--control", control.path])
      expect(control.requests).toMatchObject([{ reportSkipped: true, countSkipped: true, progress: true }])
    }))

  it.scoped("members and status: --control and --json in both places and forms", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const control = yield* fakeControl(dir, reply)
      for (const [command, tag] of [["members", "Members"], ["status", "Status"]] as const) {
        expect(longOptions(command)).toEqual(["--control", "--json"])
        for (const args of [[command, "--json", "--control", control.path], [command, `--control=${control.path}`, "--json"]]) {
          control.requests.length = 0
          const r = yield* run(args)
          expect(r.code, r.err).toBe(0)
          expect(control.requests).toEqual([{ _tag: tag }])
          expect(JSON.parse(r.out)).toBeTypeOf("object")
        }
        const text = yield* run([command, "--control", control.path])
        expect(() => JSON.parse(text.out)).toThrow()
      }
    }))

  it.scoped("doctor: --control and --json in both forms", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const missing = join(dir, "nobody.sock")
      expect(longOptions("doctor")).toEqual(["--control", "--json"])
      for (const args of [["doctor", "--json", "--control", missing], ["doctor", `--control=${missing}`, "--json"]]) {
        const r = yield* run(args)
        expect(r.code).toBe(1)
        const verdicts = r.out.split("\n").map((l) => JSON.parse(l) as { detail: string })
        expect(verdicts[0]!.detail).toContain(missing)
      }
    }))

  it.scoped("daemon: each setting given as a flag, in both forms, shows as from that flag in --print-config", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const config = join(dir, "makuo.conf")
      // --print-config checks the settings first: the file gives what every check needs
      fs.writeFileSync(config, `base = ${dir}\n`)
      const password = join(dir, "password")
      fs.writeFileSync(password, "secret\n")
      const key = join(dir, "cluster.key")
      fs.writeFileSync(key, `makuo-key-v1 3f9a01c2 ${Buffer.alloc(32, 7).toString("base64")}\n`, { mode: 0o600 })
      const values: Record<string, string | undefined> = {
        "--base": dir, "--multicast": "224.0.0.109", "--port": "5001", "--interface": "127.0.0.1", "--bind": "127.0.0.2",
        "--ttl": "2", "--name": "h9", "--member-timeout": "5m", "--session-timeout": "3m", "--control": join(dir, "c.sock"),
        "--control-group": "65534", "--user": "65534", "--group": "65534", "--recv-buffer": "1000", "--send-buffer": "2000",
        "--readonly": undefined, "--max-sessions": "10", "--max-sessions-per-peer": "5", "--max-temp-files": "20",
        "--keep-setid": undefined, "--console": "tcp:127.0.0.1:5000", "--console-password-file": password,
        "--console-no-password": undefined, "--key-file": key, "--mtu": "9000", "--log-level": "debug",
        "--journal-dir": join(dirname(dir), "journal")
      }
      // what a setting needs beside it to pass the checks
      const console = ["--console", "tcp:127.0.0.1:5000"]
      const companions: Record<string, ReadonlyArray<string>> = {
        "--user": ["--group", "65534"], "--group": ["--user", "65534"], "--max-sessions": ["--max-sessions-per-peer", "5"],
        "--console": ["--console-password-file", password], "--console-password-file": console, "--console-no-password": console
      }
      const root = process.geteuid?.() === 0
      expect(longOptions("daemon")).toEqual([...Object.keys(values), "--config", "--print-config"].sort())
      for (const [option, value] of Object.entries(values)) {
        const forms = value === undefined ? [[option]] : [[option, value], [`${option}=${value}`]]
        for (const form of forms) {
          const given = [...form, ...(companions[option] ?? [])]
          // the option first (where @effect/cli would take a --log-level for its own), and last
          for (const args of [["daemon", ...given, "--config", config, "--print-config"], ["daemon", "--print-config", `--config=${config}`, ...given]]) {
            const r = yield* run(args)
            if (!root && (option === "--user" || option === "--group")) {
              expect([r.code, r.err], args.join(" ")).toEqual([2, "makuo: --user 65534: only a daemon started as root can switch user"])
              continue
            }
            expect(r.code, `${args.join(" ")}: ${r.err}`).toBe(0)
            expect(r.out).toContain(`(config file ${config})`)
            expect(r.out, args.join(" ")).toMatch(new RegExp(`^${option.slice(2)} = ${value ?? "true"} +# from ${option}$`, "m"))
          }
        }
      }
    }))

  it.scoped("daemon --print-config checks the settings first: a bad value exits 2 naming its file:line, and prints nothing", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const config = join(dir, "makuo.conf")
      const check = (lines: ReadonlyArray<string>) => {
        fs.writeFileSync(config, lines.join("\n") + "\n")
        return run(["daemon", "--config", config, "--print-config"])
      }
      expect(yield* check([`base = ${dir}`, "# the port", "port = 70000"])).toEqual({
        code: 2, out: "", err: `makuo: --port 70000: must be between 1 and 65535 (set in ${config}:3)`
      })
      expect(yield* check([`base = ${dir}`, "member-timeout = soon"])).toMatchObject({ code: 2, out: "", err: expect.stringContaining(`(set in ${config}:2)`) })
      expect(yield* check([`base = ${join(dir, "nowhere")}`])).toMatchObject({
        code: 2, out: "", err: `makuo: --base ${join(dir, "nowhere")}: no such directory (set in ${config}:1)`
      })
      expect(yield* check([`base = ${dir}`, `journal-dir = ${join(dir, "j")}`])).toEqual({
        code: 2, out: "", err: `makuo: --journal-dir ${join(dir, "j")}: inside the base ${dir}; it must lie outside it (set in ${config}:2)`
      })
      expect(yield* check([`base = ${dir}`, "port = 5001"])).toMatchObject({ code: 0, err: "", out: expect.stringMatching(/^port = 5001 +# from .*:2$/m) })
    }))
})

describe("the command line: what is not an option of the command is refused before anything reaches a daemon", () => {
  it.scoped("unknown options and typos exit 2 naming the option and the command, with the nearest option", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const control = yield* fakeControl(dir, reply)
      for (const command of grammar.commands.keys()) {
        const bogus = yield* run([command, "--bogus", "x", "--control", control.path])
        expect(bogus.code).toBe(2)
        expect(bogus.err).toBe(`makuo: unknown option --bogus for 'makuo ${command}'`)
        for (const option of longOptions(command)) {
          const typo = option.slice(0, -1)
          if (typo.length < 6 || longOptions(command).includes(typo)) continue
          const r = yield* run([command, `${typo}=1`, "--control", control.path])
          expect(r.code).toBe(2)
          expect(r.err).toBe(`makuo: unknown option ${typo}=1 for 'makuo ${command}' (did you mean ${option}?)`)
        }
      }
      const refused: ReadonlyArray<readonly [ReadonlyArray<string>, string]> = [
        [["send", "-r", "--bogus", "-n", "htdocs"], "unknown option --bogus for 'makuo send'"],
        [["send", "a", "-x"], "unknown option -x for 'makuo send'"],
        [["send", "-rx", "a"], "unknown option -rx for 'makuo send'"],
        [["send", "-recursive", "a"], "unknown option -recursive for 'makuo send' (did you mean --recursive?)"],
        [["send", "-", "a"], "unknown option - for 'makuo send'"],
        [["send", "--recursive=false", "a"], "--recursive takes no value (got --recursive=false)"],
        [["send", "a", "--target"], "--target needs a value"],
        [["send", "-t", "-n", "a"], "-t needs a value (got the option -n)"],
        [["send", "--exclude=--delete", "a"], "--exclude needs a value (got the option --delete)"],
        [["send", "--exclude=", "a"], "--exclude: empty value"],
        [["send", "--parallel", "3", "a", "--parallel", "4"], "--parallel given twice"],
        [["send", "-rt", "h2", "a"], "-t takes a value: write -t VALUE or --target=VALUE, not -rt"],
        [["members", "x"], "'makuo members' takes no PATH (got 'x')"],
        [["--bogus", "send", "a"], "unknown option --bogus for 'makuo'"],
        [["sedn", "-r"], "unknown command 'sedn' for 'makuo' (did you mean send?)"]
      ]
      for (const [args, message] of refused) {
        const withControl = grammar.commands.has(args[0]!) ? [args[0]!, "--control", control.path, ...args.slice(1)] : args
        const r = yield* run(withControl)
        expect(r.code, args.join(" ")).toBe(2)
        expect(r.err, args.join(" ")).toBe(`makuo: ${message}`)
      }
      expect(control.requests).toEqual([])
    }))

  it.scoped("-- ends the options: a PATH may start with -; a PATH named like a flag's value stays a PATH", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const control = yield* fakeControl(dir, reply)
      const paths = (args: ReadonlyArray<string>) =>
        Effect.gen(function*() {
          control.requests.length = 0
          const r = yield* run([...args.slice(0, 1), "--control", control.path, ...args.slice(1)])
          expect(r.code, r.err).toBe(0)
          return control.requests[0]
        })
      expect(yield* paths(["send", "-n", "--", "-r", "--bogus", "--"])).toMatchObject({ paths: ["-r", "--bogus", "--"], dryRun: true, recursive: false })
      expect(yield* paths(["send", "a", "-n", "--", "-b"])).toMatchObject({ paths: ["a", "-b"], dryRun: true })
      expect(yield* paths(["sync", "-r", "yes", "-n", "1"])).toMatchObject({ paths: ["yes", "1"], recursive: true, dryRun: true, operation: "sync" })
      expect(yield* paths(["send", "-rn", "--exclude", "-x", "a"])).toMatchObject({ paths: ["a"], recursive: true, dryRun: true, excludes: ["-x"] })
      expect(yield* paths(["check", "-t", "h2", "--target=h3", "a", "b"])).toMatchObject({ paths: ["a", "b"], targets: ["h2", "h3"], operation: "check" })
    }))

  it.scoped("the built-in options still work: --help, -h, --version, --completions, @effect/cli's --log-level", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const control = yield* fakeControl(dir, reply)
      const version = yield* run(["--version"])
      expect(version.out).toContain("0.")
      for (const args of [["send", "--help"], ["send", "a", "-r", "-h"], ["daemon", "--help"]]) {
        const help = yield* run(args)
        expect(help.code).toBe(0)
        expect(help.out).toContain("USAGE")
      }
      expect((yield* run(["--completions=bash"])).out).toContain("complete")
      expect((yield* run(["--completions", "zsh"])).out).toContain("#compdef")
      for (const args of [["--log-level", "debug", "send", "a"], ["send", "a", "--log-level=debug"]]) {
        control.requests.length = 0
        const r = yield* run([...args, "--control", control.path])
        expect(r.code, r.err).toBe(0)
        expect(control.requests).toMatchObject([{ _tag: "Send", paths: ["a"] }])
      }
      expect(control.requests).toHaveLength(1)
    }))
})
