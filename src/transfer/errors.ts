/**
 * Why a send cannot start, or a file cannot be sent; each names what is at fault. Per-host failures are outcomes,
 * not errors.
 */
import { Data } from "effect"

export class PathOutsideBase extends Data.TaggedError("PathOutsideBase")<{ readonly path: string; readonly base: string }> {
  override get message() {
    return `${this.path}: outside the base directory ${this.base}`
  }
}

export class InvalidPath extends Data.TaggedError("InvalidPath")<{ readonly path: string; readonly reason: string }> {
  override get message() {
    return `${this.path}: ${this.reason}`
  }
}

export class UnknownTarget extends Data.TaggedError("UnknownTarget")<{
  readonly host: string
  readonly members: ReadonlyArray<string>
}> {
  override get message() {
    return `${this.host} is not a member (members: ${this.members.join(", ") || "none"})`
  }
}

export class NothingToSend extends Data.TaggedError("NothingToSend")<{}> {
  override get message() {
    return "no PATH given (use -r to send the whole base)"
  }
}

export class NoMembers extends Data.TaggedError("NoMembers")<{}> {
  override get message() {
    return "no members: nothing to send to (no other daemon has answered on this group; 'makuo doctor' tells why)"
  }
}

export type SendRefused = PathOutsideBase | InvalidPath | UnknownTarget | NothingToSend | NoMembers
