import { Data } from "effect"

/** No daemon answers on the control socket (not running, wrong path, or no permission). */
export class ControlUnavailable extends Data.TaggedError("ControlUnavailable")<{
  readonly path: string
  readonly code: string
}> {
  /** Why, in words: `permission denied`, `no such socket`, or the error code. */
  get why() {
    return this.code === "EACCES" ? "permission denied" : this.code === "ENOENT" ? "no such socket" : this.code
  }
  override get message() {
    return `no makuo daemon at ${this.path} (${this.why}); start one with 'makuo daemon --base DIR' or point --control / MAKUO_CONTROL at its socket`
  }
}

/**
 * The directory of the client's default socket is not the user's own private directory: whoever planted it could
 * be listening there. Nothing is sent.
 */
export class ControlUntrusted extends Data.TaggedError("ControlUntrusted")<{
  readonly path: string
  readonly directory: string
  readonly problem: string
}> {
  override get message() {
    return `refusing control socket ${this.path}: its directory ${this.directory} ${this.problem}, so another user ` +
      `could be listening there; remove ${this.directory} (the daemon recreates it, mode 0700) or point --control / ` +
      "MAKUO_CONTROL at a socket in a directory only you can write"
  }
}

/** The daemon answered something we cannot read, or hung up mid-request. */
export class ControlProtocolError extends Data.TaggedError("ControlProtocolError")<{
  readonly path: string
  readonly detail: string
}> {
  override get message() {
    return `control socket ${this.path}: ${this.detail}`
  }
}

/** Why a unix socket of the daemon could not be set up. */
export type SetupReason =
  | "PathTooLong"
  /** Its directory belongs to another user, or others may write to it without the sticky bit. */
  | "UnsafeDirectory"
  /** Something that is not a socket is in the way: never replaced. */
  | "NotASocket"
  /** Another daemon listens on it. */
  | "InUse"
  | "Listen"

/** A step of the socket's setup refused, before the role and path are known to say it. */
export class SetupRefused extends Data.TaggedError("SetupRefused")<{ readonly reason: SetupReason; readonly detail: string }> {}

/** The daemon could not set up one of its unix sockets (`role`: the control socket or the console). */
export class ControlSetupError extends Data.TaggedError("ControlSetupError")<{
  readonly role: string
  readonly path: string
  readonly reason: SetupReason
  readonly detail: string
}> {
  override get message() {
    return `${this.role} ${this.path}: ${this.detail}`
  }
}

/**
 * The daemon refused the request: its words, verbatim, and the refusal's tag (`NoMembers`, `UnknownTarget`,
 * `PathOutsideBase`, ..., or `BadRequest` for a request it could not read), for callers that tell them apart.
 */
export class RequestRefused extends Data.TaggedError("RequestRefused")<{ readonly reason: RefusalReason; readonly detail: string }> {
  override get message() {
    return this.detail
  }
}

export const refusalReasons = ["PathOutsideBase", "InvalidPath", "UnknownTarget", "AmbiguousTarget", "NothingToSend", "NoMembers", "AllOrNothingUnavailable", "ScopeTooLarge", "BadRequest"] as const
export type RefusalReason = (typeof refusalReasons)[number]
