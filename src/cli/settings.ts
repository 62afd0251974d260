/**
 * Where each of the daemon's settings comes from: a flag given on the command line, else `MAKUO_<NAME>` in the
 * environment (`MAKUO_MEMBER_TIMEOUT`), else the config file, else the built-in default. Values from the
 * environment and the file are text, checked here against the setting's kind; `--print-config` shows the result
 * with each value's origin.
 */
import { Either, Option } from "effect"
import type { ConfigFile } from "./configFile.js"

export type SettingKind =
  | { readonly _tag: "text" }
  | { readonly _tag: "integer" }
  | { readonly _tag: "boolean" }
  | { readonly _tag: "choice"; readonly choices: ReadonlyArray<string> }

export interface SettingSpec {
  /** The flag's name, also the config file's key. */
  readonly name: string
  readonly kind: SettingKind
  readonly fallback?: string | number | boolean
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

const parseValue = (kind: SettingKind, text: string): Either.Either<SettingValue, string> => {
  switch (kind._tag) {
    case "text":
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
): Either.Either<ReadonlyMap<string, Sourced>, string> => {
  const known = new Set(specs.map((s) => s.name))
  for (const [key, { line }] of file?.entries ?? []) {
    if (!known.has(key)) return Either.left(`${file!.path}:${line}: unknown setting '${key}' (the names are the daemon's flags: makuo daemon --help)`)
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
      out.set(spec.name, { value: spec.fallback, origin, where })
      continue
    }
    const value = parseValue(spec.kind, text)
    if (Either.isLeft(value)) return Either.left(`${where}: ${spec.name}: ${value.left}`)
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
