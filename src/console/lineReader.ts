/**
 * The console's input framing (makuosan-v7.md §8.2): lines end in LF, a CR ends the command text (what follows it on the
 * line is dropped), and a line may not grow past 1024 bytes — a client that sends more without a LF is cut off,
 * so no client can make the daemon buffer without bound.
 */
export const MAX_LINE = 1024

export type Feed =
  | { readonly _tag: "Lines"; readonly lines: ReadonlyArray<Buffer> }
  | { readonly _tag: "Overflow" }

export const makeLineReader = () => {
  let pending: Buffer = Buffer.alloc(0)
  return (chunk: Buffer): Feed => {
    let data = pending.length === 0 ? chunk : Buffer.concat([pending, chunk])
    const lines: Array<Buffer> = []
    for (let nl = data.indexOf(0x0a); nl >= 0; nl = data.indexOf(0x0a)) {
      const line = data.subarray(0, nl)
      if (line.length > MAX_LINE) return { _tag: "Overflow" }
      const cr = line.indexOf(0x0d)
      lines.push(Buffer.from(cr < 0 ? line : line.subarray(0, cr)))
      data = data.subarray(nl + 1)
    }
    if (data.length > MAX_LINE) return { _tag: "Overflow" }
    pending = Buffer.from(data)
    return { _tag: "Lines", lines }
  }
}
