/**
 * What an idle daemon keeps of its start-up. Loading and initialising the CLI's modules is the daemon's one burst
 * of allocation, and what it leaves behind an idle daemon never needs again: V8 grows its young generation to fit
 * the burst (up to two 8 MiB semi-spaces) and the C heap keeps the freed working space of V8's parser. So a daemon
 * starts with the young generation held at its initial size (`holdYoungGeneration`, before the CLI loads) and, once
 * it serves (`settle`), lets it grow again and hands the C heap's free pages back to the kernel.
 *
 * Why the growth factor, set from inside the process: V8 reads `--max-semi-space-size` once, when it makes the
 * heap, so only node's command line could cap it (the tests, the bench and a unit start `node makuo.js daemon`), and
 * that cap would hold during transfers too, where a young generation kept small made each receiver spend ~50 % more
 * CPU per GiB (a scavenge per MiB of per-datagram garbage). The growth factor is read each time the young
 * generation grows: 1 holds it where it is, V8's default 2 lets it grow as before.
 */
// Imported by the CLI's entry before anything else loads: node's own modules only.
import { setFlagsFromString } from "node:v8"

export const holdYoungGeneration = () => setFlagsFromString("--semi-space-growth-factor=1")

/** `trimCHeap`: the native addon's `trim`, where it loaded. */
export const settle = (trimCHeap: (() => number) | undefined) => {
  setFlagsFromString("--semi-space-growth-factor=2")
  trimCHeap?.()
}
