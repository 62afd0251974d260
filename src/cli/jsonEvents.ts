/**
 * What `send`, `sync` and `check` print with `--json`: one object per line, each line a Schema. The encoder
 * writes through these schemas and a test holds docs/commands.md's table to them, so the documentation and the output
 * cannot drift. `v` is the version of this format: within a version fields may be added, never removed or
 * changed.
 */
import { Schema } from "effect"
import { ClientOperation } from "../domain/operation.js"
import { HostOutcome } from "../domain/outcome.js"
import { SendSummary } from "../domain/summary.js"
import { hasEscapedBytes, utf8Bytes } from "../protocol/text.js"

export const JSON_VERSION = 1
const v = Schema.Literal(JSON_VERSION)

/**
 * A path that is not valid UTF-8 travels in `path` with each such byte as U+DC80–U+DCFF (protocol/text), which
 * JSON tools may mangle; `pathBytes` then carries its exact bytes, base64.
 */
const pathBytes = Schema.optional(Schema.String)

/** One file on one host. */
export const OutcomeEvent = Schema.Struct({ v, event: Schema.Literal("outcome"), path: Schema.String, pathBytes, ...HostOutcome.fields })
/** A file of ours that could not be sent. */
export const SourceErrorEvent = Schema.Struct({ v, event: Schema.Literal("source-error"), path: Schema.String, pathBytes, message: Schema.String })
/** The totals, last. */
export const SummaryEvent = Schema.Struct({ v, event: Schema.Literal("summary"), operation: ClientOperation, dryRun: Schema.Boolean, ...SendSummary.fields })

export const JsonEvent = Schema.Union(OutcomeEvent, SourceErrorEvent, SummaryEvent)
export type JsonEvent = typeof JsonEvent.Type

const encode = Schema.encodeSync(JsonEvent)

export const jsonLine = (event: JsonEvent): string => JSON.stringify(encode(event))

/** `path`, and `pathBytes` when the path is not UTF-8. */
export const pathFields = (path: string): { readonly path: string; readonly pathBytes?: string } =>
  hasEscapedBytes(path) ? { path, pathBytes: Buffer.from(utf8Bytes(path)).toString("base64") } : { path }
