/* safetensors: round trips, files as other writers make them (spacing,
 * escapes, header order, F16/BF16/F64), every malformed or hostile header we
 * can think of (each error naming the path and the problem), and the atomic
 * write keeping an old file when a write fails. */
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "dnn/dnn.h"
#include "temp_files.h"

/* A file of: 8-byte length (the header's own unless len_override >= 0),
 * header, data. */
static const char *write_file(const char *name, const char *header, long long len_override, const void *data,
                              size_t data_len) {
  const char *path = temp_path(name);
  FILE *f = fopen(path, "wb");
  CHECK(f != NULL);
  if (!f) return path;
  unsigned long long n = len_override >= 0 ? (unsigned long long)len_override : strlen(header);
  unsigned char len8[8];
  for (int i = 0; i < 8; i++) len8[i] = (unsigned char)(n >> (8 * i));
  CHECK(fwrite(len8, 1, 8, f) == 8);
  if (*header) CHECK(fwrite(header, 1, strlen(header), f) == strlen(header));
  if (data_len) CHECK(fwrite(data, 1, data_len, f) == data_len);
  fclose(f);
  return path;
}

static const float six[6] = {1, 2, 3, 4, 5, 6};

/* A one-tensor file with this JSON header and 24 bytes of data. */
static const char *file_with(const char *name, const char *header) { return write_file(name, header, -1, six, 24); }

/* The load failed with code, naming the path and saying want. */
static void check_load_fails(const char *path, dnn_status code, const char *want) {
  dnn_safetensors *st = dnn_safetensors_load(path);
  CHECK(st == NULL);
  dnn_safetensors_free(st);
  CHECK(dnn_errcode() == code);
  const char *msg = dnn_errmsg();
  CHECK(strstr(msg, "load_safetensors") != NULL);
  CHECK(strstr(msg, path) != NULL);
  if (!strstr(msg, want)) {
    check_failures++;
    fprintf(stderr, "expected an error saying \"%s\", got \"%s\"\n", want, msg);
  }
}

static dnn_tensor *tensor_of(const float *v, int ndim, int64_t a, int64_t b) {
  int64_t shape[2] = {a, b};
  return dnn_from_data(v, ndim, shape);
}

static int index_of(const dnn_safetensors *st, const char *name) {
  for (int i = 0; i < st->n; i++)
    if (strcmp(st->names[i], name) == 0) return i;
  return -1;
}

static const char *meta_of(const dnn_safetensors *st, const char *key) {
  for (int i = 0; i < st->n_meta; i++)
    if (strcmp(st->meta_keys[i], key) == 0) return st->meta_values[i];
  return NULL;
}

/* No "<name>.tmp.<pid>" left in the test folder. */
static int count_temp_files(void) {
  DIR *d = opendir(temp_dir);
  int n = 0;
  struct dirent *e;
  while (d && (e = readdir(d)))
    if (strstr(e->d_name, ".tmp.")) n++;
  if (d) closedir(d);
  return n;
}

static void test_round_trip(void) {
  dnn_tensor *a = tensor_of(six, 2, 2, 3);
  dnn_tensor *at = dnn_transpose(a, 0, 1); /* strided: written as its (3, 2) values */
  dnn_tensor *s = dnn_scalar(-2.5f);
  int64_t zshape[2] = {0, 4};
  dnn_tensor *z = dnn_empty(2, zshape);
  const char *names[] = {"dense_1/kernel", "t", "scalar", "empty \"quoted\" \\ name\n\xc3\xa9"};
  dnn_tensor *tensors[] = {a, at, s, z};
  const char *keys[] = {"format", "note"};
  const char *values[] = {"dnnlua", "tab\there, \x01 control, \xe2\x82\xac euro"};
  const char *path = temp_path("round.safetensors");
  CHECK(dnn_safetensors_save(path, 4, names, tensors, 2, keys, values) == DNN_OK);
  CHECK(count_temp_files() == 0);

  FILE *f = fopen(path, "rb");
  unsigned char len8[8] = {0};
  CHECK(f && fread(len8, 1, 8, f) == 8);
  if (f) fclose(f);
  unsigned long long hlen = 0;
  for (int i = 7; i >= 0; i--) hlen = hlen << 8 | len8[i];
  CHECK(hlen % 8 == 0); /* the data starts 8-byte aligned */
  CHECK(temp_file_size(path) == (long)(8 + hlen + 4 * (6 + 6 + 1 + 0))); /* no byte more */

  dnn_safetensors *st = dnn_safetensors_load(path);
  CHECK(st != NULL);
  if (st) {
    CHECK(st->n == 4);
    for (int i = 0; i < 4 && i < st->n; i++) CHECK(strcmp(st->names[i], names[i]) == 0); /* the order kept */
    const dnn_tensor *ra = st->tensors[0], *rt = st->tensors[1], *rs = st->tensors[2], *rz = st->tensors[3];
    CHECK(ra->ndim == 2 && ra->shape[0] == 2 && ra->shape[1] == 3);
    for (int i = 0; i < 6; i++) CHECK(dnn_data(ra)[i] == six[i]);
    CHECK(rt->ndim == 2 && rt->shape[0] == 3 && rt->shape[1] == 2);
    const float tv[6] = {1, 4, 2, 5, 3, 6};
    for (int i = 0; i < 6; i++) CHECK(dnn_data(rt)[i] == tv[i]);
    CHECK(rs->ndim == 0 && dnn_data(rs)[0] == -2.5f);
    CHECK(rz->ndim == 2 && rz->shape[0] == 0 && rz->shape[1] == 4);
    CHECK(st->n_meta == 2);
    CHECK(meta_of(st, "format") && strcmp(meta_of(st, "format"), "dnnlua") == 0);
    CHECK(meta_of(st, "note") && strcmp(meta_of(st, "note"), values[1]) == 0);
  }
  dnn_safetensors_free(st);

  /* nothing at all: "{}" padded */
  const char *empty = temp_path("empty.safetensors");
  CHECK(dnn_safetensors_save(empty, 0, NULL, NULL, 0, NULL, NULL) == DNN_OK);
  CHECK(temp_file_size(empty) == 16);
  st = dnn_safetensors_load(empty);
  CHECK(st && st->n == 0 && st->n_meta == 0);
  dnn_safetensors_free(st);

  dnn_tensor_release(a), dnn_tensor_release(at), dnn_tensor_release(s), dnn_tensor_release(z);
}

/* Files as Python's json.dumps or other writers make them. */
static void test_other_writers(void) {
  /* spaces, newlines, header order unlike the data order, escapes */
  const char *header =
      "{\n  \"b\\u00e9\\ud83d\\ude00\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [16, 24]},\n"
      "  \"__metadata__\": {\"fmt\": \"pt\", \"sl\\/ash\": \"a\\\"b\"},\n"
      "  \"a\": {\"shape\": [2, 2], \"data_offsets\": [0, 16], \"dtype\": \"F32\"}\n}   ";
  const char *path = file_with("spaced.safetensors", header);
  dnn_safetensors *st = dnn_safetensors_load(path);
  CHECK(st != NULL);
  if (st) {
    CHECK(st->n == 2);
    int ib = index_of(st, "b\xc3\xa9\xf0\x9f\x98\x80"), ia = index_of(st, "a");
    CHECK(ib == 0 && ia == 1); /* the header's order */
    if (ia >= 0 && ib >= 0) {
      CHECK(st->tensors[ia]->shape[0] == 2 && st->tensors[ia]->shape[1] == 2);
      CHECK(dnn_data(st->tensors[ia])[3] == 4);
      CHECK(dnn_data(st->tensors[ib])[0] == 5 && dnn_data(st->tensors[ib])[1] == 6);
    }
    CHECK(meta_of(st, "sl/ash") && strcmp(meta_of(st, "sl/ash"), "a\"b") == 0);
  }
  dnn_safetensors_free(st);

  /* F16, BF16 and F64 are converted to float32 */
  unsigned char data[2 * 5 + 2 * 2 + 8 * 2];
  const unsigned short halves[5] = {0x3C00, 0xC000, 0x0001, 0x7C00, 0x3555}; /* 1, -2, 2^-24, inf, ~0.33325 */
  for (int i = 0; i < 5; i++) data[2 * i] = halves[i] & 0xFF, data[2 * i + 1] = (unsigned char)(halves[i] >> 8);
  const unsigned short bf[2] = {0x3FC0, 0xC120}; /* 1.5, -10 */
  for (int i = 0; i < 2; i++) data[10 + 2 * i] = bf[i] & 0xFF, data[10 + 2 * i + 1] = (unsigned char)(bf[i] >> 8);
  const double dv[2] = {0.1, -3e38};
  for (int i = 0; i < 2; i++) {
    unsigned long long bits;
    memcpy(&bits, &dv[i], 8);
    for (int b = 0; b < 8; b++) data[14 + 8 * i + b] = (unsigned char)(bits >> (8 * b));
  }
  const char *mixed =
      "{\"h\":{\"dtype\":\"F16\",\"shape\":[5],\"data_offsets\":[0,10]},"
      "\"bf\":{\"dtype\":\"BF16\",\"shape\":[1,2],\"data_offsets\":[10,14]},"
      "\"d\":{\"dtype\":\"F64\",\"shape\":[2],\"data_offsets\":[14,30]}}";
  path = write_file("dtypes.safetensors", mixed, -1, data, sizeof data);
  st = dnn_safetensors_load(path);
  CHECK(st != NULL);
  if (st) {
    const float *h = dnn_data(st->tensors[0]), *b = dnn_data(st->tensors[1]), *d = dnn_data(st->tensors[2]);
    CHECK(h[0] == 1.0f && h[1] == -2.0f && h[2] == 0x1p-24f && h[3] == INFINITY);
    CHECK_NEAR(h[4], 0.33325195, 1e-8);
    CHECK(b[0] == 1.5f && b[1] == -10.0f);
    CHECK(d[0] == 0.1f && d[1] == -3e38f);
  }
  dnn_safetensors_free(st);
}

static void test_bad_files(void) {
  const char *good_entry = "\"a\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]}";
  char h[512];

  check_load_fails(temp_path("missing.safetensors"), DNN_EIO, "cannot open");
  const char *p = temp_path("short");
  FILE *f = fopen(p, "wb");
  if (f) fwrite("\x10\0\0", 1, 3, f), fclose(f);
  check_load_fails(p, DNN_EFORMAT, "too short for the 8-byte header length");
  check_load_fails(write_file("toolong", "{}", 1000, NULL, 0), DNN_EFORMAT, "header length 1000 is more than");
  check_load_fails(write_file("huge_len", "{}", (long long)1 << 62, NULL, 0), DNN_EFORMAT, "is more than the 2 bytes");
  check_load_fails(write_file("tiny", "{", -1, NULL, 0), DNN_EFORMAT, "too short for a JSON object");
  check_load_fails(file_with("notjson", "[1, 2]"), DNN_EFORMAT, "must start with '{'");
  check_load_fails(file_with("binary", "\x89PNG\r\n\x1a\n"), DNN_EFORMAT, "must start with '{'");

  /* above the 100 MB cap: a sparse file big enough to hold the header */
  p = temp_path("cap");
  f = fopen(p, "wb");
  if (f) {
    unsigned long long n = 100000008ULL;
    unsigned char len8[8];
    for (int i = 0; i < 8; i++) len8[i] = (unsigned char)(n >> (8 * i));
    fwrite(len8, 1, 8, f);
    fclose(f);
    CHECK(truncate(p, 100000100) == 0);
  }
  check_load_fails(p, DNN_EFORMAT, "above the limit of 100000000 bytes");
  unlink(p);

  /* JSON the format does not allow */
  static const struct {
    const char *header, *want;
  } bad_json[] = {
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},}", "expected a string"},
      {"{\"a\" {\"dtype\":\"F32\"}}", "expected ':'"},
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]}", "expected ',' or '}'"},
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]}} x", "unexpected 'x' after"},
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[02,3],\"data_offsets\":[0,24]}}", "leading zero"},
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[-2,3],\"data_offsets\":[0,24]}}", "expected a non-negative integer"},
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2.0,3],\"data_offsets\":[0,24]}}", "fraction or exponent"},
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,99999999999999999999]}}", "too large"},
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":true,\"data_offsets\":[0,24]}}", "expected '['"},
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24],\"x\":1}}", "unexpected key 'x'"},
      {"{\"a\":{\"dtype\":\"F32\",\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]}}", "'dtype' given twice"},
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2,3]}}", "has no 'data_offsets'"},
      {"{\"a\":{\"shape\":[2,3],\"data_offsets\":[0,24]}}", "has no 'dtype'"},
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,12,24]}}", "data_offsets has more than 2"},
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[24]}}", "must hold 2 integers"},
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,6],\"data_offsets\":[0,24]}}", "at most 8 dims"},
      {"{\"a\xff\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]}}", "invalid UTF-8"},
      {"{\"a\xc0\xaf\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]}}", "invalid UTF-8"}, /* overlong */
      {"{\"a\\u0000\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]}}", "\\u0000"},
      {"{\"a\\ud800\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]}}", "unpaired UTF-16 surrogate"},
      {"{\"a\\q\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]}}", "bad escape"},
      {"{\"a\\u12g4\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]}}", "4 hex digits"},
      {"{\"a\tb\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]}}", "control character"},
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]}, \"unterminated", "unterminated string"},
      {"{\"__metadata__\":{\"k\":1},\"a\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]}}",
       "metadata value of 'k' is not a string"},
      {"{\"__metadata__\":{},\"__metadata__\":{}}", "'__metadata__' given twice"},
      {"{\"a\":null}", "expected '{'"},
  };
  for (size_t i = 0; i < sizeof bad_json / sizeof bad_json[0]; i++) {
    char name[32];
    snprintf(name, sizeof name, "json%zu", i);
    check_load_fails(file_with(name, bad_json[i].header), DNN_EFORMAT, bad_json[i].want);
  }
  check_load_fails(file_with("json_pos", "{\"a\" {}}"), DNN_EFORMAT, "bad header at byte 5 of the JSON");

  /* well-formed JSON the sizes of which do not fit the file */
  static const struct {
    const char *header, *want;
  } bad_sizes[] = {
      {"{\"a\":{\"dtype\":\"I64\",\"shape\":[3],\"data_offsets\":[0,24]}}", "dtype I64; only F32, F16, BF16 and F64"},
      {"{\"a\":{\"dtype\":\"Q7\",\"shape\":[3],\"data_offsets\":[0,24]}}", "dtype Q7"},
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,24]}}",
       "shape (2, 2) and dtype F32 needs 16 bytes, but its data_offsets span 24"},
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,24]}}", "more than 2^64"},
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[24,0]}}", "begin after end"},
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2,4],\"data_offsets\":[0,32]}}",
       "truncated file: tensor 'a' ends at byte 32"},
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},"
       "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}",
       "tensor 'b' at data_offsets [8, 16] overlaps 'a'"},
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
       "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[16,24]}}",
       "hole: bytes [8, 16) belong to no tensor"},
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[5],\"data_offsets\":[0,20]}}", "4 bytes after the last tensor"},
      {"{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,12]},"
       "\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[12,24]}}",
       "tensor 'a' appears twice"},
  };
  for (size_t i = 0; i < sizeof bad_sizes / sizeof bad_sizes[0]; i++) {
    char name[32];
    snprintf(name, sizeof name, "size%zu", i);
    check_load_fails(file_with(name, bad_sizes[i].header), DNN_EFORMAT, bad_sizes[i].want);
  }
  /* a file cut inside its header, and inside its data */
  snprintf(h, sizeof h, "{%s}", good_entry);
  check_load_fails(write_file("cut_header", h, (long long)strlen(h) + 20, NULL, 0), DNN_EFORMAT, "is more than");
  check_load_fails(write_file("cut_data", h, -1, six, 20), DNN_EFORMAT, "truncated file: tensor 'a' ends at byte 24");
  /* the good file itself loads: the cases above fail for their own reason */
  dnn_safetensors *st = dnn_safetensors_load(file_with("good", h));
  CHECK(st != NULL && st->n == 1);
  dnn_safetensors_free(st);
}

static void test_save_errors_and_atomicity(void) {
  dnn_tensor *a = tensor_of(six, 2, 2, 3);
  const char *path = temp_path("keep.safetensors");
  const char *one[] = {"a"};
  dnn_tensor *ta[] = {a};
  CHECK(dnn_safetensors_save(path, 1, one, ta, 0, NULL, NULL) == DNN_OK);
  long before = temp_file_size(path);

  /* refused before anything is written: the old file stays */
  const char *dup[] = {"x", "x"};
  dnn_tensor *two[] = {a, a};
  CHECK(dnn_safetensors_save(path, 2, dup, two, 0, NULL, NULL) == DNN_EARG);
  CHECK(strstr(dnn_errmsg(), "tensor name 'x' given twice") && strstr(dnn_errmsg(), path));
  const char *reserved[] = {"__metadata__"};
  CHECK(dnn_safetensors_save(path, 1, reserved, ta, 0, NULL, NULL) == DNN_EARG);
  CHECK(strstr(dnn_errmsg(), "reserved") != NULL);
  const char *bad_utf8[] = {"\xff"};
  CHECK(dnn_safetensors_save(path, 1, bad_utf8, ta, 0, NULL, NULL) == DNN_EARG);
  CHECK(strstr(dnn_errmsg(), "not valid UTF-8") != NULL);
  dnn_tensor *none[] = {NULL};
  CHECK(dnn_safetensors_save(path, 1, one, none, 0, NULL, NULL) == DNN_EARG);
  const char *k2[] = {"k", "k"}, *v2[] = {"1", "2"};
  CHECK(dnn_safetensors_save(path, 1, one, ta, 2, k2, v2) == DNN_EARG);
  CHECK(strstr(dnn_errmsg(), "metadata key 'k' given twice") != NULL);
  CHECK(dnn_safetensors_save(NULL, 1, one, ta, 0, NULL, NULL) == DNN_EARG);
  CHECK(temp_file_size(path) == before);

  /* the final rename fails (the target is a folder): the folder and what it
   * holds stay, the temporary file is removed, the error names the path */
  const char *folder = temp_path("folder.safetensors");
  CHECK(mkdir(folder, 0755) == 0);
  char inner[600];
  snprintf(inner, sizeof inner, "%s/old", folder);
  FILE *f = fopen(inner, "wb");
  if (f) fputs("old", f), fclose(f);
  CHECK(dnn_safetensors_save(folder, 1, one, ta, 0, NULL, NULL) == DNN_EIO);
  CHECK(strstr(dnn_errmsg(), folder) != NULL && strstr(dnn_errmsg(), "cannot rename") != NULL);
  CHECK(temp_file_size(inner) == 3);
  CHECK(count_temp_files() == 0);
  unlink(inner);
  rmdir(folder);

  /* the temporary file cannot be created (no such folder) */
  const char *nowhere = temp_path("no/such/dir/w.safetensors");
  CHECK(dnn_safetensors_save(nowhere, 1, one, ta, 0, NULL, NULL) == DNN_EIO);
  CHECK(strstr(dnn_errmsg(), "cannot create the temporary file") && strstr(dnn_errmsg(), nowhere));

  /* a read-only folder (root ignores permissions, so only as another user):
   * the old file survives unchanged */
  if (geteuid() != 0) {
    CHECK(chmod(temp_dir, 0555) == 0);
    dnn_tensor *big = dnn_zeros(1, (int64_t[]){1000});
    dnn_tensor *tb[] = {big};
    CHECK(dnn_safetensors_save(path, 1, one, tb, 0, NULL, NULL) == DNN_EIO);
    CHECK(temp_file_size(path) == before);
    CHECK(chmod(temp_dir, 0755) == 0);
    dnn_tensor_release(big);
  }
  dnn_safetensors *st = dnn_safetensors_load(path);
  CHECK(st && st->n == 1 && dnn_data(st->tensors[0])[5] == 6);
  dnn_safetensors_free(st);

  /* overwriting replaces the whole file */
  dnn_tensor *s = dnn_scalar(7);
  dnn_tensor *ts[] = {s};
  const char *sn[] = {"s"};
  CHECK(dnn_safetensors_save(path, 1, sn, ts, 0, NULL, NULL) == DNN_OK);
  st = dnn_safetensors_load(path);
  CHECK(st && st->n == 1 && strcmp(st->names[0], "s") == 0 && dnn_data(st->tensors[0])[0] == 7);
  dnn_safetensors_free(st);
  dnn_tensor_release(s);
  dnn_tensor_release(a);
}

int main(void) {
  if (!temp_dir_make("safetensors")) return 1;
  test_round_trip();
  test_other_writers();
  test_bad_files();
  test_save_errors_and_atomicity();
  temp_dir_remove();
  return check_report("test_safetensors");
}
