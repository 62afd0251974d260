/**
 * What an idle daemon keeps of its start-up, and how far its young generation grows under traffic. Loading and
 * initialising its modules is the daemon's one burst of allocation, and what it leaves behind an idle daemon never
 * needs again: V8 grows its young generation to fit the burst, the old generation keeps the burst's garbage spread
 * over half-empty pages along with the bytecode of every function start-up ran once (reading the command line, the
 * settings, building the layers), and the C heap keeps the freed working space of V8's parser. So a daemon starts
 * with the young generation held at its initial size and V8's compilers held off (`holdForStartUp`, by the entry,
 * before the daemon's bundle loads) and, once it serves (`settle`), collects the start-up's garbage (`collectStartUp`),
 * lets the young generation grow again — to a ceiling — and hands back to the kernel the C heap's free pages and the
 * pages of node's executable it ran (`HandBack`); the compilers stay held off until its first work (`wake`). Once
 * quiet after work it does all that again, after the daemon's parts let go what they keep for traffic (`onSettle`:
 * the native transport's receive space), and an idle daemon collects the garbage its timers leave (`watch`, the
 * rules in `settlePolicy.ts`).
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
// Imported by the entry (src/bin/makuo.ts) before anything else loads: node's own modules only.
import { PerformanceObserver } from "node:perf_hooks"
import { getHeapSpaceStatistics, setFlagsFromString } from "node:v8"
import { runInNewContext } from "node:vm"
import * as Policy from "./settlePolicy.js"

/** Both semi-spaces of the young generation at most, once the daemon serves. */
export const YOUNG_GENERATION_CEILING = 8 << 20

export const youngGenerationBytes = () => getHeapSpaceStatistics().find((s) => s.space_name === "new_space")?.space_size ?? 0

/**
 * V8's compiler tiers above the interpreter: Sparkplug (baseline code) and TurboFan (optimised code). Start-up runs
 * its functions a few times each, and an idle daemon's timers (the receive sessions' sweep each second, the members'
 * keep-alives) run the same Effect runtime every time: enough for V8 to compile them with both within seconds. Each
 * page of the compilers' own machine code that ran stays resident (node's binary: file pages, counted in the RSS),
 * with what TurboFan allocated compiling: ~4-5 MiB that a daemon which never transfers never needs. So both are held
 * off from before the daemon's bundle loads (start-up is interpreted: a few milliseconds more) until the daemon's
 * first work (`wake`): a datagram of a transfer, or a send asked of it; its timers run interpreted meanwhile. The
 * first transfer warms up as a fresh daemon's does. A tier named in node's own flags (the command line,
 * NODE_OPTIONS: `--no-sparkplug`, `--no-opt`, `--jitless`, ...) is the operator's: left as they set it.
 */
const TIERS = [{ flag: "sparkplug", names: /sparkplug/ }, { flag: "turbofan", names: /--(no-)?(opt|turbofan)\b/ }] as const

const nodeFlags = () => [...process.execArgv, process.env["NODE_OPTIONS"] ?? ""].join(" ")

/** The tiers the daemon holds off while idle: none the operator set (V8 reads `_` as `-`), none with `--jitless`. */
export const heldTiers = (given = nodeFlags()): ReadonlyArray<string> => {
  const flags = given.replaceAll("_", "-")
  return flags.includes("jitless") ? [] : TIERS.filter((t) => !t.names.test(flags)).map((t) => t.flag)
}

const setTiers = (on: boolean) => {
  const tiers = heldTiers()
  if (tiers.length > 0) setFlagsFromString(tiers.map((t) => `--${on ? "" : "no-"}${t}`).join(" "))
}

/**
 * How much bytecode a function runs between V8's profiler ticks, which decide when TurboFan optimises it
 * (`--interrupt-budget`): 4× V8's default (66 KiB). A send's first transaction runs hundreds of functions some
 * thousands of times each, and at V8's default TurboFan compiled most of them — on a second thread, but in the
 * daemon's CPU — for less than their optimised code then saved: measured on the lab, a fresh sender's and member's
 * threads other than the main one took a third of the CPU of a 2000-small-file send, and TurboFan switched off
 * altogether cut both ends' CPU per file by a third, but slowed a big file's per-datagram path by a quarter
 * (docs/performance.md, "The daemon's TurboFan threshold"). At 4× the functions that run long, a big file's, still
 * reach TurboFan within milliseconds. Given on node's command line, the operator's.
 */
export const INTERRUPT_BUDGET = 4 * 66 * 1024

/** The flag that sets `INTERRUPT_BUDGET`, unless node's flags set a budget (V8 reads `_` as `-`). */
export const interruptBudgetFlag = (given = nodeFlags()): string | undefined =>
  /--interrupt-budget(=|\s|$)/.test(given.replaceAll("_", "-")) ? undefined : `--interrupt-budget=${INTERRUPT_BUDGET}`

/** By the entry, before the daemon's bundle is read: the young generation held, the compiler tiers held off, TurboFan's threshold raised. */
export const holdForStartUp = () => {
  setFlagsFromString("--semi-space-growth-factor=1")
  setTiers(false)
  const budget = interruptBudgetFlag()
  if (budget !== undefined) setFlagsFromString(budget)
}

// V8's flags are the process's: the entry's copy of this module held the tiers off, the daemon's learns it at `settle`
let asleep = false
/** The daemon's work so far, for the settle timer to see whether it is idle (`settlePolicy.ts`). */
let work = 0
/** Sends the daemon runs now (`working`). */
let running = 0

/** The daemon's work (a datagram of a transfer, a send asked of it): the compiler tiers back. Cheap enough for every datagram. */
export const wake = () => {
  work++
  if (asleep) setTiers(true), (asleep = false)
}

/** A send begins (it works while it receives nothing, scanning a tree): returns its end, called once. */
export const working = () => {
  wake()
  running++
  return () => void running--
}

/**
 * V8's `gc` extension, the only way to ask for a full collection from inside: installed in the contexts made while
 * `--expose-gc` is set, so one is made for it and kept (~150 KB). Undefined on a node whose V8 no longer offers it:
 * the daemon runs on, holding more.
 */
const makeGc = () => {
  setFlagsFromString("--expose-gc")
  const gc = runInNewContext("typeof gc === 'function' ? gc : undefined") as (() => void) | undefined
  setFlagsFromString("--no-expose-gc")
  return gc
}

/**
 * Full collections that leave the old generation as small as what is alive: compacting (V8 compacts only the pages
 * its heuristics pick, and left 16 MiB of pages holding 11.6 alive) and dropping the compiled code of every function
 * not running now (V8 drops a function's bytecode only once it has gone unused through several full collections,
 * which an idle daemon hardly has): what the daemon runs again is compiled again when it does, once. The first
 * collection drops the code, the second compacts what is left. The flags are V8's defaults again afterwards: flushing
 * all code at every collection under traffic would compile the hot path again and again. After start-up, and after
 * work once the daemon is quiet (`settlePolicy.ts`), when V8 also shrinks the young generation the work grew.
 */
const collectAll = (gc: () => void) => {
  setFlagsFromString("--stress-flush-code --flush-baseline-code")
  try {
    gc()
    setFlagsFromString("--compact-on-every-full-gc")
    gc()
  } finally {
    setFlagsFromString("--no-compact-on-every-full-gc --no-stress-flush-code --no-flush-baseline-code")
  }
}

const oldSpaceUsed = () => getHeapSpaceStatistics().find((s) => s.space_name === "old_space")?.space_used_size ?? 0

/**
 * What the daemon's parts keep for traffic and let go once it is idle (the native transport's receive space, MiBs):
 * each is called at every settle, before the collection that frees what it let go. Its owner registers it for as
 * long as it lives; `onSettle` returns its removal.
 */
const releases = new Set<() => void>()
export const onSettle = (release: () => void) => {
  releases.add(release)
  return () => void releases.delete(release)
}

/**
 * What the native addon hands back to the kernel, where it loaded (`native/makuo_mem.c`): the C heap's free pages
 * (`trim`), and the pages of node's executable that start-up or the work ran and an idle daemon does not
 * (`dropCodePages`: ~30 MiB of clean file pages the page cache keeps, faulted in again when they run).
 */
export interface HandBack {
  readonly trim?: () => number
  readonly dropCodePages?: () => number
}

/** Idle (after start-up, or work): what the parts let go, the garbage and the code collected, the compilers held off, the kernel's pages handed back. */
const giveBack = (gc: (() => void) | undefined, kernel: HandBack) => {
  for (const release of releases) release()
  if (gc !== undefined) collectAll(gc)
  setTiers(false)
  asleep = true
  kernel.trim?.()
  kernel.dropCodePages?.()
}

/** The settle timer: the policy (`settlePolicy.ts`) on a sample every `SAMPLE_MS`, its action done here. */
const watch = (gc: () => void, kernel: HandBack) => {
  const sample = () => ({ now: performance.now(), oldSpaceUsed: oldSpaceUsed(), work, running })
  let state = Policy.initial(sample())
  setInterval(() => {
    const next = Policy.step(state, sample())
    state = next.state
    switch (next.action) {
      case "None":
        return
      case "Settle":
        giveBack(gc, kernel)
        break
      case "Collect":
        gc()
        break
    }
    state = Policy.collected(state, oldSpaceUsed())
  }, Policy.SAMPLE_MS).unref()
}

/**
 * How far V8 lets the old generation grow past what its last full collection left before it starts the next: by
 * default a factor V8 picks from its collections' speed, up to 4, and at least 8 MiB (plus the young generation).
 * A daemon's live heap is ~10 MiB, and under a many-file send the files' garbage, promoted by scavenges, filled the
 * old space to 50 MiB of 11 alive before a collection came (a v7 sender of 20 000 unchanged files peaked at 124
 * MiB RSS). At 1.5× the limit is V8's 8 MiB step above what is alive (docs/performance.md, Memory). Given on node's
 * command line (`--heap-growing-percent`), the operator's.
 */
export const HEAP_GROWING_PERCENT = 50

export const settle = (kernel: HandBack) => {
  if (!nodeFlags().replaceAll("_", "-").includes("heap-growing-percent")) setFlagsFromString(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`)
  const gc = makeGc()
  giveBack(gc, kernel)
  let held: boolean | undefined
  const follow = () => {
    const hold = youngGenerationBytes() >= YOUNG_GENERATION_CEILING
    if (hold !== held) setFlagsFromString(`--semi-space-growth-factor=${hold ? 1 : 2}`), (held = hold)
  }
  follow()
  new PerformanceObserver(follow).observe({ entryTypes: ["gc"] })
  if (gc !== undefined) watch(gc, kernel)
}
