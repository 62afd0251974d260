/**
 * Where each of the daemon's settings comes from: a flag given on the command line, else `MAKUO_<NAME>` in the
 * environment (`MAKUO_MEMBER_TIMEOUT`), else the config file, else the built-in default. Values from the
 * environment and the file are text, checked here against the setting's kind; `--print-config` shows the result
 * with each value's origin.
 */
import { Data, Either, Option } from "effect"
import type { ConfigFile } from "./configFile.js"
import { UsageError } from "./errors.js"

export type SettingKind =
  | { readonly _tag: "text" }
  /** A path that must exist when given as a flag; from the environment or the file it is read as text. */
  | { readonly _tag: "file" }
  | { readonly _tag: "integer" }
  | { readonly _tag: "boolean" }
  | { readonly _tag: "choice"; readonly choices: ReadonlyArray<string> }

export interface SettingSpec {
  /** The flag's name, also the config file's key. */
  readonly name: string
  readonly kind: SettingKind
  /** The built-in default; a setting without one is unset unless given (a flag's default is off). */
  readonly default?: SettingValue
}

export type SettingValue = string | number | boolean

export type Origin = "flag" | "environment" | "file" | "default"

export interface Sourced {
  readonly value: SettingValue | undefined
  readonly origin: Origin
  /** `MAKUO_PORT`, `/etc/makuo/makuo.conf:3`: where exactly. */
  readonly where: string
}

export const envName = (name: string) => `MAKUO_${name.toUpperCase().replace(/-/g, "_")}`

/** A setting and where its value was set. */
interface Located {
  /** Its name: the flag's, the config file's key. */
  readonly setting: string
  readonly origin: Origin
  readonly where: string
}

/** The text the environment or the file gives a setting is no value of its kind: `MAKUO_PORT: port: 'abc' is not an integer`. */
export class SettingUnreadable extends Data.TaggedError("SettingUnreadable")<Located & { readonly problem: string }> {
  override get message() {
    return `${this.where}: ${this.setting}: ${this.problem}`
  }
}

/**
 * A setting's value the daemon cannot use, found when the settings are checked at start. The message names the
 * flag and, when the value came from the environment or the file, where: `--port 70000: must be between 1 and
 * 65535 (set in /etc/makuo/makuo.conf:3)`.
 */
export class SettingRefused extends Data.TaggedError("SettingRefused")<Located & {
  /** What follows the flag's name: ` 70000: must be between 1 and 65535`, `: no such user 'x'`, ` needs --user`. */
  readonly problem: string
}> {
  override get message() {
    const { origin, where } = this
    return `--${this.setting}${this.problem}${origin === "environment" || origin === "file" ? ` (set in ${where})` : ""}`
  }
}

const parseValue = (kind: SettingKind, text: string): Either.Either<SettingValue, string> => {
  switch (kind._tag) {
    case "text":
    case "file":
      return text === "" ? Either.left("empty value") : Either.right(text)
    case "integer":
      return /^-?\d+$/.test(text) ? Either.right(Number(text)) : Either.left(`'${text}' is not an integer`)
    case "boolean": {
      const t = text.toLowerCase()
      if (["true", "yes", "on", "1"].includes(t)) return Either.right(true)
      if (["false", "no", "off", "0"].includes(t)) return Either.right(false)
      return Either.left(`'${text}' is not true or false`)
    }
    case "choice":
      return kind.choices.includes(text) ? Either.right(text) : Either.left(`'${text}' is not one of ${kind.choices.join(", ")}`)
    default:
      return kind satisfies never
  }
}

/**
 * Resolves every spec; `flags` holds what the command line gave (a boolean flag counts only when set: it can turn
 * a setting on, not off). One error for the first unknown key or bad value, naming it and where it came from.
 */
export const resolveSettings = (
  specs: ReadonlyArray<SettingSpec>,
  flags: ReadonlyMap<string, Option.Option<SettingValue>>,
  env: NodeJS.ProcessEnv,
  file: ConfigFile | undefined
): Either.Either<ReadonlyMap<string, Sourced>, SettingUnreadable | UsageError> => {
  const known = new Set(specs.map((s) => s.name))
  for (const [key, { line }] of file?.entries ?? []) {
    if (!known.has(key)) {
      return Either.left(new UsageError({ detail: `${file!.path}:${line}: unknown setting '${key}' (the names are the daemon's flags: makuo daemon --help)` }))
    }
  }
  const out = new Map<string, Sourced>()
  for (const spec of specs) {
    const flag = flags.get(spec.name) ?? Option.none()
    if (Option.isSome(flag) && flag.value !== false) {
      out.set(spec.name, { value: flag.value, origin: "flag", where: `--${spec.name}` })
      continue
    }
    const fromEnv = env[envName(spec.name)]
    const entry = file?.entries.get(spec.name)
    const [text, origin, where] = fromEnv !== undefined && fromEnv !== ""
      ? [fromEnv, "environment" as const, envName(spec.name)]
      : entry !== undefined
      ? [entry.value, "file" as const, `${file!.path}:${entry.line}`]
      : [undefined, "default" as const, "default"]
    if (text === undefined) {
      out.set(spec.name, { value: spec.default, origin, where })
      continue
    }
    const value = parseValue(spec.kind, text)
    if (Either.isLeft(value)) return Either.left(new SettingUnreadable({ setting: spec.name, origin, where, problem: value.left }))
    out.set(spec.name, { value: value.right, origin, where })
  }
  return Either.right(out)
}

/**
 * `--print-config`: one line per setting, `name = value` and where it came from. A setting without a value shows
 * what the daemon works out for it (`derived`, e.g. the OS host name), or is commented out.
 */
export const printSettings = (resolved: ReadonlyMap<string, Sourced>, derived: Readonly<Record<string, string>> = {}): string =>
  [...resolved].map(([name, s]) => {
    const line = (value: string, comment: string) => `${name} = ${value}`.padEnd(47) + ` # ${comment}`
    if (s.value !== undefined) return line(String(s.value), s.origin === "default" ? "default" : `from ${s.where}`)
    const worked = derived[name]
    return worked === undefined ? `# ${name} (not set)` : line(worked, "default, worked out at start")
  }).join("\n")
