/**
 * A member's DSYNC walk cut into DEL batches (16 records at most, that fit one payload), pulled one batch at a
 * time — and bounded in work: every entry the walk looks at is matched against every exclude pattern, so a
 * batch also ends once `STEPS_PER_TURN` entries have been looked at, and the driver pulls the rest in a later
 * turn of the event loop.
 */
import { MAX_PAYLOAD } from "../../protocol/v7/constants.js"
import type { DelRecord } from "../../protocol/v7/message.js"
import { utf8Length } from "../../protocol/text.js"

/** Entries of the walk looked at in one turn of the event loop at most (each matched against every pattern). */
export const STEPS_PER_TURN = 256

/** A DEL batch; `done`: the walk is over. A batch may be empty before then (the turn's steps ran out). */
export interface Batch {
  readonly records: Array<DelRecord>
  readonly done: boolean
}

/**
 * Cuts the records into DEL batches (16 records at most, that fit one payload), pulled one batch at a time; the
 * walk yields `undefined` for an entry looked at and passed over, so that a batch is bounded in work too.
 */
export const batches = (records: Iterator<DelRecord | undefined>) => {
  let held: DelRecord | undefined
  return (): Batch => {
    const batch: Array<DelRecord> = []
    let size = 0
    for (let steps = 0; batch.length < 16; steps++) {
      if (steps >= STEPS_PER_TURN) return { records: batch, done: false }
      const pulled = held === undefined ? records.next() : { done: false as const, value: held }
      held = undefined
      if (pulled.done === true) return { records: batch, done: true }
      if (pulled.value === undefined) continue
      const n = 6 + utf8Length(pulled.value.path)
      if (size + n > MAX_PAYLOAD) {
        held = pulled.value
        break
      }
      batch.push(pulled.value)
      size += n
    }
    return { records: batch, done: false }
  }
}
