/** makuo's release; a test keeps it equal to package.json's. */
export const VERSION = "0.1.0"

/** What makuo announces in PING/PONG (makuosan shows it in `members`; at most 32 bytes). */
export const WIRE_VERSION = `makuo-${VERSION}`
