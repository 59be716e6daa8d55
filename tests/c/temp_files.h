/* A temporary folder for the C tests that read and write files: make it once
 * in main, build paths and write files in it, remove it and what it holds at
 * the end. Include after check.h (the writers CHECK their I/O). */
#ifndef TEMP_FILES_H
#define TEMP_FILES_H

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"

static char temp_dir[256];

/* Makes /tmp/dnn_test_<prefix>_XXXXXX; NULL (and a message) when it cannot. */
static inline const char *temp_dir_make(const char *prefix) {
  snprintf(temp_dir, sizeof temp_dir, "/tmp/dnn_test_%s_XXXXXX", prefix);
  if (!mkdtemp(temp_dir)) {
    perror("mkdtemp");
    return NULL;
  }
  return temp_dir;
}

/* "<temp_dir>/<name>" in one of a ring of buffers, so that a test can hold
 * several paths at once. */
static inline const char *temp_path(const char *name) {
  static char paths[64][512];
  static int next;
  char *p = paths[next++ % 64];
  snprintf(p, sizeof paths[0], "%s/%s", temp_dir, name);
  return p;
}

/* Writes n bytes to a new file in the folder and returns its path. */
static inline const char *temp_write(const char *name, const void *bytes, size_t n) {
  const char *path = temp_path(name);
  FILE *f = fopen(path, "wb");
  CHECK(f != NULL);
  if (!f) return path;
  if (n > 0) CHECK(fwrite(bytes, 1, n, f) == n);
  fclose(f);
  return path;
}

/* The file's size in bytes, -1 when it is not there. */
static inline long temp_file_size(const char *path) {
  struct stat sb;
  return stat(path, &sb) == 0 ? (long)sb.st_size : -1;
}

/* Removes the folder with the files and empty folders it holds (the tests
 * make nothing deeper). */
static inline void temp_dir_remove(void) {
  DIR *d = opendir(temp_dir);
  struct dirent *e;
  while (d && (e = readdir(d))) {
    if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
    char path[768];
    snprintf(path, sizeof path, "%s/%s", temp_dir, e->d_name);
    if (remove(path) != 0) fprintf(stderr, "could not remove %s\n", path);
  }
  if (d) closedir(d);
  if (rmdir(temp_dir) != 0) fprintf(stderr, "could not remove %s\n", temp_dir);
}

#endif
