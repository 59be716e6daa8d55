/* Why a cache: a training loop makes the same tensors every step, and Lua's
 * collector frees the last steps' garbage in one go. Given back to malloc,
 * those blocks were not found again (the heap kept growing between the small
 * objects Lua keeps), so each step page-faulted megabytes of fresh memory in:
 * 2 ms of a 7 ms MLP step. Reusing a freed block of the same size costs no
 * fault and no malloc.
 *
 * Blocks from 16 KB up are kept, not only the big ones: an MLP's batch
 * activations (32 x 128 floats) given back to malloc were carved up by the
 * small objects Lua and the core allocate between two collections, and the
 * next ones went to fresh memory at the heap's top; bench/soak.lua's custom
 * loop grew 1 MB in 10,000 steps (mtrace: every heap extension was a 16 or
 * 32 KB storage block), flat since.
 *
 * A block of at least CACHE_MIN_BYTES is kept; a request takes the smallest
 * kept block within 1/8 above its size. The cache holds at most
 * CACHE_BASE_BYTES plus an eighth of the live storage (a bigger model frees
 * more per step) and CACHE_SLOTS blocks; past that the oldest go back to
 * malloc. Not half: the live storage counts a dataset held in memory, which
 * is never freed, and half of Fashion-MNIST let the cache keep 110 MB more
 * (the CNN bench peaked at 342 MB against 302 MB, at the same speed).
 * Sanitizer builds keep nothing, so a use after free is caught. */
#include "block_cache.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <threads.h>

#define BLOCK_ALIGN 64
#define CACHE_MIN_BYTES ((size_t)16 << 10)
#define CACHE_BASE_BYTES ((size_t)64 << 20)
#define CACHE_SLOTS 1024 /* a collection frees a few MB: hundreds of 16 KB blocks */

#if defined(__SANITIZE_ADDRESS__)
#define CACHE_ENABLED false
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CACHE_ENABLED false
#endif
#endif
#ifndef CACHE_ENABLED
#define CACHE_ENABLED true
#endif

typedef struct {
  void *block;
  size_t bytes;
} cached_block;

/* Oldest first: slots[0] is the first to go when the cache is full. */
static cached_block slots[CACHE_SLOTS];
static int n_slots;
static size_t cached_bytes;
static mtx_t lock;
static once_flag lock_made = ONCE_FLAG_INIT;

static void make_lock(void) { mtx_init(&lock, mtx_plain); }

static void remove_slot(int i) {
  cached_bytes -= slots[i].bytes;
  memmove(slots + i, slots + i + 1, (size_t)(n_slots - i - 1) * sizeof *slots);
  n_slots--;
}

/* The smallest kept block of bytes..bytes+bytes/8, or NULL. */
static void *take_cached(size_t *bytes) {
  size_t want = *bytes, most = want + want / 8;
  int best = -1;
  for (int i = 0; i < n_slots; i++)
    if (slots[i].bytes >= want && slots[i].bytes <= most && (best < 0 || slots[i].bytes < slots[best].bytes)) best = i;
  if (best < 0) return NULL;
  void *block = slots[best].block;
  *bytes = slots[best].bytes;
  remove_slot(best);
  return block;
}

void *block_alloc(size_t *bytes) {
  *bytes = (*bytes + BLOCK_ALIGN - 1) / BLOCK_ALIGN * BLOCK_ALIGN;
  if (CACHE_ENABLED && *bytes >= CACHE_MIN_BYTES) {
    call_once(&lock_made, make_lock);
    mtx_lock(&lock);
    void *block = take_cached(bytes);
    mtx_unlock(&lock);
    if (block) return block;
  }
  return aligned_alloc(BLOCK_ALIGN, *bytes);
}

void block_free(void *block, size_t bytes, int64_t live_bytes) {
  if (!block) return;
  if (!CACHE_ENABLED || bytes < CACHE_MIN_BYTES) {
    free(block);
    return;
  }
  size_t cap = CACHE_BASE_BYTES + (live_bytes > 0 ? (size_t)live_bytes / 8 : 0);
  void *evicted[CACHE_SLOTS + 1];
  int n_evicted = 0;
  call_once(&lock_made, make_lock);
  mtx_lock(&lock);
  if (bytes > cap) {
    evicted[n_evicted++] = block;
  } else {
    while (n_slots > 0 && (n_slots == CACHE_SLOTS || cached_bytes + bytes > cap)) {
      evicted[n_evicted++] = slots[0].block;
      remove_slot(0);
    }
    slots[n_slots++] = (cached_block){block, bytes};
    cached_bytes += bytes;
  }
  mtx_unlock(&lock);
  for (int i = 0; i < n_evicted; i++) free(evicted[i]); /* outside the lock */
}
