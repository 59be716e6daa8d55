/* Allocations of a library that may be left by a jump (stb_image and
 * stb_truetype, their asserts turned into longjmp): each thread keeps a list
 * of what the library holds, so that after the jump tracked_free_all frees
 * it. Private to core/. */
#ifndef DNN_TRACKED_ALLOC_H
#define DNN_TRACKED_ALLOC_H

#include <stddef.h>

void *tracked_malloc(size_t n);
/* As realloc; on failure the old block stays tracked (the library still holds it). */
void *tracked_realloc(void *p, size_t n);
void tracked_free(void *p);
/* Frees every block this thread's tracked allocations still hold. */
void tracked_free_all(void);

#endif
