import { Schema } from "effect"

/**
 * What a job does: `send`; `sync` (like send, and a named path missing here is deleted on the members); `check`
 * (compare the MD5 of regular files on every member with ours, change nothing); `dsync` (only the deletion of
 * `send --delete`: makuosan's console `dsync`, nothing is sent).
 */
export const Operation = Schema.Literal("send", "sync", "check", "dsync")
export type Operation = typeof Operation.Type

/** The operations the CLI asks of its daemon (`dsync` is the console's). */
export const ClientOperation = Schema.Literal("send", "sync", "check")
export type ClientOperation = typeof ClientOperation.Type
