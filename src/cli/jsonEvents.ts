/**
 * What `send`, `sync` and `check` print with `--json`: one object per line, each line a Schema. The encoder
 * writes through these schemas and a test holds the README's table to them, so the documentation and the output
 * cannot drift. `v` is the version of this format: within a version fields may be added, never removed or
 * changed.
 */
import { Schema } from "effect"
import { ClientOperation } from "../domain/operation.js"
import { HostOutcome } from "../domain/outcome.js"
import { SendSummary } from "../domain/summary.js"

export const JSON_VERSION = 1
const v = Schema.Literal(JSON_VERSION)

/** One file on one host. */
export const OutcomeEvent = Schema.Struct({ v, event: Schema.Literal("outcome"), path: Schema.String, ...HostOutcome.fields })
/** A file of ours that could not be sent. */
export const SourceErrorEvent = Schema.Struct({ v, event: Schema.Literal("source-error"), path: Schema.String, message: Schema.String })
/** The totals, last. */
export const SummaryEvent = Schema.Struct({ v, event: Schema.Literal("summary"), operation: ClientOperation, dryRun: Schema.Boolean, ...SendSummary.fields })

export const JsonEvent = Schema.Union(OutcomeEvent, SourceErrorEvent, SummaryEvent)
export type JsonEvent = typeof JsonEvent.Type

const encode = Schema.encodeSync(JsonEvent)

export const jsonLine = (event: JsonEvent): string => JSON.stringify(encode(event))
