/* Tracked allocations (tracked_alloc.h): a doubly linked list per thread,
 * the header of each block in front of its data. */
#include "tracked_alloc.h"

#include <stdalign.h>
#include <stdbool.h>
#include <stdlib.h>

typedef struct block {
  struct block *prev, *next;
  alignas(max_align_t) unsigned char data[];
} block;

static _Thread_local block *live;

static block *block_of(void *p) { return (block *)((unsigned char *)p - offsetof(block, data)); }

static void link_block(block *b) {
  b->prev = NULL, b->next = live;
  if (live) live->prev = b;
  live = b;
}

static void unlink_block(block *b) {
  if (b->prev)
    b->prev->next = b->next;
  else
    live = b->next;
  if (b->next) b->next->prev = b->prev;
}

void *tracked_malloc(size_t n) {
  block *b = malloc(sizeof(block) + n);
  if (!b) return NULL;
  link_block(b);
  return b->data;
}

void *tracked_realloc(void *p, size_t n) {
  if (!p) return tracked_malloc(n);
  block *b = block_of(p);
  unlink_block(b);
  block *nb = realloc(b, sizeof(block) + n);
  bool ok = nb != NULL;
  link_block(ok ? nb : b);
  return ok ? nb->data : NULL;
}

void tracked_free(void *p) {
  if (!p) return;
  block *b = block_of(p);
  unlink_block(b);
  free(b);
}

void tracked_free_all(void) {
  while (live) {
    block *b = live;
    live = b->next;
    free(b);
  }
}
