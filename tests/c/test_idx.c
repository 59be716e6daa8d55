/* dnn_read_idx: every type code, plain and gzip'd, and every malformed file
 * we can think of, each error naming the path. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "check.h"
#include "dnn/dnn.h"
#include "temp_files.h"

static const char *write_gz(const char *name, const unsigned char *bytes, size_t n) {
  const char *path = temp_path(name);
  gzFile f = gzopen(path, "wb");
  CHECK(f != NULL);
  if (!f) return path;
  if (n > 0) CHECK(gzwrite(f, bytes, (unsigned)n) == (int)n);
  CHECK(gzclose(f) == Z_OK);
  return path;
}

/* The call failed with code, and the message names the path and holds want. */
static void check_fails(dnn_tensor *t, const char *path, dnn_status code, const char *want) {
  CHECK(t == NULL);
  dnn_tensor_release(t);
  CHECK(dnn_errcode() == code);
  const char *msg = dnn_errmsg();
  CHECK(strstr(msg, "read_idx") != NULL);
  CHECK(strstr(msg, path) != NULL);
  if (!strstr(msg, want)) {
    check_failures++;
    fprintf(stderr, "message \"%s\" lacks \"%s\"\n", msg, want);
  }
}

/* ubyte (2, 3) holding 0, 1, 2, 3, 128, 255. */
static const unsigned char ubyte_2x3[] = {0, 0, 0x08, 2, 0, 0, 0, 2, 0, 0, 0, 3, 0, 1, 2, 3, 128, 255};

static void check_ubyte_2x3(dnn_tensor *t) {
  CHECK(t != NULL);
  if (!t) {
    fprintf(stderr, "error: %s\n", dnn_errmsg());
    return;
  }
  CHECK(t->ndim == 2 && t->shape[0] == 2 && t->shape[1] == 3);
  const float want[] = {0, 1, 2, 3, 128, 255};
  for (int i = 0; i < 6; i++) CHECK_NEAR(dnn_data(t)[i], want[i], 0);
  dnn_tensor_release(t);
}

static void test_valid(void) {
  check_ubyte_2x3(dnn_read_idx(temp_write("plain.idx", ubyte_2x3, sizeof ubyte_2x3)));
  check_ubyte_2x3(dnn_read_idx(write_gz("packed.idx.gz", ubyte_2x3, sizeof ubyte_2x3)));

  /* 1-d labels, as train-labels-idx1-ubyte */
  const unsigned char labels[] = {0, 0, 0x08, 1, 0, 0, 0, 4, 9, 0, 0, 3};
  dnn_tensor *t = dnn_read_idx(write_gz("labels.gz", labels, sizeof labels));
  CHECK(t && t->ndim == 1 && t->shape[0] == 4);
  if (t) CHECK(dnn_data(t)[0] == 9 && dnn_data(t)[3] == 3);
  dnn_tensor_release(t);
}

static void test_types(void) {
  const unsigned char sbyte[] = {0, 0, 0x09, 1, 0, 0, 0, 2, 0xFF, 0x7F};
  dnn_tensor *t = dnn_read_idx(temp_write("sbyte.idx", sbyte, sizeof sbyte));
  CHECK(t != NULL);
  if (t) CHECK(dnn_data(t)[0] == -1 && dnn_data(t)[1] == 127);
  dnn_tensor_release(t);

  const unsigned char shorts[] = {0, 0, 0x0B, 1, 0, 0, 0, 2, 0xFF, 0xFE, 0x01, 0x2C}; /* -2, 300 */
  t = dnn_read_idx(temp_write("short.idx", shorts, sizeof shorts));
  CHECK(t != NULL);
  if (t) CHECK(dnn_data(t)[0] == -2 && dnn_data(t)[1] == 300);
  dnn_tensor_release(t);

  /* -10, 65536 */
  const unsigned char ints[] = {0, 0, 0x0C, 1, 0, 0, 0, 2, 0xFF, 0xFF, 0xFF, 0xF6, 0x00, 0x01, 0x00, 0x00};
  t = dnn_read_idx(write_gz("int.idx.gz", ints, sizeof ints));
  CHECK(t != NULL);
  if (t) CHECK(dnn_data(t)[0] == -10 && dnn_data(t)[1] == 65536);
  dnn_tensor_release(t);

  const unsigned char floats[] = {0, 0, 0x0D, 1, 0, 0, 0, 2, 0x3F, 0xC0, 0, 0, 0xC0, 0x20, 0, 0}; /* 1.5, -2.5 */
  t = dnn_read_idx(temp_write("float.idx", floats, sizeof floats));
  CHECK(t != NULL);
  if (t) CHECK(dnn_data(t)[0] == 1.5f && dnn_data(t)[1] == -2.5f);
  dnn_tensor_release(t);

  const unsigned char doubles[] = {0, 0, 0x0E, 1, 0, 0, 0, 1, 0xC0, 0x02, 0, 0, 0, 0, 0, 0}; /* -2.25 */
  t = dnn_read_idx(temp_write("double.idx", doubles, sizeof doubles));
  CHECK(t != NULL);
  if (t) CHECK(t->shape[0] == 1 && dnn_data(t)[0] == -2.25f);
  dnn_tensor_release(t);
}

static void test_bad_headers(void) {
  const char *missing = temp_path("no-such-file.idx");
  check_fails(dnn_read_idx(missing), missing, DNN_EIO, "cannot open");

  const char *empty = temp_write("empty.idx", NULL, 0);
  check_fails(dnn_read_idx(empty), empty, DNN_EFORMAT, "found a file of 0 bytes");

  const unsigned char bad_magic[] = {1, 0, 0x08, 1, 0, 0, 0, 1, 7};
  const char *p = temp_write("magic.idx", bad_magic, sizeof bad_magic);
  check_fails(dnn_read_idx(p), p, DNN_EFORMAT, "magic");
  p = write_gz("magic.idx.gz", bad_magic, sizeof bad_magic);
  check_fails(dnn_read_idx(p), p, DNN_EFORMAT, "got 0x01000801");

  const unsigned char bad_type[] = {0, 0, 0x07, 1, 0, 0, 0, 1, 7};
  p = temp_write("type.idx", bad_type, sizeof bad_type);
  check_fails(dnn_read_idx(p), p, DNN_EFORMAT, "type code 0x07");

  const unsigned char no_dims[] = {0, 0, 0x08, 0, 7};
  p = temp_write("ndim0.idx", no_dims, sizeof no_dims);
  check_fails(dnn_read_idx(p), p, DNN_EFORMAT, "got 0");

  const unsigned char nine_dims[] = {0, 0, 0x08, 9, 0, 0, 0, 1};
  p = temp_write("ndim9.idx", nine_dims, sizeof nine_dims);
  check_fails(dnn_read_idx(p), p, DNN_EFORMAT, "got 9");

  const unsigned char short_dims[] = {0, 0, 0x08, 3, 0, 0, 0, 1, 0, 0};
  p = temp_write("dims.idx", short_dims, sizeof short_dims);
  check_fails(dnn_read_idx(p), p, DNN_EFORMAT, "expected 12 bytes of dims, found 6");

  const unsigned char zero_dim[] = {0, 0, 0x08, 2, 0, 0, 0, 2, 0, 0, 0, 0};
  p = write_gz("zero.idx.gz", zero_dim, sizeof zero_dim);
  check_fails(dnn_read_idx(p), p, DNN_EFORMAT, "dim 2 is 0");
}

static void test_bad_sizes(void) {
  /* truncated: 5 of 6 data bytes */
  const char *p = temp_write("short.idx", ubyte_2x3, sizeof ubyte_2x3 - 1);
  check_fails(dnn_read_idx(p), p, DNN_EFORMAT, "expected 6 data bytes after the header, found 5");
  p = write_gz("short.idx.gz", ubyte_2x3, sizeof ubyte_2x3 - 1);
  check_fails(dnn_read_idx(p), p, DNN_EFORMAT, "expected 6 data bytes after the header, found 5");

  /* trailing garbage: 2 bytes more than the dims say */
  unsigned char longer[sizeof ubyte_2x3 + 2];
  memcpy(longer, ubyte_2x3, sizeof ubyte_2x3);
  longer[sizeof ubyte_2x3] = 'x';
  longer[sizeof ubyte_2x3 + 1] = 'y';
  p = temp_write("long.idx", longer, sizeof longer);
  check_fails(dnn_read_idx(p), p, DNN_EFORMAT, "expected 6 data bytes after the header, found 8");
  p = write_gz("long.idx.gz", longer, sizeof longer);
  check_fails(dnn_read_idx(p), p, DNN_EFORMAT, "found 8 (2 trailing bytes)");

  /* 65536 x 65536 x 4 ubytes: refused before anything is allocated */
  const unsigned char huge[] = {0, 0, 0x08, 3, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 4, 1, 2, 3};
  int64_t live = dnn_storage_bytes_live();
  p = temp_write("huge.idx", huge, sizeof huge);
  check_fails(dnn_read_idx(p), p, DNN_EFORMAT, "4 GiB");
  CHECK(dnn_storage_bytes_live() == live);
  const unsigned char max_dims[] = {0, 0, 0x0E, 2, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF};
  p = write_gz("max.idx.gz", max_dims, sizeof max_dims);
  check_fails(dnn_read_idx(p), p, DNN_EFORMAT, "4 GiB");

  /* under the cap, but far more than a tiny file can hold: no 2 GiB allocation */
  const unsigned char big[] = {0, 0, 0x08, 1, 0x20, 0, 0, 0, 1, 2, 3}; /* 2^29 bytes declared */
  p = temp_write("big.idx", big, sizeof big);
  check_fails(dnn_read_idx(p), p, DNN_EFORMAT, "expected 536870912 data bytes after the header, found 3");
  p = write_gz("big.idx.gz", big, sizeof big);
  check_fails(dnn_read_idx(p), p, DNN_EFORMAT, "more than a gzip file");
  CHECK(dnn_storage_bytes_live() == live);
}

/* A valid gzip file cut short, and one whose compressed bytes are garbage. */
static void test_damaged_gzip(void) {
  enum { N = 20000 };
  unsigned char *bytes = malloc(16 + N);
  const unsigned char head[] = {0, 0, 0x08, 2, 0, 0, 0x4E, 0x20, 0, 0, 0, 1}; /* (20000, 1) */
  memcpy(bytes, head, sizeof head);
  srand(7);
  for (int i = 0; i < N; i++) bytes[sizeof head + i] = (unsigned char)rand(); /* incompressible */
  const char *whole = write_gz("whole.gz", bytes, sizeof head + N);
  dnn_tensor *t = dnn_read_idx(whole);
  CHECK(t && t->shape[0] == N && dnn_data(t)[N - 1] == bytes[sizeof head + N - 1]);
  dnn_tensor_release(t);

  long size = temp_file_size(whole);
  CHECK(size > 1000);
  FILE *f = fopen(whole, "rb");
  unsigned char *gz = malloc((size_t)size);
  CHECK(f && fread(gz, 1, (size_t)size, f) == (size_t)size);
  if (f) fclose(f);

  const char *cut = temp_write("cut.gz", gz, (size_t)size / 2);
  check_fails(dnn_read_idx(cut), cut, DNN_EFORMAT, "expected 20000 data bytes after the header");

  const char *no_trailer = temp_write("notrailer.gz", gz, (size_t)size - 4); /* data intact, CRC gone */
  check_fails(dnn_read_idx(no_trailer), no_trailer, DNN_EFORMAT, "gzip");

  for (long i = 100; i < size - 8; i++) gz[i] ^= 0x5A; /* past both headers */
  const char *garbage = temp_write("garbage.gz", gz, (size_t)size);
  check_fails(dnn_read_idx(garbage), garbage, DNN_EFORMAT, "gzip");
  free(gz);
  free(bytes);
}

int main(void) {
  if (!temp_dir_make("idx")) return 1;
  test_valid();
  test_types();
  test_bad_headers();
  test_bad_sizes();
  test_damaged_gzip();
  temp_dir_remove();
  return check_report("test_idx");
}
