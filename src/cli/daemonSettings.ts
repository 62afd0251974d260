/**
 * The daemon's settings, one row each. From a row come its flag and the type the flag takes, its config file key
 * and `MAKUO_<NAME>` variable (the row's key in kebab case), its built-in default (which the help adds at the end
 * of the description and `--print-config` prints as `# default`), what `--print-config` shows when the daemon
 * works the value out at start, and the check that turns the value into what the daemon uses. What depends on
 * several settings or on the machine is checked by `toConfig` (daemonCommand.ts), which also maps the settings
 * into a `DaemonConfig`. A refusal carries its setting's name and where the value was set, as fields. The rows make
 * @effect/cli's options (daemonCli.ts) and are read without it too (daemonArgv.ts), so this module does not load it.
 */
import { Duration, Either, Option } from "effect"
import * as fs from "node:fs"
import { hostname } from "node:os"
import { resolve } from "node:path"
import { controlDescription, controlSocketPath } from "../control/socketPath.js"
import { resolveGroup } from "../daemon/accounts.js"
import { defaultTempFiles, openFilesLimit } from "../daemon/openFilesLimit.js"
import { defaultJournalDir } from "../store/journal.js"
import { budgetFor, DEFAULT_MTU } from "../protocol/native/budget.js"
import * as FileReceiver from "../transfer/send/FileReceiver.js"
import type { ConfigFile } from "./configFile.js"
import { parseDuration } from "./duration.js"
import type { UsageError } from "./errors.js"
import { resolveSettings, type SettingKind, SettingRefused, type SettingSpec, type SettingUnreadable, type SettingValue, type Sourced } from "./settings.js"
import { parseIpv4 } from "../protocol/fields.js"

export const logLevels = ["debug", "info", "warning", "error"] as const

/** A setting as the resolver reads it (kind, built-in default), and what the help, the checks and `--print-config` need. */
export interface Row extends Omit<SettingSpec, "name"> {
  /** The default in bytes, which the help also shows in KiB or MiB. */
  readonly bytes?: true
  /** A setting the daemon cannot do without: what its value is, for the refusal when it is given nowhere (`DIR`). */
  readonly required?: string
  /** What `--print-config` shows for a setting the daemon works out at start when it is not given. */
  readonly workedOut?: () => string
  /**
   * The value as the daemon uses it (a row without one uses it as it is), or what is wrong with it: the words that
   * follow the flag's name in the refusal (` 70000: must be between 1 and 65535`). Only a value that is set is checked.
   */
  readonly check?: (value: never) => Either.Either<unknown, string>
  /** The help's words; the default, when the row has one, is added at the end. */
  readonly description: string
}

const between = (min: number, max: number) => (value: number): Either.Either<number, string> =>
  value < min || value > max ? Either.left(` ${value}: must be between ${min} and ${max}`) : Either.right(value)

const ipv4 = (value: string): Either.Either<string, string> =>
  parseIpv4(value) === undefined ? Either.left(` ${value}: not an IPv4 address`) : Either.right(value)

const multicastGroup = (value: string) =>
  Either.filterOrLeft(ipv4(value), (v) => {
    const [first] = parseIpv4(v)!
    return first >= 224 && first <= 239
  }, () => ` ${value}: not a multicast address (224.0.0.0/4)`)

const duration = (value: string) => Either.mapLeft(parseDuration(value), (problem) => ` ${problem}`)

/** The base, absolute and with its symbolic links resolved: every path on the wire is relative to it. */
const directory = (value: string): Either.Either<string, string> => {
  const path = resolve(value)
  const st = fs.statSync(path, { throwIfNoEntry: false })
  if (st === undefined) return Either.left(` ${value}: no such directory`)
  return st.isDirectory() ? Either.right(fs.realpathSync(path)) : Either.left(` ${value}: not a directory`)
}

const text = { _tag: "text" } as const
const integer = { _tag: "integer" } as const
const flag = { _tag: "boolean" } as const

const table = {
  base: {
    kind: text,
    required: "DIR",
    check: directory,
    description: "Directory this daemon serves; every path sent or received is relative to it. Required (here or in the config file)."
  },
  multicast: { kind: text, default: "224.0.0.108", check: multicastGroup, description: "Multicast group shared by the cluster (makuosan's -m)." },
  port: { kind: integer, default: 5000, check: between(1, 65535), description: "UDP port of the group and of this daemon (makuosan's -p)." },
  interface: {
    kind: text,
    check: ipv4,
    description: "Address of the interface to join the group on and send multicast from (makuosan's -i). " +
      "Default: the kernel's route for the group. Set it on hosts with several interfaces."
  },
  bind: {
    kind: text,
    default: "0.0.0.0",
    check: ipv4,
    description: "Unicast address to bind. Keep the default in production; give each daemon its own address " +
      "(127.0.0.2, 127.0.0.3, ...) to run several on one host."
  },
  ttl: { kind: integer, default: 1, check: between(0, 255), description: "Multicast TTL (1 = one L2 segment)." },
  name: {
    kind: text,
    workedOut: hostname,
    description: "Host name announced to the members, used by '-t HOST'. Default: the OS host name."
  },
  memberTimeout: {
    kind: text,
    default: "300s",
    check: duration,
    description: "Drop a member after this long without a datagram from it (e.g. 300s, 5m)."
  },
  sessionTimeout: {
    kind: text,
    default: "180s",
    // a live sender retransmits at least every MAX_WAIT_MS: anything near that would drop transfers in flight
    check: (value: string) =>
      Either.filterOrLeft(duration(value), (d) => Duration.greaterThanOrEqualTo(d, Duration.seconds(2)), () => ` ${value}: at least 2s`),
    description: "Forget a transfer this daemon receives after this long without a datagram for it (a sender that died or " +
      "lost its link): its temp file is removed and the old file stays as it was (e.g. 180s, 3m)."
  },
  control: { kind: text, workedOut: () => controlSocketPath(undefined), description: controlDescription },
  controlGroup: {
    kind: text,
    check: (value: string) => Either.mapLeft(resolveGroup(value), (problem) => `: ${problem}`),
    description: "Let the members of this group (name or gid) use the control socket too: mode 0660 instead of 0600, so " +
      "deploy users can run 'makuo send' without root."
  },
  user: {
    kind: text,
    description: "Started as root: once the UDP port and the sockets are open, run as this user (name or uid) for good. " +
      "The base must be writable by it; received files then keep that user as owner (owners are applied only by a root daemon)."
  },
  group: { kind: text, description: "With --user: the group to run as (name or gid). Default: the user's primary group." },
  recvBuffer: {
    kind: integer,
    default: 8 * 1024 * 1024,
    bytes: true,
    description: "SO_RCVBUF in bytes (makuosan's -R). The kernel caps it at net.core.rmem_max; raise that too for fast links."
  },
  sendBuffer: {
    kind: integer,
    default: 256 * 1024,
    bytes: true,
    description: "SO_SNDBUF in bytes (makuosan's -S), capped at net.core.wmem_max. Small on purpose: the kernel then holds the " +
      "sender back to its own link's speed before the interface queue drops anything."
  },
  readonly: {
    kind: flag,
    default: false,
    description: "Never change anything here: answer every transfer READONLY (makuosan's -r)."
  },
  maxSessions: {
    kind: integer,
    default: FileReceiver.receiverDefaults.maxSessions,
    check: between(1, 1_000_000),
    description: "Sessions this daemon receives at once, from all peers — transfers, checks (MD5), DSYNC and DEL alike; a request " +
      "that would open one more is ignored (counted in status, logged)."
  },
  maxSessionsPerPeer: {
    kind: integer,
    default: FileReceiver.receiverDefaults.maxSessionsPerPeer,
    description: "Sessions (of every kind) one peer may have open here at once, so that one host's flood of forged requests cannot take every " +
      "slot (a makuo sender keeps at most --parallel, 64 at most, per job)."
  },
  maxTempFiles: {
    kind: integer,
    workedOut: () => String(defaultTempFiles(openFilesLimit())),
    check: between(1, 1_000_000),
    description: "Files this daemon receives at once (each an open temp file and its directory). Twice this is the budget of every " +
      "descriptor received sessions hold: temp files, a directory held from STAT to OPEN, a file being hashed for a " +
      "check; an OPEN or check beyond it is answered EMFILE, which the sender reports. Default: 1024, or fewer when the " +
      "open-files limit (ulimit -n, LimitNOFILE) is low; a value that does not fit under that limit is refused."
  },
  keepSetid: {
    kind: flag,
    default: false,
    description: "Apply the setuid/setgid bits of received regular files, as makuosan does. Off by default: protocol v7 " +
      "authenticates nobody, so any host that reaches the group could plant a setuid-root program under the base; " +
      "without this flag the bits are dropped (logged) and the file is otherwise updated as sent."
  },
  console: {
    kind: text,
    description: "Also serve makuosan's text console, so msync and its scripts work against this daemon: tcp:127.0.0.1:5000 " +
      "(what msync connects to by default) or unix:PATH (mode 0600). Off by default. A TCP console requires " +
      "--console-password-file (on loopback, unless --console-no-password)."
  },
  consoleNoPassword: {
    kind: flag,
    default: false,
    description: "Let a TCP console on loopback run without a password, as makuosan did: every local user can then have this " +
      "daemon send any file it can read to the members (and delete files there). Prefer unix:PATH or a password."
  },
  consolePasswordFile: {
    kind: { _tag: "file" },
    description: "File whose first line (4 to 63 bytes) is the console password, as makuosan's -K: msync -K FILE sends it."
  },
  keyFile: {
    kind: text,
    description: "Native mode: seal every datagram with the cluster's key (AES-256-GCM) and accept only datagrams sealed with a " +
      "key of this file (membership included); makuosan and unkeyed daemons are then not heard. Make it with " +
      "'makuo keygen FILE' and copy it to every member, mode 0600, owned by the daemon's user (root, or the --user " +
      "account). SIGHUP rereads it. Without it: protocol v7, makuosan-compatible and unauthenticated."
  },
  journalDir: {
    kind: text,
    workedOut: () => defaultJournalDir(),
    check: (value: string) => Either.right(resolve(value)),
    description: "Directory (outside the base) where a native transaction's switch is journaled before anything under the base " +
      "changes; a switch a crash cut off is finished from it at the next start. Default: /var/lib/makuo/journal for root, " +
      "else $XDG_STATE_HOME/makuo/journal (~/.local/state/makuo/journal)."
  },
  mtu: {
    kind: integer,
    default: DEFAULT_MTU,
    check: (value: number) => Either.mapBoth(budgetFor(value), { onLeft: (problem) => ` ${problem.replace(/^MTU /, "")}`, onRight: (budget) => budget.mtu }),
    description: "Native mode: the path MTU in bytes; a transaction's every datagram (its data blocks and manifest batches) is " +
      "sized to fit it unfragmented. Raise it on a jumbo-frame network; the same on every daemon of the cluster."
  },
  logLevel: {
    kind: { _tag: "choice", choices: logLevels },
    default: "info",
    description: "Least severe log line written to stderr; debug also shows every refused datagram."
  }
} as const satisfies Record<string, Row>

type Table = typeof table
export type SettingKey = keyof Table

type ValueOf<K extends SettingKind> = K extends { readonly _tag: "integer" } ? number
  : K extends { readonly _tag: "boolean" } ? boolean
  : K extends { readonly choices: ReadonlyArray<infer C> } ? C
  : string

/** A row's value as the daemon uses it: what its check gives, else the value as set. */
type Used<R extends Row> = R extends { readonly check: (value: never) => Either.Either<infer B, string> } ? B : ValueOf<R["kind"]>

/** The settings once merged (flag, environment, file, default) and checked: an optional row without a default may be unset. */
export type Settings = {
  readonly [K in SettingKey]: Table[K] extends { readonly default: SettingValue } | { readonly required: string } ? Used<Table[K]>
    : Option.Option<Used<Table[K]>>
}

/** What the command line gives: a flag is on or off, any other option given or not. */
export type Flags = {
  readonly [K in SettingKey]: Table[K]["kind"] extends { readonly _tag: "boolean" } ? boolean : Option.Option<ValueOf<Table[K]["kind"]>>
}

/** `memberTimeout` → `member-timeout`: the flag's name, the config file's key, `MAKUO_MEMBER_TIMEOUT`. */
const nameOf = (key: string) => key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)

/** The table as a list, each row with its key and name, in the table's order (the help's and `--print-config`'s). */
export const settingRows: ReadonlyArray<Row & { readonly key: SettingKey; readonly name: string }> =
  Object.entries(table).map(([key, row]: [string, Row]) => ({ ...row, key: key as SettingKey, name: nameOf(key) }))

/** `8388608 (8 MiB)`, `262144 (256 KiB)`. */
const withUnit = (bytes: number) =>
  bytes % (1024 * 1024) === 0 ? `${bytes} (${bytes / (1024 * 1024)} MiB)` : `${bytes} (${bytes / 1024} KiB)`

/** The help's words for a row: its description, then its default unless it is a flag's (off). */
export const helpText = (row: Row): string =>
  row.default === undefined || row.kind._tag === "boolean"
    ? row.description
    : `${row.description} Default: ${row.bytes === true ? withUnit(row.default as number) : String(row.default)}.`

/** What `--print-config` shows for the settings the daemon works out at start when they are not given. */
export const workedOut = (): Readonly<Record<string, string>> =>
  Object.fromEntries(settingRows.flatMap((row) => (row.workedOut === undefined ? [] : [[row.name, row.workedOut()]])))

/** The merged and checked settings, where each came from, and a refusal naming a setting and where it was set. */
export interface Resolved {
  readonly settings: Settings
  /** By the setting's name (`member-timeout`), in the table's order: what `--print-config` prints. */
  readonly sources: ReadonlyMap<string, Sourced>
  readonly refuse: (key: SettingKey, problem: string) => SettingRefused
}

/**
 * The daemon's settings: a flag given, else `MAKUO_<NAME>`, else the config file, else the row's default; then
 * each row's check, in the table's order. The first value refused, or required and given nowhere, is the error.
 */
export const resolveDaemonSettings = (
  flags: Flags,
  env: NodeJS.ProcessEnv,
  file: ConfigFile | undefined
): Either.Either<Resolved, SettingUnreadable | SettingRefused | UsageError> => {
  const given = new Map(settingRows.map((row) => {
    const value: Option.Option<SettingValue> | boolean = flags[row.key]
    return [row.name, Option.isOption(value) ? value : Option.some(value)] as const
  }))
  return Either.flatMap(resolveSettings(settingRows, given, env, file), (sources) => {
    const refuse = (key: SettingKey, problem: string) => {
      const setting = nameOf(key)
      const { origin, where } = sources.get(setting)!
      return new SettingRefused({ setting, origin, where, problem })
    }
    const settings: Record<string, unknown> = {}
    for (const row of settingRows) {
      const value = sources.get(row.name)!.value
      if (value === undefined && row.required !== undefined) {
        return Either.left(refuse(row.key, ` is required (or '${row.name} = ${row.required}' in the config file)`))
      }
      const check = row.check as ((value: SettingValue) => Either.Either<unknown, string>) | undefined
      const used = value === undefined || check === undefined ? Either.right(value) : check(value)
      if (Either.isLeft(used)) return Either.left(refuse(row.key, used.left))
      settings[row.key] = row.default === undefined && row.required === undefined ? Option.fromNullable(used.right) : used.right
    }
    return Either.right({ settings: settings as Settings, sources, refuse })
  })
}
