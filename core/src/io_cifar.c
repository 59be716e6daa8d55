/* The CIFAR-10 binary batches (https://www.cs.toronto.edu/~kriz/cifar.html):
 * each record is a label byte (0..9) then 3072 pixel bytes, the red plane,
 * the green plane and the blue plane of a 32x32 image, each row by row. We
 * return images channels last, as every image in dnn is. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "dnn/io.h"

#define FN "read_cifar10"
#define SIDE 32
#define PLANE (SIDE * SIDE)
#define RECORD (1 + 3 * PLANE)

/* One record's CHW bytes to HWC floats in [0, 1]. */
static void planes_to_hwc(const unsigned char *restrict src, float *restrict dst) {
  for (int p = 0; p < PLANE; p++)
    for (int c = 0; c < 3; c++) dst[3 * p + c] = (float)src[c * PLANE + p] * (1.0f / 255.0f);
}

/* The records of an open file of `size` bytes (closed here; NULL when empty). */
static dnn_status read_records(FILE *f, const char *path, int64_t size, dnn_tensor **x, dnn_tensor **y) {
  if (size == 0 || size % RECORD != 0) {
    if (f) fclose(f);
    return dnn_error(DNN_EFORMAT, FN,
                     "%s: expected a multiple of %d bytes (1 label byte + 32*32*3 pixel bytes per image), got %" PRId64
                     " bytes",
                     path, RECORD, size);
  }
  int64_t n = size / RECORD;
  int64_t xs[4] = {n, SIDE, SIDE, 3}, ys[1] = {n};
  dnn_tensor *tx = dnn_empty(4, xs), *ty = dnn_empty(1, ys);
  dnn_status status = DNN_OK;
  if (!tx || !ty) {
    status = dnn_errcode();
    goto fail;
  }
  unsigned char rec[RECORD];
  float *px = dnn_data(tx), *py = dnn_data(ty);
  for (int64_t i = 0; i < n; i++) {
    if (fread(rec, 1, RECORD, f) != RECORD) {
      status = dnn_error(DNN_EIO, FN, "%s: short read at image %" PRId64, path, i + 1);
      goto fail;
    }
    if (rec[0] > 9) {
      status = dnn_error(DNN_EFORMAT, FN, "%s: image %" PRId64 " has label %d, expected 0..9 (not a CIFAR-10 file?)",
                         path, i + 1, rec[0]);
      goto fail;
    }
    py[i] = (float)rec[0] + 1;
    planes_to_hwc(rec + 1, px + i * 3 * PLANE);
  }
  fclose(f);
  *x = tx;
  *y = ty;
  return DNN_OK;
fail:
  fclose(f);
  dnn_tensor_release(tx);
  dnn_tensor_release(ty);
  return status;
}

dnn_status dnn_read_cifar10(const char *path, dnn_tensor **x, dnn_tensor **y) {
  if (!path) return dnn_argerror(1, FN, "expected a path, got NULL");
  if (!x || !y) return dnn_argerror(2, FN, "expected places for x and y, got NULL");
  *x = *y = NULL;
  errno = 0;
  FILE *f = fopen(path, "rb");
  if (!f) return dnn_error(DNN_EIO, FN, "%s: cannot open: %s", path, strerror(errno));
  struct stat st;
  if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
    fclose(f);
    return dnn_error(DNN_EIO, FN, "%s: not a regular file", path);
  }
  return read_records(f, path, (int64_t)st.st_size, x, y);
}

dnn_status dnn_read_cifar10_memory(const void *bytes, size_t size, const char *name, dnn_tensor **x, dnn_tensor **y) {
  if (!name) name = "(memory)";
  if (!bytes && size) return dnn_argerror(1, FN, "expected bytes, got NULL");
  if (!x || !y) return dnn_argerror(2, FN, "expected places for x and y, got NULL");
  *x = *y = NULL;
  if (size == 0) return read_records(NULL, name, 0, x, y);
  FILE *f = fmemopen((void *)bytes, size, "rb"); /* read only: the cast drops const for fmemopen's signature */
  if (!f) return dnn_error(DNN_ENOMEM, FN, "%s: cannot read from memory: %s", name, strerror(errno));
  return read_records(f, name, (int64_t)size, x, y);
}
