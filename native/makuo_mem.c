/*
 * The daemon's C heap (glibc's malloc): how many arenas it spreads over, and handing its free pages back.
 *
 * glibc gives each thread that allocates while another holds the heap's lock an arena of its own, up to 8 per core:
 * a daemon's threads (V8's compiler and collector workers, libuv's file-system pool) each left one behind, a
 * heap of up to 64 MiB of address space whose freed pages stay resident, ~4.5 MiB in all after a transfer
 * (docs/performance.md, Memory). Two arenas hold what they allocate for a daemon whose threads seldom allocate at
 * once (one measured no smaller, set this late). Set when the addon loads, which the daemon's entry does first
 * (src/bin/makuo.ts): arenas already made stay (MALLOC_ARENA_MAX=1 in the environment, read by glibc as the process
 * starts, left ~1.5 MiB less), none beyond the limit is added. An operator's MALLOC_ARENA_MAX is theirs: left as set.
 *
 * trim() -> 1 when the C heap gave memory back to the kernel, else 0. Memory that V8 and Node free (the parser's
 * working space while the CLI's modules compile, short-lived I/O buffers) stays resident in the C heap until it is
 * handed back: a daemon calls this when it has settled (after start-up, after a transfer burst), not per datagram.
 */
#define _GNU_SOURCE
#include <node_api.h>

#include <malloc.h>
#include <stdlib.h>

/* The C heap's arenas at most (glibc's M_ARENA_MAX), unless the operator set MALLOC_ARENA_MAX. */
#define ARENAS 2

static napi_value mem_trim(napi_env env, napi_callback_info info) {
  napi_value out;
  napi_create_int32(env, malloc_trim(0), &out);
  return out;
}

void makuo_mem_init(napi_env env, napi_value exports) {
  if (getenv("MALLOC_ARENA_MAX") == NULL) mallopt(M_ARENA_MAX, ARENAS);
  napi_property_descriptor props[] = {
    {"trim", NULL, mem_trim, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
}
