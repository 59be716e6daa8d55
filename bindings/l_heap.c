/* The allocator of the Lua states dnnlua makes (the program's and the
 * embedding API's): malloc, with spare small blocks kept per size class.
 * Lua's collector frees its dead objects in bursts (a minor collection frees
 * thousands of tensor userdata at once), more than glibc's per-thread cache
 * holds (7 of a size), so most of them took malloc's slow path, and the next
 * allocations took it again: a quarter of a 1-element add's instructions.
 * Sanitizer builds use malloc and free directly, so a use after free is
 * still caught. */
#include <malloc.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "ldnn.h"

#if defined(__SANITIZE_ADDRESS__)
#define HEAP_SPARES 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define HEAP_SPARES 0
#endif
#endif
#ifndef HEAP_SPARES
#define HEAP_SPARES 4096 /* per class: a minor collection's worth of tensors */
#endif

#define CLASS_BYTES 16
#define CLASSES 8 /* blocks of up to 128 bytes; a tensor's userdata takes 56 */

typedef struct spare {
  struct spare *next;
} spare;

typedef struct {
  spare *head[CLASSES];
  int count[CLASSES];
} lua_heap;

/* The class of a small block of n > 0 bytes, or -1 for a big one. */
static int class_of(size_t n) { return n <= CLASSES * CLASS_BYTES ? (int)((n - 1) / CLASS_BYTES) : -1; }

static void *take(lua_heap *h, size_t n) {
  int c = class_of(n);
  if (c < 0) return malloc(n);
  spare *b = h->head[c];
  if (!b) return malloc((size_t)(c + 1) * CLASS_BYTES); /* the whole class: any spare of it fits */
  h->head[c] = b->next;
  h->count[c]--;
  return b;
}

/* Whether a small block has its whole class: the blocks Lua made before this
 * allocator took over have their own sizes. */
static bool whole_class(void *block, int c) { return malloc_usable_size(block) >= (size_t)(c + 1) * CLASS_BYTES; }

static void give(lua_heap *h, void *block, size_t n) {
  int c = class_of(n);
  if (c < 0 || h->count[c] >= HEAP_SPARES || !whole_class(block, c)) {
    free(block);
    return;
  }
  spare *b = block;
  b->next = h->head[c];
  h->head[c] = b;
  h->count[c]++;
}

/* lua_Alloc: osize is the block's size when block is not NULL. */
static void *heap_alloc(void *ud, void *block, size_t osize, size_t nsize) {
  lua_heap *h = ud;
  if (nsize == 0) {
    if (block) give(h, block, osize);
    return NULL;
  }
  if (!block) return take(h, nsize);
  if (class_of(osize) < 0 && class_of(nsize) < 0) return realloc(block, nsize);
  int c = class_of(nsize);
  if (c >= 0 && c == class_of(osize) && whole_class(block, c)) return block;
  void *moved = take(h, nsize);
  if (moved) {
    memcpy(moved, block, osize < nsize ? osize : nsize);
    give(h, block, osize);
  }
  return moved;
}

static void free_heap(lua_heap *h) {
  for (int c = 0; c < CLASSES; c++) {
    for (spare *b = h->head[c], *next; b; b = next) {
      next = b->next;
      free(b);
    }
  }
  free(h);
}

lua_State *ldnn_new_state(void) {
  lua_State *L = luaL_newstate(); /* lauxlib's panic and warning functions */
  if (!L || !HEAP_SPARES) return L;
  lua_heap *h = calloc(1, sizeof *h);
  if (h) lua_setallocf(L, heap_alloc, h);
  return L;
}

void ldnn_close_state(lua_State *L) {
  void *h;
  lua_Alloc f = lua_getallocf(L, &h);
  lua_close(L);
  if (f == heap_alloc) free_heap(h);
}
