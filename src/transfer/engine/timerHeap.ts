/**
 * The deadlines of every session of the engine in one binary min-heap. A session re-arms its deadline every
 * round and rarely cancels it (an answer usually comes first), so entries are never removed early: a popped entry
 * whose session has moved on is simply stale, and the owner tells which by comparing the time it was set for.
 */
export interface TimerHeap<A> {
  readonly push: (at: number, value: A) => void
  /** The earliest deadline, or Infinity when the heap is empty. */
  readonly earliest: () => number
  /** Removes and returns the entries due at `now`, earliest first. */
  readonly due: (now: number, into: Array<Due<A>>) => void
  /** Removes the earliest entries while `stale` says they no longer matter. */
  readonly dropStale: (stale: (at: number, value: A) => boolean) => void
  readonly size: () => number
}

export interface Due<A> {
  readonly at: number
  readonly value: A
}

export const makeTimerHeap = <A>(): TimerHeap<A> => {
  const ats: Array<number> = []
  const values: Array<A> = []
  // equal deadlines come out in the order they were set: a sequence number breaks ties
  const seqs: Array<number> = []
  let seq = 0
  const less = (i: number, j: number) => ats[i]! < ats[j]! || (ats[i] === ats[j] && seqs[i]! < seqs[j]!)
  const swap = (i: number, j: number) => {
    const a = ats[i]!, v = values[i]!, s = seqs[i]!
    ats[i] = ats[j]!, values[i] = values[j]!, seqs[i] = seqs[j]!
    ats[j] = a, values[j] = v, seqs[j] = s
  }
  const up = (i: number) => {
    while (i > 0) {
      const parent = (i - 1) >> 1
      if (!less(i, parent)) return
      swap(i, parent)
      i = parent
    }
  }
  const down = (i: number) => {
    const n = ats.length
    while (true) {
      const l = 2 * i + 1
      if (l >= n) return
      const c = l + 1 < n && less(l + 1, l) ? l + 1 : l
      if (!less(c, i)) return
      swap(c, i)
      i = c
    }
  }
  const pop = (): Due<A> => {
    const top = { at: ats[0]!, value: values[0]! }
    const last = ats.length - 1
    swap(0, last)
    ats.pop(), values.pop(), seqs.pop()
    down(0)
    return top
  }
  return {
    push: (at, value) => {
      ats.push(at), values.push(value), seqs.push(seq++)
      up(ats.length - 1)
    },
    earliest: () => (ats.length === 0 ? Infinity : ats[0]!),
    due: (now, into) => {
      while (ats.length > 0 && ats[0]! <= now) into.push(pop())
    },
    dropStale: (stale) => {
      while (ats.length > 0 && stale(ats[0]!, values[0]!)) pop()
    },
    size: () => ats.length
  }
}
