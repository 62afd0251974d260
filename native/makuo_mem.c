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
 *
 * dropCodePages() -> bytes: of an idle daemon's resident set, ~36-40 MiB were pages of node's own executable (its
 * machine code, the builtins V8 embeds there, read-only data) that start-up and a transfer ran once — the parser,
 * the compilers — and an idle daemon never touches (docs/performance.md, Memory). They are clean pages of the file:
 * the page cache keeps them (shared with every node process), a mapping's page dropped is faulted in again from
 * there when it runs. So a settled daemon drops them from its mappings (madvise MADV_DONTNEED), page by page only
 * those that are still the file's: a page the loader relocated (RELRO) or anything else wrote is a private copy
 * (anonymous in /proc/self/pagemap), which dropping would revert to the file's bytes: never dropped, and no
 * writable mapping is looked at. Where pagemap cannot be read, nothing is dropped. A daemon calls it when it has
 * settled, like trim.
 */
#define _GNU_SOURCE
#include <node_api.h>

#include <fcntl.h>
#include <limits.h>
#include <malloc.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* The C heap's arenas at most (glibc's M_ARENA_MAX), unless the operator set MALLOC_ARENA_MAX. */
#define ARENAS 2

static napi_value mem_trim(napi_env env, napi_callback_info info) {
  napi_value out;
  napi_create_int32(env, malloc_trim(0), &out);
  return out;
}

/* /proc/self/pagemap's bits for a page: in memory, and a page of the file (not anonymous: not a private copy) */
#define PAGE_PRESENT (1ULL << 63)
#define PAGE_FILE (1ULL << 61)
/* pagemap entries read at once */
#define ENTRIES 512

/* Drops the present file pages of [start, end) from the mapping, run by run; returns the bytes dropped. */
static uint64_t drop_file_pages(int pagemap, uintptr_t start, uintptr_t end, size_t page) {
  uint64_t entries[ENTRIES], dropped = 0;
  uintptr_t run = 0; /* start of the run of droppable pages being gathered, 0: none */
  for (uintptr_t at = start; at < end;) {
    size_t n = (end - at) / page < ENTRIES ? (end - at) / page : ENTRIES;
    ssize_t got = pread(pagemap, entries, n * sizeof entries[0], (off_t)(at / page * sizeof entries[0]));
    if (got <= 0) break;
    n = (size_t)got / sizeof entries[0];
    for (size_t i = 0; i < n; i++, at += page) {
      bool droppable = (entries[i] & (PAGE_PRESENT | PAGE_FILE)) == (PAGE_PRESENT | PAGE_FILE);
      if (droppable && run == 0) run = at;
      if (!droppable && run != 0) {
        if (madvise((void*)run, at - run, MADV_DONTNEED) == 0) dropped += at - run;
        run = 0;
      }
    }
  }
  if (run != 0 && madvise((void*)run, end - run, MADV_DONTNEED) == 0) dropped += end - run;
  return dropped;
}

static napi_value mem_drop_code_pages(napi_env env, napi_callback_info info) {
  double dropped = 0;
  char exe[PATH_MAX];
  ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
  int pagemap = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
  FILE* maps = fopen("/proc/self/maps", "re");
  if (len > 0 && pagemap >= 0 && maps != NULL) {
    exe[len] = 0;
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    /* the mappings first, then the drops: madvise changes no mapping, but the listing is read as it goes */
    struct { uintptr_t start, end; } found[64];
    size_t count = 0;
    char line[PATH_MAX + 128], path[PATH_MAX], perms[5];
    unsigned long start, end;
    while (count < sizeof found / sizeof found[0] && fgets(line, sizeof line, maps) != NULL) {
      if (sscanf(line, "%lx-%lx %4s %*s %*s %*s %4095[^\n]", &start, &end, perms, path) != 4) continue;
      if (perms[1] == 'w' || strcmp(path, exe) != 0) continue;
      found[count].start = start, found[count].end = end, count++;
    }
    for (size_t i = 0; i < count; i++) dropped += (double)drop_file_pages(pagemap, found[i].start, found[i].end, page);
  }
  if (maps != NULL) fclose(maps);
  if (pagemap >= 0) close(pagemap);
  napi_value out;
  napi_create_double(env, dropped, &out);
  return out;
}

void makuo_mem_init(napi_env env, napi_value exports) {
  if (getenv("MALLOC_ARENA_MAX") == NULL) mallopt(M_ARENA_MAX, ARENAS);
  napi_property_descriptor props[] = {
    {"trim", NULL, mem_trim, NULL, NULL, NULL, napi_default, NULL},
    {"dropCodePages", NULL, mem_drop_code_pages, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
}
