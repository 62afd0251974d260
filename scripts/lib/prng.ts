/** xorshift32: a small deterministic generator in [0, 1), so a run replays from its seed alone. */
export const prng = (seed: number) => {
  let x = seed >>> 0 || 1
  return () => {
    x ^= x << 13, x ^= x >>> 17, x ^= x << 5
    return (x >>> 0) / 0x1_0000_0000
  }
}
