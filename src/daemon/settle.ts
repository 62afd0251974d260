/**
 * What an idle daemon keeps of its start-up, and how far its young generation grows under traffic. Loading and
 * initialising the CLI's modules is the daemon's one burst of allocation, and what it leaves behind an idle daemon
 * never needs again: V8 grows its young generation to fit the burst and the C heap keeps the freed working space of
 * V8's parser. So a daemon starts with the young generation held at its initial size (`holdYoungGeneration`, before
 * the CLI loads) and, once it serves (`settle`), lets it grow again — to a ceiling — and hands the C heap's free
 * pages back to the kernel.
 *
 * The ceiling: under a transfer's per-datagram allocation V8 grows the young generation to its default maximum (32
 * MiB, both semi-spaces), which a daemon then keeps. Held at 8 MiB (`--max-semi-space-size=4` measured), a receiver
 * of 1 GiB peaked 8-20 MiB lower and a keyed sender of 256 MiB 36 MiB lower, at no measurable CPU; held at its initial size throughout, receivers spent
 * ~50 % more CPU per GiB (a scavenge per MiB). V8 reads `--max-semi-space-size` once, when it makes the heap, so only
 * node's command line could set it (the tests, the bench and a unit start `node makuo.js daemon`); the growth factor
 * is read each time the young generation grows: 1 holds it where it is, V8's default 2 lets it double. After each
 * collection the factor is set by the size the young generation has then (V8 also shrinks it when allocation is slow).
 * Node reports collections once per event-loop turn: a turn that runs long and keeps much alive across scavenges (a
 * keyed sender's pump) can still double it past the ceiling before the report comes; a receiver's turns are short.
 */
// Imported by the CLI's entry before anything else loads: node's own modules only.
import { PerformanceObserver } from "node:perf_hooks"
import { getHeapSpaceStatistics, setFlagsFromString } from "node:v8"

/** Both semi-spaces of the young generation at most, once the daemon serves. */
export const YOUNG_GENERATION_CEILING = 8 << 20

export const youngGenerationBytes = () => getHeapSpaceStatistics().find((s) => s.space_name === "new_space")?.space_size ?? 0

export const holdYoungGeneration = () => setFlagsFromString("--semi-space-growth-factor=1")

/** `trimCHeap`: the native addon's `trim`, where it loaded. */
export const settle = (trimCHeap: (() => number) | undefined) => {
  let held: boolean | undefined
  const follow = () => {
    const hold = youngGenerationBytes() >= YOUNG_GENERATION_CEILING
    if (hold !== held) setFlagsFromString(`--semi-space-growth-factor=${hold ? 1 : 2}`), (held = hold)
  }
  follow()
  new PerformanceObserver(follow).observe({ entryTypes: ["gc"] })
  trimCHeap?.()
}
