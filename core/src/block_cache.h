/* Large storage blocks, kept after their tensor dies for the next tensor of
 * about the same size. Internal to the core (tensor.c is its one user). */
#ifndef DNN_BLOCK_CACHE_H
#define DNN_BLOCK_CACHE_H

#include <stddef.h>
#include <stdint.h>

/* A 64-byte aligned block of at least *bytes bytes; *bytes becomes its real
 * size, which block_free must be given back. NULL when out of memory. */
void *block_alloc(size_t *bytes);

/* Keeps the block for reuse, or frees it when the cache is full. live_bytes
 * (the storage still in use) sizes the cache. */
void block_free(void *block, size_t bytes, int64_t live_bytes);

#endif
