/**
 * A set of block numbers kept as sorted, disjoint, non-touching half-open ranges `[low, high)` — the missing
 * blocks of a receiver, the pending repairs of a sender (makuosan-v7.md §5.2.4). Ranges from the network are clamped to
 * the file's block count, so a forged or stale NAK cannot make anyone read or write past the end.
 *
 * The number of ranges is bounded by `maxRanges`: a peer sending every other block (or NAKing every other one)
 * would otherwise grow it to half the file's block count, and each operation with it. At the bound the set only
 * errs on the safe side for both users — a new range widens its neighbour (blocks already there are counted
 * missing again: sent again, written again, the same bytes), and a block that would split a range stays in it.
 */
import type { BlockRange } from "./v7/message.js"

/**
 * The bound for a transfer's sets: 64 KiB at most per set; a loss-free transfer has one range, 1 % random loss
 * on a 400 MiB file about this many.
 */
export const MAX_RANGES = 4096

export class RangeSet {
  /** Flat [low0, high0, low1, high1, ...], sorted, disjoint and non-touching. */
  private r: Array<number> = []

  constructor(private readonly maxRanges = Number.MAX_SAFE_INTEGER) {}

  /** Number of ranges. */
  get count(): number {
    return this.r.length / 2
  }

  get isEmpty(): boolean {
    return this.r.length === 0
  }

  /** Number of blocks in the set. */
  get size(): number {
    let n = 0
    for (let i = 0; i < this.r.length; i += 2) n += this.r[i + 1]! - this.r[i]!
    return n
  }

  /**
   * Adds `[low, high)` clamped to `[0, limit)`; overlapping and touching ranges coalesce. A new range beyond
   * `maxRanges` widens the range before it (or, at the start, the one after it) to cover it instead.
   */
  add(low: number, high: number, limit = Number.MAX_SAFE_INTEGER): void {
    low = Math.max(0, low)
    high = Math.min(high, limit)
    if (!(low < high)) return
    const r = this.r
    let i = 0
    while (i < r.length && r[i + 1]! < low) i += 2
    if (r.length / 2 >= this.maxRanges && (i === r.length || r[i]! > high)) {
      if (i > 0) {
        i -= 2
        low = r[i]!
      } else high = r[1]!
    }
    let j = i
    while (j < r.length && r[j]! <= high) {
      low = Math.min(low, r[j]!)
      high = Math.max(high, r[j + 1]!)
      j += 2
    }
    r.splice(i, j - i, low, high)
  }

  addAll(ranges: ReadonlyArray<BlockRange>, limit?: number): void {
    for (const [low, high] of ranges) this.add(low, high, limit)
  }

  has(block: number): boolean {
    const r = this.r
    for (let i = 0; i < r.length && r[i]! <= block; i += 2) if (block < r[i + 1]!) return true
    return false
  }

  /**
   * Removes one block, splitting its range; returns whether it was taken out — false when it was not in the set,
   * or when taking it out would split a range beyond `maxRanges` (it stays: asked for, or sent, again).
   */
  delete(block: number): boolean {
    const r = this.r
    for (let i = 0; i < r.length && r[i]! <= block; i += 2) {
      const low = r[i]!
      const high = r[i + 1]!
      if (block >= high) continue
      if (low < block && block + 1 < high && r.length / 2 >= this.maxRanges) return false
      const parts: Array<number> = []
      if (low < block) parts.push(low, block)
      if (block + 1 < high) parts.push(block + 1, high)
      r.splice(i, 2, ...parts)
      return true
    }
    return false
  }

  /** Takes the lowest block out of the set. */
  shift(): number | undefined {
    const r = this.r
    if (r.length === 0) return undefined
    const block = r[0]!
    if (block + 1 < r[1]!) r[0] = block + 1
    else r.splice(0, 2)
    return block
  }

  /** The first `max` ranges (a NAK or MARK reply carries at most 128). */
  ranges(max = Number.MAX_SAFE_INTEGER): Array<BlockRange> {
    const out: Array<BlockRange> = []
    for (let i = 0; i < this.r.length && out.length < max; i += 2) out.push([this.r[i]!, this.r[i + 1]!])
    return out
  }

  clear(): void {
    this.r = []
  }
}
