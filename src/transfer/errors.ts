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

/** `-t NAME` where several members announce NAME (or one announces this daemon's own name): nothing is sent. */
export class AmbiguousTarget extends Data.TaggedError("AmbiguousTarget")<{
  readonly host: string
  readonly addresses: ReadonlyArray<string>
  /** The name is this daemon's own too. */
  readonly ownName: boolean
}> {
  override get message() {
    const claimants = [...(this.ownName ? ["this daemon"] : []), ...this.addresses].join(", ")
    return `${this.host} is announced by more than one host (${claimants}): one of them is misconfigured or an ` +
      `impostor; send to one by its address (-t ADDRESS) and fix the name of the other ('makuo members')`
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

/** `--all-or-nothing` needs the send to run as one transaction, which this daemon or these options do not allow. */
export class AllOrNothingUnavailable extends Data.TaggedError("AllOrNothingUnavailable")<{ readonly reason: string }> {
  override get message() {
    return `--all-or-nothing: ${this.reason}; nothing sent`
  }
}

/**
 * A keyed daemon's `--delete` or `sync` whose scope (the paths sent, or gone, and the exclude patterns the members
 * remove by) does not fit the manifest's first batch: refused rather than run as v7 transfers, which would remove
 * outside any transaction.
 */
export class ScopeTooLarge extends Data.TaggedError("ScopeTooLarge")<{ readonly what: string; readonly bytes: number; readonly limit: number }> {
  override get message() {
    return `${this.what} take ${this.bytes} bytes, more than the ${this.limit} a transaction's scope carries: name fewer or shorter PATHs (or --exclude patterns) and run it in parts; nothing sent`
  }
}

export type SendRefused = PathOutsideBase | InvalidPath | UnknownTarget | AmbiguousTarget | NothingToSend | NoMembers | AllOrNothingUnavailable | ScopeTooLarge
