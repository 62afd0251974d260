import { Command, Options } from "@effect/cli"
import { Console, Duration, Effect, Either, Layer, Logger, LogLevel, Option } from "effect"
import * as fs from "node:fs"
import { hostname } from "node:os"
import { resolve } from "node:path"
import { parseConsoleAddress, passwordlessRefusal } from "../console/address.js"
import type { ConsoleSettings } from "../console/Console.js"
import { passwordFromFile } from "../console/password.js"
import { controlSocketPath } from "../control/socketPath.js"
import { type Account, resolveGroup, resolveUser } from "../daemon/accounts.js"
import * as Daemon from "../daemon/Daemon.js"
import { daemonLogger, stderrIsJournal } from "../daemon/journalLogger.js"
import * as FileReceiver from "../transfer/send/FileReceiver.js"
import { defaultTempFiles, openFilesLimit, RESERVED_DESCRIPTORS, tempFilesWithin } from "../daemon/openFilesLimit.js"
import type { DaemonConfig } from "../daemon/DaemonConfig.js"
import { parseIpv4 } from "../protocol/message.js"
import { controlOption } from "./common.js"
import { type ConfigFile, configFileFromEnvironment, DEFAULT_CONFIG_FILE, readConfig } from "./configFile.js"
import { printSettings, resolveSettings, type SettingSpec, type SettingValue, type Sourced } from "./settings.js"
import { parseDuration } from "./duration.js"
import { UsageError } from "./errors.js"
import { readKeyFile } from "../secure/keyFile.js"
import type { KeyFileSettings } from "../secure/SecureTransport.js"

const levels = { debug: LogLevel.Debug, info: LogLevel.Info, warning: LogLevel.Warning, error: LogLevel.Error } as const
const logLevels = ["debug", "info", "warning", "error"] as const satisfies ReadonlyArray<keyof typeof levels>

/** The built-in defaults: what the help says and what a setting given nowhere gets. */
const defaults = {
  multicast: "224.0.0.108",
  port: 5000,
  bind: "0.0.0.0",
  ttl: 1,
  memberTimeout: "300s",
  sessionTimeout: "180s",
  recvBuffer: 8 * 1024 * 1024,
  sendBuffer: 256 * 1024,
  maxSessions: FileReceiver.receiverDefaults.maxSessions,
  maxSessionsPerPeer: FileReceiver.receiverDefaults.maxSessionsPerPeer,
  logLevel: "info"
} as const

const options = {
  base: Options.text("base").pipe(
    Options.optional,
    Options.withDescription("Directory this daemon serves; every path sent or received is relative to it. Required (here or in the config file).")
  ),
  multicast: Options.text("multicast").pipe(
    Options.optional,
    Options.withDescription(`Multicast group shared by the cluster (makuosan's -m). Default: ${defaults.multicast}.`)
  ),
  port: Options.integer("port").pipe(
    Options.optional,
    Options.withDescription(`UDP port of the group and of this daemon (makuosan's -p). Default: ${defaults.port}.`)
  ),
  interface: Options.text("interface").pipe(
    Options.optional,
    Options.withDescription(
      "Address of the interface to join the group on and send multicast from (makuosan's -i). " +
        "Default: the kernel's route for the group. Set it on hosts with several interfaces."
    )
  ),
  bind: Options.text("bind").pipe(
    Options.optional,
    Options.withDescription(
      "Unicast address to bind. Keep the default in production; give each daemon its own address " +
        `(127.0.0.2, 127.0.0.3, ...) to run several on one host. Default: ${defaults.bind}.`
    )
  ),
  ttl: Options.integer("ttl").pipe(Options.optional, Options.withDescription(`Multicast TTL (1 = one L2 segment). Default: ${defaults.ttl}.`)),
  name: Options.text("name").pipe(
    Options.optional,
    Options.withDescription("Host name announced to the members, used by '-t HOST'. Default: the OS host name.")
  ),
  memberTimeout: Options.text("member-timeout").pipe(
    Options.optional,
    Options.withDescription(`Drop a member after this long without a datagram from it (e.g. 300s, 5m). Default: ${defaults.memberTimeout}.`)
  ),
  sessionTimeout: Options.text("session-timeout").pipe(
    Options.optional,
    Options.withDescription(
      "Forget a transfer this daemon receives after this long without a datagram for it (a sender that died or " +
        `lost its link): its temp file is removed and the old file stays as it was (e.g. 180s, 3m). Default: ${defaults.sessionTimeout}.`
    )
  ),
  control: controlOption,
  controlGroup: Options.text("control-group").pipe(
    Options.optional,
    Options.withDescription(
      "Let the members of this group (name or gid) use the control socket too: mode 0660 instead of 0600, so " +
        "deploy users can run 'makuo send' without root."
    )
  ),
  user: Options.text("user").pipe(
    Options.optional,
    Options.withDescription(
      "Started as root: once the UDP port and the sockets are open, run as this user (name or uid) for good. " +
        "The base must be writable by it; received files then keep that user as owner (owners are applied only by a root daemon)."
    )
  ),
  group: Options.text("group").pipe(
    Options.optional,
    Options.withDescription("With --user: the group to run as (name or gid). Default: the user's primary group.")
  ),
  recvBuffer: Options.integer("recv-buffer").pipe(
    Options.optional,
    Options.withDescription(
      `SO_RCVBUF in bytes (makuosan's -R). The kernel caps it at net.core.rmem_max; raise that too for fast links. Default: ${defaults.recvBuffer} (8 MiB).`
    )
  ),
  sendBuffer: Options.integer("send-buffer").pipe(
    Options.optional,
    Options.withDescription(
      "SO_SNDBUF in bytes (makuosan's -S), capped at net.core.wmem_max. Small on purpose: the kernel then holds the " +
        `sender back to its own link's speed before the interface queue drops anything. Default: ${defaults.sendBuffer} (256 KiB).`
    )
  ),
  readonly: Options.boolean("readonly").pipe(
    Options.withDescription("Never change anything here: answer every transfer READONLY (makuosan's -r).")
  ),
  maxSessions: Options.integer("max-sessions").pipe(
    Options.optional,
    Options.withDescription(
      "Sessions this daemon receives at once, from all peers — transfers, checks (MD5), DSYNC and DEL alike; a request " +
        `that would open one more is ignored (counted in status, logged). Default: ${defaults.maxSessions}.`
    )
  ),
  maxSessionsPerPeer: Options.integer("max-sessions-per-peer").pipe(
    Options.optional,
    Options.withDescription(
      "Sessions (of every kind) one peer may have open here at once, so that one host's flood of forged requests cannot take every " +
        `slot (a makuo sender keeps at most --parallel, 64 at most, per job). Default: ${defaults.maxSessionsPerPeer}.`
    )
  ),
  maxTempFiles: Options.integer("max-temp-files").pipe(
    Options.optional,
    Options.withDescription(
      "Files this daemon receives at once (each an open temp file and its directory). Twice this is the budget of every " +
        "descriptor received sessions hold: temp files, a directory held from STAT to OPEN, a file being hashed for a " +
        "check; an OPEN or check beyond it is answered EMFILE, which the sender reports. Default: 1024, or fewer when the " +
        "open-files limit (ulimit -n, LimitNOFILE) is low; a value that does not fit under that limit is refused."
    )
  ),
  keepSetid: Options.boolean("keep-setid").pipe(
    Options.withDescription(
      "Apply the setuid/setgid bits of received regular files, as makuosan does. Off by default: protocol v7 " +
        "authenticates nobody, so any host that reaches the group could plant a setuid-root program under the base; " +
        "without this flag the bits are dropped (logged) and the file is otherwise updated as sent."
    )
  ),
  console: Options.text("console").pipe(
    Options.optional,
    Options.withDescription(
      "Also serve makuosan's text console, so msync and its scripts work against this daemon: tcp:127.0.0.1:5000 " +
        "(what msync connects to by default) or unix:PATH (mode 0600). Off by default. A TCP console requires " +
        "--console-password-file (on loopback, unless --console-no-password)."
    )
  ),
  consoleNoPassword: Options.boolean("console-no-password").pipe(
    Options.withDescription(
      "Let a TCP console on loopback run without a password, as makuosan did: every local user can then have this " +
        "daemon send any file it can read to the members (and delete files there). Prefer unix:PATH or a password."
    )
  ),
  consolePasswordFile: Options.file("console-password-file", { exists: "yes" }).pipe(
    Options.optional,
    Options.withDescription(
      "File whose first line (4 to 63 bytes) is the console password, as makuosan's -K: msync -K FILE sends it."
    )
  ),
  keyFile: Options.text("key-file").pipe(
    Options.optional,
    Options.withDescription(
      "Native mode: seal every datagram with the cluster's key (AES-256-GCM) and accept only datagrams sealed with a " +
        "key of this file (membership included); makuosan and unkeyed daemons are then not heard. Make it with " +
        "'makuo keygen FILE' and copy it to every member, mode 0600, owned by the daemon's user (root, or the --user " +
        "account). SIGHUP rereads it. Without it: protocol v7, makuosan-compatible and unauthenticated."
    )
  ),
  logLevel: Options.choice("log-level", logLevels).pipe(
    Options.optional,
    Options.withDescription(`Least severe log line written to stderr; debug also shows every refused datagram. Default: ${defaults.logLevel}.`)
  )
}

const configOptions = {
  config: Options.text("config").pipe(
    Options.optional,
    Options.withDescription(
      `Read settings from this file: one 'name = value' per line, the names of these flags ('member-timeout = 5m'). ` +
        `Default: $MAKUO_CONFIG, else ${DEFAULT_CONFIG_FILE} if it exists. Flags override the environment (MAKUO_MEMBER_TIMEOUT=...), ` +
        "which overrides the file."
    )
  ),
  printConfig: Options.boolean("print-config").pipe(
    Options.withDescription(
      "Check the settings as the daemon would at start, then print them, each with where it came from (flag, " +
        "environment, file, default), and exit: 0, or 2 and the first bad value with its file:line."
    )
  )
}

type Parsed = Command.Command.ParseConfig<typeof options>

const text = { _tag: "text" } as const
const integer = { _tag: "integer" } as const
const boolean = { _tag: "boolean" } as const

/** A flag as a setting: its name (the flag's, the config key, MAKUO_ variable) is the option's key in kebab case. */
const setting = (key: keyof Parsed, kind: SettingSpec["kind"], fallback?: SettingValue) => ({
  key,
  name: key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`),
  kind,
  ...(fallback === undefined ? {} : { fallback })
})

/** Every daemon flag as a setting: name, kind and built-in default. */
const specs: ReadonlyArray<SettingSpec & { readonly key: keyof Parsed }> = [
  setting("base", text),
  setting("multicast", text, defaults.multicast),
  setting("port", integer, defaults.port),
  setting("interface", text),
  setting("bind", text, defaults.bind),
  setting("ttl", integer, defaults.ttl),
  setting("name", text),
  setting("memberTimeout", text, defaults.memberTimeout),
  setting("sessionTimeout", text, defaults.sessionTimeout),
  setting("control", text),
  setting("controlGroup", text),
  setting("user", text),
  setting("group", text),
  setting("recvBuffer", integer, defaults.recvBuffer),
  setting("sendBuffer", integer, defaults.sendBuffer),
  setting("readonly", boolean, false),
  setting("maxSessions", integer, defaults.maxSessions),
  setting("maxSessionsPerPeer", integer, defaults.maxSessionsPerPeer),
  setting("maxTempFiles", integer),
  setting("keepSetid", boolean, false),
  setting("console", text),
  setting("consolePasswordFile", text),
  setting("consoleNoPassword", boolean, false),
  setting("keyFile", text),
  setting("logLevel", { _tag: "choice", choices: logLevels }, defaults.logLevel)
]

/** The settings once flags, environment, file and defaults are merged: what `toConfig` checks. */
export interface Settings {
  readonly base: Option.Option<string>
  readonly multicast: string
  readonly port: number
  readonly interface: Option.Option<string>
  readonly bind: string
  readonly ttl: number
  readonly name: Option.Option<string>
  readonly memberTimeout: string
  readonly sessionTimeout: string
  readonly control: Option.Option<string>
  readonly controlGroup: Option.Option<string>
  readonly user: Option.Option<string>
  readonly group: Option.Option<string>
  readonly recvBuffer: number
  readonly sendBuffer: number
  readonly readonly: boolean
  readonly maxSessions: number
  readonly maxSessionsPerPeer: number
  readonly maxTempFiles: Option.Option<number>
  readonly keepSetid: boolean
  readonly console: Option.Option<string>
  readonly consolePasswordFile: Option.Option<string>
  readonly consoleNoPassword: boolean
  readonly keyFile: Option.Option<string>
  readonly logLevel: keyof typeof levels
}

const resolveAll = (o: Parsed, env: NodeJS.ProcessEnv, file: ConfigFile | undefined) => {
  const flags = new Map(specs.map((spec) => {
    const given = o[spec.key] as Option.Option<SettingValue> | boolean | string | number
    return [spec.name, Option.isOption(given) ? given : Option.some(given)] as const
  }))
  return resolveSettings(specs, flags, env, file)
}

const settingsOf = (resolved: ReadonlyMap<string, Sourced>): Settings =>
  Object.fromEntries(specs.map((spec) => {
    const value = resolved.get(spec.name)?.value
    // the settings without a default stay optional; the others always have a value
    return [spec.key, spec.fallback === undefined ? Option.fromNullable(value) : value]
  })) as unknown as Settings

const usage = (detail: string) => Effect.fail(new UsageError({ detail }))

const checkAddress = (flag: string, value: string) =>
  parseIpv4(value) === undefined ? usage(`--${flag} ${value}: not an IPv4 address`) : Effect.void

const checkPort = (flag: string, value: number, min: number, max: number) =>
  value < min || value > max ? usage(`--${flag} ${value}: must be between ${min} and ${max}`) : Effect.void

export const toConfig = (o: Settings): Effect.Effect<DaemonConfig, UsageError> =>
  Effect.gen(function*() {
    if (Option.isNone(o.base)) return yield* usage("--base is required (or 'base = DIR' in the config file)")
    const base = resolve(o.base.value)
    const st = fs.statSync(base, { throwIfNoEntry: false })
    if (st === undefined) return yield* usage(`--base ${o.base.value}: no such directory`)
    if (!st.isDirectory()) return yield* usage(`--base ${o.base.value}: not a directory`)
    yield* checkAddress("multicast", o.multicast)
    const [first] = parseIpv4(o.multicast)!
    if (first < 224 || first > 239) yield* usage(`--multicast ${o.multicast}: not a multicast address (224.0.0.0/4)`)
    yield* checkAddress("bind", o.bind)
    if (Option.isSome(o.interface)) yield* checkAddress("interface", o.interface.value)
    yield* checkPort("port", o.port, 1, 65535)
    yield* checkPort("ttl", o.ttl, 0, 255)
    yield* checkPort("max-sessions", o.maxSessions, 1, 1_000_000)
    yield* checkPort("max-sessions-per-peer", o.maxSessionsPerPeer, 1, o.maxSessions)
    const maxTempFiles = yield* tempFileLimit(o)
    const memberTimeout = parseDuration(o.memberTimeout)
    if (Either.isLeft(memberTimeout)) return yield* usage(`--member-timeout ${memberTimeout.left}`)
    const sessionTimeout = parseDuration(o.sessionTimeout)
    if (Either.isLeft(sessionTimeout)) return yield* usage(`--session-timeout ${sessionTimeout.left}`)
    // a live sender retransmits at least every MAX_WAIT_MS: anything near that would drop transfers in flight
    if (Duration.lessThan(sessionTimeout.right, Duration.seconds(2))) yield* usage(`--session-timeout ${o.sessionTimeout}: at least 2s`)
    const name = Option.getOrElse(o.name, () => hostname())
    if (name === "" || Buffer.byteLength(name) > 255) yield* usage(`--name '${name}': must be 1 to 255 bytes`)
    const console = yield* consoleSettings(o)
    const runAs = yield* account(o)
    const controlGroup = Option.isNone(o.controlGroup) ? undefined : resolveGroup(o.controlGroup.value)
    if (controlGroup !== undefined && Either.isLeft(controlGroup)) return yield* usage(`--control-group: ${controlGroup.left}`)
    const keyFile = yield* keyFileSettings(o, runAs)
    return {
      base: fs.realpathSync(base),
      group: o.multicast,
      port: o.port,
      bind: o.bind,
      interface: Option.getOrUndefined(o.interface),
      ttl: o.ttl,
      name,
      memberTimeout: memberTimeout.right,
      sessionTimeout: sessionTimeout.right,
      control: controlSocketPath(Option.getOrUndefined(o.control)),
      recvBufferSize: o.recvBuffer,
      sendBufferSize: o.sendBuffer,
      readonly: o.readonly,
      keepSetId: o.keepSetid,
      maxSessions: o.maxSessions,
      maxSessionsPerPeer: o.maxSessionsPerPeer,
      maxTempFiles,
      runAs,
      controlGroup: controlGroup?.right,
      console,
      keyFile
    }
  })

const tempFileLimit = (o: Settings): Effect.Effect<number, UsageError> =>
  Effect.gen(function*() {
    const limit = openFilesLimit()
    const fits = limit === undefined ? Number.MAX_SAFE_INTEGER : tempFilesWithin(limit)
    if (Option.isNone(o.maxTempFiles)) {
      return fits >= 16
        ? defaultTempFiles(limit)
        : yield* usage(`the open-files limit ${limit} leaves no room to receive files: raise it (ulimit -n, LimitNOFILE=)`)
    }
    const wanted = o.maxTempFiles.value
    yield* checkPort("max-temp-files", wanted, 1, 1_000_000)
    if (wanted > fits) {
      yield* usage(`--max-temp-files ${wanted}: needs ${2 * wanted + RESERVED_DESCRIPTORS} descriptors, the open-files limit is ${limit}; raise it (ulimit -n, LimitNOFILE=) or ask for at most ${fits}`)
    }
    return wanted
  })

const account = (o: Settings): Effect.Effect<Account | undefined, UsageError> =>
  Effect.gen(function*() {
    if (Option.isNone(o.user)) return Option.isSome(o.group) ? yield* usage("--group needs --user") : undefined
    if (process.geteuid?.() !== 0) return yield* usage(`--user ${o.user.value}: only a daemon started as root can switch user`)
    const resolved = resolveUser(o.user.value, Option.getOrUndefined(o.group))
    if (Either.isLeft(resolved)) return yield* usage(`--user: ${resolved.left}`)
    if (resolved.right.uid === 0) return yield* usage(`--user ${o.user.value}: that is root; leave --user out to run as root`)
    return resolved.right
  })

/** The key file, read now: before privileges are dropped, and so that a bad file stops the daemon at start. */
const keyFileSettings = (o: Settings, runAs: Account | undefined): Effect.Effect<KeyFileSettings | undefined, UsageError> => {
  if (Option.isNone(o.keyFile)) return Effect.succeed(undefined)
  const path = resolve(o.keyFile.value)
  const ring = readKeyFile(path, runAs?.uid)
  return Either.isLeft(ring)
    ? usage(`--key-file: ${ring.left.message}`)
    : Effect.succeed({ path, ring: ring.right, runAsUid: runAs?.uid })
}

const consoleSettings = (o: Settings): Effect.Effect<ConsoleSettings | undefined, UsageError> =>
  Effect.gen(function*() {
    const file = Option.getOrUndefined(o.consolePasswordFile)
    if (Option.isNone(o.console)) {
      if (o.consoleNoPassword) return yield* usage("--console-no-password needs --console")
      return file === undefined ? undefined : yield* usage("--console-password-file needs --console")
    }
    const address = parseConsoleAddress(o.console.value)
    if (Either.isLeft(address)) return yield* usage(`--console ${o.console.value}: ${address.left}`)
    if (file === undefined) {
      const refusal = passwordlessRefusal(address.right, o.consoleNoPassword)
      if (refusal !== undefined) return yield* usage(`--console ${o.console.value}: ${refusal}`)
      return { address: address.right, password: undefined }
    }
    const content = yield* Effect.try({
      try: () => fs.readFileSync(file),
      catch: (e) => new UsageError({ detail: `--console-password-file ${file}: ${e instanceof Error ? e.message : String(e)}` })
    })
    const password = passwordFromFile(content)
    if (Either.isLeft(password)) return yield* usage(`--console-password-file ${file}: ${password.left}`)
    return { address: address.right, password: password.right }
  })


const logging = (level: keyof typeof levels) =>
  Layer.merge(
    daemonLogger(stderrIsJournal()),
    Logger.minimumLogLevel(levels[level])
  )

/** What `--print-config` shows for settings whose default depends on the machine. */
const derivedDefaults = () => ({
  name: hostname(),
  control: controlSocketPath(undefined),
  "max-temp-files": String(defaultTempFiles(openFilesLimit()))
})

/** A checking error about a setting that did not come from a flag says where it did come from. */
const locate = (resolved: ReadonlyMap<string, Sourced>) => (e: UsageError) => {
  const named = /^--([a-z-]+)/.exec(e.detail)?.[1]
  const source = named === undefined ? undefined : resolved.get(named)
  return source === undefined || source.origin === "flag" || source.origin === "default"
    ? e
    : new UsageError({ detail: `${e.detail} (set in ${source.where})` })
}

export const daemonCommand = Command.make("daemon", { ...options, ...configOptions }, (o) =>
  Effect.gen(function*() {
    const file = readConfig(Option.getOrUndefined(o.config) ?? configFileFromEnvironment())
    if (Either.isLeft(file)) return yield* usage(`--config ${file.left}`)
    const resolved = resolveAll(o, process.env, file.right)
    if (Either.isLeft(resolved)) return yield* usage(resolved.left)
    const settings = settingsOf(resolved.right)
    // checked before --print-config shows anything, as `nginx -t` does: a bad value there exits 2 naming its file:line
    const config = yield* Effect.mapError(toConfig(settings), locate(resolved.right))
    if (o.printConfig) {
      return yield* Console.log(`# makuo daemon settings${file.right === undefined ? " (no config file)" : ` (config file ${file.right.path})`}\n${printSettings(resolved.right, derivedDefaults())}`)
    }
    return yield* Layer.launch(Daemon.layer(config)).pipe(Effect.provide(logging(settings.logLevel)))
  })).pipe(
    Command.withDescription(
      "Run the makuo daemon in the foreground. It joins the multicast group, finds the other daemons by itself " +
        "and serves the CLI on its control socket. SIGTERM or SIGINT announce EXIT to the members and stop it. Logs go to stderr.\n\n" +
        "Examples:\n" +
        "  makuo daemon --base /var/www\n" +
        "  makuo daemon --base /var/www --interface 10.0.0.5 --name web1\n" +
        "  makuo daemon --base /var/www --console tcp:127.0.0.1:5000 --console-password-file /etc/makuo/console.key\n" +
        "  makuo daemon --base /tmp/b2 --bind 127.0.0.2 --interface 127.0.0.1 --port 15000 --control /tmp/b2.sock"
    )
  )
