/**
 * The namespace lab for tests (implementation in `scripts/lib/lab.ts`, shared with `npm run lab` and the
 * benchmark): `labSkipReason` says in one line why the lab cannot run here (not root, tools missing), so the lab
 * tests are skipped with that line instead of failing.
 */
import { labUnavailable } from "../../scripts/lib/lab.js"

export * from "../../scripts/lib/lab.js"

export const labSkipReason = labUnavailable()

if (labSkipReason !== undefined) console.warn(`namespace lab tests skipped: ${labSkipReason}`)
