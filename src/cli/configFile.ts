/**
 * `/etc/makuo/makuo.conf`: one `name = value` per line, the names of the daemon's flags (`member-timeout = 5m`),
 * `#` starts a comment, blank lines are ignored, values may be quoted. Read once at start; every mistake is one
 * error naming the file and line.
 */
import { Either } from "effect"
import * as fs from "node:fs"

export const DEFAULT_CONFIG_FILE = "/etc/makuo/makuo.conf"

/** `MAKUO_CONFIG` names the file for the daemon (when no `--config`) and for the clients. */
export const configFileFromEnvironment = (env: NodeJS.ProcessEnv = process.env): string | undefined =>
  (env["MAKUO_CONFIG"] ?? "") === "" ? undefined : env["MAKUO_CONFIG"]

export interface ConfigEntry {
  readonly value: string
  readonly line: number
}

export interface ConfigFile {
  readonly path: string
  readonly entries: ReadonlyMap<string, ConfigEntry>
}

const LINE = /^\s*([a-z][a-z0-9-]*)\s*=\s*(.*?)\s*$/

export const parseConfig = (path: string, text: string): Either.Either<ConfigFile, string> => {
  const entries = new Map<string, ConfigEntry>()
  const lines = text.split("\n")
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i]!.replace(/\r$/, "")
    if (/^\s*(#.*)?$/.test(raw)) continue
    const m = LINE.exec(raw)
    if (m === null) return Either.left(`${path}:${i + 1}: expected 'name = value', got '${raw.trim()}'`)
    const [, key, rawValue] = m as unknown as [string, string, string]
    const quoted = /^"(.*)"$|^'(.*)'$/.exec(rawValue)
    const value = quoted !== null ? (quoted[1] ?? quoted[2]!) : rawValue.replace(/\s+#.*$/, "")
    if (entries.has(key)) return Either.left(`${path}:${i + 1}: '${key}' is already set on line ${entries.get(key)!.line}`)
    entries.set(key, { value, line: i + 1 })
  }
  return Either.right({ path, entries })
}

/**
 * The file named by `--config` or `MAKUO_CONFIG`, which must exist, or the default one if it exists (a daemon
 * without a config file is the common case).
 */
export const readConfig = (explicit: string | undefined): Either.Either<ConfigFile | undefined, string> => {
  const path = explicit ?? DEFAULT_CONFIG_FILE
  let text: string
  try {
    text = fs.readFileSync(path, "utf8")
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code
    if (explicit === undefined && code === "ENOENT") return Either.right(undefined)
    return Either.left(`${path}: ${code === "ENOENT" ? "no such file" : code === "EACCES" ? "permission denied" : (e as Error).message}`)
  }
  return parseConfig(path, text)
}
