/* A file that replaces another all at once: written under no name (Linux's
 * O_TMPFILE) or a temporary one, made durable, then renamed over the target.
 * A reader sees the old file or the new one, never part of one; a writer
 * killed at any point leaves at most a temporary `<path>.tmp.<pid>`, which
 * the next save of the same path removes once that pid is dead. Internal to
 * the core (the safetensors writer is its user). */
#ifndef DNN_ATOMIC_FILE_H
#define DNN_ATOMIC_FILE_H

#include <stdbool.h>

#include "dnn/error.h"

typedef struct {
  int fd; /* where to write */
  char *path; /* the target */
  char *tmp; /* "<path>.tmp.<pid>": the file written, or the name an unnamed one is linked to */
  bool unnamed; /* fd is an O_TMPFILE inode with no name yet */
} atomic_file;

/* Opens a new file that is to become path; removes the stale temporaries
 * of path that dead writers left. fn names the caller in errors. */
dnn_status atomic_open(atomic_file *f, const char *path, const char *fn);

/* Syncs the file, gives it the name path (replacing what was there) and
 * syncs the folder, so the rename survives a crash; closes it. */
dnn_status atomic_commit(atomic_file *f, const char *fn);

/* Drops the file (after a failed write): path is left as it was. */
void atomic_abort(atomic_file *f);

#endif
