import { describe, expect, it } from "@effect/vitest"
import { Either, Option } from "effect"
import { parseConfig } from "../../src/cli/configFile.js"
import { printSettings, resolveSettings, type SettingSpec } from "../../src/cli/settings.js"

const specs: ReadonlyArray<SettingSpec> = [
  { name: "base", kind: { _tag: "text" } },
  { name: "port", kind: { _tag: "integer" }, default: 5000 },
  { name: "member-timeout", kind: { _tag: "text" }, default: "300s" },
  { name: "readonly", kind: { _tag: "boolean" }, default: false },
  { name: "log-level", kind: { _tag: "choice", choices: ["info", "debug"] }, default: "info" }
]

const file = (text: string) => Either.getOrThrow(parseConfig("/etc/makuo/makuo.conf", text))
const none = new Map<string, Option.Option<string | number | boolean>>()

describe("the config file", () => {
  it("reads name = value lines; comments, blank lines, quotes and trailing comments", () => {
    const f = file("# makuo\n\nbase = /var/www\nport=\"15000\"\nmember-timeout = 5m   # shorter\n  readonly = yes\r\n")
    expect([...f.entries].map(([k, e]) => [k, e.value, e.line])).toEqual([
      ["base", "/var/www", 3], ["port", "15000", 4], ["member-timeout", "5m", 5], ["readonly", "yes", 6]
    ])
  })

  it("a line it cannot read, or a name set twice, is one error naming file and line", () => {
    expect(parseConfig("/f", "base /var/www")).toEqual(Either.left("/f:1: expected 'name = value', got 'base /var/www'"))
    expect(parseConfig("/f", "port = 1\nport = 2")).toEqual(Either.left("/f:2: 'port' is already set on line 1"))
  })
})

describe("settings: flag over environment over file over default", () => {
  it("each value comes from the strongest source that has it, and says so", () => {
    const flags = new Map([["port", Option.some<string | number | boolean>(7000)], ["readonly", Option.some<string | number | boolean>(false)]])
    const r = Either.getOrThrow(resolveSettings(specs, flags, { MAKUO_PORT: "6000", MAKUO_MEMBER_TIMEOUT: "1m" }, file("port = 5500\nmember-timeout = 5m\nreadonly = on\nbase = /srv")))
    expect(Object.fromEntries([...r].map(([k, s]) => [k, [s.value, s.where]]))).toEqual({
      base: ["/srv", "/etc/makuo/makuo.conf:4"],
      port: [7000, "--port"],
      "member-timeout": ["1m", "MAKUO_MEMBER_TIMEOUT"],
      // a boolean flag left out is no 'false': the file turns it on
      readonly: [true, "/etc/makuo/makuo.conf:3"],
      "log-level": ["info", "default"]
    })
    expect(printSettings(r, {})).toContain("port = 7000                                     # from --port")
  })

  it("an unknown key or a bad value is one error naming the key and where it was set", () => {
    const failure = (r: ReturnType<typeof resolveSettings>) => Either.getOrThrow(Either.flip(r))
    expect(failure(resolveSettings(specs, none, {}, file("base = /a\nprot = 5000"))).message).toBe(
      "/etc/makuo/makuo.conf:2: unknown setting 'prot' (the names are the daemon's flags: makuo daemon --help)"
    )
    const port = failure(resolveSettings(specs, none, {}, file("port = many")))
    expect(port).toMatchObject({ _tag: "SettingUnreadable", setting: "port", origin: "file", where: "/etc/makuo/makuo.conf:1" })
    expect(port.message).toBe("/etc/makuo/makuo.conf:1: port: 'many' is not an integer")
    const readonly = failure(resolveSettings(specs, none, { MAKUO_READONLY: "maybe" }, undefined))
    expect(readonly).toMatchObject({ _tag: "SettingUnreadable", setting: "readonly", origin: "environment", where: "MAKUO_READONLY" })
    expect(readonly.message).toBe("MAKUO_READONLY: readonly: 'maybe' is not true or false")
    expect(failure(resolveSettings(specs, none, { MAKUO_LOG_LEVEL: "loud" }, undefined)).message).toBe("MAKUO_LOG_LEVEL: log-level: 'loud' is not one of info, debug")
  })
})
