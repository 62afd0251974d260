/**
 * `makuo daemon`: what it does with its options, without @effect/cli, which a daemon need not load (its options are
 * read by daemonArgv.ts when that can be done without it; the command @effect/cli knows is in daemonCli.ts).
 */
import { Console, Effect, Either, Layer, Logger, LogLevel, Option } from "effect"
import * as fs from "node:fs"
import { hostname } from "node:os"
import { resolve } from "node:path"
import { parseConsoleAddress, passwordlessRefusal } from "../console/address.js"
import type { ConsoleSettings } from "../console/Console.js"
import { passwordFromFile } from "../console/password.js"
import { controlSocketPath } from "../control/socketPath.js"
import { type Account, resolveUser } from "../daemon/accounts.js"
import * as Daemon from "../daemon/Daemon.js"
import { daemonLogger, stderrIsJournal } from "../daemon/journalLogger.js"
import { settle } from "../daemon/settle.js"
import { loadNative } from "../net/native.js"
import { defaultTempFiles, openFilesLimit, RESERVED_DESCRIPTORS, tempFilesWithin } from "../daemon/openFilesLimit.js"
import type { DaemonConfig } from "../daemon/DaemonConfig.js"
import { configFileFromEnvironment, DEFAULT_CONFIG_FILE, readConfig } from "./configFile.js"
import { type Flags, type logLevels, type Resolved, resolveDaemonSettings, type Row, type SettingKey, type Settings, workedOut } from "./daemonSettings.js"
import { printSettings, type SettingRefused } from "./settings.js"
import { UsageError } from "./errors.js"
import { readKeyFile } from "../secure/keyFile.js"
import { defaultJournalDir, isWithin } from "../store/journal.js"
import type { KeyFileSettings } from "../secure/SecureTransport.js"

const levels: Record<(typeof logLevels)[number], LogLevel.LogLevel> = {
  debug: LogLevel.Debug,
  info: LogLevel.Info,
  warning: LogLevel.Warning,
  error: LogLevel.Error
}

/** The command's own options beside the settings' rows: which config file, and whether only to print the settings. */
export const commandRows: ReadonlyArray<Row & { readonly key: "config" | "printConfig"; readonly name: string }> = [
  {
    key: "config",
    name: "config",
    kind: { _tag: "text" },
    description: `Read settings from this file: one 'name = value' per line, the names of these flags ('member-timeout = 5m'). ` +
      `Default: $MAKUO_CONFIG, else ${DEFAULT_CONFIG_FILE} if it exists. Flags override the environment (MAKUO_MEMBER_TIMEOUT=...), ` +
      "which overrides the file."
  },
  {
    key: "printConfig",
    name: "print-config",
    kind: { _tag: "boolean" },
    description: "Check the settings as the daemon would at start, then print them, each with where it came from (flag, " +
      "environment, file, default), and exit: 0, or 2 and the first bad value with its file:line."
  }
]

/** What `makuo daemon`'s command line gives. */
export interface DaemonFlags extends Flags {
  readonly config: Option.Option<string>
  readonly printConfig: boolean
}

const usage = (detail: string) => Effect.fail(new UsageError({ detail }))

/** Fails with the setting's refusal: `problem` follows the flag's name in the message (` 70000: must be ...`). */
type Refuse = (key: SettingKey, problem: string) => Effect.Effect<never, SettingRefused>

/**
 * What the rows' own checks cannot see: settings that depend on each other or on the machine, then the
 * `DaemonConfig` the daemon runs with. A refusal names its setting and where it was set.
 */
export const toConfig = (resolved: Resolved): Effect.Effect<DaemonConfig, SettingRefused | UsageError> =>
  Effect.gen(function*() {
    const o = resolved.settings
    const refuse: Refuse = (key, problem) => Effect.fail(resolved.refuse(key, problem))
    if (o.maxSessionsPerPeer < 1 || o.maxSessionsPerPeer > o.maxSessions) {
      yield* refuse("maxSessionsPerPeer", ` ${o.maxSessionsPerPeer}: must be between 1 and ${o.maxSessions}`)
    }
    const maxTempFiles = yield* tempFileLimit(o, refuse)
    const name = Option.getOrElse(o.name, () => hostname())
    if (name === "" || Buffer.byteLength(name) > 255) yield* refuse("name", ` '${name}': must be 1 to 255 bytes`)
    const console = yield* consoleSettings(o, refuse)
    const runAs = yield* account(o, refuse)
    const keyFile = yield* keyFileSettings(o, refuse, runAs)
    const journalDir = Option.getOrElse(o.journalDir, () => defaultJournalDir())
    if (isWithin(journalDir, o.base)) yield* refuse("journalDir", ` ${journalDir}: inside the base ${o.base}; it must lie outside it`)
    return {
      base: o.base,
      group: o.multicast,
      port: o.port,
      bind: o.bind,
      interface: Option.getOrUndefined(o.interface),
      ttl: o.ttl,
      name,
      memberTimeout: o.memberTimeout,
      sessionTimeout: o.sessionTimeout,
      control: controlSocketPath(Option.getOrUndefined(o.control)),
      recvBufferSize: o.recvBuffer,
      sendBufferSize: o.sendBuffer,
      readonly: o.readonly,
      keepSetId: o.keepSetid,
      maxSessions: o.maxSessions,
      maxSessionsPerPeer: o.maxSessionsPerPeer,
      maxTempFiles,
      runAs,
      controlGroup: Option.getOrUndefined(o.controlGroup),
      console,
      keyFile,
      journalDir,
      mtu: o.mtu
    }
  })

/** Once the daemon serves: see `settle`. */
const settled = Effect.sync(() => {
  const native = loadNative()
  settle(typeof native === "string" ? {} : native)
})

const tempFileLimit = (o: Settings, refuse: Refuse): Effect.Effect<number, SettingRefused | UsageError> =>
  Effect.gen(function*() {
    const limit = openFilesLimit()
    const fits = limit === undefined ? Number.MAX_SAFE_INTEGER : tempFilesWithin(limit)
    if (Option.isNone(o.maxTempFiles)) {
      return fits >= 16
        ? defaultTempFiles(limit)
        : yield* usage(`the open-files limit ${limit} leaves no room to receive files: raise it (ulimit -n, LimitNOFILE=)`)
    }
    const wanted = o.maxTempFiles.value
    if (wanted > fits) {
      yield* refuse("maxTempFiles", ` ${wanted}: needs ${2 * wanted + RESERVED_DESCRIPTORS} descriptors, the open-files limit is ${limit}; raise it (ulimit -n, LimitNOFILE=) or ask for at most ${fits}`)
    }
    return wanted
  })

const account = (o: Settings, refuse: Refuse): Effect.Effect<Account | undefined, SettingRefused> =>
  Effect.gen(function*() {
    if (Option.isNone(o.user)) return Option.isSome(o.group) ? yield* refuse("group", " needs --user") : undefined
    if (process.geteuid?.() !== 0) return yield* refuse("user", ` ${o.user.value}: only a daemon started as root can switch user`)
    const resolved = resolveUser(o.user.value, Option.getOrUndefined(o.group))
    if (Either.isLeft(resolved)) return yield* refuse("user", `: ${resolved.left}`)
    if (resolved.right.uid === 0) return yield* refuse("user", ` ${o.user.value}: that is root; leave --user out to run as root`)
    return resolved.right
  })

/** The key file, read now: before privileges are dropped, and so that a bad file stops the daemon at start. */
const keyFileSettings = (o: Settings, refuse: Refuse, runAs: Account | undefined): Effect.Effect<KeyFileSettings | undefined, SettingRefused> => {
  if (Option.isNone(o.keyFile)) return Effect.succeed(undefined)
  const path = resolve(o.keyFile.value)
  const ring = readKeyFile(path, runAs?.uid)
  return Either.isLeft(ring)
    ? refuse("keyFile", `: ${ring.left.message}`)
    : Effect.succeed({ path, ring: ring.right, runAsUid: runAs?.uid })
}

const consoleSettings = (o: Settings, refuse: Refuse): Effect.Effect<ConsoleSettings | undefined, SettingRefused> =>
  Effect.gen(function*() {
    const file = Option.getOrUndefined(o.consolePasswordFile)
    if (Option.isNone(o.console)) {
      if (o.consoleNoPassword) return yield* refuse("consoleNoPassword", " needs --console")
      return file === undefined ? undefined : yield* refuse("consolePasswordFile", " needs --console")
    }
    const address = parseConsoleAddress(o.console.value)
    if (Either.isLeft(address)) return yield* refuse("console", ` ${o.console.value}: ${address.left}`)
    if (file === undefined) {
      const refusal = passwordlessRefusal(address.right, o.consoleNoPassword)
      if (refusal !== undefined) return yield* refuse("console", ` ${o.console.value}: ${refusal}`)
      return { address: address.right, password: undefined }
    }
    const content = yield* Effect.try(() => fs.readFileSync(file)).pipe(
      Effect.catchAll(({ error }) => refuse("consolePasswordFile", ` ${file}: ${error instanceof Error ? error.message : String(error)}`))
    )
    const password = passwordFromFile(content)
    if (Either.isLeft(password)) return yield* refuse("consolePasswordFile", ` ${file}: ${password.left}`)
    return { address: address.right, password: password.right }
  })

const logging = (level: keyof typeof levels) =>
  Layer.merge(
    daemonLogger(stderrIsJournal()),
    Logger.minimumLogLevel(levels[level])
  )

/** The daemon, run in the foreground until it is stopped; or, with `--print-config`, its settings printed. */
export const runDaemon = (o: DaemonFlags) =>
  Effect.gen(function*() {
    const file = readConfig(Option.getOrUndefined(o.config) ?? configFileFromEnvironment())
    if (Either.isLeft(file)) return yield* usage(`--config ${file.left}`)
    const resolved = yield* resolveDaemonSettings(o, process.env, file.right)
    // checked before --print-config shows anything, as `nginx -t` does: a bad value there exits 2 naming its file:line
    const config = yield* toConfig(resolved)
    if (o.printConfig) {
      return yield* Console.log(`# makuo daemon settings${file.right === undefined ? " (no config file)" : ` (config file ${file.right.path})`}\n${printSettings(resolved.sources, workedOut())}`)
    }
    return yield* Layer.launch(Layer.tap(Daemon.layer(config), () => settled)).pipe(Effect.provide(logging(resolved.settings.logLevel)))
  })

export const daemonDescription = "Run the makuo daemon in the foreground. It joins the multicast group, finds the other daemons by itself " +
  "and serves the CLI on its control socket. SIGTERM or SIGINT announce EXIT to the members and stop it. Logs go to stderr.\n\n" +
  "Examples:\n" +
  "  makuo daemon --base /var/www\n" +
  "  makuo daemon --base /var/www --interface 10.0.0.5 --name web1\n" +
  "  makuo daemon --base /var/www --console tcp:127.0.0.1:5000 --console-password-file /etc/makuo/console.key\n" +
  "  makuo daemon --base /tmp/b2 --bind 127.0.0.2 --interface 127.0.0.1 --port 15000 --control /tmp/b2.sock"
