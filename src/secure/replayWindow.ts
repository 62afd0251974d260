/**
 * The anti-replay window of one sender epoch (RFC 6479, the shape WireGuard uses): a ring of 256 32-bit words
 * covering the newest 8192 counters. A counter above the highest seen is new; one more than `WINDOW` below it
 * is too old to tell and refused; in between, its bit says whether it was seen. Only datagrams whose tag
 * verified may `accept`, or a forger could advance the window and have genuine datagrams refused.
 */
const WORDS = 256
const WORD_BITS = 32
/** Counters this far below the highest accepted one are still judged by their bit (RFC 6479's guaranteed span). */
export const WINDOW = (WORDS - 1) * WORD_BITS

export type WindowVerdict = "fresh" | "replayed" | "tooOld"

export class ReplayWindow {
  private readonly bits = new Uint32Array(WORDS)
  private top = -1

  /** The highest accepted counter, -1 before the first. */
  get highest(): number {
    return this.top
  }

  check(counter: number): WindowVerdict {
    if (counter > this.top) return "fresh"
    if (counter <= this.top - WINDOW) return "tooOld"
    return (this.bits[Math.floor(counter / WORD_BITS) % WORDS]! >>> (counter % WORD_BITS)) & 1 ? "replayed" : "fresh"
  }

  /** Records `counter` as seen; call only after `check` said "fresh" and the datagram's tag verified. */
  accept(counter: number): void {
    const block = Math.floor(counter / WORD_BITS)
    if (counter > this.top) {
      const current = Math.floor(this.top / WORD_BITS)
      const cleared = Math.min(block - current, WORDS)
      for (let i = 1; i <= cleared; i++) this.bits[(current + i) % WORDS] = 0
      this.top = counter
    }
    this.bits[block % WORDS]! |= 1 << (counter % WORD_BITS)
  }
}
