/**
 * How a command ends. Exit codes: 0 success, 1 a failure at run time, 2 a usage, configuration or connection error
 * (one line on stderr naming the option, path or socket at fault), 3 a send or sync in which nothing failed but a
 * `--readonly` member did not take some file. Shared by the CLI (main.ts) and a daemon started without it
 * (daemonArgv.ts): only types come from the commands, so that a daemon loads none of the client's modules.
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Cause, Console, Effect, Exit } from "effect"
import type { ControlProtocolError, ControlSetupError, ControlUnavailable, ControlUntrusted, RequestRefused } from "../control/errors.js"
import type { PrivilegeDropFailed } from "../daemon/dropPrivileges.js"
import type { TransportError } from "../net/Transport.js"
import type { DoctorFound } from "./doctorCommand.js"
import type { UsageError } from "./errors.js"
import type { TransferDeclined, TransferFailed } from "./sendCommand.js"
import type { SettingRefused, SettingUnreadable } from "./settings.js"

/** What a command fails with and ends in an exit code; anything else is a defect (1, and the cause on stderr). */
type CommandError =
  | UsageError
  | SettingUnreadable
  | SettingRefused
  | TransferFailed
  | TransferDeclined
  | DoctorFound
  | ControlUnavailable
  | ControlProtocolError
  | ControlUntrusted
  | RequestRefused
  | ControlSetupError
  | PrivilegeDropFailed
  | TransportError

const fail = (code: number, message: string) => Effect.as(Console.error(`makuo: ${message}`), code)

const said = (e: { readonly message: string }) => fail(2, e.message)

/** Each failure's exit code; those a command has already explained print nothing more. */
const codes: { readonly [T in CommandError["_tag"]]: (e: Extract<CommandError, { readonly _tag: T }>) => Effect.Effect<number> } = {
  UsageError: said,
  SettingUnreadable: said,
  SettingRefused: said,
  TransferFailed: () => Effect.succeed(1),
  TransferDeclined: () => Effect.succeed(3),
  DoctorFound: () => Effect.succeed(1),
  ControlUnavailable: said,
  ControlProtocolError: said,
  ControlUntrusted: said,
  RequestRefused: said,
  ControlSetupError: said,
  PrivilegeDropFailed: said,
  TransportError: (e) => fail(2, `network: ${e.message}`)
}

const isCommandError = (e: unknown): e is CommandError =>
  typeof e === "object" && e !== null && "_tag" in e && typeof e._tag === "string" && Object.hasOwn(codes, e._tag)

/**
 * An interruption that reaches here came from inside: a signal interrupts the whole program, which ends in
 * `runToExit`'s teardown instead. Nothing failed by name, but the command did not finish either, and a silent 0
 * would tell a script that, say, `members --json` answered with nothing.
 */
const INTERRUPTED_WITHIN = "stopped before it finished: interrupted from within, not by a signal (a defect: please report it with the command line)"

/** `effect`'s exit code: what it gives, or what its failure means. */
export const exitCode = <E, R>(effect: Effect.Effect<number, E, R>): Effect.Effect<number, never, R> =>
  effect.pipe(
    Effect.catchIf((e): e is E & CommandError => isCommandError(e), (e) => (codes[e._tag] as (e: CommandError) => Effect.Effect<number>)(e)),
    Effect.catchAllCause((cause) => fail(1, Cause.isInterruptedOnly(cause) ? INTERRUPTED_WITHIN : Cause.pretty(cause)))
  )

/** Runs a command to its exit code and exits the process with it. */
export const runToExit = (effect: Effect.Effect<number>) =>
  NodeRuntime.runMain(effect, {
    disablePrettyLogger: true,
    disableErrorReporting: true,
    // SIGINT/SIGTERM: a clean stop for the daemon, a cancelled command (130, like any shell) for the client
    teardown: (exit, onExit) =>
      onExit(Exit.isSuccess(exit) ? Number(exit.value) : !Exit.isInterrupted(exit) ? 1 : process.argv[2] === "daemon" ? 0 : 130)
  })
