/* Files replaced all at once (see atomic_file.h). */
#define _GNU_SOURCE /* O_TMPFILE, linkat */
#include "atomic_file.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The folder of path ("." when it names none) and its last component. */
static char *dir_of(const char *path, const char **base) {
  const char *slash = strrchr(path, '/');
  *base = slash ? slash + 1 : path;
  if (!slash) return strdup(".");
  if (slash == path) return strdup("/");
  return strndup(path, (size_t)(slash - path));
}

/* The pid of a temporary name "<base>.tmp.<digits>" of base, or 0. */
static long temp_owner(const char *name, const char *base) {
  size_t n = strlen(base);
  if (strncmp(name, base, n) != 0 || strncmp(name + n, ".tmp.", 5) != 0) return 0;
  const char *digits = name + n + 5;
  if (*digits == '\0' || strspn(digits, "0123456789") != strlen(digits) || strlen(digits) > 9) return 0;
  return strtol(digits, NULL, 10);
}

/* Removes "<base>.tmp.<pid>" files in dir whose writer is gone (kill(pid, 0)
 * says no such process); a live pid's file may be a save in progress. */
static void remove_stale(const char *dir, const char *base) {
  DIR *d = opendir(dir);
  if (!d) return;
  int dfd = dirfd(d);
  for (struct dirent *e; (e = readdir(d)) != NULL;) {
    long pid = temp_owner(e->d_name, base);
    if (pid <= 0 || pid == (long)getpid()) continue;
    if (kill((pid_t)pid, 0) != 0 && errno == ESRCH) (void)unlinkat(dfd, e->d_name, 0);
  }
  closedir(d);
}

static void sync_dir(const char *dir) {
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return; /* some file systems: the rename is then not yet durable, nothing worse */
  (void)fsync(fd);
  close(fd);
}

/* An unnamed file in dir, or -1 where the kernel or the file system has none
 * (or /proc, through which it is given a name, is missing). */
static int open_unnamed(const char *dir) {
#ifdef O_TMPFILE
  if (access("/proc/self/fd", X_OK) != 0) return -1;
  return open(dir, O_TMPFILE | O_WRONLY | O_CLOEXEC, 0666);
#else
  (void)dir;
  return -1;
#endif
}

dnn_status atomic_open(atomic_file *f, const char *path, const char *fn) {
  *f = (atomic_file){.fd = -1};
  const char *base;
  char *dir = dir_of(path, &base);
  size_t tmp_len = strlen(path) + 32;
  f->path = strdup(path);
  f->tmp = malloc(tmp_len);
  if (!dir || !f->path || !f->tmp) {
    free(dir);
    atomic_abort(f);
    return dnn_error(DNN_ENOMEM, fn, "%s: out of memory", path);
  }
  snprintf(f->tmp, tmp_len, "%s.tmp.%ld", path, (long)getpid());
  remove_stale(dir, base);
  f->fd = open_unnamed(dir);
  f->unnamed = f->fd >= 0;
  free(dir);
  if (!f->unnamed) { /* a new file, never one planted under the name (a link elsewhere) */
    (void)unlink(f->tmp);
    f->fd = open(f->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
  }
  if (f->fd < 0) {
    dnn_status st =
        dnn_error(DNN_EIO, fn, "%s: cannot create the temporary file %s: %s", path, f->tmp, strerror(errno));
    atomic_abort(f);
    return st;
  }
  return DNN_OK;
}

/* Gives the unnamed file its temporary name (the rename needs one). */
static int link_unnamed(const atomic_file *f) {
  char proc[64];
  snprintf(proc, sizeof proc, "/proc/self/fd/%d", f->fd);
  (void)unlink(f->tmp); /* this process's own, from a save that died half way */
  return linkat(AT_FDCWD, proc, AT_FDCWD, f->tmp, AT_SYMLINK_FOLLOW);
}

/* "<path>: <verb> <tmp><tail>: <reason>"; the file is dropped. */
static dnn_status commit_error(atomic_file *f, const char *fn, const char *verb, const char *tail, int err) {
  dnn_status st = dnn_error(DNN_EIO, fn, "%s: %s %s%s: %s", f->path, verb, f->tmp, tail, strerror(err));
  atomic_abort(f);
  return st;
}

dnn_status atomic_commit(atomic_file *f, const char *fn) {
  if (fsync(f->fd) != 0) return commit_error(f, fn, "error writing", "", errno);
  if (f->unnamed) {
    if (link_unnamed(f) != 0) return commit_error(f, fn, "cannot link the written file as", "", errno);
    f->unnamed = false; /* from here on the name is ours to remove */
  }
  int fd = f->fd;
  f->fd = -1;
  if (close(fd) != 0) return commit_error(f, fn, "error writing", "", errno);
  if (rename(f->tmp, f->path) != 0) return commit_error(f, fn, "cannot rename", " into place", errno);
  const char *base;
  char *dir = dir_of(f->path, &base);
  if (dir) sync_dir(dir);
  free(dir);
  free(f->path), free(f->tmp);
  *f = (atomic_file){.fd = -1};
  return DNN_OK;
}

void atomic_abort(atomic_file *f) {
  if (f->fd >= 0) close(f->fd);
  if (f->tmp && !f->unnamed) (void)unlink(f->tmp);
  free(f->path), free(f->tmp);
  *f = (atomic_file){.fd = -1};
}
