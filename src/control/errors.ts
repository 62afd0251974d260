import { Data } from "effect"

/** No daemon answers on the control socket (not running, wrong path, or no permission). */
export class ControlUnavailable extends Data.TaggedError("ControlUnavailable")<{
  readonly path: string
  readonly code: string
}> {
  override get message() {
    const why = this.code === "EACCES" ? "permission denied" : this.code === "ENOENT" ? "no such socket" : this.code
    return `no makuo daemon at ${this.path} (${why}); start one with 'makuo daemon --base DIR' or point --control / MAKUO_CONTROL at its socket`
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

/** The daemon could not set up one of its unix sockets (`role`: the control socket or the console). */
export class ControlSetupError extends Data.TaggedError("ControlSetupError")<{
  readonly role: string
  readonly path: string
  readonly detail: string
}> {
  override get message() {
    return `${this.role} ${this.path}: ${this.detail}`
  }
}

/** The daemon refused the request (a path outside the base, an unknown host, ...): its words, verbatim. */
export class RequestRefused extends Data.TaggedError("RequestRefused")<{ readonly detail: string }> {
  override get message() {
    return this.detail
  }
}
