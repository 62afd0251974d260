/**
 * The daemon's settings table: each default is written once, in its row, and both the help and `--print-config`
 * show that one; a value refused names its setting and where it was set (flag, MAKUO_ variable, file:line) as
 * fields of the error, which the message is written from.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, Option } from "effect"
import * as fs from "node:fs"
import { join } from "node:path"
import { tempDir } from "../../scripts/lib/loopbackCluster.js"
import { toConfig } from "../../src/cli/daemonCommand.js"
import { resolveDaemonSettings, settingRows } from "../../src/cli/daemonSettings.js"
import { parseConfig } from "../../src/cli/configFile.js"
import { MAX_MTU, MIN_MTU } from "../../src/protocol/native/budget.js"
import { runCli as run } from "../support/runCli.js"

type Flags = Parameters<typeof resolveDaemonSettings>[0]

/** The command line with nothing given but `given`. */
const flags = (given: Record<string, unknown> = {}): Flags =>
  Object.fromEntries(settingRows.map((row) => [row.key, row.key in given ? given[row.key] : row.kind._tag === "boolean" ? false : Option.none()])) as Flags

const CONF = "/etc/makuo/test.conf"
const file = (text: string) => Either.getOrThrow(parseConfig(CONF, text))

/** What the help says of `option`, its lines joined. */
const described = (help: string, option: string) =>
  new RegExp(`^  ${option} .*\\n((?: {6}.*\\n)+)`, "m").exec(`${help}\n`)![1]!.replace(/\s+/g, " ").trim()

const escaped = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")

describe("the daemon's settings table", () => {
  it.scoped("each row's default is written once: the help ends with it and --print-config prints it as the default", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const config = join(dir, "makuo.conf")
      fs.writeFileSync(config, `base = ${dir}\n`)
      const help = (yield* run(["daemon", "--help"])).out
      const printed = yield* run(["daemon", "--config", config, "--print-config"])
      expect([printed.code, printed.err]).toEqual([0, ""])
      const withDefault = settingRows.filter((row) => row.default !== undefined)
      expect(withDefault.map((row) => row.name)).toEqual(expect.arrayContaining(["port", "member-timeout", "recv-buffer", "log-level", "readonly"]))
      for (const row of withDefault) {
        const value = String(row.default)
        // the row's words leave the default to the help, which adds it from the row
        expect(row.description, row.name).not.toContain("Default:")
        if (row.kind._tag !== "boolean") {
          expect(described(help, `--${row.name}`), row.name).toMatch(new RegExp(`Default: ${escaped(value)}( \\(\\d+ [KM]iB\\))?\\.$`))
        }
        expect(printed.out, row.name).toMatch(new RegExp(`^${row.name} = ${escaped(value)} +# default$`, "m"))
      }
      // and every row is an option of the command and a line of --print-config, in the same order
      const inHelp = [...help.matchAll(/^ {2}--([a-z-]+)/gm)].map((m) => m[1]!).filter((n) => settingRows.some((r) => r.name === n))
      const inPrint = [...printed.out.matchAll(/^#? ?([a-z-]+)(?: =| \(not set\))/gm)].map((m) => m[1]!)
      expect(inHelp).toEqual(settingRows.map((row) => row.name))
      expect(inPrint).toEqual(settingRows.map((row) => row.name))
    }))

  it.effect("a value refused names its setting and where it was set: flag, environment or file:line", () =>
    Effect.gen(function*() {
      const dir = process.cwd()
      const refusal = (r: ReturnType<typeof resolveDaemonSettings>) =>
        Either.isLeft(r) ? Effect.succeed(r.left) : Effect.flip(toConfig(r.right))
      const cases = [
        // a row's own check
        {
          settings: resolveDaemonSettings(flags({ base: Option.some(dir), port: Option.some(70000) }), {}, undefined),
          error: { _tag: "SettingRefused", setting: "port", origin: "flag", where: "--port" },
          message: "--port 70000: must be between 1 and 65535"
        },
        {
          settings: resolveDaemonSettings(flags({ base: Option.some(dir) }), { MAKUO_PORT: "70000" }, undefined),
          error: { _tag: "SettingRefused", setting: "port", origin: "environment", where: "MAKUO_PORT" },
          message: "--port 70000: must be between 1 and 65535 (set in MAKUO_PORT)"
        },
        {
          settings: resolveDaemonSettings(flags(), {}, file(`base = ${dir}\n# the port\nport = 70000`)),
          error: { _tag: "SettingRefused", setting: "port", origin: "file", where: `${CONF}:3` },
          message: `--port 70000: must be between 1 and 65535 (set in ${CONF}:3)`
        },
        // an MTU too small for the largest transaction message, or beyond the largest frame
        {
          settings: resolveDaemonSettings(flags({ base: Option.some(dir), mtu: Option.some(1000) }), {}, undefined),
          error: { _tag: "SettingRefused", setting: "mtu", origin: "flag", where: "--mtu" },
          message: `--mtu 1000: expected an integer from ${MIN_MTU} to ${MAX_MTU}`
        },
        // two settings checked together: the one refused is named, with its own origin
        {
          settings: resolveDaemonSettings(flags(), { MAKUO_MAX_SESSIONS_PER_PEER: "5" }, file(`base = ${dir}\nmax-sessions = 4`)),
          error: { _tag: "SettingRefused", setting: "max-sessions-per-peer", origin: "environment", where: "MAKUO_MAX_SESSIONS_PER_PEER" },
          message: "--max-sessions-per-peer 5: must be between 1 and 4 (set in MAKUO_MAX_SESSIONS_PER_PEER)"
        },
        {
          settings: resolveDaemonSettings(flags({ base: Option.some(dir) }), {}, file("group = 5")),
          error: { _tag: "SettingRefused", setting: "group", origin: "file", where: `${CONF}:1` },
          message: `--group needs --user (set in ${CONF}:1)`
        },
        // a default is where it came from too, and says nothing of it
        {
          settings: resolveDaemonSettings(flags(), {}, undefined),
          error: { _tag: "SettingRefused", setting: "base", origin: "default" },
          message: "--base is required (or 'base = DIR' in the config file)"
        },
        // text that is no value of the setting's kind
        {
          settings: resolveDaemonSettings(flags(), { MAKUO_TTL: "high" }, undefined),
          error: { _tag: "SettingUnreadable", setting: "ttl", origin: "environment", where: "MAKUO_TTL" },
          message: "MAKUO_TTL: ttl: 'high' is not an integer"
        }
      ]
      for (const c of cases) {
        const error = yield* refusal(c.settings)
        expect(error, c.message).toMatchObject(c.error)
        expect(error.message).toBe(c.message)
      }
    }))

  it.scoped("through the command line: the refusal from the environment names the variable, from a flag only the flag", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const config = join(dir, "makuo.conf")
      fs.writeFileSync(config, `base = ${dir}\nttl = 300\n`)
      expect(yield* run(["daemon", "--config", config, "--print-config"])).toEqual({
        code: 2, out: "", err: `makuo: --ttl 300: must be between 0 and 255 (set in ${config}:2)`
      })
      expect(yield* run(["daemon", "--config", config, "--print-config", "--ttl", "256"])).toEqual({
        code: 2, out: "", err: "makuo: --ttl 256: must be between 0 and 255"
      })
      const saved = process.env["MAKUO_TTL"]
      process.env["MAKUO_TTL"] = "257"
      const fromEnv = yield* Effect.ensuring(
        run(["daemon", "--config", config, "--print-config"]),
        Effect.sync(() => (saved === undefined ? delete process.env["MAKUO_TTL"] : (process.env["MAKUO_TTL"] = saved)))
      )
      expect(fromEnv).toEqual({ code: 2, out: "", err: "makuo: --ttl 257: must be between 0 and 255 (set in MAKUO_TTL)" })
    }))
})
