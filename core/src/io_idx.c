/* IDX files (the MNIST family: http://yann.lecun.com/exdb/mnist/), read
 * through zlib so gzip'd and plain files look the same.
 *
 * Layout: two zero bytes, a type code, the number of dims; then each dim as a
 * big-endian uint32; then prod(dims) values of the type, big-endian. The
 * header is checked before anything is allocated, and the data must fill the
 * rest of the file exactly. */
#define _GNU_SOURCE /* memfd_create */
#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "dnn/io.h"

/* A declared size above this is refused: 2^30 floats is 4 GiB. */
#define IDX_MAX_ELEMENTS ((int64_t)1 << 30)
/* deflate never compresses better than about 1032:1, so a gzip file of n
 * bytes cannot hold much more than 1032 * n bytes of data. */
#define GZIP_MAX_RATIO 1040
#define READ_CHUNK 65536

typedef struct idx_type {
  unsigned char code;
  int size; /* bytes per value */
  const char *name;
} idx_type;

static const idx_type idx_types[] = {
    {0x08, 1, "ubyte"}, {0x09, 1, "sbyte"}, {0x0B, 2, "short"},
    {0x0C, 4, "int"},   {0x0D, 4, "float"}, {0x0E, 8, "double"},
};

static const idx_type *find_type(unsigned char code) {
  for (size_t i = 0; i < sizeof idx_types / sizeof idx_types[0]; i++)
    if (idx_types[i].code == code) return &idx_types[i];
  return NULL;
}

static uint64_t load_be(const unsigned char *p, int size) {
  uint64_t v = 0;
  for (int i = 0; i < size; i++) v = v << 8 | p[i];
  return v;
}

/* Converts n values of type code from big-endian bytes to floats. */
static void convert(unsigned char code, const unsigned char *restrict src, int64_t n, float *restrict dst) {
  switch (code) {
    case 0x08:
      for (int64_t i = 0; i < n; i++) dst[i] = (float)src[i];
      break;
    case 0x09:
      for (int64_t i = 0; i < n; i++) dst[i] = (float)(int8_t)src[i];
      break;
    case 0x0B:
      for (int64_t i = 0; i < n; i++) dst[i] = (float)(int16_t)(uint16_t)load_be(src + 2 * i, 2);
      break;
    case 0x0C:
      for (int64_t i = 0; i < n; i++) dst[i] = (float)(int32_t)(uint32_t)load_be(src + 4 * i, 4);
      break;
    case 0x0D:
      for (int64_t i = 0; i < n; i++) {
        uint32_t bits = (uint32_t)load_be(src + 4 * i, 4);
        memcpy(&dst[i], &bits, sizeof bits);
      }
      break;
    case 0x0E:
      for (int64_t i = 0; i < n; i++) {
        uint64_t bits = load_be(src + 8 * i, 8);
        double d;
        memcpy(&d, &bits, sizeof d);
        dst[i] = (float)d;
      }
      break;
  }
}

/* Reads up to len bytes (any size: gzread takes an unsigned int). Returns
 * the count read, or -1 on a zlib error. */
static int64_t read_full(gzFile f, unsigned char *buf, int64_t len) {
  int64_t got = 0;
  while (got < len) {
    int64_t want = len - got > (1 << 30) ? (1 << 30) : len - got;
    int r = gzread(f, buf + got, (unsigned)want);
    if (r < 0) return -1;
    if (r == 0) break;
    got += r;
  }
  return got;
}

/* The zlib error on f, as a dnn error naming path. */
static dnn_status gz_failure(gzFile f, const char *path, const char *what) {
  int errnum;
  const char *msg = gzerror(f, &errnum);
  if (errnum == Z_ERRNO) return dnn_error(DNN_EIO, "read_idx", "%s: error reading %s: %s", path, what, strerror(errno));
  return dnn_error(DNN_EFORMAT, "read_idx", "%s: damaged gzip data while reading %s: %s", path, what, msg);
}

/* After the last data byte: a damaged gzip trailer or extra bytes are errors. */
static dnn_status check_end(gzFile f, const char *path, int64_t data_bytes) {
  unsigned char buf[4096];
  int64_t extra = 0;
  int r;
  while ((r = gzread(f, buf, sizeof buf)) > 0) extra += r;
  if (r < 0) return gz_failure(f, path, "the end of the file");
  int errnum;
  const char *msg = gzerror(f, &errnum);
  if (errnum != Z_OK)
    return dnn_error(DNN_EFORMAT, "read_idx", "%s: damaged gzip data at the end of the file: %s", path, msg);
  if (extra > 0)
    return dnn_error(DNN_EFORMAT, "read_idx",
                     "%s: expected %" PRId64 " data bytes after the header, found %" PRId64 " (%" PRId64
                     " trailing bytes)",
                     path, data_bytes, data_bytes + extra, extra);
  return DNN_OK;
}

typedef struct idx_header {
  const idx_type *type;
  int ndim;
  int64_t shape[DNN_MAX_DIMS];
  int64_t numel;
  int64_t header_bytes;
} idx_header;

static dnn_status read_header(gzFile f, const char *path, idx_header *h) {
  unsigned char magic[4];
  int64_t got = read_full(f, magic, 4);
  if (got < 0) return gz_failure(f, path, "the header");
  if (got < 4)
    return dnn_error(DNN_EFORMAT, "read_idx",
                     "%s: expected a 4-byte IDX magic number, found a file of %" PRId64 " bytes", path, got);
  if (magic[0] != 0 || magic[1] != 0)
    return dnn_error(DNN_EFORMAT, "read_idx",
                     "%s: not an IDX file (expected magic 0x0000 then type and ndim, got 0x%02x%02x%02x%02x)", path,
                     magic[0], magic[1], magic[2], magic[3]);
  h->type = find_type(magic[2]);
  if (!h->type)
    return dnn_error(DNN_EFORMAT, "read_idx",
                     "%s: unknown IDX type code 0x%02x (expected 0x08, 0x09, 0x0B, 0x0C, 0x0D or 0x0E)", path,
                     magic[2]);
  h->ndim = magic[3];
  if (h->ndim < 1 || h->ndim > DNN_MAX_DIMS)
    return dnn_error(DNN_EFORMAT, "read_idx", "%s: expected 1 to %d dims in the IDX header, got %d", path, DNN_MAX_DIMS,
                     h->ndim);

  unsigned char dims[4 * DNN_MAX_DIMS];
  got = read_full(f, dims, 4 * h->ndim);
  if (got < 0) return gz_failure(f, path, "the header");
  if (got < 4 * h->ndim)
    return dnn_error(DNN_EFORMAT, "read_idx", "%s: truncated header (expected %d bytes of dims, found %" PRId64 ")",
                     path, 4 * h->ndim, got);
  h->numel = 1;
  for (int d = 0; d < h->ndim; d++) {
    h->shape[d] = (int64_t)load_be(dims + 4 * d, 4);
    if (h->shape[d] == 0)
      return dnn_error(DNN_EFORMAT, "read_idx", "%s: dim %d is 0 in the IDX header (expected sizes > 0)", path, d + 1);
    /* Both factors are at most 2^32 and numel at most 2^30 so far: no overflow. */
    h->numel *= h->shape[d];
    if (h->numel > IDX_MAX_ELEMENTS)
      return dnn_error(DNN_EFORMAT, "read_idx",
                       "%s: the IDX header declares more than %" PRId64 " values (4 GiB of floats), refusing", path,
                       IDX_MAX_ELEMENTS);
  }
  h->header_bytes = 4 + 4 * h->ndim;
  return DNN_OK;
}

/* Before allocating: the size the header declares must fit the file on disk
 * (exactly for a plain file; within deflate's best ratio for a gzip'd one). */
static dnn_status check_file_size(gzFile f, const char *path, int64_t file_bytes, const idx_header *h) {
  if (file_bytes < 0) return DNN_OK; /* a pipe or device: the reads will tell */
  int64_t data_bytes = h->numel * h->type->size;
  if (gzdirect(f)) {
    int64_t found = file_bytes - h->header_bytes;
    if (found != data_bytes)
      return dnn_error(DNN_EFORMAT, "read_idx",
                       "%s: %s (expected %" PRId64 " data bytes after the header, found %" PRId64 ")", path,
                       found < data_bytes ? "truncated file" : "trailing bytes after the data", data_bytes, found);
  } else if (data_bytes > file_bytes * GZIP_MAX_RATIO) {
    return dnn_error(DNN_EFORMAT, "read_idx",
                     "%s: truncated file (the header declares %" PRId64 " data bytes, more than a gzip file of %" PRId64
                     " bytes can hold)",
                     path, data_bytes, file_bytes);
  }
  return DNN_OK;
}

/* Reads the data in chunks, converting as it goes. */
static dnn_status read_data(gzFile f, const char *path, const idx_header *h, float *out) {
  unsigned char buf[READ_CHUNK];
  int size = h->type->size;
  int64_t per_chunk = READ_CHUNK / size;
  int64_t done = 0;
  while (done < h->numel) {
    int64_t n = h->numel - done < per_chunk ? h->numel - done : per_chunk;
    int64_t got = read_full(f, buf, n * size);
    if (got < 0) return gz_failure(f, path, "the data");
    if (got < n * size) {
      int errnum;
      const char *msg = gzerror(f, &errnum);
      int64_t found = done * size + got;
      if (errnum != Z_OK && errnum != Z_BUF_ERROR)
        return dnn_error(DNN_EFORMAT, "read_idx", "%s: damaged gzip data: %s", path, msg);
      return dnn_error(DNN_EFORMAT, "read_idx",
                       "%s: truncated file (expected %" PRId64 " data bytes after the header, found %" PRId64 ")", path,
                       h->numel * size, found);
    }
    convert(h->type->code, buf, n, out + done);
    done += n;
  }
  return DNN_OK;
}

/* The reader proper, from an open gzFile (closed here); file_bytes: the
 * file's size, or -1 when unknown. */
static dnn_tensor *read_gz(gzFile f, const char *path, int64_t file_bytes) {
  gzbuffer(f, 1 << 18); /* zlib's default 8 KiB input buffer makes big files slower */
  idx_header h;
  dnn_tensor *t = NULL;
  if (read_header(f, path, &h) != DNN_OK || check_file_size(f, path, file_bytes, &h) != DNN_OK) goto done;
  t = dnn_empty(h.ndim, h.shape);
  if (!t) goto done;
  if (read_data(f, path, &h, dnn_data(t)) != DNN_OK || check_end(f, path, h.numel * h.type->size) != DNN_OK) {
    dnn_tensor_release(t);
    t = NULL;
  }
done:
  gzclose(f);
  return t;
}

dnn_tensor *dnn_read_idx(const char *path) {
  if (!path) {
    dnn_argerror(1, "read_idx", "expected a path, got NULL");
    return NULL;
  }
  errno = 0;
  gzFile f = gzopen(path, "rb");
  if (!f) {
    dnn_error(DNN_EIO, "read_idx", "%s: cannot open: %s", path, errno ? strerror(errno) : "out of memory");
    return NULL;
  }
  struct stat st;
  return read_gz(f, path, stat(path, &st) == 0 && S_ISREG(st.st_mode) ? (int64_t)st.st_size : -1);
}

dnn_tensor *dnn_read_idx_memory(const void *bytes, size_t size, const char *name) {
  if (!name) name = "(memory)";
  if (!bytes && size) return dnn_argerror(1, "read_idx", "expected bytes, got NULL"), NULL;
  /* zlib reads gzip from a descriptor: an anonymous in-memory file holds the bytes. */
  int fd = memfd_create("dnn_idx", MFD_CLOEXEC);
  if (fd < 0)
    return dnn_error(DNN_EIO, "read_idx", "%s: cannot make an in-memory file: %s", name, strerror(errno)), NULL;
  for (size_t done = 0; done < size;) {
    ssize_t w = write(fd, (const char *)bytes + done, size - done);
    if (w <= 0) {
      close(fd);
      return dnn_error(DNN_EIO, "read_idx", "%s: cannot fill an in-memory file: %s", name, strerror(errno)), NULL;
    }
    done += (size_t)w;
  }
  gzFile f = lseek(fd, 0, SEEK_SET) == 0 ? gzdopen(fd, "rb") : NULL;
  if (!f) {
    close(fd);
    return dnn_error(DNN_EIO, "read_idx", "%s: cannot read an in-memory file", name), NULL;
  }
  return read_gz(f, name, (int64_t)size);
}
