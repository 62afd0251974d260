import { Data } from "effect"

/** A bad flag value or command line: one line naming the option, exit 2. */
export class UsageError extends Data.TaggedError("UsageError")<{ readonly detail: string }> {
  override get message() {
    return this.detail
  }
}
