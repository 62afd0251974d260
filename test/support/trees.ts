/** Random file trees for transfer properties, written to disk with exact modes and times, and compared. */
import { FastCheck as fc } from "effect"
import * as fs from "node:fs"
import { join } from "node:path"

export type TreeNode =
  | { readonly kind: "file"; readonly name: string; readonly size: number; readonly seed: number; readonly mode: number; readonly mtime: number }
  | { readonly kind: "dir"; readonly name: string; readonly mode: number; readonly mtime: number; readonly children: ReadonlyArray<TreeNode> }
  | { readonly kind: "link"; readonly name: string; readonly target: string }

// few names, so that the sender's and the receivers' trees collide (a file where a directory was, ...)
const name = fc.constantFrom("a", "b", "c", "d.txt", "e f", "ü")
const mtime = fc.integer({ min: 1_500_000_000, max: 1_800_000_000 })
const size = fc.oneof(
  { weight: 2, arbitrary: fc.constant(0) },
  { weight: 6, arbitrary: fc.integer({ min: 1, max: 4096 }) },
  { weight: 1, arbitrary: fc.integer({ min: 4097, max: 300 * 1024 }) }
)

const uniqueByName = (nodes: ReadonlyArray<TreeNode>) => nodes.filter((n, i) => nodes.findIndex((m) => m.name === n.name) === i)

export const tree: fc.Arbitrary<ReadonlyArray<TreeNode>> = fc.letrec<{ node: TreeNode; nodes: ReadonlyArray<TreeNode> }>((tie) => ({
  node: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    fc.record({ kind: fc.constant("file" as const), name, size, seed: fc.integer(), mode: fc.constantFrom(0o600, 0o644, 0o755, 0o640), mtime }),
    fc.record({ kind: fc.constant("link" as const), name, target: fc.constantFrom("a", "../b", "d.txt", "nowhere/x") }),
    fc.record({ kind: fc.constant("dir" as const), name, mode: fc.constantFrom(0o755, 0o750, 0o700), mtime, children: tie("nodes") })
  ),
  nodes: fc.array(tie("node"), { maxLength: 4 }).map(uniqueByName)
})).nodes

const content = (size: number, seed: number) => {
  const b = Buffer.alloc(size)
  let x = seed >>> 0
  for (let i = 0; i < size; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0
    b[i] = x >>> 24
  }
  return b
}

/** Writes `nodes` under `dir`, replacing whatever is there; directory times are set after their contents. */
export const writeTree = (dir: string, nodes: ReadonlyArray<TreeNode>): void => {
  fs.mkdirSync(dir, { recursive: true })
  for (const n of nodes) {
    const p = join(dir, n.name)
    fs.rmSync(p, { recursive: true, force: true })
    if (n.kind === "file") {
      fs.writeFileSync(p, content(n.size, n.seed))
      fs.chmodSync(p, n.mode)
      fs.utimesSync(p, n.mtime, n.mtime)
    } else if (n.kind === "link") fs.symlinkSync(n.target, p)
    else {
      writeTree(p, n.children)
      fs.chmodSync(p, n.mode)
      fs.utimesSync(p, n.mtime, n.mtime)
    }
  }
}

export { describeTree, differences, tempFiles } from "../../scripts/lib/trees.js"

/** Impairments drawn for a property run: no loss or up to 10 %, duplication up to 20 %, delay (reordering). */
export const impairments = {
  loss: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 10 }).map((p) => p / 100)),
  duplicate: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 20 }).map((p) => p / 100)),
  maxDelayMs: fc.constantFrom(0, 0, 20, 200)
}
